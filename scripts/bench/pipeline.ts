/**
 * Benchmark runs through the local stack: input images in S3 (and the same bytes on local
 * disk), a run submitted through the REST API, and each stage's throughput taken from the
 * BullMQ jobs' own timestamps.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ImgclusterClient, ApiRequestError } from '@imgcluster/client';
import type { RunSpecInput } from '@imgcluster/config';
import { readFashionMnist, FASHION_MNIST_SIDE } from '@imgcluster/datasets';
import type { LocalStack } from '@imgcluster/devstack';
import { encodePng } from '@imgcluster/images';
import { jobIds, QUEUES, type RunStatus } from '@imgcluster/queues';
import type { Storage } from '@imgcluster/storage';

/** The benchmark's input: one PNG object per image, and the same files on local disk. */
export interface BenchImages {
  bucket: string;
  prefix: string;
  keys: string[];
  /** Local copies of the objects, in key order. */
  files: string[];
  /** 'fashion-mnist' when the dataset is installed, else 'synthetic'. */
  source: 'fashion-mnist' | 'synthetic';
}

const SIDE = FASHION_MNIST_SIDE;

/** 28×28 grey pixels for `n` images: Fashion-MNIST when installed, else blobs on noise. */
async function sourcePixels(
  n: number,
): Promise<{ pixels: Uint8Array; source: BenchImages['source'] }> {
  try {
    const data = await readFashionMnist({ split: 'all', limit: n });
    if (data.n >= n) return { pixels: data.images, source: 'fashion-mnist' };
  } catch {
    // not installed: fall through to synthetic images
  }
  const pixels = new Uint8Array(n * SIDE * SIDE);
  let seed = 7;
  for (let i = 0; i < n; i++) {
    const cx = 6 + (i % 17);
    const cy = 6 + ((i * 7) % 17);
    for (let p = 0; p < SIDE * SIDE; p++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const d = Math.hypot((p % SIDE) - cx, Math.floor(p / SIDE) - cy);
      pixels[i * SIDE * SIDE + p] = d < 3 + (i % 5) ? 180 + (seed % 70) : seed % 40;
    }
  }
  return { pixels, source: 'synthetic' };
}

/** Writes `n` PNG images to storage under bucket/prefix and to `dir` on local disk. */
export async function prepareImages(
  storage: Storage,
  dir: string,
  n: number,
  bucket: string,
  prefix: string,
): Promise<BenchImages> {
  mkdirSync(dir, { recursive: true });
  await storage.ensureBucket(bucket);
  const { pixels, source } = await sourcePixels(n);
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}.png`);
  const files = keys.map((_, i) => join(dir, `${i}.png`));

  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const one = pixels.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE);
      const png = await encodePng(one, SIDE, SIDE, 1);
      writeFileSync(files[i], png);
      await storage.put(bucket, keys[i], png, 'image/png');
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { bucket, prefix, keys, files, source };
}

/** Throughput of one sharded stage, from its jobs' processedOn/finishedOn timestamps. */
export interface StageTiming {
  jobs: number;
  images: number;
  /** First job's start and last job's end, ms since the epoch (the workers' clocks). */
  firstStart: number;
  lastEnd: number;
  /** lastEnd − firstStart, in seconds: the stage's wall time with queueing between jobs. */
  spanSeconds: number;
  /** Sum of every job's own duration, in seconds. */
  busySeconds: number;
  /** images / spanSeconds. */
  imagesPerSec: number;
  /** Jobs that needed more than one attempt (their earlier attempts are not counted). */
  retried: number;
  /** Slowest and fastest job, in seconds. */
  slowestJobSeconds: number;
  fastestJobSeconds: number;
}

/** Completed jobs of a stage by id; throws when one failed or is still missing after wait. */
async function completedJobs(queue: Queue, ids: string[], timeoutMs: number): Promise<Job[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await Promise.all(ids.map((id) => Job.fromId(queue, id)));
    const done = jobs.filter((j): j is Job => j !== undefined && j.finishedOn !== undefined);
    for (const j of done) {
      // failedReason stays set after a retry that succeeded: only a failed state counts.
      if (j.failedReason && (await j.isFailed())) {
        throw new Error(`job ${j.id} failed: ${j.failedReason}`);
      }
    }
    if (done.length === ids.length) return done;
    if (Date.now() > deadline) {
      throw new Error(
        `${ids.length - done.length} of ${ids.length} jobs of ${queue.name} not done`,
      );
    }
    await sleep(200);
  }
}

/** Timing of the jobs `ids` of one queue, once all have completed. */
export async function stageTiming(
  queue: Queue,
  ids: string[],
  imagesOf: (result: Record<string, number>) => number,
  timeoutMs = 60_000,
): Promise<StageTiming> {
  const jobs = await completedJobs(queue, ids, timeoutMs);
  const starts = jobs.map((j) => j.processedOn ?? NaN);
  const ends = jobs.map((j) => j.finishedOn ?? NaN);
  const durations = jobs.map((_, i) => (ends[i] - starts[i]) / 1000);
  const images = jobs.reduce((sum, j) => sum + imagesOf(j.returnvalue ?? {}), 0);
  const firstStart = Math.min(...starts);
  const lastEnd = Math.max(...ends);
  const spanSeconds = (lastEnd - firstStart) / 1000;
  return {
    jobs: jobs.length,
    images,
    firstStart,
    lastEnd,
    spanSeconds,
    busySeconds: durations.reduce((a, b) => a + b, 0),
    imagesPerSec: images / spanSeconds,
    retried: jobs.filter((j) => j.attemptsStarted > 1).length,
    slowestJobSeconds: Math.max(...durations),
    fastestJobSeconds: Math.min(...durations),
  };
}

/** What one benchmark run through the stack measured. */
export interface RunMeasurement {
  runId: string;
  state: string;
  preprocess: StageTiming;
  /** Absent when the run was stopped after preprocessing. */
  encode?: StageTiming;
  /** The API's own stage durations (start/finish marks in Redis, 0.1 s resolution). */
  apiStageSeconds: Record<string, number | undefined>;
}

/** Options of one benchmark run. */
export interface RunOptions {
  images: BenchImages;
  size: number;
  channels: 1 | 3;
  shardSize: number;
  /** training.maxImages: the trainer fits on this many images, one epoch. */
  trainImages: number;
  /** 'preprocess': cancel the run once every preprocess job has finished. */
  until: 'preprocess' | 'end';
  timeoutMs: number;
  name: string;
  /** Called with every polled status. */
  onStatus?: (s: RunStatus) => void;
}

/** BullMQ handles on the stack's queues, for reading job timings. */
export class StackQueues {
  readonly preprocess: Queue;
  readonly train: Queue;
  readonly encode: Queue;

  constructor(connection: Redis) {
    this.preprocess = new Queue(QUEUES.preprocess, { connection });
    this.train = new Queue(QUEUES.train, { connection });
    this.encode = new Queue(QUEUES.encode, { connection });
  }

  async close(): Promise<void> {
    await Promise.all([this.preprocess.close(), this.train.close(), this.encode.close()]);
  }
}

function runSpec(o: RunOptions): RunSpecInput {
  return {
    name: o.name,
    input: { bucket: o.images.bucket, prefix: o.images.prefix },
    image: { size: o.size, channels: o.channels },
    training: { epochs: 1, maxImages: o.trainImages, batchSize: 64 },
    kmeans: { k: 10, maxSteps: 20 },
    shardSize: o.shardSize,
  };
}

const shardIds = (total: number, id: (shard: number) => string) =>
  Array.from({ length: total }, (_, shard) => id(shard));

/** Polls the run until `done(status)` or a terminal state; throws on failure or timeout. */
async function pollRun(
  client: ImgclusterClient,
  id: string,
  done: (s: RunStatus) => boolean,
  o: RunOptions,
  deadline: number,
): Promise<RunStatus> {
  for (;;) {
    const s = await client.status(id);
    o.onStatus?.(s);
    if (s.state === 'failed') throw new Error(`run ${id} failed: ${s.error ?? 'no message'}`);
    if (done(s) || s.state === 'succeeded' || s.state === 'cancelled') return s;
    if (Date.now() > deadline) throw new Error(`run ${id} not finished in ${o.timeoutMs} ms`);
    await sleep(500);
  }
}

/** Submits one run and measures its preprocess (and, unless stopped early, encode) stage. */
export async function measureRun(
  client: ImgclusterClient,
  queues: StackQueues,
  o: RunOptions,
): Promise<RunMeasurement> {
  const deadline = Date.now() + o.timeoutMs;
  const { id } = await client.submit(runSpec(o));
  const preprocessed = (s: RunStatus) =>
    s.stages.preprocess.total > 0 && s.stages.preprocess.done === s.stages.preprocess.total;

  let status = await pollRun(
    client,
    id,
    o.until === 'preprocess' ? preprocessed : () => false,
    o,
    deadline,
  );
  const pre = shardIds(status.stages.preprocess.total, (s) => jobIds.preprocess(id, s));
  const preprocess = await stageTiming(queues.preprocess, pre, (r) => r.accepted + r.rejected);

  let encode: StageTiming | undefined;
  if (o.until === 'preprocess') {
    await cancelAndSettle(client, queues, id);
    status = await client.status(id);
  } else {
    if (status.state !== 'succeeded') throw new Error(`run ${id} ended ${status.state}`);
    const results = status.stages.encode.total;
    // Encode jobs exist only for shards with accepted images; with valid input that is all.
    const enc = shardIds(status.stages.preprocess.total, (s) => jobIds.encode(id, s));
    if (enc.length !== results) throw new Error(`run ${id}: ${results} of ${enc.length} encoded`);
    encode = await stageTiming(queues.encode, enc, (r) => r.images);
  }

  const apiStageSeconds = Object.fromEntries(
    Object.entries(status.stages).map(([name, st]) => [name, st.seconds]),
  );
  return { runId: id, state: status.state, preprocess, encode, apiStageSeconds };
}

/** Cancels a run and waits until its train job has ended, so it uses no CPU afterwards. */
async function cancelAndSettle(client: ImgclusterClient, queues: StackQueues, id: string) {
  try {
    await client.cancel(id);
  } catch (err) {
    if (!(err instanceof ApiRequestError && err.status === 409)) throw err;
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = await Job.fromId(queues.train, jobIds.train(id));
    const state = job ? await job.getState() : 'unknown';
    if (state === 'completed' || state === 'failed' || state === 'unknown') return;
    if (Date.now() > deadline) throw new Error(`train job of cancelled run ${id} still ${state}`);
    await sleep(250);
  }
}

/** Waits until a service's log says its worker is ready (pino line "… worker ready"). */
export async function waitForWorkerReady(logFile: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(logFile) && readFileSync(logFile, 'utf8').includes('worker ready"')) return;
    await sleep(200);
  }
  throw new Error(`${logFile}: no "worker ready" line after ${timeoutMs} ms`);
}

/** Process ids of the stack's servers and services, by name (e.g. encoder-2, redis, s3). */
export function stackProcesses(stack: LocalStack): Map<string, number> {
  const out = new Map<string, number>();
  if (stack.redis.child.pid) out.set('redis', stack.redis.child.pid);
  if (stack.s3.child.pid) out.set('s3', stack.s3.child.pid);
  for (const s of stack.services) {
    const name = s.logFile
      .split('/')
      .at(-1)!
      .replace(/\.log$/, '');
    if (s.process.child.pid) out.set(name, s.process.child.pid);
  }
  return out;
}
