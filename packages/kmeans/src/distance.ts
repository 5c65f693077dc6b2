import { KMeansError, checkInt, checkK, checkMatrix } from './errors.js';
import { kernel, resolveThreads, type Kernel } from './kernel.js';
import { CentroidSet } from './pruning.js';

/** Bytes of points copied into kernel memory at a time when they live elsewhere. */
const STAGE_BYTES = 16 * 2 ** 20;
/** An empty basis: the centroid set then measures every distance. */
const NO_BASIS = new Float32Array(0);
/** Blocks of fewer rows than this per thread are not split. */
const MIN_ROWS_PER_THREAD = 128;

/** Result of {@link assign}. */
export interface Assignment {
  /** Index of the nearest centroid per point (ties go to the lowest index). */
  labels: Int32Array;
  /** Squared euclidean distance per point to its nearest centroid (float32 sums). */
  distances: Float32Array;
  /** Sum of `distances`, accumulated in double precision. */
  inertia: number;
  /** Point-centroid distances computed; n x k without pruning. */
  computed: number;
}

/** Reusable output buffers for {@link assign}; each must hold at least `n` values. */
export interface AssignBuffers {
  /** Buffer for the labels. */
  labels?: Int32Array;
  /** Buffer for the squared distances. */
  distances?: Float32Array;
}

/** Options of {@link assign}: output buffers and threads. */
export interface AssignOptions extends AssignBuffers {
  /** Threads, the calling one included (default: the machine's cores, at most 8). */
  threads?: number;
  /**
   * Skip centroids that provably cannot be nearest (default true). false measures every
   * point-centroid distance: same labels and distances, for comparison.
   */
  prune?: boolean;
}

/**
 * Squared euclidean norm of each of `n` rows of width `dim`, summed in double precision in
 * coordinate order. Throws KMEANS_NON_FINITE naming the first row that holds NaN or Infinity.
 */
export function squaredNorms(
  points: Float32Array,
  n: number,
  dim: number,
  out: Float64Array = new Float64Array(n),
  rowOffset = 0,
): Float64Array {
  for (let i = 0; i < n; i++) {
    const o = (rowOffset + i) * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const v = points[o + d];
      s += v * v;
    }
    if (!Number.isFinite(s)) {
      throw new KMeansError('KMEANS_NON_FINITE', `row ${rowOffset + i} holds NaN or Infinity`);
    }
    out[i] = s;
  }
  return out;
}

/** Validates the common arguments of the distance functions. */
function checkPair(points: Float32Array, n: number, dim: number, c: Float32Array, k: number): void {
  checkInt('n', n, 0);
  checkInt('dim', dim, 1);
  checkK(k);
  checkMatrix('points', points, n, dim);
  checkMatrix('centroids', c, k, dim);
  for (let i = 0; i < k * dim; i++) {
    if (!Number.isFinite(c[i])) {
      throw new KMeansError('KMEANS_NON_FINITE', `centroid ${Math.floor(i / dim)} is not finite`);
    }
  }
}

/** Output buffers of an assignment of n points, checked or made. */
function outputs(n: number, out: AssignBuffers): { labels: Int32Array; distances: Float32Array } {
  const labels = out.labels ?? new Int32Array(n);
  const distances = out.distances ?? new Float32Array(n);
  if (labels.length < n || distances.length < n) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', `output buffers must hold ${n} values`);
  }
  return { labels, distances };
}

/**
 * Rows of `points` made readable by the kernel, `rows` at a time: a pointer into the points
 * themselves when they already lie in kernel memory, else a staging block they are copied to.
 */
class Stager {
  readonly direct: boolean;
  readonly rows: number;
  private readonly block: number;

  constructor(
    private readonly kern: Kernel,
    private readonly points: Float32Array,
    n: number,
    private readonly dim: number,
    rows = Math.max(16, Math.floor(STAGE_BYTES / (4 * dim))),
  ) {
    this.direct = kern.holds(points);
    this.rows = this.direct ? Math.max(1, n) : Math.max(1, Math.min(n, rows));
    this.block = this.direct ? 0 : kern.alloc(this.rows * dim * 4);
  }

  /** Pointer to rows [row0, row0 + count) (count <= this.rows). */
  stage(row0: number, count: number): number {
    const { dim, points } = this;
    if (this.direct) return points.byteOffset + row0 * dim * 4;
    this.kern.f32(this.block, count * dim).set(points.subarray(row0 * dim, (row0 + count) * dim));
    return this.block;
  }

  release(): void {
    if (!this.direct) this.kern.release(this.block);
  }
}

/**
 * Copies labels and distances out of kernel memory, checking that every distance is finite;
 * returns their sum, added in row order (so it does not depend on how rows were split).
 */
function collect(
  kern: Kernel,
  lab: number,
  dis: number,
  count: number,
  row0: number,
  labels: Int32Array,
  distances: Float32Array,
  points: Float32Array,
  dim: number,
): number {
  const d = kern.f32(dis, count);
  labels.set(kern.i32(lab, count), row0);
  distances.set(d, row0);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(d[i])) throw nonFinite(points, row0 + i, dim);
    sum += d[i];
  }
  return sum;
}

function nonFinite(points: Float32Array, row: number, dim: number): KMeansError {
  for (let t = row * dim; t < (row + 1) * dim; t++) {
    if (!Number.isFinite(points[t])) {
      return new KMeansError('KMEANS_NON_FINITE', `row ${row} holds NaN or Infinity`);
    }
  }
  return new KMeansError(
    'KMEANS_NON_FINITE',
    `row ${row} is too far from the centroids: its squared distance overflows float32`,
  );
}

/**
 * Nearest centroid for each of `n` points (row-major `n x dim`) among `k` centroids (`k x dim`).
 * Exact search with pruning (see {@link CentroidSet}): centroids whose lower bound or
 * triangle-inequality bound shows they cannot be nearer are not measured. Distances are float32
 * sums of squared differences (an identical point and centroid are exactly 0 apart); ties go
 * to the lowest centroid index. Points already in kernel memory ({@link allocPoints}) are read
 * in place, others are copied in 16 MiB at a time. With `threads` > 1 (default: the machine's
 * cores, at most 8) blocks are split over the kernel's worker threads, at least 128 rows each;
 * the result is the same, bit for bit. `n = 0` returns empty arrays.
 * Throws KMEANS_NON_FINITE if a point or centroid holds NaN or Infinity,
 * KMEANS_INVALID_ARGUMENT on short inputs or short `out` buffers, KMEANS_INVALID_K if k < 1.
 */
export function assign(
  points: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  out: AssignOptions = {},
): Assignment {
  checkPair(points, n, dim, centroids, k);
  const threads = resolveThreads(out.threads);
  const { labels, distances } = outputs(n, out);
  if (n === 0) return { labels, distances, inertia: 0, computed: 0 };
  const kern = kernel();
  const set = new CentroidSet(kern, centroids, k, dim, out.prune === false ? NO_BASIS : undefined);
  const stager = new Stager(kern, points, n, dim);
  const scratches = Array.from({ length: threads }, () => set.scratch());
  const lab = kern.alloc(stager.rows * 4);
  const dis = kern.alloc(stager.rows * 4);
  let inertia = 0;
  try {
    for (let row0 = 0; row0 < n; row0 += stager.rows) {
      const count = Math.min(stager.rows, n - row0);
      const x = stager.stage(row0, count);
      const parts = Math.max(1, Math.min(threads, Math.floor(count / MIN_ROWS_PER_THREAD)));
      const edge = (p: number) => Math.floor((p * count) / parts);
      const part = (p: number) => {
        const lo = edge(p);
        const rows = edge(p + 1) - lo;
        return set.args(x + lo * dim * 4, 0, rows, lab + lo * 4, dis + lo * 4, scratches[p]);
      };
      if (parts === 1) set.run(set.args(x, 0, count, lab, dis, scratches[0]));
      else kern.workers().split(part(0).name, parts, (p) => part(p).args);
      inertia += collect(kern, lab, dis, count, row0, labels, distances, points, dim);
    }
    let computed = 0;
    for (const s of scratches) computed += set.computed(s);
    return { labels, distances, inertia, computed };
  } finally {
    kern.release(lab);
    kern.release(dis);
    for (const s of scratches) set.releaseScratch(s);
    stager.release();
    set.dispose();
  }
}

/**
 * Full `n x m` matrix of squared euclidean distances (row-major, double precision) between `n`
 * points and `m` other rows, as float32 sums of squared differences (identical rows are exactly
 * 0 apart). Throws like {@link assign}.
 */
export function pairwiseSquaredDistances(
  points: Float32Array,
  n: number,
  dim: number,
  others: Float32Array,
  m: number,
  out: Float64Array = new Float64Array(n * m),
): Float64Array {
  checkPair(points, n, dim, others, m);
  if (out.length < n * m) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', `output buffer must hold ${n * m} values`);
  }
  if (n === 0) return out;
  const kern = kernel();
  const y = kern.copyIn(others.subarray(0, m * dim));
  const rows = Math.max(1, Math.min(n, Math.floor(STAGE_BYTES / (4 * Math.max(dim, m)))));
  const stager = new Stager(kern, points, n, dim, rows);
  const block = kern.alloc(stager.rows * m * 4);
  try {
    for (let row0 = 0; row0 < n; row0 += stager.rows) {
      const count = Math.min(stager.rows, n - row0);
      kern.fn.cross_sqdist(stager.stage(row0, count), count, y, m, dim, block);
      const d = kern.f32(block, count * m);
      for (let i = 0; i < count * m; i++) {
        if (!Number.isFinite(d[i])) throw nonFinite(points, row0 + Math.floor(i / m), dim);
      }
      out.set(d, row0 * m);
    }
    return out;
  } finally {
    kern.release(block);
    stager.release();
    kern.release(y);
  }
}

/**
 * A zero-filled `n x dim` float32 matrix placed in kernel memory, so that {@link assign} and `fit` read it without copying. Free it with {@link freePoints}
 * when done (kernel memory is not garbage-collected). Throws KMEANS_OUT_OF_MEMORY past 4 GiB.
 */
export function allocPoints(n: number, dim: number): Float32Array {
  checkInt('n', n, 0);
  checkInt('dim', dim, 1);
  const kern = kernel();
  return kern.f32(kern.alloc(n * dim * 4), n * dim);
}

/**
 * Returns a matrix from {@link allocPoints} to the kernel. Views of it must not be used
 * afterwards: the memory is handed out again.
 */
export function freePoints(points: Float32Array): void {
  const kern = kernel();
  if (!kern.holds(points) || !kern.isBlock(points.byteOffset)) {
    throw new KMeansError(
      'KMEANS_INVALID_ARGUMENT',
      'points were not made by allocPoints, are a part of such a matrix, or were freed already',
    );
  }
  kern.release(points.byteOffset);
}
