import { assign } from './distance.js';
import { KMeansError, checkInt, checkK, checkMatrix } from './errors.js';
import { kernel, resolveThreads, type Kernel } from './kernel.js';
import { kmeansPlusPlus } from './kmeanspp.js';
import { CentroidSet, PRUNE_TILE, type Scratch } from './pruning.js';
import { Rng, type RngState } from './rng.js';

/**
 * The pruning basis is recomputed when the steps since the last recomputation reach the steps
 * taken before it (after steps 1, 2, 4, 8, ...), and after a reassignment: centroids move
 * less and less, and the basis only sharpens the bounds.
 */
const MIN_BASIS_AGE = 1;
/** A batch is split over threads only in slices of at least this many rows. */
const MIN_ROWS_PER_THREAD = 128;

/** Kernel blocks a model reuses from step to step. */
interface Workspace {
  rows: number;
  r: number;
  labels: number;
  dists: number;
  slices: { sums: number; counts: number; scratch: Scratch }[];
}

function scratchFor(kern: Kernel, k: number, r: number): Scratch {
  return {
    px: kern.alloc((PRUNE_TILE + 4) * Math.max(1, r) * 4),
    lb: kern.alloc(k * 4),
    work: kern.alloc(4),
  };
}

function releaseWorkspace(kern: Kernel, ws: Workspace): void {
  kern.release(ws.labels);
  kern.release(ws.dists);
  for (const sl of ws.slices) {
    kern.release(sl.sums);
    kern.release(sl.counts);
    for (const b of [sl.scratch.px, sl.scratch.lb, sl.scratch.work]) kern.release(b);
  }
}

/** Frees the kernel blocks of models that were garbage-collected. */
const workspaces = new FinalizationRegistry<{ kern: Kernel; ws: Workspace }>(({ kern, ws }) =>
  releaseWorkspace(kern, ws),
);

/** Options of {@link MiniBatchKMeans}. */
export interface MiniBatchKMeansOptions {
  /** Number of clusters, an integer >= 1. */
  k: number;
  /** Length of each code vector (floats per point), an integer >= 1. */
  dim: number;
  /** Nominal rows per batch (default 1024); `fit` draws batches of this size. */
  batchSize?: number;
  /** Steps after which the model reports `converged` with reason 'max-steps' (default 1000). */
  maxSteps?: number;
  /** Seed of the generator used for seeding and reassignment (default 0). */
  seed?: number;
  /**
   * Relative improvement the smoothed (EWA) per-point batch inertia must make over its best
   * value to count as progress (default 0: any decrease counts, as in scikit-learn).
   */
  tol?: number;
  /** Consecutive steps without progress of the EWA inertia before stopping (default 10). */
  maxNoImprovement?: number;
  /**
   * Centres whose count is below this fraction of the largest count are moved to random
   * points of the current batch (default 0.01; 0 disables; must be < 1).
   */
  reassignmentRatio?: number;
  /**
   * Points in the whole data set (default 20 x batchSize); sets the EWA weight
   * alpha = min(1, 2 x batch rows / (datasetSize + 1)), as in scikit-learn. Unlike
   * scikit-learn, the first 1 / alpha smoothed values are plain running means and the
   * no-improvement rule starts only once those 1 / alpha batches (about half an epoch) are in,
   * so a lucky early batch cannot end the run.
   */
  datasetSize?: number;
  /**
   * Longest smoothing window of the EWA inertia, in steps (default 20; 0: no limit, the
   * window is half an epoch as in scikit-learn). alpha becomes at least 2 / (smoothingSteps +
   * 1): on large data sets the half-epoch window lags the centroids by hundreds of steps after
   * they have settled, and the run goes on that long for nothing.
   */
  smoothingSteps?: number;
  /** k-means++ candidates per centre when seeding (default 2 + ln(k)). */
  localTrials?: number;
  /** k-means++ runs in init; the seeds with the lowest sample inertia win (default 3). */
  nInit?: number;
  /**
   * Threads each step's batch is split over, the calling one included (default: the
   * machine's cores, at most 8). Results are deterministic for a seed and a thread count.
   */
  threads?: number;
}

/** Why a model reports `converged`: the EWA inertia stopped improving, or maxSteps ran out. */
export type StopReason = 'no-improvement' | 'max-steps';

/** Outcome of one {@link MiniBatchKMeans.partialFit} step. */
export interface PartialFitResult {
  /** Sum of squared distances of the batch to the centroids as they were before this step. */
  inertia: number;
  /** Whether the model has met a stopping rule (at this step or before). */
  converged: boolean;
  /** Smoothed per-point batch inertia; null until the second step (the first is not smoothed). */
  ewaInertia: number | null;
  /** Centres moved to random batch points at this step. */
  reassigned: number;
}

/** Everything needed to resume a {@link MiniBatchKMeans} exactly; plain data, safe to serialise. */
export interface MiniBatchKMeansState {
  /** Options with defaults filled in. */
  options: Required<Omit<MiniBatchKMeansOptions, 'localTrials' | 'threads'>> & {
    localTrials?: number;
  };
  /** Centroids, `k x dim`, double precision. */
  centroids: number[];
  /** Points absorbed per centre (learning-rate denominators). */
  counts: number[];
  /** Steps taken. */
  steps: number;
  /** Rows seen by partialFit. */
  samplesSeen: number;
  /** Rows seen since the last reassignment check. */
  sinceReassign: number;
  /** Smoothed per-point batch inertia, or null. */
  ewaInertia: number | null;
  /** Best smoothed inertia so far, or null. */
  ewaBest: number | null;
  /** Consecutive steps without progress. */
  noImprovement: number;
  /** Stopping rule met, or null. */
  stopReason: StopReason | null;
  /** Generator state. */
  rng: RngState;
}

/** Fills in defaults and validates the options; throws KMEANS_INVALID_K / _INVALID_ARGUMENT. */
function resolveOptions(o: MiniBatchKMeansOptions): MiniBatchKMeansState['options'] {
  checkK(o.k);
  checkInt('dim', o.dim, 1);
  const batchSize = o.batchSize ?? 1024;
  checkInt('batchSize', batchSize, 1);
  const r: MiniBatchKMeansState['options'] = {
    k: o.k,
    dim: o.dim,
    batchSize,
    maxSteps: o.maxSteps ?? 1000,
    seed: o.seed ?? 0,
    tol: o.tol ?? 0,
    maxNoImprovement: o.maxNoImprovement ?? 10,
    reassignmentRatio: o.reassignmentRatio ?? 0.01,
    datasetSize: o.datasetSize ?? 20 * batchSize,
    smoothingSteps: o.smoothingSteps ?? 20,
    nInit: o.nInit ?? 3,
    ...(o.localTrials === undefined ? {} : { localTrials: o.localTrials }),
  };
  checkInt('maxSteps', r.maxSteps, 1);
  checkInt('maxNoImprovement', r.maxNoImprovement, 1);
  checkInt('datasetSize', r.datasetSize, 1);
  checkInt('smoothingSteps', r.smoothingSteps, 0);
  checkInt('nInit', r.nInit, 1);
  if (!Number.isFinite(r.seed)) invalid('seed must be a finite number');
  if (!(r.tol >= 0 && r.tol < 1)) invalid(`tol must be in [0, 1), got ${r.tol}`);
  const ratio = r.reassignmentRatio;
  if (!(ratio >= 0 && ratio < 1)) invalid(`reassignmentRatio must be in [0, 1), got ${ratio}`);
  if (r.localTrials !== undefined) checkInt('localTrials', r.localTrials, 1);
  return r;
}

/** Throws KMEANS_INVALID_ARGUMENT. */
function invalid(message: string): never {
  throw new KMeansError('KMEANS_INVALID_ARGUMENT', message);
}

/**
 * Streaming mini-batch k-means (Sculley 2010, with scikit-learn's per-centre learning rate,
 * random reassignment and EWA-inertia early stopping). Feed batches from storage with
 * {@link partialFit}; the model never holds more than one batch. Deterministic for a seed and
 * the same sequence of batches.
 */
export class MiniBatchKMeans {
  /** Options with defaults filled in. */
  readonly options: MiniBatchKMeansState['options'];
  /** Threads each step uses. */
  readonly threads: number;
  private readonly rng: Rng;
  private c64: Float64Array;
  private c32: Float32Array;
  private cnt: Float64Array;
  private ready = false;
  private nSteps = 0;
  private seen = 0;
  private sinceReassign = 0;
  private ewa: number | null = null;
  private ewaBest: number | null = null;
  private noImprovement = 0;
  private reason: StopReason | null = null;
  private basis: Float32Array | null = null;
  private basisAge = 0;
  private ws: Workspace | null = null;

  /** Validates the options; throws KMEANS_INVALID_K (k < 1) or KMEANS_INVALID_ARGUMENT. */
  constructor(options: MiniBatchKMeansOptions) {
    this.options = resolveOptions(options);
    this.threads = resolveThreads(options.threads);
    const { k, dim, seed } = this.options;
    this.rng = new Rng(seed);
    this.c64 = new Float64Array(k * dim);
    this.c32 = new Float32Array(k * dim);
    this.cnt = new Float64Array(k);
  }

  /** Whether centroids exist (after init, setCentroids, or the first partialFit). */
  get initialized(): boolean {
    return this.ready;
  }

  /** Copy of the centroids, `k x dim`; throws KMEANS_NOT_INITIALIZED before initialisation. */
  get centroids(): Float32Array {
    this.requireReady();
    return this.c32.slice();
  }

  /** Copy of the points absorbed per centre since initialisation (reassignment rewrites them). */
  get counts(): Float64Array {
    return this.cnt.slice();
  }

  /** partialFit steps taken since initialisation. */
  get steps(): number {
    return this.nSteps;
  }

  /** Whether a stopping rule has been met; partialFit keeps learning if called anyway. */
  get converged(): boolean {
    return this.reason !== null;
  }

  /** Which stopping rule was met, or null. */
  get stopReason(): StopReason | null {
    return this.reason;
  }

  /**
   * Seeds the centroids by greedy k-means++ on `n` sample rows (nInit runs, keeping the one with
   * the lowest inertia on the sample) and resets all progress. Throws KMEANS_K_EXCEEDS_N if
   * k > n, KMEANS_TOO_FEW_DISTINCT if the sample holds fewer than k distinct rows,
   * KMEANS_NON_FINITE on NaN or Infinity.
   */
  init(sample: Float32Array, n: number): void {
    const { k, dim, localTrials, nInit } = this.options;
    let best: Float32Array | null = null;
    let bestInertia = Infinity;
    for (let r = 0; r < nInit; r++) {
      let inertia = 0;
      const seeds = kmeansPlusPlus(sample, n, dim, k, this.rng, {
        ...(localTrials === undefined ? {} : { localTrials }),
        threads: this.threads,
        potential: (sum) => (inertia = sum),
      });
      if (best === null || inertia < bestInertia) {
        best = seeds;
        bestInertia = inertia;
      }
    }
    this.c64.set(best as Float32Array);
    this.reset();
  }

  /**
   * Replaces the centroids (`k x dim`) and optionally the counts (default all 0), and resets
   * steps and stopping state; for warm starts. Throws KMEANS_INVALID_ARGUMENT on wrong
   * lengths or negative counts, KMEANS_NON_FINITE on NaN or Infinity.
   */
  setCentroids(centroids: ArrayLike<number>, counts?: ArrayLike<number>): void {
    const { k, dim } = this.options;
    if (centroids.length !== k * dim) invalid(`centroids must hold ${k * dim} values`);
    if (counts !== undefined && counts.length !== k) invalid(`counts must hold ${k} values`);
    for (let i = 0; i < k * dim; i++) {
      if (!Number.isFinite(centroids[i])) {
        throw new KMeansError('KMEANS_NON_FINITE', `centroid value ${i} is not finite`);
      }
    }
    const c = counts ?? new Float64Array(k);
    for (let j = 0; j < k; j++) if (!(c[j] >= 0)) invalid(`counts[${j}] must be >= 0`);
    for (let i = 0; i < k * dim; i++) this.c64[i] = centroids[i];
    this.reset();
    for (let j = 0; j < k; j++) this.cnt[j] = c[j];
  }

  /**
   * One mini-batch step on `n` rows (`n x dim`, any n >= 1, not only batchSize): assigns them
   * to the current centroids, moves each touched centre to the running mean of all points it
   * has absorbed (learning rate 1 / count). Then, if some count was 0 or 10 x k rows have
   * passed since the last check, centres whose count is below reassignmentRatio x the largest
   * count (at most floor(n / 2), the smallest counts first) move to distinct random rows of
   * this batch and take the smallest remaining count, as in scikit-learn. Centres that no
   * point reaches keep their position (never NaN); with
   * reassignmentRatio = 0 an unreachable centre stays where it is for good. Seeds the model from
   * this batch first if it has no centroids (throws like {@link init} then). Throws
   * KMEANS_NON_FINITE on NaN or Infinity in the batch, leaving centroids and counts unchanged.
   */
  partialFit(batch: Float32Array, n: number): PartialFitResult {
    const { dim } = this.options;
    checkInt('n', n, 1);
    checkMatrix('batch', batch, n, dim);
    if (!this.ready) this.init(batch, n);
    const kern = kernel();
    if (kern.holds(batch)) return this.step(kern, batch, null, n);
    const staged = kern.copyIn(batch.subarray(0, n * dim));
    try {
      return this.step(kern, kern.f32(staged, n * dim), null, n);
    } finally {
      kern.release(staged);
    }
  }

  /**
   * {@link partialFit} on the `n` rows of `points` listed in `rows`, both in kernel memory
   * (`allocPoints`, `Kernel.alloc`): the batch is read in place, without gathering it.
   * The model must be initialised.
   */
  partialFitRows(points: Float32Array, rows: Int32Array, n: number): PartialFitResult {
    checkInt('n', n, 1);
    this.requireReady();
    const kern = kernel();
    if (!kern.holds(points) || !kern.holds(rows) || rows.length < n) {
      invalid('partialFitRows needs points and at least n rows in kernel memory');
    }
    return this.step(kern, points, rows, n);
  }

  /** One step on rows of `points` (all of the first n, or those listed), both in kernel memory. */
  private step(
    kern: Kernel,
    points: Float32Array,
    rows: Int32Array | null,
    n: number,
  ): PartialFitResult {
    const { k, dim } = this.options;
    const x = points.byteOffset;
    if (this.basisAge >= Math.max(MIN_BASIS_AGE, this.nSteps - this.basisAge)) this.basis = null;
    if (this.basis === null) this.basisAge = 0;
    const set = new CentroidSet(kern, this.c32, k, dim, this.basis ?? undefined);
    this.basis = set.basis;
    this.basisAge++;
    const parts = Math.max(1, Math.min(this.threads, Math.floor(n / MIN_ROWS_PER_THREAD)));
    const ws = this.workspace(kern, n, parts, set.r);
    const slices = ws.slices.slice(0, parts).map((sl, p) => ({
      ...sl,
      lo: Math.floor((p * n) / parts),
      hi: Math.floor(((p + 1) * n) / parts),
    }));
    for (const sl of slices) {
      kern.f32(sl.sums, k * dim).fill(0);
      kern.f32(sl.counts, k).fill(0);
      kern.i32(sl.scratch.work, 1)[0] = 0;
    }
    const { labels, dists } = ws;
    try {
      const call = (p: number) => {
        const { lo, hi, scratch, sums, counts } = slices[p];
        const from = rows ? x : x + lo * dim * 4;
        const list = rows ? rows.byteOffset + lo * 4 : 0;
        return set.args(
          from,
          list,
          hi - lo,
          labels + lo * 4,
          dists + lo * 4,
          scratch,
          sums,
          counts,
        );
      };
      const inertias =
        parts === 1
          ? [set.run(call(0))]
          : kern.workers().split('assign_pruned', parts, (p) => call(p).args);
      const inertia = inertias.reduce((a, b) => a + b, 0);
      const d = kern.f32(dists, n);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(d[i])) {
          throw new KMeansError('KMEANS_NON_FINITE', `batch row ${i} holds NaN or Infinity`);
        }
      }
      const check = this.cnt.some((v) => v === 0) || this.sinceReassign + n >= 10 * k;
      this.update(slices.map((sl) => [kern.f32(sl.sums, k * dim), kern.f32(sl.counts, k)]));
      this.seen += n;
      this.sinceReassign += n;
      let reassigned = 0;
      if (this.options.reassignmentRatio > 0 && check) {
        this.sinceReassign = 0;
        reassigned = this.reassign(points, (i) => (rows ? rows[i] : i), n);
        if (reassigned > 0) this.basis = null;
      }
      for (let i = 0; i < k * dim; i++) this.c32[i] = this.c64[i];
      this.nSteps++;
      this.track(inertia / n, n);
      return { inertia, converged: this.converged, ewaInertia: this.ewa, reassigned };
    } finally {
      set.dispose();
    }
  }

  /**
   * Kernel blocks reused by every step: labels and distances for `rows` rows, and per slice
   * the centre sums and counts and the pruning scratch. Grown when a step needs more; given
   * back to the kernel when the model is garbage-collected.
   */
  private workspace(kern: Kernel, rows: number, parts: number, r: number): Workspace {
    const { k, dim } = this.options;
    const ws = this.ws;
    if (ws && ws.rows >= rows && ws.slices.length >= parts && ws.r >= r) return ws;
    if (ws) {
      releaseWorkspace(kern, ws);
      workspaces.unregister(this);
    }
    const fresh: Workspace = {
      rows,
      r,
      labels: kern.alloc(rows * 4),
      dists: kern.alloc(rows * 4),
      slices: Array.from({ length: Math.max(parts, this.threads) }, () => ({
        sums: kern.alloc(k * dim * 4),
        counts: kern.alloc(k * 4),
        scratch: scratchFor(kern, k, r),
      })),
    };
    this.ws = fresh;
    workspaces.register(this, { kern, ws: fresh }, this);
    return fresh;
  }

  /** Labels and squared distances of `n` rows against the current centroids (see `assign`). */
  predict(points: Float32Array, n: number): ReturnType<typeof assign> {
    this.requireReady();
    return assign(points, n, this.options.dim, this.c32, this.options.k);
  }

  /** Snapshot of the whole model for checkpointing; {@link fromState} resumes it exactly. */
  getState(): MiniBatchKMeansState {
    this.requireReady();
    return {
      options: { ...this.options },
      centroids: Array.from(this.c64),
      counts: Array.from(this.cnt),
      steps: this.nSteps,
      samplesSeen: this.seen,
      sinceReassign: this.sinceReassign,
      ewaInertia: this.ewa,
      ewaBest: this.ewaBest,
      noImprovement: this.noImprovement,
      stopReason: this.reason,
      rng: this.rng.getState(),
    };
  }

  /**
   * Rebuilds a model from {@link getState} (with `threads`, default the machine's cores);
   * throws like the constructor and setCentroids.
   */
  static fromState(state: MiniBatchKMeansState, threads?: number): MiniBatchKMeans {
    const m = new MiniBatchKMeans({ ...state.options, threads });
    m.setCentroids(state.centroids, state.counts);
    m.nSteps = state.steps;
    m.seen = state.samplesSeen;
    m.sinceReassign = state.sinceReassign;
    m.ewa = state.ewaInertia;
    m.ewaBest = state.ewaBest;
    m.noImprovement = state.noImprovement;
    m.reason = state.stopReason;
    m.rng.setState(state.rng);
    return m;
  }

  /** Throws KMEANS_NOT_INITIALIZED unless centroids exist. */
  private requireReady(): void {
    if (!this.ready) {
      throw new KMeansError('KMEANS_NOT_INITIALIZED', 'call init or partialFit first');
    }
  }

  /** Marks the model ready with the centroids in c64, clearing counts and progress. */
  private reset(): void {
    this.c32.set(this.c64);
    this.basis = null;
    this.cnt.fill(0);
    this.ready = true;
    this.nSteps = 0;
    this.seen = 0;
    this.sinceReassign = 0;
    this.ewa = null;
    this.ewaBest = null;
    this.noImprovement = 0;
    this.reason = null;
  }

  /** Per-centre running-mean update from the batch's per-centre sums and counts (per slice). */
  private update(slices: [Float32Array, Float32Array][]): void {
    const { k, dim } = this.options;
    const { c64, cnt } = this;
    const total = new Float64Array(dim);
    for (let j = 0; j < k; j++) {
      let m = 0;
      for (const [, counts] of slices) m += counts[j];
      if (m === 0) continue;
      const old = cnt[j];
      const o = j * dim;
      total.fill(0);
      for (const [sums] of slices) {
        for (let d = 0; d < dim; d++) total[d] += sums[o + d];
      }
      const all = old + m;
      for (let d = 0; d < dim; d++) c64[o + d] = (c64[o + d] * old + total[d]) / all;
      cnt[j] = all;
    }
  }

  /** Moves starved centres to distinct random batch rows; returns how many moved. */
  private reassign(points: Float32Array, rowAt: (i: number) => number, n: number): number {
    const { k, dim, reassignmentRatio } = this.options;
    const cnt = this.cnt;
    let max = 0;
    for (let j = 0; j < k; j++) max = Math.max(max, cnt[j]);
    let starved: number[] = [];
    for (let j = 0; j < k; j++) if (cnt[j] < reassignmentRatio * max) starved.push(j);
    const cap = Math.floor(0.5 * n);
    if (starved.length > cap) {
      starved.sort((a, b) => cnt[a] - cnt[b] || a - b);
      starved = starved.slice(0, cap).sort((a, b) => a - b);
    }
    if (starved.length === 0) return 0;
    const moving = new Set(starved);
    let floor = Infinity;
    for (let j = 0; j < k; j++) if (!moving.has(j)) floor = Math.min(floor, cnt[j]);
    const rows = new Set<number>();
    for (const j of starved) {
      let r = this.rng.nextInt(n);
      while (rows.has(r)) r = this.rng.nextInt(n);
      rows.add(r);
      const from = rowAt(r) * dim;
      for (let d = 0; d < dim; d++) this.c64[j * dim + d] = points[from + d];
      cnt[j] = floor;
    }
    return starved.length;
  }

  /** EWA smoothing of the per-point batch inertia and the no-improvement stopping rule. */
  private track(perPoint: number, n: number): void {
    const { datasetSize, tol, maxNoImprovement, maxSteps } = this.options;
    if (this.nSteps > 1) {
      const smoothed = this.nSteps - 1;
      const window = this.options.smoothingSteps;
      const alpha = Math.min(
        1,
        Math.max((2 * n) / (datasetSize + 1), window > 0 ? 2 / (window + 1) : 0),
      );
      // Bias-corrected start: until 1 / alpha batches are in, weigh all of them equally.
      const weight = Math.max(alpha, 1 / smoothed);
      this.ewa = this.ewa === null ? perPoint : this.ewa * (1 - weight) + perPoint * weight;
      // The rule starts once the window is full, so a lucky early batch sets no record.
      if (smoothed * alpha >= 1) {
        if (this.ewaBest === null || this.ewa < this.ewaBest * (1 - tol)) {
          this.ewaBest = this.ewa;
          this.noImprovement = 0;
        } else {
          this.noImprovement++;
        }
      }
      if (this.reason === null && this.noImprovement >= maxNoImprovement) {
        this.reason = 'no-improvement';
      }
    }
    if (this.reason === null && this.nSteps >= maxSteps) this.reason = 'max-steps';
  }
}
