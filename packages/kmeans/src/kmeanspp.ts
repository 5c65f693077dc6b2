import { pairwiseSquaredDistances } from './distance.js';
import { KMeansError, checkInt, checkK, checkMatrix } from './errors.js';
import type { Rng } from './rng.js';

/** Options of {@link kmeansPlusPlus}. */
export interface KMeansPlusPlusOptions {
  /** Candidates drawn per centre; the one lowering the potential most wins. Default 2 + ln(k). */
  localTrials?: number;
}

/**
 * Greedy k-means++ seeding: the first centre is a uniformly random point; each next centre is
 * the best of `localTrials` candidates drawn with probability proportional to the squared
 * distance to the nearest chosen centre, "best" meaning the lowest resulting sum of squared
 * distances. Returns a new `k x dim` Float32Array whose rows are copies of distinct points.
 *
 * Edge cases: throws KMEANS_INVALID_K when k < 1, KMEANS_K_EXCEEDS_N when k > n,
 * KMEANS_TOO_FEW_DISTINCT when the points hold fewer than k distinct rows (duplicates are fine
 * otherwise: a point equal to a chosen centre has weight 0 and is never drawn again), and
 * KMEANS_NON_FINITE on NaN or Infinity. Deterministic for a given `rng` state.
 */
export function kmeansPlusPlus(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  rng: Rng,
  options: KMeansPlusPlusOptions = {},
): Float32Array {
  checkK(k);
  checkInt('n', n, 0);
  checkInt('dim', dim, 1);
  checkMatrix('points', points, n, dim);
  if (k > n) {
    throw new KMeansError('KMEANS_K_EXCEEDS_N', `k = ${k} exceeds the ${n} points offered`);
  }
  const trials = options.localTrials ?? 2 + Math.floor(Math.log(k));
  checkInt('localTrials', trials, 1);

  const centers = new Float32Array(k * dim);
  copyRow(points, rng.nextInt(n), centers, 0, dim);
  const closest = pairwiseSquaredDistances(points, n, dim, centers.subarray(0, dim), 1);
  const cumulative = new Float64Array(n);
  const candidates = new Float32Array(trials * dim);
  const candDist = new Float64Array(n * trials);

  for (let c = 1; c < k; c++) {
    const pot = prefixSums(closest, cumulative);
    let pick: number;
    if (pot > 0) {
      const ids: number[] = [];
      for (let t = 0; t < trials; t++) ids.push(searchAbove(cumulative, rng.next() * pot));
      for (let t = 0; t < trials; t++) copyRow(points, ids[t], candidates, t, dim);
      pairwiseSquaredDistances(points, n, dim, candidates, trials, candDist);
      const best = bestTrial(closest, candDist, n, trials);
      pick = ids[best];
      for (let i = 0; i < n; i++) closest[i] = Math.min(closest[i], candDist[i * trials + best]);
    } else {
      pick = firstUnchosenDistinct(points, n, dim, centers, c);
      if (pick < 0) {
        throw new KMeansError(
          'KMEANS_TOO_FEW_DISTINCT',
          `the ${n} points hold only ${c} distinct rows, fewer than k = ${k}`,
        );
      }
      const d = pairwiseSquaredDistances(points, n, dim, points.subarray(pick * dim), 1);
      for (let i = 0; i < n; i++) closest[i] = Math.min(closest[i], d[i]);
    }
    copyRow(points, pick, centers, c, dim);
  }
  return centers;
}

/** Copies row `from` of `src` into row `to` of `dst`. */
function copyRow(src: Float32Array, from: number, dst: Float32Array, to: number, dim: number) {
  dst.set(src.subarray(from * dim, from * dim + dim), to * dim);
}

/** Writes running sums of `w` into `out` and returns the total. */
function prefixSums(w: Float64Array, out: Float64Array): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) {
    s += w[i];
    out[i] = s;
  }
  return s;
}

/** First index whose running sum exceeds `r` (so its own weight is > 0); clipped to the end. */
function searchAbove(cumulative: Float64Array, r: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Trial whose addition gives the lowest potential; ties go to the earliest trial. */
function bestTrial(closest: Float64Array, d: Float64Array, n: number, trials: number): number {
  let best = 0;
  let bestPot = Infinity;
  for (let t = 0; t < trials; t++) {
    let pot = 0;
    for (let i = 0; i < n; i++) pot += Math.min(closest[i], d[i * trials + t]);
    if (pot < bestPot) {
      bestPot = pot;
      best = t;
    }
  }
  return best;
}

/**
 * Fallback when every point is at distance 0 from the chosen centres (by the norm formula):
 * the first point that is not bit-for-bit equal to one of the first `c` centres, or -1.
 */
function firstUnchosenDistinct(
  points: Float32Array,
  n: number,
  dim: number,
  centers: Float32Array,
  c: number,
): number {
  for (let i = 0; i < n; i++) {
    let matches = false;
    for (let j = 0; j < c && !matches; j++) matches = rowsEqual(points, i, centers, j, dim);
    if (!matches) return i;
  }
  return -1;
}

/** Whether row `i` of `a` equals row `j` of `b` coordinate by coordinate. */
function rowsEqual(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): boolean {
  const ao = i * dim;
  const bo = j * dim;
  for (let d = 0; d < dim; d++) if (a[ao + d] !== b[bo + d]) return false;
  return true;
}
