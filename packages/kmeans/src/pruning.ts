import type { Kernel } from './kernel.js';

/** Largest number of projection directions used for the lower bounds. */
export const MAX_DIRECTIONS = 8;

/**
 * Directions used for k centroids: about log2(k) - 2, from 1 to MAX_DIRECTIONS. Each direction
 * costs one dot product per point; more of them pay off only when there are many centroids to
 * tell apart (measured: k = 10 and 25 were fastest with 2 and 3).
 */
export function directionsFor(k: number): number {
  return Math.max(1, Math.min(MAX_DIRECTIONS, Math.ceil(Math.log2(k)) - 2));
}
/** Centroids used to find the directions; with more, an evenly spaced subset of this many. */
const BASIS_CENTROIDS = 64;
/** Up to this k the k x k centroid distances are kept for the triangle-inequality test. */
const MAX_K_FOR_PAIRS = 256;
/** Relative margin of the pruning tests (rounding of float32 sums is far below it). */
const PRUNE_REL = 1e-3;
/** Absolute margin of the pruning tests, as a fraction of the largest squared centroid norm. */
const PRUNE_ABS = 1e-5;
/** Rows whose projections are computed together (wasm/kernel.c TILE). */
export const PRUNE_TILE = 16;

/** Per-thread scratch of {@link CentroidSet.assign}. */
export interface Scratch {
  px: number;
  lb: number;
  work: number;
}

/**
 * Centroids placed in kernel memory with what the pruned assignment needs: an orthonormal
 * basis P of the directions along which the centroids spread most (so ||P x - P c||^2 is a
 * lower bound of ||x - c||^2 that separates them well), their projections P c, and, for
 * k <= 256, all squared distances between centroids. Call {@link dispose} when done.
 */
export class CentroidSet {
  /** Pointer to the k x dim float32 centroids. */
  readonly c: number;
  /** Directions of the basis (0 when k = 1 or all centroids coincide). */
  readonly r: number;
  private readonly p: number;
  private readonly pc: number;
  private readonly cc: number;
  private readonly slack: number;
  private readonly blocks: number[] = [];
  private readonly basisRows: Float32Array;

  /**
   * Copies `centroids` (k x dim) into kernel memory. `basis` (rows x dim, orthonormal rows)
   * from an earlier set is reused when given, which skips the eigen-decomposition; the
   * bounds stay valid for any orthonormal basis, only their sharpness changes.
   */
  constructor(
    private readonly kern: Kernel,
    centroids: Float32Array,
    readonly k: number,
    readonly dim: number,
    basis?: Float32Array,
  ) {
    this.c = this.keep(kern.copyIn(centroids.subarray(0, k * dim)));
    this.basisRows = basis ?? principalDirections(kern, this.c, k, dim);
    this.r = this.basisRows.length / dim;
    this.p = this.r > 0 ? this.keep(kern.copyIn(this.basisRows)) : 0;
    this.pc = this.r > 0 ? this.keep(kern.alloc(k * this.r * 4)) : 0;
    if (this.r > 0) {
      const spare = kern.alloc(4 * this.r * 4);
      kern.fn.dots(this.c, k, this.p, this.r, dim, this.pc, spare);
      kern.release(spare);
    }
    this.cc = 0;
    if (this.r > 0 && k <= MAX_K_FOR_PAIRS) {
      this.cc = this.keep(kern.alloc(k * k * 4));
      kern.fn.pairwise_sqdist(this.c, k, dim, this.cc);
    }
    const view = kern.f32(this.c, k * dim);
    let norm = 0;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = j * dim; t < (j + 1) * dim; t++) s += view[t] * view[t];
      norm = Math.max(norm, s);
    }
    this.slack = PRUNE_ABS * norm;
  }

  /** The basis rows (r x dim), to pass to the next set of a moving model. */
  get basis(): Float32Array {
    return this.basisRows;
  }

  /** Scratch for one thread's {@link assign} calls; free with {@link releaseScratch}. */
  scratch(): Scratch {
    const px = this.kern.alloc((PRUNE_TILE + 4) * Math.max(1, this.r) * 4);
    const lb = this.kern.alloc(this.k * 4);
    const work = this.kern.alloc(4);
    return { px, lb, work };
  }

  releaseScratch(s: Scratch): void {
    this.kern.release(s.px);
    this.kern.release(s.lb);
    this.kern.release(s.work);
  }

  /**
   * Arguments of the kernel call that assigns `n` rows at `x` (or the rows listed at `rows`,
   * a pointer to int32 indices, when not 0), writing labels and distances at the pointers.
   */
  args(
    x: number,
    rows: number,
    n: number,
    labels: number,
    dist: number,
    s: Scratch,
    sums = 0,
    counts = 0,
  ): { name: 'assign_pruned' | 'assign_all'; args: number[] } {
    const { c, k, dim } = this;
    if (this.r === 0 && sums === 0) {
      return { name: 'assign_all', args: [x, rows, n, dim, c, k, labels, dist, s.work] };
    }
    return {
      name: 'assign_pruned',
      args: [
        x,
        rows,
        n,
        dim,
        c,
        k,
        this.p,
        this.r,
        this.pc,
        this.cc,
        PRUNE_REL,
        this.slack,
        s.px,
        s.lb,
        labels,
        dist,
        s.work,
        sums,
        counts,
      ],
    };
  }

  /** Runs a call from {@link args} on this thread; returns the sum of the distances. */
  run(call: ReturnType<CentroidSet['args']>): number {
    const fn = this.kern.fn[call.name] as (...a: number[]) => number;
    return fn(...call.args);
  }

  /** Distances computed by calls with this scratch so far (work counter). */
  computed(s: Scratch): number {
    return this.kern.i32(s.work, 1)[0];
  }

  dispose(): void {
    for (const b of this.blocks.splice(0)) this.kern.release(b);
  }

  private keep(ptr: number): number {
    this.blocks.push(ptr);
    return ptr;
  }
}

/**
 * Up to MAX_DIRECTIONS orthonormal directions (rows x dim, float32) along which the centroids
 * at `c` spread most: principal axes of the centred centroids (at most 64 of them, evenly
 * spaced), from the eigenvectors of their Gram matrix; at most dim / 4 of them, so codes of
 * fewer than 4 floats get none. Directions with no spread are left out, so all-equal
 * centroids give none (every distance is then measured).
 */
function principalDirections(kern: Kernel, c: number, k: number, dim: number): Float32Array {
  const m = Math.min(k, BASIS_CENTROIDS);
  // Bounds cost k x r per point: worth it only while that stays well below k x dim.
  const wanted = Math.min(directionsFor(k), m - 1, Math.floor(dim / 4));
  if (wanted <= 0) return new Float32Array(0);
  const all = kern.f32(c, k * dim);
  const z = new Float32Array(m * dim);
  const mean = new Float64Array(dim);
  for (let i = 0; i < m; i++) {
    const from = Math.floor((i * k) / m) * dim;
    z.set(all.subarray(from, from + dim), i * dim);
    for (let t = 0; t < dim; t++) mean[t] += z[i * dim + t] / m;
  }
  for (let i = 0; i < m; i++) for (let t = 0; t < dim; t++) z[i * dim + t] -= mean[t];

  const zPtr = kern.copyIn(z);
  const gPtr = kern.alloc(m * m * 4);
  const spare = kern.alloc(4 * m * 4);
  kern.fn.dots(zPtr, m, zPtr, m, dim, gPtr, spare);
  const gram = Float64Array.from(kern.f32(gPtr, m * m));
  kern.release(zPtr);
  kern.release(gPtr);
  kern.release(spare);

  const { values, vectors } = symmetricEigen(gram, m);
  const order = Array.from(values.keys()).sort((a, b) => values[b] - values[a]);
  const top = values[order[0]];
  const rows: Float64Array[] = [];
  for (const e of order) {
    if (rows.length === wanted || !(values[e] > 1e-6 * top)) break;
    const u = new Float64Array(dim);
    for (let i = 0; i < m; i++) {
      const w = vectors[i * m + e];
      if (w === 0) continue;
      for (let t = 0; t < dim; t++) u[t] += w * z[i * dim + t];
    }
    let before = 0;
    for (let t = 0; t < dim; t++) before += u[t] * u[t];
    // Gram-Schmidt against the rows kept so far keeps the basis orthonormal in float64.
    for (const v of rows) {
      let proj = 0;
      for (let t = 0; t < dim; t++) proj += u[t] * v[t];
      for (let t = 0; t < dim; t++) u[t] -= proj * v[t];
    }
    let norm = 0;
    for (let t = 0; t < dim; t++) norm += u[t] * u[t];
    // A direction that was mostly made of the earlier ones is rounding noise: leave it out.
    if (!(norm > 1e-6 * before)) continue;
    norm = Math.sqrt(norm);
    for (let t = 0; t < dim; t++) u[t] /= norm;
    rows.push(u);
  }
  const out = new Float32Array(rows.length * dim);
  rows.forEach((u, i) => out.set(u, i * dim));
  return out;
}

/**
 * Eigenvalues and eigenvectors of a symmetric m x m matrix (row-major, float64) by cyclic
 * Jacobi rotations. Eigenvector e is column e of `vectors` (vectors[i * m + e]).
 */
export function symmetricEigen(
  matrix: Float64Array,
  m: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < m; i++) {
      diag += a[i * m + i] * a[i * m + i];
      for (let j = i + 1; j < m; j++) off += a[i * m + j] * a[i * m + j];
    }
    if (off <= 1e-24 * diag || off === 0) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = a[p * m + q];
        if (apq === 0) continue;
        const theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cos = 1 / Math.sqrt(t * t + 1);
        const sin = t * cos;
        rotate(a, v, m, p, q, cos, sin);
      }
    }
  }
  const values = new Float64Array(m);
  for (let i = 0; i < m; i++) values[i] = a[i * m + i];
  return { values, vectors: v };
}

/** Applies the Jacobi rotation (p, q) to both sides of `a` and accumulates it into `v`. */
function rotate(
  a: Float64Array,
  v: Float64Array,
  m: number,
  p: number,
  q: number,
  cos: number,
  sin: number,
): void {
  for (let i = 0; i < m; i++) {
    const aip = a[i * m + p];
    const aiq = a[i * m + q];
    a[i * m + p] = cos * aip - sin * aiq;
    a[i * m + q] = sin * aip + cos * aiq;
  }
  for (let j = 0; j < m; j++) {
    const apj = a[p * m + j];
    const aqj = a[q * m + j];
    a[p * m + j] = cos * apj - sin * aqj;
    a[q * m + j] = sin * apj + cos * aqj;
  }
  for (let i = 0; i < m; i++) {
    const vip = v[i * m + p];
    const viq = v[i * m + q];
    v[i * m + p] = cos * vip - sin * viq;
    v[i * m + q] = sin * vip + cos * viq;
  }
}
