import { utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { DelayedError, type Job, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadEnv, type Env, type Stage } from '@imgcluster/config';
import { createLogger, maskSecrets, type Logger } from '@imgcluster/logging';
import {
  serviceMetrics,
  startProbeServer,
  type JobOutcome,
  type ProbeServer,
  type ServiceMetrics,
} from '@imgcluster/observability';
import { isPermanentStorageError, Storage, storageFromEnv } from '@imgcluster/storage';
import {
  createRedis,
  PermanentJobError,
  Producers,
  QUEUES,
  RunStore,
  startStageWorker,
  RunCancelledError,
  JobReleasedError,
  type RunJobData,
} from '@imgcluster/queues';
import { checkReadiness } from './readiness.js';
import { checkRedisPolicy } from './redis-policy.js';

export { checkReadiness, READY_CHECK_TIMEOUT_MS, type ReadinessOptions } from './readiness.js';
export {
  checkRedisPolicy,
  readEvictionPolicy,
  RedisPolicyError,
  REQUIRED_POLICY,
  type PolicyReading,
} from './redis-policy.js';

/** What every service has: parsed config, logger, Redis, storage, run status, producers. */
export interface ServiceContext {
  service: string;
  env: Env;
  log: Logger;
  redis: Redis;
  storage: Storage;
  store: RunStore;
  producers: Producers;
  /** The artifact bucket. */
  bucket: string;
  /** This process's Prometheus metrics (one registry per process). */
  metrics: ServiceMetrics;
  /** The metrics and probe server of a worker service (see ContextOptions.probes). */
  probes?: ProbeServer;
  /** Workers started in this process; closed together on shutdown. */
  workers: Worker[];
  /** Run first on shutdown, e.g. closing the HTTP server. */
  beforeClose: (() => Promise<void>)[];
  /**
   * True once SIGTERM or SIGINT arrived: long handlers stop at their next safe point and
   * release their job (see {@link releaseIfStopping}); short ones just finish.
   */
  stopping: boolean;
}

/** Options of {@link createContext}. */
export interface ContextOptions {
  /**
   * Start the metrics and probe server (/metrics, /healthz, /readyz) on METRICS_HOST and
   * METRICS_PORT before anything waits on Redis: worker services. The API serves the same
   * paths on its own port instead.
   */
  probes?: boolean;
  /** Use these metrics instead of the process's (tests). */
  metrics?: ServiceMetrics;
}

/**
 * Builds a service's context from the environment; a bad variable fails here. Then checks
 * Redis's maxmemory-policy (see checkRedisPolicy): a refusal is logged at fatal level and
 * thrown, after the connections are closed.
 */
export async function createContext(
  service: string,
  source: NodeJS.ProcessEnv = process.env,
  options: ContextOptions = {},
): Promise<ServiceContext> {
  const env = loadEnv(source);
  const log = createLogger(service, env.LOG_LEVEL);
  log.info({ config: maskSecrets(env) }, `${service} starting`);
  const metrics = options.metrics ?? serviceMetrics();
  metrics.setService(service);
  const redis = createRedis(env.REDIS_URL);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const storage = storageFromEnv(env);
  const ctx: ServiceContext = {
    service,
    env,
    log,
    redis,
    storage,
    store: new RunStore(redis),
    producers: new Producers(redis),
    bucket: env.S3_BUCKET,
    metrics,
    workers: [],
    beforeClose: [],
    stopping: false,
  };
  process.once('SIGTERM', () => void shutdown(ctx, 'SIGTERM'));
  process.once('SIGINT', () => void shutdown(ctx, 'SIGINT'));

  try {
    if (options.probes) {
      ctx.probes = await startProbeServer({
        host: env.METRICS_HOST,
        port: env.METRICS_PORT,
        metrics,
        readiness: () => checkReadiness(ctx, { needsWorkers: true }),
      });
      log.info({ url: ctx.probes.url, port: ctx.probes.port }, 'metrics and probes listening');
    }
    await checkRedisPolicy(redis, env.REDIS_ALLOW_EVICTION, log);
  } catch (err) {
    log.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
    await ctx.probes?.close();
    storage.close();
    redis.disconnect();
    throw err;
  }
  return ctx;
}

/** One stage's job handler, given a job-scoped logger. */
export type StageHandler<D extends RunJobData> = (job: Job<D>, log: Logger) => Promise<unknown>;

/**
 * Runs a stage worker until the process is told to stop (SIGTERM/SIGINT). A job of a
 * cancelled run, or of an earlier attempt of a retried run, is skipped. An error that
 * object storage will answer the same way every time (access denied, no such bucket)
 * fails the job at once with its cause; other errors are retried with backoff.
 */
export async function runStageWorker<D extends RunJobData>(
  ctx: ServiceContext,
  stage: Stage,
  handler: StageHandler<D>,
  concurrency = 1,
): Promise<Worker<D>> {
  await ctx.storage.ensureBucket(ctx.bucket);

  const worker = startStageWorker<D>({
    stage,
    name: `${ctx.service}@${hostname()}:${process.pid}`,
    connection: ctx.redis,
    concurrency,
    lockDuration: ctx.env.JOB_LOCK_MS,
    stalledInterval: ctx.env.STALLED_INTERVAL_MS,
    process: async (job, token) => {
      const shard = (job.data as { shard?: number }).shard;
      const log = ctx.log.child({ runId: job.data.runId, stage, shard, jobId: job.id });
      const started = Date.now();
      const observe = (outcome: JobOutcome) =>
        ctx.metrics.observeJob(QUEUES[stage], stage, outcome, started);
      const skip = await skipReason(ctx, job.data);
      if (skip) {
        observe('skipped');
        log.info({ skip }, 'job skipped');
        return { skipped: skip };
      }
      log.debug({ attempt: job.attemptsMade + 1 }, 'job started');
      try {
        const result = await handler(job, log);
        observe('completed');
        log.debug({ ms: Date.now() - started }, 'job finished');
        return result;
      } catch (err) {
        if (err instanceof JobReleasedError) {
          observe('released');
          // Back to the queue now, not when the lock lapses; not a failed attempt.
          await job.moveToDelayed(Date.now(), token);
          log.info({ ms: Date.now() - started }, 'job released on shutdown');
          throw new DelayedError();
        }
        observe(err instanceof RunCancelledError ? 'cancelled' : 'failed');
        if (isPermanentStorageError(err)) {
          const e = err as Error;
          throw new PermanentJobError('STORAGE_REFUSED', `object storage: ${e.name}: ${e.message}`);
        }
        throw err;
      }
    },
    onFinalFailure: async (job, err) => {
      if (err instanceof RunCancelledError || err.message.includes('was cancelled')) return;
      if (await skipReason(ctx, job.data)) return;
      const shard = (job.data as { shard?: number }).shard;
      ctx.log.error(
        { runId: job.data.runId, stage, shard, jobId: job.id, err: err.message },
        'job failed',
      );
      await ctx.store.fail(job.data.runId, stage, err.message);
    },
  });
  worker.on('error', (err) => ctx.log.warn({ err: err.message }, 'worker error'));
  worker.on('stalled', (jobId) => ctx.log.warn({ jobId }, 'job stalled: taken over'));

  ctx.workers.push(worker as unknown as Worker);
  ctx.log.info({ queue: worker.name, concurrency }, `${ctx.service} worker ready`);
  startHeartbeat(ctx);
  return worker;
}

/**
 * Observes the durations of a worker that runs outside runStageWorker (the encoder's assign
 * jobs) from its events, labelled with `stage`.
 */
export function observeWorkerJobs(ctx: ServiceContext, worker: Worker, stage: string): void {
  const observe = (job: Job | undefined, outcome: JobOutcome) => {
    if (job?.processedOn) ctx.metrics.observeJob(worker.name, stage, outcome, job.processedOn);
  };
  worker.on('completed', (job) => observe(job, 'completed'));
  worker.on('failed', (job) => observe(job, 'failed'));
}

let heartbeat: NodeJS.Timeout | undefined;

/**
 * Touches HEARTBEAT_FILE every 10 s while the event loop turns and Redis answers, so a
 * container health check can tell a live worker from a stuck or disconnected one. Stops on
 * shutdown (the file then ages out).
 */
export function startHeartbeat(ctx: ServiceContext): void {
  const file = ctx.env.HEARTBEAT_FILE;
  if (!file || heartbeat) return;
  const beat = async () => {
    if (ctx.stopping) return;
    try {
      await ctx.redis.ping();
      const now = new Date();
      await utimes(file, now, now).catch(() => writeFile(file, ''));
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'heartbeat skipped');
    }
  };
  void beat();
  heartbeat = setInterval(() => void beat(), HEARTBEAT_EVERY_MS);
  heartbeat.unref();
}

/** Why a job must not run: its run was cancelled, or it belongs to an earlier attempt. */
async function skipReason(ctx: ServiceContext, data: RunJobData): Promise<string | undefined> {
  const control = await ctx.store.control(data.runId);
  if (control.state === 'cancelled') return 'cancelled';
  if ((data.gen ?? 0) !== control.gen) return 'superseded by a retry';
  return undefined;
}

/** How often the heartbeat file is touched. */
export const HEARTBEAT_EVERY_MS = 10_000;

let closing = false;

/**
 * Graceful stop: stop taking jobs; short jobs finish, long ones (training, clustering) stop
 * at their next safe point and go back to the queue (see {@link releaseIfStopping}); a job
 * still running when SHUTDOWN_GRACE_MS ends is taken over by another worker once its lock
 * lapses. Then connections close and the process exits 0.
 */
async function shutdown(ctx: ServiceContext, signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  ctx.stopping = true;
  clearInterval(heartbeat);
  // A job that will not finish within the grace period is left to its lock: once the lock
  // lapses another worker takes it over (the trainer resumes from its last checkpoint).
  setTimeout(() => {
    ctx.log.warn({ graceMs: ctx.env.SHUTDOWN_GRACE_MS }, 'running job did not finish: exiting');
    process.exit(1);
  }, ctx.env.SHUTDOWN_GRACE_MS).unref();
  ctx.log.info({ signal, workers: ctx.workers.length }, 'shutting down: finishing running jobs');
  for (const close of ctx.beforeClose) await close().catch(() => undefined);
  await Promise.all(ctx.workers.map((w) => w.close()));
  await ctx.producers.close();
  ctx.storage.close();
  await ctx.redis.quit().catch(() => undefined);
  process.exit(0);
}

/**
 * Throws RunCancelledError when the job's run was cancelled or retried since the job
 * started (a newer attempt owns the run), and JobReleasedError once the process is shutting
 * down; long jobs call it between steps.
 */
export async function throwIfCancelled(ctx: ServiceContext, job: RunJobData): Promise<void> {
  releaseIfStopping(ctx, job);
  if (await skipReason(ctx, job)) throw new RunCancelledError(job.runId);
}

/**
 * Throws JobReleasedError once the process is shutting down, so the job's handler stops
 * here and the job goes back to its queue at once; call it where stopping loses nothing
 * (after a checkpoint) or little.
 */
export function releaseIfStopping(ctx: ServiceContext, job: RunJobData): void {
  if (ctx.stopping) throw new JobReleasedError(`run ${job.runId}'s job`);
}
