import { pairwiseSquaredDistances } from './distance.js';
import { KMeansError, checkInt, checkMatrix } from './errors.js';
import { fit, type FitResult } from './fit.js';
import { permutation, Rng } from './rng.js';

/** Points the silhouette is measured on when {@link SelectKOptions.silhouetteSample} is unset. */
export const DEFAULT_SILHOUETTE_SAMPLE = 1000;

/** Fits per k when {@link SelectKOptions.restarts} is unset. */
export const DEFAULT_RESTARTS = 3;

/** An inclusive range of cluster counts to try. */
export interface KRange {
  /** Smallest k tried, an integer >= 2. */
  min: number;
  /** Largest k tried, an integer >= min and below the number of sample points. */
  max: number;
}

/** Options of {@link selectK}. */
export interface SelectKOptions {
  /** The k values tried, both ends included. */
  range: KRange;
  /** Seed of the first fit of every k and of the silhouette sample (default 0). */
  seed?: number;
  /**
   * Fits per k, with seeds seed, seed + 1, ...; the one of lowest inertia counts (default 3).
   * One fit can land in a poor local optimum (two clusters merged, another split), which
   * lowers that k's silhouette and can make a neighbouring k win; each restart costs a fit.
   */
  restarts?: number;
  /** Rows per mini-batch step of each fit (default: that of {@link fit}, 1024). */
  batchSize?: number;
  /** Cap on the mini-batch steps of each fit (default: that of {@link fit}, 1000). */
  maxSteps?: number;
  /**
   * Points (a seeded subsample of the sample) the silhouette is measured on, an integer >= 2
   * (default 1000). Its cost is one `s x s` distance matrix: `s² x dim` multiply-adds once, and
   * `8 s²` bytes (8 MB at 1000, 32 MB at 2000) held while the range is tried.
   */
  silhouetteSample?: number;
}

/** How well one k fits the sample. */
export interface KScore {
  k: number;
  /** Sum of squared distances of every sample point to its centroid. */
  inertia: number;
  /** Mean silhouette over the silhouette subsample, -1..1 (higher is better separated). */
  silhouette: number;
}

/** One k tried, as {@link selectKSteps} yields it. */
export interface KStep extends KScore {
  /** k values tried so far, this one included. */
  done: number;
  /** k values in the range. */
  total: number;
}

/** What {@link selectK} found. */
export interface KSelectionResult {
  /** Every k tried, in increasing order. */
  curve: KScore[];
  /** The k with the highest mean silhouette (the smallest such k on a tie). */
  chosen: number;
  /** The rule `chosen` comes from. */
  criterion: 'silhouette';
  /** The elbow of the inertia curve (see {@link elbowOf}); reported beside `chosen`. */
  elbow: number;
  /** Points the silhouette was measured on. */
  silhouettePoints: number;
  /**
   * The first k of the range that was not tried because the sample holds fewer distinct points
   * than that k (every larger k would fail likewise); null when the whole range was tried.
   */
  stoppedAt: number | null;
}

/**
 * Chooses the number of clusters for a sample of `n` points of width `dim` (see
 * {@link selectKSteps}, which this runs to the end).
 */
export function selectK(
  points: Float32Array,
  n: number,
  dim: number,
  opts: SelectKOptions,
): KSelectionResult {
  const steps = selectKSteps(points, n, dim, opts);
  for (let s = steps.next(); ; s = steps.next()) if (s.done) return s.value;
}

/**
 * Chooses k in `opts.range` for a sample of `n` points, one k per step, so that a caller can
 * report progress and yield to its event loop between two k.
 *
 * Each k is fitted on the whole sample with {@link fit}, `restarts` times with consecutive
 * seeds (the same seeds for every k, so the result is deterministic for a seed), and the fit of
 * lowest inertia is kept. The mean silhouette of its labels is measured on a seeded subsample
 * of at most `silhouetteSample` points, with exact euclidean distances computed once for all k. A point's silhouette is (b - a) / max(a, b), where a is its
 * mean distance to the other subsample points of its cluster and b the smallest mean distance
 * to the subsample points of another cluster; it is 0 for a point alone in its cluster in the
 * subsample, and the mean is 0 when the subsample falls in one cluster only.
 *
 * The rule: the chosen k is the one with the highest mean silhouette (the smallest k on a tie).
 * The elbow of the inertia curve ({@link elbowOf}) is reported beside it, not used.
 *
 * If the sample holds fewer distinct points than some k of the range, that k and every larger
 * one are skipped: the range stops there and `stoppedAt` names the k.
 *
 * Throws KMEANS_INVALID_K_RANGE when the range is not integers, is empty (max < min) or starts
 * below 2 (k = 1 has no silhouette); KMEANS_K_EXCEEDS_N when max >= n (the silhouette needs a
 * cluster of two points at least); KMEANS_TOO_FEW_DISTINCT when the sample holds fewer distinct
 * points than the range's min; and as {@link fit} for bad points (KMEANS_NON_FINITE, ...).
 */
export function* selectKSteps(
  points: Float32Array,
  n: number,
  dim: number,
  opts: SelectKOptions,
): Generator<KStep, KSelectionResult, void> {
  checkInt('n', n, 1);
  checkInt('dim', dim, 1);
  checkMatrix('points', points, n, dim);
  const { min, max } = checkRange(opts.range, n);
  const seed = opts.seed ?? 0;
  const wanted = opts.silhouetteSample ?? DEFAULT_SILHOUETTE_SAMPLE;
  checkInt('silhouetteSample', wanted, 2);
  const restarts = opts.restarts ?? DEFAULT_RESTARTS;
  checkInt('restarts', restarts, 1);

  const rows = silhouetteRows(n, Math.min(n, wanted), seed);
  const distances = sampleDistances(points, dim, rows);
  const subLabels = new Int32Array(rows.length);

  const curve: KScore[] = [];
  let stoppedAt: number | null = null;
  const total = max - min + 1;
  for (let k = min; k <= max; k++) {
    let fitted;
    try {
      fitted = bestFit(points, n, dim, k, seed, restarts, opts);
    } catch (err) {
      if (!(err instanceof KMeansError) || err.code !== 'KMEANS_TOO_FEW_DISTINCT') throw err;
      stoppedAt = k;
      break;
    }
    for (let i = 0; i < rows.length; i++) subLabels[i] = fitted.labels[rows[i]];
    const score = {
      k,
      inertia: fitted.inertia,
      silhouette: meanSilhouette(distances, rows.length, subLabels, k),
    };
    curve.push(score);
    yield { ...score, done: curve.length, total };
  }

  if (curve.length === 0) {
    throw new KMeansError(
      'KMEANS_TOO_FEW_DISTINCT',
      `the sample of ${n} points holds fewer than ${min} distinct points, the smallest k tried`,
    );
  }
  let best = curve[0];
  for (const s of curve) if (s.silhouette > best.silhouette) best = s;
  return {
    curve,
    chosen: best.k,
    criterion: 'silhouette',
    elbow: elbowOf(curve),
    silhouettePoints: rows.length,
    stoppedAt,
  };
}

/**
 * Mean silhouette of a labelling of `n` points of width `dim` (labels 0..k-1, with k the
 * largest label + 1), from exact euclidean distances between all pairs: O(n² x dim) time and
 * 8 n² bytes, so meant for a sample of a few thousand points at most. Points alone in their
 * cluster score 0; the mean is 0 when every point is in one cluster. Throws
 * KMEANS_INVALID_ARGUMENT for a label that is not an integer >= 0, and KMEANS_NON_FINITE for
 * NaN or Infinity in the points.
 */
export function silhouette(
  points: Float32Array,
  n: number,
  dim: number,
  labels: ArrayLike<number>,
): number {
  checkInt('n', n, 1);
  checkInt('dim', dim, 1);
  checkMatrix('points', points, n, dim);
  if (labels.length < n) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', `labels holds fewer than ${n} values`);
  }
  let k = 0;
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0) {
      throw new KMeansError('KMEANS_INVALID_ARGUMENT', `label ${i} is ${l}, not an integer >= 0`);
    }
    k = Math.max(k, l + 1);
  }
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  return meanSilhouette(sampleDistances(points, dim, all), n, labels, k);
}

/**
 * The elbow of an inertia curve: with k and inertia each scaled to 0..1 over the curve, the
 * point farthest below the straight line (the chord) from the first point to the last, i.e. where
 * adding clusters stops paying off. The first k when no point lies below the chord (fewer than
 * three points, or a curve that is not convex anywhere); the smallest such k on a tie.
 */
export function elbowOf(curve: readonly { k: number; inertia: number }[]): number {
  if (curve.length === 0) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', 'the inertia curve is empty');
  }
  const first = curve[0];
  const last = curve[curve.length - 1];
  const inertias = curve.map((p) => p.inertia);
  const lo = Math.min(...inertias);
  const span = Math.max(...inertias) - lo;
  const kSpan = last.k - first.k;
  if (curve.length < 3 || span <= 0 || kSpan <= 0) return first.k;

  const y = (inertia: number) => (inertia - lo) / span;
  const [y0, y1] = [y(first.inertia), y(last.inertia)];
  let elbow = first.k;
  let farthest = 0;
  for (const p of curve) {
    const x = (p.k - first.k) / kSpan;
    // Vertical gap below the chord; the perpendicular distance is this times a constant.
    const gap = y0 + (y1 - y0) * x - y(p.inertia);
    if (gap > farthest) {
      farthest = gap;
      elbow = p.k;
    }
  }
  return elbow;
}

/** The fit of lowest inertia among `restarts` fits of `k` with seeds seed, seed + 1, ... */
function bestFit(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  seed: number,
  restarts: number,
  opts: SelectKOptions,
): FitResult {
  let best: FitResult | undefined;
  for (let r = 0; r < restarts; r++) {
    const fitted = fit(points, n, dim, {
      k,
      seed: seed + r,
      ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
      ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }),
    });
    if (!best || fitted.inertia < best.inertia) best = fitted;
  }
  return best!;
}

/** Validates a range of k against a sample of `n` points. */
function checkRange(range: KRange, n: number): KRange {
  const { min, max } = range ?? {};
  if (!Number.isInteger(min) || !Number.isInteger(max)) {
    throw new KMeansError(
      'KMEANS_INVALID_K_RANGE',
      `the range of k must be two integers, got ${min}..${max}`,
    );
  }
  if (min < 2) {
    throw new KMeansError(
      'KMEANS_INVALID_K_RANGE',
      `the range of k must start at 2 or more (k = 1 has no silhouette), got ${min}..${max}`,
    );
  }
  if (max < min) {
    throw new KMeansError('KMEANS_INVALID_K_RANGE', `the range of k ${min}..${max} is empty`);
  }
  if (max >= n) {
    throw new KMeansError(
      'KMEANS_K_EXCEEDS_N',
      `k up to ${max} needs a sample of more than ${max} points, got ${n}`,
    );
  }
  return { min, max };
}

/** `size` distinct rows of 0..n-1 drawn with `seed`, in increasing order. */
function silhouetteRows(n: number, size: number, seed: number): Int32Array {
  if (size >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const picked = permutation(n, new Rng((seed ^ 0x2f6b1c3d) >>> 0)).subarray(0, size);
  return Int32Array.from(picked).sort();
}

/** Euclidean distances between all pairs of the listed rows, `s x s` row-major. */
function sampleDistances(points: Float32Array, dim: number, rows: Int32Array): Float64Array {
  const s = rows.length;
  const sub = new Float32Array(s * dim);
  for (let i = 0; i < s; i++) sub.set(points.subarray(rows[i] * dim, rows[i] * dim + dim), i * dim);
  const d = pairwiseSquaredDistances(sub, s, dim, sub, s);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]);
  return d;
}

/**
 * Mean silhouette of `n` points with labels in 0..k-1, from their `n x n` euclidean distance
 * matrix: one pass per point summing its distances per cluster, O(n² + n k).
 */
function meanSilhouette(
  distances: Float64Array,
  n: number,
  labels: ArrayLike<number>,
  k: number,
): number {
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) counts[labels[i]]++;
  let occupied = 0;
  for (const c of counts) if (c > 0) occupied++;
  if (occupied < 2) return 0;

  const sums = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    const row = i * n;
    for (let j = 0; j < n; j++) if (j !== i) sums[labels[j]] += distances[row + j];
    const own = labels[i];
    if (counts[own] < 2) continue;
    const a = sums[own] / (counts[own] - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) {
      if (c !== own && counts[c] > 0) b = Math.min(b, sums[c] / counts[c]);
    }
    const m = Math.max(a, b);
    if (m > 0) total += (b - a) / m;
  }
  return total / n;
}
