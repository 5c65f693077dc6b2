import { codeShapeOf, runKeys, type RunSpec } from '@imgcluster/config';
import { gridPng, heatmapPng, pngSize } from '@imgcluster/images';
import { decodeCodes, encodeBatch, loadModel } from '@imgcluster/model';
import type { ServiceContext } from '@imgcluster/runtime';
import { dataOffset, PREAMBLE_BYTES } from '@imgcluster/shard';
import type { ClusterTotals, MemberRef } from './assign-pass.js';
import type { ReportCluster, ReportExample, ReportPicture } from './report.js';

/** Input images shown beside their reconstructions in the report. */
export const EXAMPLES = 8;

/** Where each picture went and its size, for the report. */
export interface ClusterPictures {
  clusters: Pick<ReportCluster, 'samples' | 'attention' | 'decoded'>[];
  examples: ReportExample[];
}

/** Integer upscale so small thumbnails (28–32 px) are visible: about 96 px a tile. */
function tileScale(size: number): number {
  return Math.max(1, Math.round(96 / size));
}

/**
 * Writes each cluster's three pictures: a grid of members (nearest to the centre first,
 * then random ones), the mean attention map, and the mean code run through the decoder.
 * Then a few input images (the member nearest the centre of clusters spread over 0..k-1)
 * with their reconstructions and attention maps.
 */
export async function writeClusterPictures(
  ctx: ServiceContext,
  runId: string,
  spec: RunSpec,
  clusters: ClusterTotals[],
): Promise<ClusterPictures> {
  const k = runKeys(runId);
  const { size, channels } = spec.image;
  const [side, , depth] = codeShapeOf(spec);
  const scale = tileScale(size);
  const relative = (key: string) => key.slice(`${k.root}/`.length);
  const put = async (key: string, png: Buffer): Promise<ReportPicture> => {
    await ctx.storage.put(ctx.bucket, key, png);
    return { path: relative(key), ...pngSize(png) };
  };

  const load = async (json: string, weights: string) =>
    loadModel(await ctx.storage.get(ctx.bucket, json), await ctx.storage.get(ctx.bucket, weights));
  const decoder = await load(k.decoderJson, k.decoderWeights);
  const codeSize = side * side * depth;
  const means = new Float32Array(clusters.length * codeSize);
  clusters.forEach((c, i) => means.set(c.meanCode, i * codeSize));
  const decoded = decodeCodes(decoder, means, clusters.length);

  const pixels = await memberPixels(ctx, runId, spec, clusters);
  const itemBytes = size * size * channels;

  const out: ClusterPictures = { clusters: [], examples: [] };
  for (const [c, cluster] of clusters.entries()) {
    const members = sampleMembers(cluster).map((m) => pixels.get(refId(m))!);
    const grid =
      members.length > 0
        ? await gridPng(members, size, channels, { cols: 8, pad: 2, scale })
        : await gridPng([new Uint8Array(itemBytes)], size, channels, { cols: 1 });
    const heat = await heatmapPng(cluster.meanAttention, side, side, { scaleTo: 96 });
    const image = decoded.subarray(c * itemBytes, (c + 1) * itemBytes);
    const big = await gridPng([image], size, channels, { cols: 1, scale });
    out.clusters.push({
      samples: await put(k.clusterImage(c, 'samples'), grid),
      attention: await put(k.clusterImage(c, 'attention'), heat),
      decoded: await put(k.clusterImage(c, 'decoded'), big),
    });
  }

  const chosen = exampleMembers(clusters, EXAMPLES);
  if (chosen.length > 0) {
    const encoder = await load(k.encoderJson, k.encoderWeights);
    const batch = new Uint8Array(chosen.length * itemBytes);
    chosen.forEach(({ member }, i) => batch.set(pixels.get(refId(member))!, i * itemBytes));
    const { codes, attention } = encodeBatch(encoder, batch, chosen.length, size, channels);
    encoder.dispose();
    const rebuilt = decodeCodes(decoder, codes, chosen.length);
    for (const [i, { cluster, member }] of chosen.entries()) {
      const one = (from: Uint8Array) =>
        gridPng([from.subarray(i * itemBytes, (i + 1) * itemBytes)], size, channels, {
          cols: 1,
          scale,
        });
      const heat = attention.subarray(i * side * side, (i + 1) * side * side);
      out.examples.push({
        key: member.key,
        cluster,
        distance: member.distance,
        input: await put(k.example(i, 'input'), await one(batch)),
        reconstruction: await put(k.example(i, 'reconstruction'), await one(rebuilt)),
        attention: await put(
          k.example(i, 'attention'),
          await heatmapPng(heat, side, side, { scaleTo: size * scale }),
        ),
      });
    }
  }
  decoder.dispose();
  return out;
}

/** The member nearest the centre of up to `n` clusters spread evenly over 0..k-1. */
export function exampleMembers(clusters: ClusterTotals[], n: number) {
  const withMembers = clusters
    .map((c, cluster) => ({ cluster, member: c.nearest[0] }))
    .filter((x) => x.member !== undefined);
  const count = Math.min(n, withMembers.length);
  return Array.from(
    { length: count },
    (_, i) => withMembers[Math.floor((i * withMembers.length) / count)],
  );
}

/** The members shown in a cluster's grid: nearest first, then random ones not already in. */
export function sampleMembers(cluster: ClusterTotals): MemberRef[] {
  const seen = new Set(cluster.nearest.map(refId));
  return [...cluster.nearest, ...cluster.random.filter((m) => !seen.has(refId(m)))];
}

function refId(m: MemberRef): string {
  return `${m.shard}:${m.row}`;
}

/**
 * Reads the pixels of every pictured member with ranged reads of its image shard: a few
 * hundred small requests instead of downloading every shard a member lies in.
 */
async function memberPixels(
  ctx: ServiceContext,
  runId: string,
  spec: RunSpec,
  clusters: ClusterTotals[],
): Promise<Map<string, Uint8Array>> {
  const byShard = new Map<number, MemberRef[]>();
  for (const c of clusters) {
    for (const m of sampleMembers(c)) {
      const list = byShard.get(m.shard) ?? [];
      list.push(m);
      byShard.set(m.shard, list);
    }
  }
  const itemBytes = spec.image.size * spec.image.size * spec.image.channels;
  const out = new Map<string, Uint8Array>();
  const work = [...byShard];
  const readShard = async () => {
    for (let next = work.pop(); next; next = work.pop()) {
      const [shard, refs] = next;
      const key = runKeys(runId).imageShard(shard);
      const start = dataOffset(await ctx.storage.getRange(ctx.bucket, key, 0, PREAMBLE_BYTES - 1));
      for (const m of refs) {
        const at = start + m.row * itemBytes;
        const row = await ctx.storage.getRange(ctx.bucket, key, at, at + itemBytes - 1);
        if (row.length !== itemBytes) {
          throw new Error(`image shard ${shard} row ${m.row}: ${row.length} of ${itemBytes} bytes`);
        }
        out.set(refId(m), new Uint8Array(row));
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, readShard));
  return out;
}
