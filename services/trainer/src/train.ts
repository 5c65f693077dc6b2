import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Job } from 'bullmq';
import { runKeys, type RunSpec } from '@imgcluster/config';
import type { Logger } from '@imgcluster/logging';
import {
  buildAutoencoder,
  loadAutoencoder,
  pixelsToFloat32,
  saveModel,
  trainStep,
  type AutoencoderParts,
} from '@imgcluster/model';
import { PermanentJobError, type RunJobData } from '@imgcluster/queues';
import { throwIfCancelled, type ServiceContext } from '@imgcluster/runtime';
import { decodeShard } from '@imgcluster/shard';
import { permutation, trainingShards, type TrainingShard } from './training-set.js';

/** Saved after every epoch; a restarted trainer resumes after `epochsDone`. */
interface CheckpointState {
  epochsDone: number;
  epochs: EpochRecord[];
}

interface EpochRecord {
  epoch: number;
  loss: number;
  seconds: number;
  images: number;
}

/** How often live progress (step, loss) is written to the run status, in ms. */
const PROGRESS_EVERY_MS = 2000;

/**
 * The train job. Runs once all preprocess jobs are done (it is their parent), trains the
 * autoencoder on the accepted images, checkpoints every epoch, publishes the encoder and
 * decoder, then queues the encode jobs under the cluster job.
 */
export async function trainRun(
  ctx: ServiceContext,
  job: Job<RunJobData>,
  log: Logger,
  backend: string,
) {
  const { runId } = job.data;
  const spec = await ctx.store.spec(runId);
  if (!spec) throw new PermanentJobError('RUN_UNKNOWN', `run ${runId} has no spec`);
  await ctx.store.finishStage(runId, 'preprocess');

  const accepted = await acceptedCounts(ctx, runId);
  const total = [...accepted.values()].reduce((a, b) => a + b, 0);
  if (total < spec.kmeans.k) {
    throw new PermanentJobError(
      'TOO_FEW_IMAGES',
      `${total} decodable images for k = ${spec.kmeans.k}; see the rejected images`,
    );
  }
  const shards = trainingShards(accepted, spec);
  const trainImages = shards.reduce((a, s) => a + s.count, 0);
  await ctx.store.startStage(runId, 'train', spec.training.epochs);
  await ctx.store.setDetail(runId, 'train', { backend, trainImages, images: total });

  const { model, state } = await resumeOrBuild(ctx, runId, spec, log);
  try {
    await trainEpochs(ctx, job, log, spec, model, shards, state, trainImages);
    await publish(ctx, runId, model, state, { backend, trainImages });
  } finally {
    model.autoencoder.dispose();
  }

  await ctx.store.finishStage(runId, 'train');
  await queueEncoding(ctx, runId, accepted);
  return { trainImages };
}

async function acceptedCounts(ctx: ServiceContext, runId: string) {
  const results = await ctx.store.shardResults<{ accepted: number }>(runId, 'preprocess');
  return new Map([...results].map(([shard, r]) => [shard, r.accepted]));
}

/**
 * The model and progress to continue from: the last checkpoint (weights and Adam state,
 * so training goes on exactly where it stopped) or a fresh model.
 */
async function resumeOrBuild(
  ctx: ServiceContext,
  runId: string,
  spec: RunSpec,
  log: Logger,
): Promise<{ model: AutoencoderParts; state: CheckpointState }> {
  const k = runKeys(runId);
  const state = await ctx.storage.getJsonIfExists<CheckpointState>(ctx.bucket, k.checkpoint);
  if (state && state.epochsDone > 0) {
    const [modelJson, weights] = await Promise.all([
      ctx.storage.get(ctx.bucket, k.checkpointModel),
      ctx.storage.get(ctx.bucket, k.checkpointWeights),
    ]);
    const files = { modelJson, weights };
    const model = await loadAutoencoder({ autoencoder: files, encoder: files, decoder: files });
    log.info({ epochsDone: state.epochsDone }, 'resumed from checkpoint');
    return { model, state };
  }
  const model = buildAutoencoder({
    imageSize: spec.image.size,
    channels: spec.image.channels,
    filters: spec.model.filters,
    learningRate: spec.training.learningRate,
    seed: spec.training.seed,
  });
  return { model, state: { epochsDone: 0, epochs: [] } };
}

async function trainEpochs(
  ctx: ServiceContext,
  job: Job<RunJobData>,
  log: Logger,
  spec: RunSpec,
  model: AutoencoderParts,
  shards: TrainingShard[],
  state: CheckpointState,
  trainImages: number,
) {
  const { runId } = job.data;
  const cache = new ShardCache(ctx, runId, ctx.env.TRAIN_CACHE_MB * 2 ** 20);
  const { size, channels } = spec.image;
  const itemBytes = size * size * channels;
  const batchSize = spec.training.batchSize;
  const stepsPerEpoch = shards.reduce((a, s) => a + Math.ceil(s.count / batchSize), 0);
  let lastProgress = 0;

  for (let epoch = state.epochsDone; epoch < spec.training.epochs; epoch++) {
    const started = Date.now();
    let lossSum = 0;
    let seen = 0;
    let step = 0;
    const order = permutation(shards.length, spec.training.seed * 7919 + epoch);

    for (const o of order) {
      const shard = shards[o];
      const pixels = await cache.get(shard.index);
      const rows = permutation(shard.count, spec.training.seed + epoch * 104729 + shard.index);

      for (let start = 0; start < rows.length; start += batchSize) {
        const n = Math.min(batchSize, rows.length - start);
        const batch = new Uint8Array(n * itemBytes);
        for (let i = 0; i < n; i++) {
          const r = rows[start + i];
          batch.set(pixels.subarray(r * itemBytes, (r + 1) * itemBytes), i * itemBytes);
        }
        const loss = await trainStep(model.autoencoder, pixelsToFloat32(batch));
        lossSum += loss * n;
        seen += n;
        step++;

        // Let BullMQ renew the job lock and answer Redis between steps.
        await yieldToEventLoop();
        if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
          lastProgress = Date.now();
          await ctx.store.setDetail(runId, 'train', {
            epoch: epoch + 1,
            step,
            stepsPerEpoch,
            loss: lossSum / seen,
          });
        }
      }
      await throwIfCancelled(ctx, runId);
    }

    const record: EpochRecord = {
      epoch: epoch + 1,
      loss: lossSum / Math.max(seen, 1),
      seconds: (Date.now() - started) / 1000,
      images: seen,
    };
    state.epochs.push(record);
    state.epochsDone = epoch + 1;
    await checkpoint(ctx, runId, model, state);
    await ctx.store.setDone(runId, 'train', state.epochsDone);
    await ctx.store.setDetail(runId, 'train', {
      epoch: epoch + 1,
      step: 0,
      loss: record.loss,
      losses: state.epochs.map((e) => e.loss),
      imagesPerSecond: Math.round(seen / record.seconds),
      trainImages,
    });
    log.info({ ...record, imagesPerSecond: Math.round(seen / record.seconds) }, 'epoch done');
  }
}

async function checkpoint(
  ctx: ServiceContext,
  runId: string,
  model: AutoencoderParts,
  state: CheckpointState,
) {
  const k = runKeys(runId);
  const files = await saveModel(model.autoencoder, { includeOptimizer: true });
  await ctx.storage.put(ctx.bucket, k.checkpointModel, files.modelJson);
  await ctx.storage.put(ctx.bucket, k.checkpointWeights, files.weights);
  // The state is written last: it names a checkpoint only once its files are complete.
  await ctx.storage.putJson(ctx.bucket, k.checkpoint, state);
}

async function publish(
  ctx: ServiceContext,
  runId: string,
  model: AutoencoderParts,
  state: CheckpointState,
  info: { backend: string; trainImages: number },
) {
  const k = runKeys(runId);
  const encoder = await saveModel(model.encoder);
  const decoder = await saveModel(model.decoder);
  await ctx.storage.put(ctx.bucket, k.encoderJson, encoder.modelJson);
  await ctx.storage.put(ctx.bucket, k.encoderWeights, encoder.weights);
  await ctx.storage.put(ctx.bucket, k.decoderJson, decoder.modelJson);
  await ctx.storage.put(ctx.bucket, k.decoderWeights, decoder.weights);
  await ctx.storage.putJson(ctx.bucket, k.training, { ...info, epochs: state.epochs });
}

async function queueEncoding(ctx: ServiceContext, runId: string, accepted: Map<number, number>) {
  const shards = [...accepted].filter(([, n]) => n > 0).map(([i]) => i);
  await ctx.store.startStage(runId, 'encode', shards.length);
  await ctx.producers.addShardFlow(runId, 'encode', shards, 'cluster', ctx.env.JOB_ATTEMPTS);
}

/** Image shards kept in memory between epochs, up to a byte budget; the rest re-read. */
class ShardCache {
  private readonly kept = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly runId: string,
    private readonly budget: number,
  ) {}

  async get(index: number): Promise<Uint8Array> {
    const hit = this.kept.get(index);
    if (hit) return hit;
    const raw = await this.ctx.storage.get(this.ctx.bucket, runKeys(this.runId).imageShard(index));
    const pixels = decodeShard(raw).data as Uint8Array;
    if (this.bytes + pixels.byteLength <= this.budget) {
      this.kept.set(index, pixels);
      this.bytes += pixels.byteLength;
    }
    return pixels;
  }
}
