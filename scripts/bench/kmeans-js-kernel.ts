/**
 * The package's earlier nearest-centroid kernel in plain JavaScript, kept as the benchmark's
 * baseline: ||x||^2 - 2 x.c + ||c||^2 in tiles of 64 rows, dot products register-blocked
 * 4 points x 3 centroids with double accumulators.
 */
import { squaredNorms } from '@imgcluster/kmeans';

/** Rows per tile of the blocked kernels; a tile's dot products live in a small scratch buffer. */
const TILE_ROWS = 64;

/**
 * Dot products of `rows` rows of `x` (starting at row `row0`) with all `k` rows of `c`, written
 * row-major with stride `k` into `out` from `outOff`. Register-blocked 4 points x 3 centroids;
 * each dot is one double accumulator summed in coordinate order, like {@link squaredNorms}, so a
 * point and an identical centroid are exactly 0 apart.
 */
function dotTile(
  x: Float32Array,
  row0: number,
  rows: number,
  dim: number,
  c: Float32Array,
  k: number,
  out: Float64Array,
  outOff: number,
): void {
  let i = 0;
  for (; i + 4 <= rows; i += 4) dot4Rows(x, (row0 + i) * dim, dim, c, k, out, outOff + i * k);
  for (; i < rows; i++) dot1Row(x, (row0 + i) * dim, dim, c, k, out, outOff + i * k);
}

/** Four consecutive point rows against all centroids: 4x3 micro-kernel plus 4x2 / 4x1 tails. */
function dot4Rows(
  x: Float32Array,
  xa: number,
  dim: number,
  c: Float32Array,
  k: number,
  out: Float64Array,
  o: number,
): void {
  const xb = xa + dim;
  const xc = xb + dim;
  const xd = xc + dim;
  let j = 0;
  for (; j + 3 <= k; j += 3) {
    const c0 = j * dim;
    const c1 = c0 + dim;
    const c2 = c1 + dim;
    // prettier-ignore
    let a0 = 0, a1 = 0, a2 = 0, b0 = 0, b1 = 0, b2 = 0;
    // prettier-ignore
    let e0 = 0, e1 = 0, e2 = 0, f0 = 0, f1 = 0, f2 = 0;
    for (let d = 0; d < dim; d++) {
      const u0 = c[c0 + d];
      const u1 = c[c1 + d];
      const u2 = c[c2 + d];
      const p = x[xa + d];
      a0 += p * u0;
      a1 += p * u1;
      a2 += p * u2;
      const q = x[xb + d];
      b0 += q * u0;
      b1 += q * u1;
      b2 += q * u2;
      const r = x[xc + d];
      e0 += r * u0;
      e1 += r * u1;
      e2 += r * u2;
      const s = x[xd + d];
      f0 += s * u0;
      f1 += s * u1;
      f2 += s * u2;
    }
    const t = o + j;
    out[t] = a0;
    out[t + 1] = a1;
    out[t + 2] = a2;
    out[t + k] = b0;
    out[t + k + 1] = b1;
    out[t + k + 2] = b2;
    out[t + 2 * k] = e0;
    out[t + 2 * k + 1] = e1;
    out[t + 2 * k + 2] = e2;
    out[t + 3 * k] = f0;
    out[t + 3 * k + 1] = f1;
    out[t + 3 * k + 2] = f2;
  }
  if (k - j === 2) dot4x2(x, xa, dim, c, j, k, out, o);
  else if (k - j === 1) dot4x1(x, xa, dim, c, j, k, out, o);
}

/** Four point rows against centroids j and j + 1. */
function dot4x2(
  x: Float32Array,
  xa: number,
  dim: number,
  c: Float32Array,
  j: number,
  k: number,
  out: Float64Array,
  o: number,
): void {
  const xb = xa + dim;
  const xc = xb + dim;
  const xd = xc + dim;
  const c0 = j * dim;
  const c1 = c0 + dim;
  // prettier-ignore
  let a0 = 0, a1 = 0, b0 = 0, b1 = 0, e0 = 0, e1 = 0, f0 = 0, f1 = 0;
  for (let d = 0; d < dim; d++) {
    const u0 = c[c0 + d];
    const u1 = c[c1 + d];
    const p = x[xa + d];
    const q = x[xb + d];
    const r = x[xc + d];
    const s = x[xd + d];
    a0 += p * u0;
    a1 += p * u1;
    b0 += q * u0;
    b1 += q * u1;
    e0 += r * u0;
    e1 += r * u1;
    f0 += s * u0;
    f1 += s * u1;
  }
  const t = o + j;
  out[t] = a0;
  out[t + 1] = a1;
  out[t + k] = b0;
  out[t + k + 1] = b1;
  out[t + 2 * k] = e0;
  out[t + 2 * k + 1] = e1;
  out[t + 3 * k] = f0;
  out[t + 3 * k + 1] = f1;
}

/** Four point rows against centroid j. */
function dot4x1(
  x: Float32Array,
  xa: number,
  dim: number,
  c: Float32Array,
  j: number,
  k: number,
  out: Float64Array,
  o: number,
): void {
  const xb = xa + dim;
  const xc = xb + dim;
  const xd = xc + dim;
  const c0 = j * dim;
  // prettier-ignore
  let a = 0, b = 0, e = 0, f = 0;
  for (let d = 0; d < dim; d++) {
    const u = c[c0 + d];
    a += x[xa + d] * u;
    b += x[xb + d] * u;
    e += x[xc + d] * u;
    f += x[xd + d] * u;
  }
  const t = o + j;
  out[t] = a;
  out[t + k] = b;
  out[t + 2 * k] = e;
  out[t + 3 * k] = f;
}

/** One point row against all centroids, four centroids at a time. */
function dot1Row(
  x: Float32Array,
  xa: number,
  dim: number,
  c: Float32Array,
  k: number,
  out: Float64Array,
  o: number,
): void {
  let j = 0;
  for (; j + 4 <= k; j += 4) {
    const c0 = j * dim;
    const c1 = c0 + dim;
    const c2 = c1 + dim;
    const c3 = c2 + dim;
    // prettier-ignore
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let d = 0; d < dim; d++) {
      const p = x[xa + d];
      s0 += p * c[c0 + d];
      s1 += p * c[c1 + d];
      s2 += p * c[c2 + d];
      s3 += p * c[c3 + d];
    }
    out[o + j] = s0;
    out[o + j + 1] = s1;
    out[o + j + 2] = s2;
    out[o + j + 3] = s3;
  }
  for (; j < k; j++) {
    const c0 = j * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[xa + d] * c[c0 + d];
    out[o + j] = s;
  }
}

/** Nearest centroid of each of `n` points; labels only (ties to the lowest index). */
export function assignPlainJs(
  points: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
): Int32Array {
  const labels = new Int32Array(n);
  const cNorms = squaredNorms(centroids, k, dim);
  const xNorms = new Float64Array(TILE_ROWS);
  const dots = new Float64Array(TILE_ROWS * k);
  for (let row0 = 0; row0 < n; row0 += TILE_ROWS) {
    const rows = Math.min(TILE_ROWS, n - row0);
    squaredNorms(points, rows, dim, xNorms, row0);
    dotTile(points, row0, rows, dim, centroids, k, dots, 0);
    for (let i = 0; i < rows; i++) {
      const o = i * k;
      let best = 0;
      let bestScore = cNorms[0] - 2 * dots[o];
      for (let j = 1; j < k; j++) {
        const score = cNorms[j] - 2 * dots[o + j];
        if (score < bestScore) {
          bestScore = score;
          best = j;
        }
      }
      labels[row0 + i] = best;
    }
  }
  return labels;
}
