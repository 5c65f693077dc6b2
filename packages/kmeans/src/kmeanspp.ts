import { KMeansError, checkInt, checkK, checkMatrix } from './errors.js';
import { kernel, resolveThreads, type Kernel } from './kernel.js';
import type { Rng } from './rng.js';

/** Options of {@link kmeansPlusPlus}. */
export interface KMeansPlusPlusOptions {
  /** Candidates drawn per centre; the one lowering the potential most wins. Default 2 + ln(k). */
  localTrials?: number;
  /** Threads the points are split over (default: the machine's cores, at most 8). */
  threads?: number;
  /** Receives the sum of the points' squared distances to their nearest seed. */
  potential?: (sum: number) => void;
}

/** The points are split over threads only in parts of at least this many rows. */
const MIN_ROWS_PER_THREAD = 256;

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
  const threads = resolveThreads(options.threads);
  const parts = Math.max(1, Math.min(threads, Math.floor(n / MIN_ROWS_PER_THREAD)));

  const kern = kernel();
  const held = kern.holds(points);
  const x = held ? points.byteOffset : kern.copyIn(points.subarray(0, n * dim));
  const blocks = {
    centers: kern.alloc(k * dim * 4),
    closest: kern.alloc(n * 4),
    nearest: kern.alloc(n * 4),
    out: kern.alloc(trials * n * 4),
    cands: kern.alloc(trials * dim * 4),
    ccand: kern.alloc(trials * k * 4),
    pots: kern.alloc(parts * trials * 8),
    work: kern.alloc(4 * parts),
  };
  try {
    return seed(kern, x, points, n, dim, k, trials, parts, rng, blocks, options);
  } finally {
    for (const b of Object.values(blocks)) kern.release(b);
    if (!held) kern.release(x);
  }
}

/** The k-means++ loop on points at `x` in kernel memory (see {@link kmeansPlusPlus}). */
function seed(
  kern: Kernel,
  x: number,
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  trials: number,
  parts: number,
  rng: Rng,
  b: Record<
    'centers' | 'closest' | 'nearest' | 'out' | 'cands' | 'ccand' | 'pots' | 'work',
    number
  >,
  options: KMeansPlusPlusOptions,
): Float32Array {
  const { fn } = kern;
  const row = (i: number) => x + i * dim * 4;
  const centers = kern.f32(b.centers, k * dim);
  const closest = kern.f32(b.closest, n);
  const nearest = kern.i32(b.nearest, n);
  nearest.fill(0);
  const ccand = kern.f32(b.ccand, trials * k);
  const cumulative = new Float64Array(n);

  const first = rng.nextInt(n);
  centers.set(points.subarray(first * dim, first * dim + dim), 0);
  fn.cross_sqdist(x, n, b.centers, 1, dim, b.closest);
  checkFinite(closest, points, dim);

  for (let c = 1; c < k; c++) {
    const pot = prefixSums(closest, cumulative);
    let pick: number;
    if (pot > 0) {
      const ids: number[] = [];
      for (let t = 0; t < trials; t++) ids.push(searchAbove(cumulative, rng.next() * pot));
      const cand = kern.f32(b.cands, trials * dim);
      for (let t = 0; t < trials; t++) {
        cand.set(points.subarray(ids[t] * dim, ids[t] * dim + dim), t * dim);
        for (let j = 0; j < c; j++) {
          ccand[t * k + j] = fn.sqdist(b.cands + t * dim * 4, b.centers + j * dim * 4, dim);
        }
      }
      const args = (part: number) => {
        const lo = Math.floor((part * n) / parts);
        const m = Math.floor(((part + 1) * n) / parts) - lo;
        const at = (base: number) => base + lo * 4;
        const pots = b.pots + part * trials * 8;
        // Each part writes its trials x m outputs to its own stretch of the out block.
        const out = b.out + trials * lo * 4;
        return [row(lo), m, dim, b.cands, trials, k, at(b.closest), at(b.nearest), b.ccand].concat([
          1e-3,
          0,
          out,
          pots,
          b.work + part * 4,
        ]);
      };
      if (parts === 1) (fn.kpp_trials as (...a: number[]) => void)(...args(0));
      else kern.workers().split('kpp_trials', parts, args);
      const pots = new Float64Array(kern.memory.buffer, b.pots, parts * trials);
      let best = 0;
      let bestPot = Infinity;
      for (let t = 0; t < trials; t++) {
        let p = 0;
        for (let part = 0; part < parts; part++) p += pots[part * trials + t];
        if (p < bestPot) {
          bestPot = p;
          best = t;
        }
      }
      pick = ids[best];
      for (let part = 0; part < parts; part++) {
        const lo = Math.floor((part * n) / parts);
        const m = Math.floor(((part + 1) * n) / parts) - lo;
        const won = kern.f32(b.out + trials * lo * 4 + best * m * 4, m);
        for (let i = 0; i < m; i++) {
          if (won[i] < closest[lo + i]) {
            closest[lo + i] = won[i];
            nearest[lo + i] = c;
          }
        }
      }
    } else {
      pick = firstUnchosenDistinct(points, n, dim, centers, c);
      if (pick < 0) {
        throw new KMeansError(
          'KMEANS_TOO_FEW_DISTINCT',
          `the ${n} points hold only ${c} distinct rows, fewer than k = ${k}`,
        );
      }
      const d = kern.f32(b.out, n);
      fn.cross_sqdist(x, n, row(pick), 1, dim, b.out);
      for (let i = 0; i < n; i++) {
        if (d[i] < closest[i]) {
          closest[i] = d[i];
          nearest[i] = c;
        }
      }
    }
    centers.set(points.subarray(pick * dim, pick * dim + dim), c * dim);
  }
  let potential = 0;
  for (let i = 0; i < n; i++) potential += closest[i];
  options.potential?.(potential);
  return centers.slice();
}

/** Throws KMEANS_NON_FINITE naming the first row whose distance is not finite. */
function checkFinite(d: Float32Array, points: Float32Array, dim: number): void {
  for (let i = 0; i < d.length; i++) {
    if (Number.isFinite(d[i])) continue;
    for (let t = i * dim; t < (i + 1) * dim; t++) {
      if (!Number.isFinite(points[t])) {
        throw new KMeansError('KMEANS_NON_FINITE', `row ${i} holds NaN or Infinity`);
      }
    }
    throw new KMeansError('KMEANS_NON_FINITE', `row ${i}: squared distances overflow float32`);
  }
}

/** Writes running sums of `w` into `out` and returns the total. */
function prefixSums(w: Float32Array, out: Float64Array): number {
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
