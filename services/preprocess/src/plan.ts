import type { Job } from 'bullmq';
import { describeK, imagesNeededForK, runKeys, type RunSpec } from '@imgcluster/config';
import { permutation, Rng } from '@imgcluster/kmeans';
import type { Logger } from '@imgcluster/logging';
import { PermanentJobError, queueShardStage, type RunJobData } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';

/** The plan of a run: which input keys go into which shard. Stored as plan.json. */
export interface RunPlan {
  runId: string;
  inputBucket: string;
  imageCount: number;
  /**
   * `sizes` are the listed byte sizes of `keys`, in the same order (absent in plans written
   * before they were recorded): preprocess jobs refuse objects over the input limit without
   * fetching them and keep the bytes they fetch at once within a budget.
   */
  shards: { index: number; keys: string[]; sizes?: number[] }[];
}

/** Keys that are never input images: folders and the labels file. */
function isInputKey(key: string, spec: RunSpec): boolean {
  if (key.endsWith('/')) return false;
  const labels = spec.labels;
  if (labels && (labels.bucket ?? spec.input.bucket) === spec.input.bucket) {
    if (key === labels.key) return false;
  }
  return true;
}

/** Seeded shuffle, so that each shard is a random sample of the input. */
export function shuffled<T>(items: T[], seed: number): T[] {
  return Array.from(permutation(items.length, new Rng(seed)), (i) => items[i]);
}

/** Splits keys into shards of at most `size`. */
export function chunk(keys: string[], size: number): RunPlan['shards'] {
  const shards: RunPlan['shards'] = [];
  for (let i = 0; i < keys.length; i += size) {
    shards.push({ index: shards.length, keys: keys.slice(i, i + size) });
  }
  return shards;
}

/** A labels file that is not a JSON object of key → label fails the run before any work. */
async function checkLabels(ctx: ServiceContext, spec: RunSpec): Promise<void> {
  if (!spec.labels) return;
  const bucket = spec.labels.bucket ?? spec.input.bucket;
  const where = `s3://${bucket}/${spec.labels.key}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse((await ctx.storage.get(bucket, spec.labels.key)).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new PermanentJobError('LABELS_INVALID', `labels ${where} is not JSON: ${err.message}`);
  }
  const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  const valuesOk =
    isObject &&
    Object.values(parsed as object).every((v) => typeof v === 'string' || typeof v === 'number');
  if (!valuesOk) {
    throw new PermanentJobError(
      'LABELS_INVALID',
      `labels ${where} must be a JSON object mapping each image key to a string or number`,
    );
  }
}

/**
 * The plan job: lists the input (every page), writes plan.json, then adds the
 * preprocess jobs as children of the train job, so training starts once all are done.
 */
export async function planRun(ctx: ServiceContext, job: Job<RunJobData>, log: Logger) {
  const { runId } = job.data;
  const spec = await ctx.store.spec(runId);
  if (!spec) throw new PermanentJobError('RUN_UNKNOWN', `run ${runId} has no spec`);
  await ctx.store.startStage(runId, 'plan', 1);

  await checkLabels(ctx, spec);
  const listed = await ctx.storage.list(spec.input.bucket, spec.input.prefix);
  const keys = listed.map((o) => o.key).filter((k) => isInputKey(k, spec));
  const sizeOf = new Map(listed.map((o) => [o.key, o.size]));
  if (keys.length === 0) {
    throw new PermanentJobError(
      'NO_INPUT_IMAGES',
      `no objects under s3://${spec.input.bucket}/${spec.input.prefix}`,
    );
  }

  if (keys.length < imagesNeededForK(spec.kmeans)) {
    throw new PermanentJobError(
      'TOO_FEW_IMAGES',
      `too few images: ${keys.length} input objects under s3://${spec.input.bucket}/${spec.input.prefix}, ${describeK(spec.kmeans)} needs at least ${imagesNeededForK(spec.kmeans)}`,
    );
  }

  keys.sort();
  const plan: RunPlan = {
    runId,
    inputBucket: spec.input.bucket,
    imageCount: keys.length,
    shards: chunk(shuffled(keys, spec.training.seed), spec.shardSize).map((s) => ({
      ...s,
      sizes: s.keys.map((k) => sizeOf.get(k) ?? 0),
    })),
  };
  await ctx.storage.putJson(ctx.bucket, runKeys(runId).plan, plan);
  log.info({ images: keys.length, shards: plan.shards.length }, 'run planned');

  await ctx.store.setDone(runId, 'plan', 1);
  await ctx.store.setDetail(runId, 'plan', { images: keys.length, shards: plan.shards.length });
  await ctx.store.finishStage(runId, 'plan');
  await ctx.store.setDetail(runId, 'preprocess', { images: keys.length });
  // A plan job run again (a retry, a crash after this point) redoes no finished shard.
  await queueShardStage(
    ctx.store,
    ctx.producers,
    runId,
    job.data.gen ?? 0,
    'preprocess',
    ctx.env.JOB_ATTEMPTS,
  );
  return { images: keys.length, shards: plan.shards.length };
}
