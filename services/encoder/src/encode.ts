import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Job } from 'bullmq';
import { codeShapeOf, runKeys } from '@imgcluster/config';
import type { Logger } from '@imgcluster/logging';
import { encodeBatch, loadModel, type tf } from '@imgcluster/model';
import { PermanentJobError, type ShardJobData } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { decodeShard, encodeShard } from '@imgcluster/shard';
import { storedCodes } from './code-format.js';

/** Images per forward pass; between passes the event loop renews job locks. */
const BATCH = 256;

const encoders = new Map<string, Promise<tf.LayersModel>>();

/** The run's published encoder, loaded once per process and run. */
export function encoderFor(ctx: ServiceContext, runId: string): Promise<tf.LayersModel> {
  let model = encoders.get(runId);
  if (!model) {
    const k = runKeys(runId);
    model = Promise.all([
      ctx.storage.get(ctx.bucket, k.encoderJson),
      ctx.storage.get(ctx.bucket, k.encoderWeights),
    ]).then(([json, weights]) => loadModel(json, weights));
    model.catch(() => encoders.delete(runId));
    // Keep a few runs' encoders; older ones are dropped (and reloaded if needed).
    if (encoders.size >= 4) {
      const [oldest] = encoders.keys();
      void encoders.get(oldest)?.then((m) => m.dispose());
      encoders.delete(oldest);
    }
    encoders.set(runId, model);
  }
  return model;
}

/**
 * One encode job: an image shard in, a code shard (in the run's `codes.dtype`) and an
 * attention-map shard (always float32: it is 1/depth of the codes) out.
 */
export async function encodeShardJob(ctx: ServiceContext, job: Job<ShardJobData>, log: Logger) {
  const { runId, shard } = job.data;
  const spec = await ctx.store.spec(runId);
  if (!spec) throw new PermanentJobError('RUN_UNKNOWN', `run ${runId} has no spec`);
  const k = runKeys(runId);
  const images = decodeShard(await ctx.storage.get(ctx.bucket, k.imageShard(shard)));
  const encoder = await encoderFor(ctx, runId);

  const { size, channels } = spec.image;
  const n = images.header.shape[0];
  const itemBytes = size * size * channels;
  const [side, , depth] = codeShapeOf(spec);
  const codeSize = side * side * depth;
  const codes = new Float32Array(n * codeSize);
  const attention = new Float32Array(n * side * side);

  for (let start = 0; start < n; start += BATCH) {
    const m = Math.min(BATCH, n - start);
    const pixels = (images.data as Uint8Array).subarray(start * itemBytes, (start + m) * itemBytes);
    const out = encodeBatch(encoder, pixels, m, size, channels);
    codes.set(out.codes, start * codeSize);
    attention.set(out.attention, start * side * side);
    await yieldToEventLoop();
  }

  const stored = storedCodes(codes, spec.codes?.dtype);
  if (stored.overflow) {
    log.warn({ overflow: stored.overflow }, 'codes beyond the float16 range: stored as float32');
  }
  const dtype = stored.dtype;
  const keys = images.header.keys;
  await ctx.storage.put(
    ctx.bucket,
    k.codeShard(shard),
    encodeShard({ dtype, shape: [n, side, side, depth], keys }, stored.data),
  );
  await ctx.storage.put(
    ctx.bucket,
    k.attentionShard(shard),
    encodeShard({ dtype: 'float32', shape: [n, side, side], keys }, attention),
  );
  await ctx.store.shardDone(runId, 'encode', shard, { images: n });
  log.info({ images: n, dtype }, 'shard encoded');
  return { images: n };
}
