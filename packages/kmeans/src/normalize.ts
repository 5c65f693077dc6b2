import { checkInt, checkMatrix } from './errors.js';

/**
 * How codes are prepared for clustering: `none` as the encoder wrote them, `l2` each scaled
 * to unit euclidean length, so k-means compares their directions (the pattern of active
 * features) rather than their overall strength.
 */
export type CodeNormalization = 'none' | 'l2';

/**
 * Scales each of `n` rows (width `dim`) of `x` to unit euclidean length, in place; rows of
 * zeros stay zeros. Norms are summed in double precision. Returns `x`.
 */
export function normalizeRows(x: Float32Array, n: number, dim: number): Float32Array {
  checkInt('n', n, 0);
  checkInt('dim', dim, 1);
  checkMatrix('x', x, n, dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[o + d] * x[o + d];
    if (!(s > 0) || !Number.isFinite(s)) continue;
    const scale = 1 / Math.sqrt(s);
    for (let d = 0; d < dim; d++) x[o + d] *= scale;
  }
  return x;
}

/**
 * The first `n` rows of `x` prepared as `how` says: for `l2` they are normalised in place
 * when `inPlace`, else in a copy; otherwise (`none`, or unset in a spec written before the
 * setting existed) `x` itself.
 */
export function prepareCodes(
  x: Float32Array,
  n: number,
  dim: number,
  how: CodeNormalization | undefined,
  inPlace = false,
): Float32Array {
  if (how !== 'l2') return x;
  const rows = inPlace ? x : x.slice(0, n * dim);
  return normalizeRows(rows, n, dim);
}
