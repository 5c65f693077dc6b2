import { assign } from './distance.js';
import { KMeansError, checkInt, checkMatrix } from './errors.js';

/** Result of {@link lloyd}. */
export interface LloydResult {
  /** Final centroids, `k x dim`. */
  centroids: Float32Array;
  /** Nearest final centroid per point. */
  labels: Int32Array;
  /** Sum of squared distances of the points to their final centroids. */
  inertia: number;
  /** Assignment passes run. */
  iterations: number;
  /** True when an assignment pass changed no label (a fixed point), false if maxIter ran out. */
  converged: boolean;
}

/**
 * Full-batch k-means (Lloyd's algorithm) from the given `k x dim` initial centroids, `k` being
 * `init.length / dim`: alternates assignment and mean updates until no label changes or
 * `maxIter` passes (default 300) have run. A centre left empty moves to the point farthest from
 * its centre (each empty centre takes a different point), so no centroid becomes NaN. The
 * returned labels and inertia always match the returned centroids. Meant as a reference for
 * tests and benchmarks: every pass reads all points.
 */
export function lloyd(
  points: Float32Array,
  n: number,
  dim: number,
  init: Float32Array,
  maxIter = 300,
): LloydResult {
  checkInt('n', n, 1);
  checkInt('dim', dim, 1);
  checkInt('maxIter', maxIter, 1);
  checkMatrix('points', points, n, dim);
  if (!(init instanceof Float32Array) || init.length === 0 || init.length % dim !== 0) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', 'init must be a non-empty k x dim matrix');
  }
  const k = init.length / dim;
  if (k > n) throw new KMeansError('KMEANS_K_EXCEEDS_N', `k = ${k} exceeds the ${n} points`);
  const centroids = init.slice();
  let prev: Int32Array = new Int32Array(n).fill(-1);
  let a = assign(points, n, dim, centroids, k);
  for (let it = 1; ; it++) {
    let changed = false;
    for (let i = 0; i < n && !changed; i++) changed = a.labels[i] !== prev[i];
    if (!changed) return { ...pick(a), centroids, iterations: it, converged: true };
    if (it >= maxIter) break;
    prev = a.labels;
    recomputeMeans(points, n, dim, k, a.labels, a.distances, centroids);
    a = assign(points, n, dim, centroids, k);
  }
  return { ...pick(a), centroids, iterations: maxIter, converged: false };
}

/** Labels and inertia of an assignment. */
function pick(a: ReturnType<typeof assign>): { labels: Int32Array; inertia: number } {
  return { labels: a.labels, inertia: a.inertia };
}

/** Sets each centroid to the mean of its points; empty centres move to far-away points. */
function recomputeMeans(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  labels: Int32Array,
  distances: Float32Array,
  centroids: Float32Array,
): void {
  const sums = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const j = labels[i];
    counts[j]++;
    const so = j * dim;
    const xo = i * dim;
    for (let d = 0; d < dim; d++) sums[so + d] += points[xo + d];
  }
  const empty: number[] = [];
  for (let j = 0; j < k; j++) {
    if (counts[j] === 0) {
      empty.push(j);
      continue;
    }
    for (let d = 0; d < dim; d++) centroids[j * dim + d] = sums[j * dim + d] / counts[j];
  }
  if (empty.length === 0) return;
  const far = Array.from(distances.subarray(0, n), (d, i) => [d, i] as const)
    .sort((x, y) => y[0] - x[0] || x[1] - y[1])
    .slice(0, empty.length);
  empty.forEach((j, e) => {
    const i = far[e][1];
    centroids.set(points.subarray(i * dim, i * dim + dim), j * dim);
  });
}
