import type { Job } from 'bullmq';
import { runKeys, type RunSpec } from '@imgcluster/config';
import { DEFAULT_MAX_INPUT_BYTES, preprocessImage, type RejectReason } from '@imgcluster/images';
import type { Logger } from '@imgcluster/logging';
import { PermanentJobError, type ShardJobData } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { encodeShard } from '@imgcluster/shard';
import { ObjectNotFoundError, ObjectTooLargeError } from '@imgcluster/storage';
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

/**
 * Images decoded at once per job. sharp runs one thread per image and libuv's pool has 4:
 * more decodes at once only queue there (4 and 8 measured the same).
 */
const IN_FLIGHT = 4;
/**
 * Images fetched at once per job, ahead of decoding. A GET waits on object storage for
 * milliseconds (S3: tens of them before the first byte), far longer than a decode takes, so
 * fetches run well ahead; each one waiting holds one encoded image in memory. With 20 ms per
 * GET, 16 fetches feeding 4 decodes gave 2.3x the images/s of 4 doing both.
 */
const FETCH_IN_FLIGHT = 16;
/**
 * Bytes of encoded images fetched but not yet decoded, per job, by their listed sizes: 16
 * large scans at once would exceed a worker's memory (2 GiB in k8s/base) where 16 photos do
 * not. One object larger than this is still read, alone.
 */
const FETCH_BYTES_IN_FLIGHT = 256 * 2 ** 20;

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

  // Results land by index, so the shard's order does not depend on which GET answers first.
  const decodes = new Slots(IN_FLIGHT);
  const bytes = new ByteBudget(FETCH_BYTES_IN_FLIGHT);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < entry.keys.length && !failed) {
      const i = next++;
      try {
        const listedSize = entry.sizes?.[i];
        const outcome =
          listedSize !== undefined && listedSize > DEFAULT_MAX_INPUT_BYTES
            ? tooLarge(listedSize, DEFAULT_MAX_INPUT_BYTES)
            : await bytes.run(listedSize ?? 0, () =>
                decodeOne(ctx, plan.inputBucket, entry.keys[i], spec, decodes),
              );
        if (outcome.ok) pixels[i] = outcome.pixels;
        else rejected[i] = { key: entry.keys[i], reason: outcome.reason, message: outcome.message };
      } catch (err) {
        // The job fails and is retried whole: the other fetchers stop taking keys.
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: FETCH_IN_FLIGHT }, worker));

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
  // Two independent objects: written side by side, both before the shard counts as done.
  await Promise.all([
    ctx.storage.put(ctx.bucket, k.imageShard(shard), encodeShard(header, data)),
    ctx.storage.putJson(ctx.bucket, k.rejected(shard), skipped),
  ]);

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
  decodes: Slots,
): Promise<DecodeOutcome> {
  let bytes: Buffer;
  try {
    // An object over the limit (a video in the photo folder) is refused from its declared
    // length: its body is never read, so it cannot exhaust this worker's memory.
    bytes = await ctx.storage.get(bucket, key, { maxBytes: DEFAULT_MAX_INPUT_BYTES });
  } catch (err) {
    // A key listed by the planner but gone now is the input's fault, not a transient error.
    if (err instanceof ObjectNotFoundError) {
      return { ok: false, reason: 'missing', message: 'object disappeared after listing' };
    }
    if (err instanceof ObjectTooLargeError) return tooLarge(err.size, err.maxBytes);
    throw err;
  }
  const result = await decodes.run(() =>
    preprocessImage(bytes, { size: spec.image.size, channels: spec.image.channels }),
  );
  if (result.ok) return { ok: true, pixels: result.pixels };
  return result;
}

function tooLarge(size: number, max: number): DecodeOutcome {
  return { ok: false, reason: 'too_large', message: `${size} bytes exceeds ${max} bytes` };
}

/**
 * Lets calls of run() hold at most `budget` bytes between them, in the order they came; a
 * call asking for more than the whole budget runs once nothing else holds any.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: { bytes: number; go: () => void }[] = [];

  constructor(private readonly budget: number) {}

  async run<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.fits(bytes)) {
      await new Promise<void>((go) => this.waiting.push({ bytes, go }));
    } else {
      this.used += bytes;
    }
    try {
      return await fn();
    } finally {
      this.used -= bytes;
      // First come, first served: the head of the queue goes as soon as it fits.
      while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) {
        const head = this.waiting.shift()!;
        this.used += head.bytes;
        head.go();
      }
    }
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.budget;
  }
}

/** Lets at most `size` calls of run() work at once; the others wait their turn, in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // A waiting call takes the slot over; with none waiting it goes back to the pool.
      const take = this.waiting.shift();
      if (take) take();
      else this.free++;
    }
  }
}
