/**
 * Gaussian mixtures with one diagonal covariance per component, fitted by expectation
 * maximisation from a k-means result. Where k-means gives every cluster the same round shape,
 * a mixture lets clusters differ in spread along each axis and in share, which suits the
 * elongated groups of a UMAP layout. The data may arrive in batches (shards): each EM
 * iteration is one pass that adds up every batch's statistics ({@link MixtureStats}).
 */
import { KMeansError } from './errors.js';

/** A fitted mixture; arrays are row-major, one row per component. */
export interface DiagonalMixture {
  k: number;
  dim: number;
  /** Share of each component, summing to 1. */
  weights: Float64Array;
  /** Means, k × dim. */
  means: Float64Array;
  /** Variances per axis, k × dim, each at least the fit's floor. */
  variances: Float64Array;
}

/** Added to every variance (as scikit-learn's `reg_covar`), so none collapses to 0. */
export const VARIANCE_FLOOR = 1e-6;

const LOG_2PI = Math.log(2 * Math.PI);

/** Per component: log weight − ½ Σ log(2π var), the part of the log density that is fixed. */
function logConstants(m: DiagonalMixture): Float64Array {
  const out = new Float64Array(m.k);
  for (let c = 0; c < m.k; c++) {
    let s = Math.log(m.weights[c]);
    for (let d = 0; d < m.dim; d++) s -= 0.5 * (LOG_2PI + Math.log(m.variances[c * m.dim + d]));
    out[c] = s;
  }
  return out;
}

/** Checks that `x` holds n rows of m.dim finite values. */
function checkRows(x: ArrayLike<number>, n: number, dim: number): void {
  if (!Number.isInteger(n) || n < 0 || x.length < n * dim) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', `${x.length} values are not ${n} × ${dim}`);
  }
}

/**
 * Row i's log density under each component (log weight included) into `out` (k values);
 * returns their log-sum-exp, the row's log likelihood.
 */
function rowLogDensities(
  m: DiagonalMixture,
  constants: Float64Array,
  x: ArrayLike<number>,
  offset: number,
  out: Float64Array,
): number {
  const { k, dim, means, variances } = m;
  let best = -Infinity;
  for (let c = 0; c < k; c++) {
    let s = 0;
    const base = c * dim;
    for (let d = 0; d < dim; d++) {
      const diff = x[offset + d] - means[base + d];
      s += (diff * diff) / variances[base + d];
    }
    const v = constants[c] - 0.5 * s;
    out[c] = v;
    if (v > best) best = v;
  }
  let sum = 0;
  for (let c = 0; c < k; c++) sum += Math.exp(out[c] - best);
  return best + Math.log(sum);
}

/** Each row's most probable component and its squared distance to that component's mean. */
export function mixtureAssign(
  m: DiagonalMixture,
  x: ArrayLike<number>,
  n: number,
): { labels: Int32Array; distances: Float64Array; logLikelihood: number } {
  checkRows(x, n, m.dim);
  const constants = logConstants(m);
  const dens = new Float64Array(m.k);
  const labels = new Int32Array(n);
  const distances = new Float64Array(n);
  let logLikelihood = 0;
  for (let i = 0; i < n; i++) {
    logLikelihood += rowLogDensities(m, constants, x, i * m.dim, dens);
    let c = 0;
    for (let j = 1; j < m.k; j++) if (dens[j] > dens[c]) c = j;
    labels[i] = c;
    let s = 0;
    for (let d = 0; d < m.dim; d++) s += (x[i * m.dim + d] - m.means[c * m.dim + d]) ** 2;
    distances[i] = s;
  }
  return { labels, distances, logLikelihood };
}

/** Sufficient statistics of one EM pass; add every batch, then {@link MixtureStats.finish}. */
export class MixtureStats {
  private readonly mass: Float64Array;
  private readonly sums: Float64Array;
  private readonly squares: Float64Array;
  private readonly constants: Float64Array | null;
  private readonly dens: Float64Array;
  /** Rows added so far. */
  rows = 0;
  /** Sum of the rows' log likelihoods under `current` (0 for a hard-label pass). */
  logLikelihood = 0;

  /**
   * Statistics for the next mixture after `current` (an E step against it), or, with
   * `current` null, for the mixture of hard labels given to {@link addLabelled}.
   */
  constructor(
    readonly k: number,
    readonly dim: number,
    private readonly current: DiagonalMixture | null,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new KMeansError('KMEANS_INVALID_K', `k = ${k}`);
    if (!Number.isInteger(dim) || dim < 1) {
      throw new KMeansError('KMEANS_INVALID_ARGUMENT', `dim = ${dim}`);
    }
    if (current && (current.k !== k || current.dim !== dim)) {
      throw new KMeansError('KMEANS_INVALID_ARGUMENT', 'mixture does not match k and dim');
    }
    this.mass = new Float64Array(k);
    this.sums = new Float64Array(k * dim);
    this.squares = new Float64Array(k * dim);
    this.constants = current ? logConstants(current) : null;
    this.dens = new Float64Array(k);
  }

  /** Adds `n` rows with their responsibilities under the current mixture (the E step). */
  add(x: ArrayLike<number>, n: number): void {
    const m = this.current;
    if (!m || !this.constants) {
      throw new KMeansError('KMEANS_NOT_INITIALIZED', 'no mixture to weigh the rows by');
    }
    checkRows(x, n, this.dim);
    const { k, dim, dens } = this;
    for (let i = 0; i < n; i++) {
      const at = i * dim;
      const total = rowLogDensities(m, this.constants, x, at, dens);
      this.logLikelihood += total;
      for (let c = 0; c < k; c++) {
        const r = Math.exp(dens[c] - total);
        if (r < 1e-12) continue;
        this.accumulate(c, r, x, at);
      }
    }
    this.rows += n;
  }

  /** Adds `n` rows, each wholly in its component `labels[i]` (the first M step). */
  addLabelled(x: ArrayLike<number>, n: number, labels: ArrayLike<number>): void {
    checkRows(x, n, this.dim);
    for (let i = 0; i < n; i++) {
      const c = labels[i];
      if (!(Number.isInteger(c) && c >= 0 && c < this.k)) {
        throw new KMeansError('KMEANS_INVALID_ARGUMENT', `label ${c} of row ${i} is not < k`);
      }
      this.accumulate(c, 1, x, i * this.dim);
    }
    this.rows += n;
  }

  private accumulate(c: number, r: number, x: ArrayLike<number>, at: number): void {
    const base = c * this.dim;
    this.mass[c] += r;
    for (let d = 0; d < this.dim; d++) {
      const v = x[at + d];
      this.sums[base + d] += r * v;
      this.squares[base + d] += r * v * v;
    }
  }

  /**
   * The M step: weights, means and variances (floored by VARIANCE_FLOOR) from what was
   * added. A component that got no mass keeps its current parameters at a tiny weight.
   */
  finish(): DiagonalMixture {
    const { k, dim } = this;
    if (this.rows === 0) throw new KMeansError('KMEANS_INVALID_ARGUMENT', 'no rows were added');
    const weights = new Float64Array(k);
    const means = new Float64Array(k * dim);
    const variances = new Float64Array(k * dim);
    for (let c = 0; c < k; c++) {
      const mass = this.mass[c];
      const base = c * dim;
      if (mass < 1e-9) {
        weights[c] = 1e-12;
        for (let d = 0; d < dim; d++) {
          means[base + d] = this.current?.means[base + d] ?? 0;
          variances[base + d] = this.current?.variances[base + d] ?? 1;
        }
        continue;
      }
      weights[c] = mass / this.rows;
      for (let d = 0; d < dim; d++) {
        const mean = this.sums[base + d] / mass;
        const spread = this.squares[base + d] / mass - mean * mean;
        means[base + d] = mean;
        variances[base + d] = Math.max(spread, 0) + VARIANCE_FLOOR;
      }
    }
    const total = weights.reduce((a, b) => a + b, 0);
    for (let c = 0; c < k; c++) weights[c] /= total;
    return { k, dim, weights, means, variances };
  }
}

/** Settings of {@link fitMixture}. */
export interface MixtureFitOptions {
  /** Most EM passes after the first M step. Default 100. */
  maxIterations?: number;
  /** Stop when the mean log likelihood per row gains less than this. Default 1e-3. */
  tolerance?: number;
  /** Called after each pass with its number and the mean log likelihood; may throw to stop. */
  onIteration?: (iteration: number, meanLogLikelihood: number) => Promise<void> | void;
}

/** What {@link fitMixture} returns. */
export interface MixtureFitResult {
  mixture: DiagonalMixture;
  /** EM passes run. */
  iterations: number;
  /** Mean log likelihood per row under the returned mixture's predecessor (the last E step). */
  meanLogLikelihood: number;
  converged: boolean;
}

/**
 * Fits a diagonal Gaussian mixture by EM, started from hard labels (a k-means result).
 * `batches` yields the data, in any fixed order, every time it is called: one call for the
 * start and one per pass.
 */
export async function fitMixture(
  k: number,
  dim: number,
  batches: () => AsyncIterable<{ x: ArrayLike<number>; n: number; labels: ArrayLike<number> }>,
  options: MixtureFitOptions = {},
): Promise<MixtureFitResult> {
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-3;
  const start = new MixtureStats(k, dim, null);
  for await (const b of batches()) start.addLabelled(b.x, b.n, b.labels);
  let mixture = start.finish();
  let previous = -Infinity;
  let meanLogLikelihood = -Infinity;
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const stats = new MixtureStats(k, dim, mixture);
    for await (const b of batches()) stats.add(b.x, b.n);
    mixture = stats.finish();
    meanLogLikelihood = stats.logLikelihood / stats.rows;
    await options.onIteration?.(iteration, meanLogLikelihood);
    if (meanLogLikelihood - previous < tolerance) {
      return { mixture, iterations: iteration, meanLogLikelihood, converged: true };
    }
    previous = meanLogLikelihood;
  }
  return { mixture, iterations: maxIterations, meanLogLikelihood, converged: false };
}

/** A mixture as stored in a run's `mixture.json`: plain arrays, one row per component. */
export interface MixtureJson {
  k: number;
  dim: number;
  weights: number[];
  means: number[][];
  variances: number[][];
}

/** The mixture as JSON-ready arrays. */
export function mixtureToJson(m: DiagonalMixture): MixtureJson {
  const rows = (a: Float64Array) =>
    Array.from({ length: m.k }, (_, c) => Array.from(a.subarray(c * m.dim, (c + 1) * m.dim)));
  return {
    k: m.k,
    dim: m.dim,
    weights: Array.from(m.weights),
    means: rows(m.means),
    variances: rows(m.variances),
  };
}

/** Reads a stored mixture back; throws KMeansError when its shape or values are wrong. */
export function mixtureFromJson(json: unknown, dim: number): DiagonalMixture {
  const j = json as Partial<MixtureJson> | null;
  const bad = (why: string) => new KMeansError('KMEANS_INVALID_ARGUMENT', `mixture: ${why}`);
  if (!j || !Number.isInteger(j.k) || (j.k as number) < 1) throw bad('k is missing');
  const k = j.k as number;
  if (j.dim !== dim) throw bad(`dim ${String(j.dim)} is not the run's ${dim}`);
  const table = (rows: unknown, name: string, positive: boolean) => {
    if (!Array.isArray(rows) || rows.length !== k) throw bad(`${name} has not ${k} rows`);
    const out = new Float64Array(k * dim);
    rows.forEach((row: unknown, c) => {
      if (!Array.isArray(row) || row.length !== dim)
        throw bad(`${name}[${c}] has not ${dim} values`);
      row.forEach((v: unknown, d) => {
        if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
          throw bad(`${name}[${c}][${d}] is not a ${positive ? 'positive ' : ''}number`);
        }
        out[c * dim + d] = v;
      });
    });
    return out;
  };
  if (!Array.isArray(j.weights) || j.weights.length !== k) throw bad(`weights has not ${k} values`);
  if (!j.weights.every((w) => typeof w === 'number' && w > 0 && Number.isFinite(w))) {
    throw bad('a weight is not a positive number');
  }
  return {
    k,
    dim,
    weights: Float64Array.from(j.weights),
    means: table(j.means, 'means', false),
    variances: table(j.variances, 'variances', true),
  };
}
