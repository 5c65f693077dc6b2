import type { Job } from 'bullmq';
import {
  codeShapeOf,
  describeK,
  kRangeForImages,
  manifoldFor,
  runKeys,
  type RunSpec,
} from '@imgcluster/config';
import type { Logger } from '@imgcluster/logging';
import { PermanentJobError, type RunJobData } from '@imgcluster/queues';
import { throwIfCancelled, type ServiceContext } from '@imgcluster/runtime';
import {
  assign,
  fitMixture,
  mixtureAssign,
  mixtureToJson,
  type DiagonalMixture,
} from '@imgcluster/kmeans';
import { encodeShard } from '@imgcluster/shard';
import { assignAll, type ClusterTotals, type LabelRow, type RowAssigner } from './assign-pass.js';
import { chooseK, selectionSampleSize, type KSelectionRecord } from './choose-k.js';
import { CodeSource } from './code-source.js';
import { CodeSpace, type FittedManifold } from './code-space.js';
import { encodeManifold } from '@imgcluster/manifold';
import { fitStreaming } from './fit.js';
import { kSelectionPng } from './k-plot.js';
import { writeClusterPictures } from './pictures.js';
import { renderReport, type KSelection } from './report.js';
import { scoreAgainst, type Scores } from './scores.js';

interface RejectedImage {
  key: string;
  reason: string;
  message: string;
}

/**
 * The cluster job (parent of every encode job): for k "auto", k chosen on a sample of the
 * codes; mini-batch k-means over all code shards, one assignment pass, then the artifacts.
 * The manifest is written last, so a run that has a manifest has every artifact it lists.
 */
export async function clusterRun(ctx: ServiceContext, job: Job<RunJobData>, log: Logger) {
  const { runId } = job.data;
  const spec = await ctx.store.spec(runId);
  if (!spec) throw new PermanentJobError('RUN_UNKNOWN', `run ${runId} has no spec`);
  await ctx.store.finishStage(runId, 'encode');

  const encoded = await ctx.store.shardResults<{ images: number }>(runId, 'encode');
  const counts = new Map([...encoded].map(([s, r]) => [s, r.images]));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const autoRange = spec.kmeans.k === 'auto' ? kRangeForImages(spec.kmeans, total) : undefined;
  if (autoRange === null || (spec.kmeans.k !== 'auto' && total < spec.kmeans.k)) {
    const wanted = describeK(spec.kmeans);
    throw new PermanentJobError('TOO_FEW_IMAGES', `${total} decodable images for ${wanted}`);
  }

  const [side, , depth] = codeShapeOf(spec);
  const dim = side * side * depth;
  const shards = [...counts.keys()].sort((a, b) => a - b);
  const source = new CodeSource(ctx, runId, shards, ctx.env.CLUSTER_CACHE_MB * 2 ** 20);
  await ctx.store.startStage(runId, 'cluster', spec.kmeans.maxSteps);
  const space = await buildSpace(ctx, job, log, source, counts, dim, spec);

  // A selection exactly when k is "auto"; otherwise k is the spec's number.
  const selection = autoRange
    ? await chooseAndPublishK(ctx, job, log, space, counts, spec, autoRange)
    : undefined;
  const k = selection?.chosen ?? (spec.kmeans.k as number);
  await ctx.store.setDetail(runId, 'cluster', { phase: 'fit', images: total });

  const started = Date.now();
  const { model, summary } = await fitStreaming(
    space,
    counts,
    space.dim,
    { ...spec.kmeans, k },
    async (steps, ewa) => {
      await ctx.store.setDone(runId, 'cluster', steps);
      if (ewa !== null) await ctx.store.setDetail(runId, 'cluster', { ewaInertia: ewa });
      if (ewa !== null) ctx.metrics.kmeansSmoothedInertia.set(ewa);
    },
    () => throwIfCancelled(ctx, job.data),
  );
  const fitSeconds = (Date.now() - started) / 1000;
  log.info({ ...summary, seconds: fitSeconds }, 'k-means fitted');
  // The step cap was only an upper bound: the stage now counts the steps it took (n of n).
  await ctx.store.startStage(runId, 'cluster', summary.steps);
  await ctx.store.setDone(runId, 'cluster', summary.steps);

  let centroids = model.centroids;
  let assignRows: RowAssigner = (x, n) => assign(x, n, space.dim, centroids, k);
  let mixture: FittedMixture | undefined;
  if (spec.kmeans.mixture === 'gaussian') {
    mixture = await fitClusterMixture(ctx, job, log, space, centroids, k);
    const fitted = mixture.mixture;
    centroids = Float32Array.from(fitted.means);
    assignRows = (x, n) => mixtureAssign(fitted, x, n);
  }

  await ctx.store.setDetail(runId, 'cluster', {
    phase: 'assign',
    shards: shards.length,
    assigned: 0,
  });
  const assigned = await assignAll(
    source,
    space,
    assignRows,
    k,
    dim,
    side * side,
    spec.kmeans.seed,
    (done) => ctx.store.setDetail(runId, 'cluster', { assigned: done }),
  );
  await throwIfCancelled(ctx, job.data);

  await ctx.store.setDetail(runId, 'cluster', { phase: 'artifacts' });
  const scores = await score(ctx, spec, assigned.labels, k);
  await writeArtifacts(
    ctx,
    runId,
    spec,
    centroids,
    assigned,
    scores,
    {
      fitSeconds,
      steps: summary.steps,
      stopReason: summary.stopReason,
    },
    selection,
    space.manifold,
    mixture,
    () => throwIfCancelled(ctx, job.data),
  );

  await ctx.store.finishStage(runId, 'cluster');
  await ctx.store.setDetail(runId, 'cluster', { phase: 'done' });
  await ctx.store.setState(runId, 'succeeded');
  log.info({ images: total, nmi: scores?.nmi, inertia: assigned.inertia }, 'run finished');
  ctx.metrics.recordClustering(k, assigned.inertia);
  return { images: total };
}

/**
 * The codes as k-means will see them. With a manifold step, its progress is the stage detail
 * phase 'manifold' (layout passes `layoutDone` of `layoutTotal`, then `placed` of `shards`).
 */
async function buildSpace(
  ctx: ServiceContext,
  job: Job<RunJobData>,
  log: Logger,
  source: CodeSource,
  counts: Map<number, number>,
  dim: number,
  spec: RunSpec,
): Promise<CodeSpace> {
  const { runId } = job.data;
  const settings = spec.kmeans.manifold;
  if (manifoldFor(spec.kmeans, dim)) {
    await ctx.store.setDetail(runId, 'cluster', {
      phase: 'manifold',
      sample: Math.min(
        settings.sample,
        [...counts.values()].reduce((a, b) => a + b, 0),
      ),
      shards: source.shards.length,
      placed: 0,
    });
  }
  const space = await CodeSpace.build(source, counts, dim, spec.kmeans, {
    layout: async (done, total) => {
      await ctx.store.setDetail(runId, 'cluster', { layoutDone: done, layoutTotal: total });
      await throwIfCancelled(ctx, job.data);
    },
    placed: (done) => ctx.store.setDetail(runId, 'cluster', { placed: done }),
  });
  if (space.manifold) {
    const { model, seconds } = space.manifold;
    log.info(
      { sample: model.m, dims: model.dims, neighbors: model.neighbors, seconds },
      'manifold fitted',
    );
  }
  return space;
}

/** A mixture fitted after k-means, with what its fit took. */
interface FittedMixture {
  mixture: DiagonalMixture;
  iterations: number;
  converged: boolean;
  meanLogLikelihood: number;
  seconds: number;
}

/** Most EM passes of the mixture step. */
const MIXTURE_MAX_ITERATIONS = 100;

/**
 * kmeans.mixture "gaussian": a diagonal Gaussian mixture fitted by EM on the codes k-means
 * clustered, started from its clusters. Each pass reads every shard of `space` once; progress
 * is the stage detail phase 'mixture' with `iteration` of `maxIterations`.
 */
async function fitClusterMixture(
  ctx: ServiceContext,
  job: Job<RunJobData>,
  log: Logger,
  space: CodeSpace,
  centroids: Float32Array,
  k: number,
): Promise<FittedMixture> {
  const { runId } = job.data;
  await ctx.store.setDetail(runId, 'cluster', {
    phase: 'mixture',
    iteration: 0,
    maxIterations: MIXTURE_MAX_ITERATIONS,
  });
  const started = Date.now();
  async function* batches() {
    for (const shard of space.shards) {
      const codes = await space.codes(shard);
      const n = codes.header.shape[0];
      yield { x: codes.data, n, labels: assign(codes.data, n, space.dim, centroids, k).labels };
    }
  }
  const fit = await fitMixture(k, space.dim, batches, {
    maxIterations: MIXTURE_MAX_ITERATIONS,
    onIteration: async (iteration) => {
      await ctx.store.setDetail(runId, 'cluster', { iteration });
      await throwIfCancelled(ctx, job.data);
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const { mixture, iterations, converged, meanLogLikelihood } = fit;
  log.info({ iterations, converged, meanLogLikelihood, seconds }, 'mixture fitted');
  return { mixture, iterations, converged, meanLogLikelihood, seconds };
}

/**
 * k "auto": chooses k on a sample of the codes (progress in the stage detail as phase
 * 'choose-k', kDone of kTotal), then publishes the curve as k-selection.json and a plot of
 * it as k-selection.png.
 */
async function chooseAndPublishK(
  ctx: ServiceContext,
  job: Job<RunJobData>,
  log: Logger,
  space: CodeSpace,
  counts: Map<number, number>,
  spec: RunSpec,
  range: { min: number; max: number },
): Promise<KSelectionRecord> {
  const { runId } = job.data;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  await ctx.store.setDetail(runId, 'cluster', {
    phase: 'choose-k',
    kRange: range,
    kDone: 0,
    kTotal: range.max - range.min + 1,
    sample: selectionSampleSize(total, range.max),
  });
  const selection = await chooseK(
    space,
    counts,
    space.dim,
    spec.kmeans,
    range,
    async (step) => {
      log.debug({ k: step.k, inertia: step.inertia, silhouette: step.silhouette }, 'k tried');
      await ctx.store.setDetail(runId, 'cluster', { kDone: step.done, kTotal: step.total });
    },
    () => throwIfCancelled(ctx, job.data),
  );
  const { curve, ...summary } = selection;
  log.info({ ...summary, tried: curve.length }, 'k chosen');

  const keys = runKeys(runId);
  await ctx.storage.putJson(ctx.bucket, keys.kSelection, selection);
  await ctx.storage.put(ctx.bucket, keys.kSelectionPlot, await kSelectionPng(selection));
  await ctx.store.setDetail(runId, 'cluster', { k: selection.chosen });
  return selection;
}

async function score(ctx: ServiceContext, spec: RunSpec, rows: LabelRow[], k: number) {
  if (!spec.labels) return undefined;
  const bucket = spec.labels.bucket ?? spec.input.bucket;
  const truth = await ctx.storage.getJson<Record<string, string | number>>(bucket, spec.labels.key);
  return scoreAgainst(truth, rows, k);
}

async function writeArtifacts(
  ctx: ServiceContext,
  runId: string,
  spec: RunSpec,
  centroids: Float32Array,
  assigned: { labels: LabelRow[]; clusters: ClusterTotals[]; inertia: number },
  scores: Scores | undefined,
  fit: { fitSeconds: number; steps: number; stopReason: string | null },
  selection: KSelectionRecord | undefined,
  manifold: FittedManifold | undefined,
  mixture: FittedMixture | undefined,
  beforeManifest: () => Promise<void>,
) {
  const keys = runKeys(runId);
  const put = (key: string, body: Uint8Array | string) => ctx.storage.put(ctx.bucket, key, body);
  const { clusters, labels } = assigned;
  const [side, , depth] = codeShapeOf(spec);
  const k = clusters.length;

  const csv = [
    'key,cluster,distance',
    ...labels.map((r) => `${csvField(r.key)},${r.cluster},${r.distance}`),
  ];
  await put(keys.labels, csv.join('\n') + '\n');
  const clusterIds = clusters.map((_, c) => String(c));
  // Centroids live where k-means worked: code-shaped, or points of the manifold's layout.
  const centroidShape = manifold ? [k, manifold.model.dims] : [k, side, side, depth];
  await put(
    keys.centroids,
    encodeShard({ dtype: 'float32', shape: centroidShape, keys: clusterIds }, centroids),
  );
  if (manifold) await put(keys.manifold, encodeManifold(manifold.model, manifold.keys));
  if (mixture) await ctx.storage.putJson(ctx.bucket, keys.mixture, mixtureToJson(mixture.mixture));

  const pictures = await writeClusterPictures(ctx, runId, spec, clusters);
  await writeMembers(ctx, runId, labels, k);

  const rejected = await gatherRejected(ctx, runId);
  const plan = await ctx.storage.getJson<{ shards: { index: number; keys: string[] }[] }>(
    ctx.bucket,
    keys.plan,
  );
  await ctx.storage.putJson(ctx.bucket, keys.shardIndex, {
    shards: plan.shards.map((s) => ({ index: s.index, inputs: s.keys.length, keys: s.keys })),
    rejected,
  });

  const summaries = clusters.map((c, i) => ({
    cluster: i,
    size: c.size,
    meanDistance: c.size ? c.inertia / c.size : 0,
    nearest: c.nearest.map((m) => ({ key: m.key, distance: m.distance })),
    random: c.random.map((m) => m.key),
    images: {
      samples: relative(keys.clusterImage(i, 'samples'), runId),
      attention: relative(keys.clusterImage(i, 'attention'), runId),
      decoded: relative(keys.clusterImage(i, 'decoded'), runId),
    },
    ...(scores ? { labels: scores.composition[i] } : {}),
  }));
  await ctx.storage.putJson(ctx.bucket, keys.clusters, summaries);

  const status = await ctx.store.get(runId);
  const stageSeconds = Object.fromEntries(
    Object.entries(status?.stages ?? {}).map(([s, v]) => [s, v.seconds]),
  );
  const training = await ctx.storage.getJsonIfExists<{
    epochs: { epoch: number; loss: number; seconds: number; images: number }[];
    curve?: { step: number; loss: number }[];
    backend: string;
    trainImages: number;
  }>(ctx.bucket, keys.training);
  const metrics = {
    runId,
    images: labels.length,
    rejected: rejected.length,
    k,
    inertia: assigned.inertia,
    meanSquaredDistance: assigned.inertia / Math.max(1, labels.length),
    sizes: clusters.map((c) => c.size),
    kmeans: fit,
    ...(selection ? { kSelection: selection } : {}),
    ...(manifold
      ? {
          manifold: {
            method: 'umap',
            sample: manifold.model.m,
            dims: manifold.model.dims,
            neighbors: manifold.model.neighbors,
            seconds: manifold.seconds,
          },
        }
      : {}),
    ...(mixture
      ? {
          mixture: {
            kind: 'gaussian-diagonal',
            iterations: mixture.iterations,
            converged: mixture.converged,
            meanLogLikelihood: mixture.meanLogLikelihood,
            seconds: mixture.seconds,
          },
        }
      : {}),
    training: training
      ? {
          backend: training.backend,
          trainImages: training.trainImages,
          losses: training.epochs.map((e) => e.loss),
        }
      : undefined,
    scores: scores
      ? { labelled: scores.labelled, nmi: scores.nmi, ari: scores.ari, accuracy: scores.accuracy }
      : undefined,
    stageSeconds,
  };
  await ctx.storage.putJson(ctx.bucket, keys.metrics, metrics);

  const html = renderReport({
    runId,
    spec,
    createdAt: status?.createdAt,
    finishedAt: new Date().toISOString(),
    images: labels.length,
    rejected,
    stageSeconds,
    training: training ?? undefined,
    kmeans: fit,
    ...(selection ? { kSelection: reportSelection(selection) } : {}),
    inertia: assigned.inertia,
    scores,
    clusters: summaries.map((s, i) => ({
      index: s.cluster,
      size: s.size,
      meanDistance: s.meanDistance,
      labels: s.labels,
      ...pictures.clusters[i],
    })),
    examples: pictures.examples,
  });
  await put(keys.report, html);

  // Written last: a manifest means every artifact it lists is complete. A run cancelled or
  // retried meanwhile gets none.
  await beforeManifest();
  const listed = await ctx.storage.list(ctx.bucket, `${keys.root}/`);
  await ctx.storage.putJson(ctx.bucket, keys.manifest, {
    runId,
    createdAt: new Date().toISOString(),
    spec,
    k,
    images: labels.length,
    rejected: rejected.length,
    artifacts: listed.map((o) => ({ path: relative(o.key, runId), bytes: o.size })),
  });
}

/** Per cluster, every member with its distance, nearest first (for browsing). */
async function writeMembers(ctx: ServiceContext, runId: string, labels: LabelRow[], k: number) {
  const byCluster: LabelRow[][] = Array.from({ length: k }, () => []);
  for (const row of labels) byCluster[row.cluster].push(row);
  for (const [c, rows] of byCluster.entries()) {
    rows.sort((a, b) => a.distance - b.distance || (a.key < b.key ? -1 : 1));
    const members = rows.map((r) => ({
      key: r.key,
      distance: r.distance,
      shard: r.shard,
      row: r.row,
    }));
    await ctx.storage.putJson(ctx.bucket, runKeys(runId).clusterMembers(c), {
      cluster: c,
      size: rows.length,
      members,
    });
  }
}

async function gatherRejected(ctx: ServiceContext, runId: string): Promise<RejectedImage[]> {
  const results = await ctx.store.shardResults<{ rejected: number }>(runId, 'preprocess');
  const out: RejectedImage[] = [];
  for (const [shard, r] of [...results].sort((a, b) => a[0] - b[0])) {
    if (r.rejected === 0) continue;
    out.push(
      ...(await ctx.storage.getJson<RejectedImage[]>(ctx.bucket, runKeys(runId).rejected(shard))),
    );
  }
  return out;
}

/** The k-selection section of the report: the silhouette of every k tried. */
function reportSelection(s: KSelectionRecord): KSelection {
  const sample = s.silhouettePoints.toLocaleString('en-US');
  return {
    chosen: s.chosen,
    criterion:
      `the highest mean silhouette (measured on ${sample} sampled codes; ` +
      `the elbow of the inertia is at k = ${s.elbow})` +
      (s.stoppedAt === null
        ? ''
        : `; the range stopped before k = ${s.stoppedAt}, as the sample holds fewer ` +
          `distinct codes`),
    curve: s.curve.map((p) => ({ k: p.k, score: p.silhouette })),
  };
}

function relative(key: string, runId: string): string {
  return key.slice(`runs/${runId}/`.length);
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
