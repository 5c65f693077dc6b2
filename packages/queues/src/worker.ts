import {
  FlowProducer,
  Queue,
  UnrecoverableError,
  Worker,
  type Job,
  type JobsOptions,
} from 'bullmq';
import type { Redis } from 'ioredis';
import type { Stage } from '@imgcluster/config';
import {
  ASSIGN_QUEUE,
  jobIds,
  QUEUES,
  type AssignJobData,
  type RunJobData,
  type ShardJobData,
} from './names.js';

/** Retry policy shared by every job: attempts with exponential backoff from 1 s. */
export function defaultJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/** Options of one stage worker. */
export interface StageWorkerOptions<D> {
  stage: Stage;
  /** Who runs the jobs (recorded on each job as `processedBy`), e.g. encoder@host:pid. */
  name?: string;
  connection: Redis;
  /** Jobs at once in this process. */
  concurrency: number;
  /** Lock duration in ms; renewed at half of it while the job runs. */
  lockDuration: number;
  /** Stalled-job check interval in ms. */
  stalledInterval: number;
  /** The job handler; `token` is the job's lock token (needed to move the job). */
  process: (job: Job<D>, token?: string) => Promise<unknown>;
  /** Called once a job has failed its last attempt. */
  onFinalFailure: (job: Job<D>, err: Error) => Promise<void>;
}

/** Starts a BullMQ worker for one stage's queue. */
export function startStageWorker<D>(options: StageWorkerOptions<D>): Worker<D> {
  const worker = new Worker<D>(QUEUES[options.stage], options.process, {
    connection: options.connection,
    name: options.name,
    concurrency: options.concurrency,
    lockDuration: options.lockDuration,
    stalledInterval: options.stalledInterval,
    maxStalledCount: 2,
    autorun: true,
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    const final = job.attemptsMade >= attempts || err instanceof UnrecoverableError;
    if (final) {
      void options.onFinalFailure(job, err).catch(() => undefined);
    }
  });
  return worker;
}

/** Producers for adding jobs and flows; one per process. */
export class Producers {
  readonly flows: FlowProducer;
  private readonly queues = new Map<Stage, Queue>();
  private assign?: Queue<AssignJobData>;

  constructor(private readonly connection: Redis) {
    this.flows = new FlowProducer({ connection });
  }

  /** The queue of a stage (created on first use). */
  queue(stage: Stage): Queue {
    let q = this.queues.get(stage);
    if (!q) {
      q = new Queue(QUEUES[stage], { connection: this.connection });
      this.queues.set(stage, q);
    }
    return q;
  }

  /** The queue of assign jobs (created on first use). */
  assignQueue(): Queue<AssignJobData> {
    this.assign ??= new Queue<AssignJobData>(ASSIGN_QUEUE, { connection: this.connection });
    return this.assign;
  }

  /** Adds an assign job; its id is derived from the run and the assignment. */
  async addAssignJob(data: AssignJobData, attempts: number): Promise<void> {
    await this.assignQueue().add('assign', data, {
      ...defaultJobOptions(attempts),
      jobId: jobIds.assign(data.runId, data.assignment),
    });
  }

  /** Adds one whole-run job (plan, train or cluster) of attempt `gen`; a no-op if present. */
  async addRunJob(
    runId: string,
    gen: number,
    stage: 'plan' | 'train' | 'cluster',
    attempts: number,
  ): Promise<void> {
    await this.queue(stage).add(stage, { runId, gen } satisfies RunJobData, {
      ...defaultJobOptions(attempts),
      jobId: jobIds[stage](runId, gen),
    });
  }

  /**
   * Adds the next hand-off: one job per shard on `childStage`, all children of one job on
   * `parentStage`, which BullMQ runs only once every child has completed. A child that
   * fails for good fails the parent. Job ids are deterministic, so adding twice is a no-op.
   * With no shards left to do (a retry after they all finished) the parent is added alone.
   */
  async addShardFlow(
    runId: string,
    gen: number,
    childStage: 'preprocess' | 'encode',
    shards: number[],
    parentStage: 'train' | 'cluster',
    attempts: number,
  ): Promise<void> {
    if (shards.length === 0) return this.addRunJob(runId, gen, parentStage, attempts);
    const options = defaultJobOptions(attempts);
    await this.flows.add({
      name: parentStage,
      queueName: QUEUES[parentStage],
      data: { runId, gen } satisfies RunJobData,
      opts: { ...options, jobId: jobIds[parentStage](runId, gen) },
      children: shards.map((shard) => ({
        name: childStage,
        queueName: QUEUES[childStage],
        data: { runId, gen, shard } satisfies ShardJobData,
        opts: {
          ...options,
          jobId: jobIds[childStage](runId, shard, gen),
          failParentOnFailure: true,
        },
      })),
    });
  }

  /** Closes every producer. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.queues.values(), ...(this.assign ? [this.assign] : [])].map((q) => q.close()),
    );
    await this.flows.close();
  }
}
