import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Job } from 'bullmq';
import { describeK, imagesNeededForK, modelShape, runKeys, type RunSpec } from '@imgcluster/config';
import type { Logger } from '@imgcluster/logging';
import {
  buildAutoencoder,
  loadAutoencoder,
  pixelsToFloat32,
  saveModel,
  type AutoencoderParts,
} from '@imgcluster/model';
import { PermanentJobError, queueShardStage, type RunJobData } from '@imgcluster/queues';
import { releaseIfStopping, throwIfCancelled, type ServiceContext } from '@imgcluster/runtime';
import { decodeShard } from '@imgcluster/shard';
import { trainBatch } from './step.js';
import { permutation, trainingShards, type TrainingShard } from './training-set.js';

/**
 * Saved after every epoch and every `checkpointSteps` steps; a restarted trainer resumes
 * at step `step` of epoch `epochsDone + 1` (batches are drawn in a seeded order, so the
 * steps already taken are known without reading their images).
 */
interface CheckpointState {
  epochsDone: number;
  epochs: EpochRecord[];
  /** Steps done in the unfinished epoch, with their loss sum and image count. */
  step?: number;
  lossSum?: number;
  seen?: number;
  /** Times training resumed from a checkpoint. */
  resumes?: number;
  /** Which checkpoint's files hold this state's weights (see runKeys().checkpointFiles). */
  tag?: string;
  /** The loss curve: mean loss of each window of CURVE_POINTS_PER_EPOCH-th of an epoch. */
  curve?: CurvePoint[];
}

/** One point of the loss curve: steps since training began, and the window's mean loss. */
interface CurvePoint {
  step: number;
  loss: number;
}

/** Points of the loss curve recorded per epoch (fewer when an epoch has fewer steps). */
const CURVE_POINTS_PER_EPOCH = 25;

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
  if (total < imagesNeededForK(spec.kmeans)) {
    throw new PermanentJobError(
      'TOO_FEW_IMAGES',
      `${total} decodable images for ${describeK(spec.kmeans)}; see the rejected images`,
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
  await queueShardStage(
    ctx.store,
    ctx.producers,
    runId,
    job.data.gen ?? 0,
    'encode',
    ctx.env.JOB_ATTEMPTS,
  );
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
  if (state?.tag) {
    const saved = k.checkpointFiles(state.tag);
    const [modelJson, weights] = await Promise.all([
      ctx.storage.get(ctx.bucket, saved.modelJson),
      ctx.storage.get(ctx.bucket, saved.weights),
    ]);
    const files = { modelJson, weights };
    const model = await loadAutoencoder({ autoencoder: files, encoder: files, decoder: files });
    state.resumes = (state.resumes ?? 0) + 1;
    log.info({ epochsDone: state.epochsDone, step: state.step ?? 0 }, 'resumed from checkpoint');
    await ctx.store.setDetail(runId, 'train', {
      resumedFrom: { epoch: state.epochsDone + 1, step: state.step ?? 0 },
      resumes: state.resumes,
    });
    return { model, state };
  }
  const model = buildAutoencoder({
    imageSize: spec.image.size,
    channels: spec.image.channels,
    ...trainerModel(spec),
    learningRate: spec.training.learningRate,
    seed: spec.training.seed,
  });
  return { model, state: { epochsDone: 0, epochs: [] } };
}

/** The autoencoder settings of a run spec, as the model package takes them. */
function trainerModel(spec: RunSpec) {
  const m = modelShape(spec.model);
  return m.architecture === 'dense'
    ? { architecture: m.architecture, hidden: m.hidden, codeChannels: m.codeSize }
    : { architecture: m.architecture, filters: m.filters };
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
  const everySteps = spec.training.checkpointSteps;
  const curveEvery = Math.max(1, Math.ceil(stepsPerEpoch / CURVE_POINTS_PER_EPOCH));
  const curve = (state.curve ??= []);
  let lastProgress = 0;

  for (let epoch = state.epochsDone; epoch < spec.training.epochs; epoch++) {
    const started = Date.now();
    const resumeAt = epoch === state.epochsDone ? (state.step ?? 0) : 0;
    let lossSum = resumeAt > 0 ? (state.lossSum ?? 0) : 0;
    let seen = resumeAt > 0 ? (state.seen ?? 0) : 0;
    let step = 0;
    let windowLoss = 0;
    let windowImages = 0;
    const order = permutation(shards.length, spec.training.seed * 7919 + epoch);

    for (const o of order) {
      const shard = shards[o];
      const batches = Math.ceil(shard.count / batchSize);
      if (step + batches <= resumeAt) {
        step += batches; // done before the restart: not even read
        continue;
      }
      const pixels = await cache.get(shard.index);
      const rows = permutation(shard.count, spec.training.seed + epoch * 104729 + shard.index);

      for (let start = 0; start < rows.length; start += batchSize) {
        if (step < resumeAt) {
          step++;
          continue;
        }
        const n = Math.min(batchSize, rows.length - start);
        const batch = new Uint8Array(n * itemBytes);
        for (let i = 0; i < n; i++) {
          const r = rows[start + i];
          batch.set(pixels.subarray(r * itemBytes, (r + 1) * itemBytes), i * itemBytes);
        }
        const loss = await trainBatch(model.autoencoder, pixelsToFloat32(batch), n, size, channels);
        lossSum += loss * n;
        seen += n;
        step++;
        windowLoss += loss * n;
        windowImages += n;
        if (step % curveEvery === 0 || step === stepsPerEpoch) {
          curve.push({ step: epoch * stepsPerEpoch + step, loss: windowLoss / windowImages });
          windowLoss = 0;
          windowImages = 0;
        }

        // Let BullMQ renew the job lock and answer Redis between steps.
        await yieldToEventLoop();
        const periodic = everySteps > 0 && step % everySteps === 0;
        if ((periodic || ctx.stopping) && step < stepsPerEpoch) {
          Object.assign(state, { epochsDone: epoch, step, lossSum, seen });
          await checkpoint(ctx, runId, model, state);
          // Shutting down: this step is saved, so the job goes back to the queue from here.
          if (ctx.stopping) log.info({ epoch: epoch + 1, step }, 'checkpointed for shutdown');
          releaseIfStopping(ctx, job.data);
        }
        if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
          lastProgress = Date.now();
          await ctx.store.setDetail(runId, 'train', {
            epoch: epoch + 1,
            step,
            stepsPerEpoch,
            loss: lossSum / seen,
          });
          ctx.metrics.trainingCurrentLoss.set(lossSum / seen);
          await throwIfCancelled(ctx, job.data);
        }
      }
    }

    const record: EpochRecord = {
      epoch: epoch + 1,
      loss: lossSum / Math.max(seen, 1),
      seconds: (Date.now() - started) / 1000,
      images: seen,
    };
    state.epochs.push(record);
    Object.assign(state, { epochsDone: epoch + 1, step: 0, lossSum: 0, seen: 0 });
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
    ctx.metrics.recordEpoch(record.loss);
  }
}

/**
 * Writes a checkpoint: its files under a new tag, then the state naming them, then the
 * previous checkpoint's files are removed. A crash at any point leaves the state naming a
 * complete set of files.
 */
async function checkpoint(
  ctx: ServiceContext,
  runId: string,
  model: AutoencoderParts,
  state: CheckpointState,
) {
  const k = runKeys(runId);
  const previous = state.tag;
  const tag = `e${pad(state.epochsDone, 3)}-s${pad(state.step ?? 0, 6)}`;
  const files = await saveModel(model.autoencoder, { includeOptimizer: true });
  const target = k.checkpointFiles(tag);
  await ctx.storage.put(ctx.bucket, target.modelJson, files.modelJson);
  await ctx.storage.put(ctx.bucket, target.weights, files.weights);
  state.tag = tag;
  await ctx.storage.putJson(ctx.bucket, k.checkpoint, state);
  if (previous && previous !== tag) {
    const old = k.checkpointFiles(previous);
    // Best effort: a leftover old checkpoint costs space, not correctness.
    await ctx.storage.delete(ctx.bucket, [old.modelJson, old.weights]).catch(() => undefined);
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
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
  await ctx.storage.putJson(ctx.bucket, k.training, {
    ...info,
    epochs: state.epochs,
    curve: state.curve ?? [],
  });
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
