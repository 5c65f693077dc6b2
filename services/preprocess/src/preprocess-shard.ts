import type { Job } from 'bullmq';
import { runKeys, type RunSpec } from '@imgcluster/config';
import { preprocessImage, type RejectReason } from '@imgcluster/images';
import type { Logger } from '@imgcluster/logging';
import { PermanentJobError, type ShardJobData } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { encodeShard } from '@imgcluster/shard';
import { ObjectNotFoundError } from '@imgcluster/storage';
import type { RunPlan } from './plan.js';

/** An input that was skipped, and why. */
export interface RejectedImage {
  key: string;
  reason: RejectReason | 'missing';
  message: string;
}

/** What one preprocess job reports. */
export interface PreprocessShardResult {
  accepted: number;
  rejected: number;
  reasons: Record<string, number>;
}

/** Images decoded at once per job: sharp runs one thread here, a few in flight hide I/O. */
const IN_FLIGHT = 4;

const plans = new Map<string, RunPlan>();

/** The run's plan, cached per process (a plan never changes once written). */
export async function loadPlan(ctx: ServiceContext, runId: string): Promise<RunPlan> {
  let plan = plans.get(runId);
  if (!plan) {
    plan = await ctx.storage.getJson<RunPlan>(ctx.bucket, runKeys(runId).plan);
    if (plans.size > 16) plans.clear();
    plans.set(runId, plan);
  }
  return plan;
}

/**
 * One preprocess job: reads a shard's input images, decodes and resizes them, and writes
 * one image shard plus the list of rejected keys with reasons. Re-running it writes the
 * same keys with the same bytes.
 */
export async function preprocessShard(ctx: ServiceContext, job: Job<ShardJobData>, log: Logger) {
  const { runId, shard } = job.data;
  const spec = await ctx.store.spec(runId);
  if (!spec) throw new PermanentJobError('RUN_UNKNOWN', `run ${runId} has no spec`);
  const plan = await loadPlan(ctx, runId);
  const entry = plan.shards[shard];
  if (!entry) throw new PermanentJobError('SHARD_UNKNOWN', `run ${runId} has no shard ${shard}`);

  const { size, channels } = spec.image;
  const itemBytes = size * size * channels;
  const pixels: (Uint8Array | undefined)[] = new Array(entry.keys.length);
  const rejected: (RejectedImage | undefined)[] = new Array(entry.keys.length);

  let next = 0;
  const worker = async () => {
    while (next < entry.keys.length) {
      const i = next++;
      const outcome = await decodeOne(ctx, plan.inputBucket, entry.keys[i], spec);
      if (outcome.ok) pixels[i] = outcome.pixels;
      else rejected[i] = { key: entry.keys[i], reason: outcome.reason, message: outcome.message };
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));

  const keys: string[] = [];
  const data = new Uint8Array(pixels.filter(Boolean).length * itemBytes);
  pixels.forEach((p, i) => {
    if (!p) return;
    data.set(p, keys.length * itemBytes);
    keys.push(entry.keys[i]);
  });
  const skipped = rejected.filter((r): r is RejectedImage => r !== undefined);

  const k = runKeys(runId);
  const header = { dtype: 'uint8' as const, shape: [keys.length, size, size, channels], keys };
  await ctx.storage.put(ctx.bucket, k.imageShard(shard), encodeShard(header, data));
  await ctx.storage.putJson(ctx.bucket, k.rejected(shard), skipped);

  const reasons: Record<string, number> = {};
  for (const r of skipped) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
  const result: PreprocessShardResult = {
    accepted: keys.length,
    rejected: skipped.length,
    reasons,
  };
  await ctx.store.shardDone(runId, 'preprocess', shard, result);
  log.info(result, 'shard preprocessed');
  return result;
}

type DecodeOutcome =
  | { ok: true; pixels: Uint8Array }
  | { ok: false; reason: RejectedImage['reason']; message: string };

async function decodeOne(
  ctx: ServiceContext,
  bucket: string,
  key: string,
  spec: RunSpec,
): Promise<DecodeOutcome> {
  let bytes: Buffer;
  try {
    bytes = await ctx.storage.get(bucket, key);
  } catch (err) {
    // A key listed by the planner but gone now is the input's fault, not a transient error.
    if (err instanceof ObjectNotFoundError) {
      return { ok: false, reason: 'missing', message: 'object disappeared after listing' };
    }
    throw err;
  }
  const result = await preprocessImage(bytes, {
    size: spec.image.size,
    channels: spec.image.channels,
  });
  if (result.ok) return { ok: true, pixels: result.pixels };
  return result;
}
