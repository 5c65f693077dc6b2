import { codeShapeOf, manifoldFor, runKeys, type RunSpec } from '@imgcluster/config';
import { preprocessImage, type RejectReason } from '@imgcluster/images';
import {
  assign,
  mixtureAssign,
  mixtureFromJson,
  prepareCodes,
  type DiagonalMixture,
} from '@imgcluster/kmeans';
import { decodeManifold, embed, type Manifold } from '@imgcluster/manifold';
import { encodeBatch, loadModel, type tf } from '@imgcluster/model';
import { decodeShard, float16ToFloat32, float32ToFloat16 } from '@imgcluster/shard';
import type { Storage } from '@imgcluster/storage';

/** What assigning new images to a finished run needs: its encoder and centroids. */
export interface RunModel {
  runId: string;
  spec: RunSpec;
  encoder: tf.LayersModel;
  /** k × (dim, or the manifold's dims) floats, the cluster worker's final centroids. */
  centroids: Float32Array;
  k: number;
  /** Floats per code. */
  dim: number;
  /** With a manifold step: the run's layout, where codes are placed before the centroids. */
  manifold?: Manifold;
  /** With kmeans.mixture "gaussian": images go to their most probable component. */
  mixture?: DiagonalMixture;
  /** Side of the code (and attention map): image size / 8. */
  side: number;
}

/**
 * Loads a succeeded run's published encoder and centroids (and its manifold, if the run has
 * a manifold step) from the artifact bucket.
 */
export async function loadRunModel(
  storage: Storage,
  bucket: string,
  runId: string,
  spec: RunSpec,
): Promise<RunModel> {
  const keys = runKeys(runId);
  const [json, weights, centroidShard] = await Promise.all([
    storage.get(bucket, keys.encoderJson),
    storage.get(bucket, keys.encoderWeights),
    storage.get(bucket, keys.centroids),
  ]);
  const encoder = await loadModel(json, weights);
  const { header, data } = decodeShard(centroidShard);
  const [side, , depth] = codeShapeOf(spec);
  const dim = side * side * depth;
  const manifold = manifoldFor(spec.kmeans, dim)
    ? decodeManifold(await storage.get(bucket, keys.manifold), dim, spec.kmeans.manifold.neighbors)
    : undefined;
  const width = manifold ? manifold.dims : dim;
  const mixture =
    spec.kmeans.mixture === 'gaussian'
      ? mixtureFromJson(await storage.getJson<unknown>(bucket, keys.mixture), width)
      : undefined;
  return {
    runId,
    spec,
    encoder,
    centroids: data as Float32Array,
    k: header.shape[0],
    dim,
    side,
    ...(manifold ? { manifold } : {}),
    ...(mixture ? { mixture } : {}),
  };
}

/**
 * Codes as the run's encoder stored its own: a float16 run's rounded to the nearest half
 * (unless one would overflow, where the encoder keeps float32), so that an image of the run
 * gets exactly its labels.csv distance even through a manifold's nearest-neighbour placing.
 */
function asStored(codes: Float32Array, dtype: RunSpec['codes']['dtype']): Float32Array {
  if (dtype !== 'float16') return codes;
  const halves = float32ToFloat16(codes);
  for (let i = 0; i < halves.length; i++) {
    if ((halves[i] & 0x7fff) === 0x7c00 && Number.isFinite(codes[i])) return codes;
  }
  return float16ToFloat32(halves);
}

/** One image to assign: a name to report it by, and its file bytes. */
export interface AssignInput {
  name: string;
  bytes: Uint8Array;
}

/** An image's cluster, its squared distance to the centre, and its attention map. */
export interface Assigned {
  name: string;
  cluster: number;
  distance: number;
  /** Each code position's largest channel, row-major `height × width`. */
  attention: { height: number; width: number; values: number[] };
}

/** An image that could not be assigned, with a stable reason (as preprocessing gives). */
export interface AssignRejected {
  name: string;
  rejected: { reason: RejectReason | 'not_found'; message: string };
}

export type AssignOutcome = Assigned | AssignRejected;

/**
 * Images per encoder forward pass. The API assigns small requests in its own process, and a
 * forward pass holds its event loop: small passes, with a yield between them, keep it
 * answering other requests.
 */
const BATCH = 16;

/**
 * Assigns images to a run's clusters exactly as the pipeline assigned its own: the same
 * resize (the run's size and channels), the run's encoder, the run's normalisation and
 * manifold, and the nearest centroid by squared distance (or, with a mixture, the most
 * probable component, with the squared distance to its mean). An image that does not decode
 * is reported with its reason; the others are assigned all the same. Results keep the order
 * of `inputs`.
 */
export async function assignImages(
  model: RunModel,
  inputs: AssignInput[],
  onProgress?: (done: number) => Promise<void> | void,
): Promise<AssignOutcome[]> {
  const { size, channels } = model.spec.image;
  const itemBytes = size * size * channels;
  const cells = model.side * model.side;
  const out: AssignOutcome[] = new Array(inputs.length);

  for (let start = 0; start < inputs.length; start += BATCH) {
    const chunk = inputs.slice(start, start + BATCH);
    const decoded = await Promise.all(
      chunk.map((input) => preprocessImage(input.bytes, { size, channels })),
    );
    const ok: number[] = [];
    decoded.forEach((d, i) => {
      if (d.ok) ok.push(i);
      else
        out[start + i] = {
          name: chunk[i].name,
          rejected: { reason: d.reason, message: d.message },
        };
    });
    if (ok.length > 0) {
      const pixels = new Uint8Array(ok.length * itemBytes);
      ok.forEach((i, j) => {
        const d = decoded[i];
        if (d.ok) pixels.set(d.pixels, j * itemBytes);
      });
      const { codes, attention } = encodeBatch(model.encoder, pixels, ok.length, size, channels);
      const stored = asStored(codes, model.spec.codes.dtype);
      const prepared = prepareCodes(
        stored,
        ok.length,
        model.dim,
        model.spec.kmeans.normalize,
        true,
      );
      const placed = model.manifold ? embed(model.manifold, prepared, ok.length) : prepared;
      const width = model.manifold ? model.manifold.dims : model.dim;
      const nearest = model.mixture
        ? mixtureAssign(model.mixture, placed, ok.length)
        : assign(placed, ok.length, width, model.centroids, model.k);
      ok.forEach((i, j) => {
        out[start + i] = {
          name: chunk[i].name,
          cluster: nearest.labels[j],
          distance: nearest.distances[j],
          attention: {
            height: model.side,
            width: model.side,
            values: Array.from(attention.subarray(j * cells, (j + 1) * cells), round),
          },
        };
      });
    }
    await onProgress?.(Math.min(inputs.length, start + BATCH));
  }
  return out;
}

/** Six significant digits: enough for a picture, a third of the JSON of a full float. */
function round(v: number): number {
  return Number(v.toPrecision(6));
}
