import { decodeShard, encodeShard } from '@imgcluster/shard';
import { ManifoldError } from './errors.js';
import type { Manifold } from './umap.js';

/**
 * A manifold as one float32 shard (the artifact `manifold.shard`): item i is reference code i
 * followed by its layout position (`dim + dims` floats), keyed by the image it came from.
 * The neighbour count is not stored: it is the run's setting lowered to m − 1, as fitted.
 */
export function encodeManifold(manifold: Manifold, keys: string[]): Buffer {
  const { m, dim, dims } = manifold;
  if (keys.length !== m) {
    throw new ManifoldError('MANIFOLD_INVALID_ARGUMENT', `${keys.length} keys for ${m} codes`);
  }
  const data = new Float32Array(m * (dim + dims));
  for (let i = 0; i < m; i++) {
    data.set(manifold.points.subarray(i * dim, (i + 1) * dim), i * (dim + dims));
    data.set(manifold.embedding.subarray(i * dims, (i + 1) * dims), i * (dim + dims) + dim);
  }
  return encodeShard({ dtype: 'float32', shape: [m, dim + dims], keys }, data);
}

/** Reads {@link encodeManifold}'s shard back, for codes of width `dim` and `neighbors`. */
export function decodeManifold(bytes: Uint8Array, dim: number, neighbors: number): Manifold {
  const { header, data } = decodeShard(bytes);
  const [m, width] = header.shape;
  if (header.shape.length !== 2 || !(data instanceof Float32Array) || !(width > dim)) {
    throw new ManifoldError(
      'MANIFOLD_BAD_FILE',
      `a manifold of ${dim}-float codes needs a float32 m × (${dim} + dims) shard, ` +
        `got ${header.dtype} [${header.shape.join(', ')}]`,
    );
  }
  const dims = width - dim;
  const points = new Float32Array(m * dim);
  const embedding = new Float32Array(m * dims);
  for (let i = 0; i < m; i++) {
    points.set(data.subarray(i * width, i * width + dim), i * dim);
    embedding.set(data.subarray(i * width + dim, (i + 1) * width), i * dims);
  }
  return { points, embedding, m, dim, dims, neighbors: Math.min(neighbors, m - 1) };
}
