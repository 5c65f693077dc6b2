import { assign } from './distance.js';
import { kernel } from './kernel.js';
import { KMeansError, checkInt, checkMatrix } from './errors.js';
import { MiniBatchKMeans, type MiniBatchKMeansOptions, type StopReason } from './minibatch.js';
import { Rng } from './rng.js';

/** Options of {@link fit}: those of MiniBatchKMeans without `dim`, plus the seeding sample. */
export interface FitOptions extends Omit<MiniBatchKMeansOptions, 'dim'> {
  /** Rows sampled (without replacement) for k-means++ seeding (default min(n, 3 x batchSize)). */
  initSize?: number;
  /** Starting centroids (`k x dim`) instead of k-means++ seeding, e.g. a previous model's. */
  initialCentroids?: ArrayLike<number>;
}

/** Result of {@link fit}. */
export interface FitResult {
  /** Final centroids, `k x dim`. */
  centroids: Float32Array;
  /** Nearest final centroid for every point. */
  labels: Int32Array;
  /** Sum of squared distances of all points to their final centroids. */
  inertia: number;
  /** Mini-batch steps taken. */
  steps: number;
  /** Which stopping rule ended the run. */
  stopReason: StopReason;
  /** Points absorbed per centre. */
  counts: Float64Array;
  /** The trained model, for further partialFit calls or checkpointing. */
  model: MiniBatchKMeans;
  /** Seconds spent seeding, in the mini-batch steps, and labelling every point. */
  seconds: { seed: number; steps: number; assign: number };
}

/**
 * Mini-batch k-means on an in-memory `n x dim` matrix: seeds with k-means++ on a random sample
 * (retrying on all points if the sample holds fewer than k distinct rows) unless
 * `initialCentroids` are given, then feeds batches of
 * `batchSize` rows (shuffled epochs; all rows when n < batchSize) to partialFit until a
 * stopping rule fires, and finally labels every point. `datasetSize` defaults to n.
 * Points in kernel memory (`allocPoints`) are read in place; others are copied one batch at a
 * time. Steps and the final labelling use `threads` threads (default: the machine's cores, at
 * most 8). Deterministic for a seed and a thread count. Throws like MiniBatchKMeans.init (KMEANS_K_EXCEEDS_N,
 * KMEANS_TOO_FEW_DISTINCT, KMEANS_NON_FINITE, KMEANS_INVALID_K).
 */
export function fit(points: Float32Array, n: number, dim: number, opts: FitOptions): FitResult {
  const { model, seconds } = fitCentroids(points, n, dim, opts);
  const { k } = model.options;
  const started = performance.now();
  const { labels, inertia } = assign(points, n, dim, model.centroids, k, {
    threads: model.threads,
  });
  return result(model, labels, inertia, { ...seconds, assign: since(started) });
}

function since(start: number): number {
  return (performance.now() - start) / 1000;
}

function result(
  model: MiniBatchKMeans,
  labels: Int32Array,
  inertia: number,
  seconds: FitResult['seconds'],
): FitResult {
  return {
    centroids: model.centroids,
    labels,
    inertia,
    steps: model.steps,
    stopReason: model.stopReason as StopReason,
    counts: model.counts,
    model,
    seconds,
  };
}

/** Seeding and mini-batch steps of {@link fit}, up to the stopping rule. */
function fitCentroids(points: Float32Array, n: number, dim: number, opts: FitOptions) {
  checkInt('n', n, 1);
  checkInt('dim', dim, 1);
  checkMatrix('points', points, n, dim);
  const model = new MiniBatchKMeans({ ...opts, dim, datasetSize: opts.datasetSize ?? n });
  const rng = new Rng((model.options.seed ^ 0x5bd1e995) >>> 0);
  const { batchSize } = model.options;
  const initSize = Math.min(n, opts.initSize ?? 3 * batchSize);
  checkInt('initSize', initSize, 1);
  const started = performance.now();
  if (opts.initialCentroids) model.setCentroids(opts.initialCentroids);
  else seedModel(model, points, n, dim, initSize, rng);
  const seed = since(started);

  const kern = kernel();
  const held = kern.holds(points);
  const b = Math.min(batchSize, n);
  const rowsPtr = kern.alloc(b * 4);
  const batchPtr = held ? 0 : kern.alloc(b * dim * 4);
  try {
    const rows = kern.i32(rowsPtr, b);
    const batch = held ? null : kern.f32(batchPtr, b * dim);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    let cursor = n;
    while (!model.converged) {
      if (cursor + b > n) {
        shuffle(order, rng);
        cursor = 0;
      }
      const ids = order.subarray(cursor, cursor + b);
      cursor += b;
      if (batch) {
        gather(points, dim, ids, batch);
        model.partialFit(batch, b);
      } else {
        rows.set(ids);
        model.partialFitRows(points, rows, b);
      }
    }
  } finally {
    kern.release(rowsPtr);
    if (batchPtr) kern.release(batchPtr);
  }
  return { model, seconds: { seed, steps: since(started) - seed } };
}

/** Seeds `model` on a sample of `size` rows, falling back to all rows if it is too uniform. */
function seedModel(
  model: MiniBatchKMeans,
  points: Float32Array,
  n: number,
  dim: number,
  size: number,
  rng: Rng,
): void {
  if (size >= n) {
    model.init(points, n);
    return;
  }
  const ids = sampleWithoutReplacement(n, size, rng);
  const sample = new Float32Array(size * dim);
  gather(points, dim, ids, sample);
  try {
    model.init(sample, size);
  } catch (err) {
    if (!(err instanceof KMeansError) || err.code !== 'KMEANS_TOO_FEW_DISTINCT') throw err;
    model.init(points, n);
  }
}

/** `size` distinct indices in [0, n), in random order (partial Fisher-Yates). */
function sampleWithoutReplacement(n: number, size: number, rng: Rng): Int32Array {
  const picked = new Map<number, number>();
  const out = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const j = i + rng.nextInt(n - i);
    out[i] = picked.get(j) ?? j;
    picked.set(j, picked.get(i) ?? i);
  }
  return out;
}

/** Fisher-Yates shuffle in place. */
function shuffle(a: Int32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/** Copies the listed rows of `points` into consecutive rows of `out`. */
function gather(points: Float32Array, dim: number, ids: ArrayLike<number>, out: Float32Array) {
  for (let r = 0; r < ids.length; r++) {
    const i = ids[r];
    out.set(points.subarray(i * dim, i * dim + dim), r * dim);
  }
}
