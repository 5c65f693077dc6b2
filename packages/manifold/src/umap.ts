import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { UMAP } from 'umap-js';
import { pairwiseSquaredDistances, Rng } from '@imgcluster/kmeans';
import { ManifoldError } from './errors.js';

/** Settings of {@link fitManifold}. */
export interface ManifoldOptions {
  /** Width of the embedding. */
  dims: number;
  /** Neighbours each code is tied to, in the fit and in {@link embed}; at most m − 1 are used. */
  neighbors: number;
  /** Seed of the neighbour search and of the layout's random draws. */
  seed: number;
  /** Layout passes; default umap-js's own (500 below 10,000 codes, else 200). */
  epochs?: number;
}

/**
 * A fitted manifold: the reference codes (as k-means is given them, after any normalisation)
 * and where UMAP laid each of them out. New codes are placed by {@link embed}.
 */
export interface Manifold {
  /** Reference codes, `m × dim`, row-major. */
  points: Float32Array;
  /** Their layout, `m × dims`, row-major. */
  embedding: Float32Array;
  m: number;
  dim: number;
  dims: number;
  /** Neighbours used by {@link embed} (the setting, lowered to m − 1). */
  neighbors: number;
}

/** Called after each layout pass with the passes done and their total; may throw to stop. */
export type ManifoldProgress = (done: number, total: number) => Promise<void>;

/** Fewest reference codes a manifold can be fitted on. */
export const MIN_MANIFOLD_POINTS = 2;

/** Below this many codes UMAP has no neighbourhoods to learn from: see lineLayout. */
const UMAP_MIN_POINTS = 3;

/**
 * Fits a UMAP layout of `m` reference codes (`points`, `m × dim`) into `dims` dimensions with
 * a minimum distance of 0 (clusters packed tight, as clustering wants). Deterministic for a
 * seed. Yields to the event loop after every layout pass, calling `progress`; the neighbour
 * search before the first pass holds the thread (a few seconds at 5,000 codes).
 */
export async function fitManifold(
  points: Float32Array,
  m: number,
  dim: number,
  options: ManifoldOptions,
  progress?: ManifoldProgress,
): Promise<Manifold> {
  checkOptions(options);
  checkMatrix('points', points, m, dim);
  if (m < MIN_MANIFOLD_POINTS) {
    throw new ManifoldError(
      'MANIFOLD_TOO_FEW_POINTS',
      `a manifold needs at least ${MIN_MANIFOLD_POINTS} codes, got ${m}`,
    );
  }
  const neighbors = Math.min(options.neighbors, m - 1);
  if (m < UMAP_MIN_POINTS) return lineLayout(points, m, dim, options.dims, neighbors);
  const rng = new Rng(options.seed);
  const umap = new UMAP({
    nComponents: options.dims,
    nNeighbors: neighbors,
    minDist: 0,
    random: () => rng.next(),
    ...(options.epochs === undefined ? {} : { nEpochs: options.epochs }),
  });

  const rows: number[][] = [];
  for (let i = 0; i < m; i++) rows.push(Array.from(points.subarray(i * dim, (i + 1) * dim)));
  const total = umap.initializeFit(rows);
  for (let done = 0; done < total;) {
    done = umap.step();
    if (done % 10 === 0 || done === total) {
      await progress?.(done, total);
      await yieldToEventLoop();
    }
  }

  const embedding = new Float32Array(m * options.dims);
  umap.getEmbedding().forEach((row, i) => embedding.set(row, i * options.dims));
  for (let i = 0; i < embedding.length; i++) {
    if (!Number.isFinite(embedding[i])) {
      throw new ManifoldError('MANIFOLD_NOT_FINITE', 'the layout diverged (a value is not finite)');
    }
  }
  return { points: points.slice(0, m * dim), embedding, m, dim, dims: options.dims, neighbors };
}

/**
 * The layout of a sample too small for UMAP (two codes, as a run of two images with k = 2
 * has): the codes one unit apart on the first axis, each code then placed at its nearest.
 */
function lineLayout(
  points: Float32Array,
  m: number,
  dim: number,
  dims: number,
  neighbors: number,
): Manifold {
  const embedding = new Float32Array(m * dims);
  for (let i = 0; i < m; i++) embedding[i * dims] = i;
  return { points: points.slice(0, m * dim), embedding, m, dim, dims, neighbors };
}

/** Rows of codes compared with all reference codes at once in {@link embed}. */
const BLOCK_ROWS = 256;

/**
 * Places `n` codes (`n × dim`, prepared like the reference codes) in a manifold's layout:
 * each goes to the weighted mean of the layout positions of its `neighbors` nearest reference
 * codes, with UMAP's membership weights exp(−(d − d₁)/σ), σ chosen so that they sum to
 * log2(neighbors). A code equal to a reference code lands next to it; the same code always
 * lands in the same place. Costs n × m distances of `dim` floats (about a second per 10,000
 * codes of 128 floats against 5,000 references).
 */
export function embed(manifold: Manifold, codes: Float32Array, n: number): Float32Array {
  const { m, dim, dims, neighbors } = manifold;
  checkMatrix('codes', codes, n, dim);
  const out = new Float32Array(n * dims);
  const near = new Int32Array(neighbors);
  const nearSq = new Float64Array(neighbors);
  const weights = new Float64Array(neighbors);
  const block = new Float64Array(Math.min(BLOCK_ROWS, Math.max(1, n)) * m);

  for (let row0 = 0; row0 < n; row0 += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, n - row0);
    const d2 = pairwiseSquaredDistances(
      codes.subarray(row0 * dim, (row0 + count) * dim),
      count,
      dim,
      manifold.points,
      m,
      block,
    );
    for (let i = 0; i < count; i++) {
      nearest(d2, i * m, m, near, nearSq);
      membershipWeights(nearSq, weights);
      const at = (row0 + i) * dims;
      let total = 0;
      for (let q = 0; q < neighbors; q++) total += weights[q];
      for (let q = 0; q < neighbors; q++) {
        const w = weights[q] / total;
        const from = near[q] * dims;
        for (let c = 0; c < dims; c++) out[at + c] += w * manifold.embedding[from + c];
      }
    }
  }
  return out;
}

/** The `near.length` smallest of `d2[offset .. offset+m)`, ascending (ties: lower index). */
function nearest(
  d2: Float64Array,
  offset: number,
  m: number,
  near: Int32Array,
  nearSq: Float64Array,
) {
  const k = near.length;
  let filled = 0;
  for (let j = 0; j < m; j++) {
    const v = d2[offset + j];
    if (filled === k && v >= nearSq[k - 1]) continue;
    let at = filled < k ? filled++ : k - 1;
    while (at > 0 && nearSq[at - 1] > v) {
      nearSq[at] = nearSq[at - 1];
      near[at] = near[at - 1];
      at--;
    }
    nearSq[at] = v;
    near[at] = j;
  }
}

/**
 * UMAP's fuzzy membership of each neighbour (squared distances ascending): exp(−(d − d₁)/σ)
 * with σ found by bisection so the weights sum to log2(k); equal distances give equal weights.
 */
function membershipWeights(nearSq: Float64Array, weights: Float64Array) {
  const k = nearSq.length;
  const rho = Math.sqrt(nearSq[0]);
  const target = Math.log2(Math.max(2, k));
  const sum = (sigma: number) => {
    let s = 0;
    for (let q = 0; q < k; q++) s += Math.exp(-(Math.sqrt(nearSq[q]) - rho) / sigma);
    return s;
  };
  let lo = 0;
  let hi = Infinity;
  let sigma = 1;
  for (let it = 0; it < 64; it++) {
    const s = sum(sigma);
    if (Math.abs(s - target) < 1e-6) break;
    if (s > target) {
      hi = sigma;
      sigma = (lo + hi) / 2;
    } else {
      lo = sigma;
      sigma = hi === Infinity ? sigma * 2 : (lo + hi) / 2;
    }
  }
  for (let q = 0; q < k; q++) {
    const w = Math.exp(-(Math.sqrt(nearSq[q]) - rho) / sigma);
    weights[q] = Number.isFinite(w) ? w : 0;
  }
  // Weights that underflowed to nothing: the neighbours share equally.
  if (!(weights.reduce((a, b) => a + b, 0) > 0)) weights.fill(1);
}

function checkOptions(o: ManifoldOptions) {
  const int = (name: string, v: unknown, min: number, max: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ManifoldError(
        'MANIFOLD_INVALID_ARGUMENT',
        `${name} must be an integer from ${min} to ${max}, got ${String(v)}`,
      );
    }
  };
  int('dims', o.dims, 1, 256);
  int('neighbors', o.neighbors, 2, 1000);
  int('seed', o.seed, 0, 2 ** 32 - 1);
  if (o.epochs !== undefined) int('epochs', o.epochs, 1, 10_000);
}

function checkMatrix(name: string, x: Float32Array, n: number, dim: number) {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(dim) || dim < 1) {
    throw new ManifoldError('MANIFOLD_INVALID_ARGUMENT', `${name}: bad size ${n} × ${dim}`);
  }
  if (x.length < n * dim) {
    throw new ManifoldError(
      'MANIFOLD_INVALID_ARGUMENT',
      `${name} holds ${x.length} values, fewer than ${n} × ${dim}`,
    );
  }
  for (let i = 0; i < n * dim; i++) {
    if (!Number.isFinite(x[i])) {
      const row = Math.floor(i / dim);
      throw new ManifoldError('MANIFOLD_NOT_FINITE', `${name}: row ${row} has a non-finite value`);
    }
  }
}
