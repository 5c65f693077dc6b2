import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The Prometheus metrics of one service process (docs/observability.md lists them). Every
 * name starts with `imgcluster_`; the process and Node.js metrics of prom-client come along
 * under their usual names. Labels have bounded values only (stage, queue, state, outcome,
 * reason, route): per-run values such as the run id go to the logs, not to labels.
 */

/** How a job's handler ended, as the job duration histogram labels it. */
export type JobOutcome = 'completed' | 'failed' | 'cancelled' | 'released' | 'skipped';

/** The queue states counted at each scrape (BullMQ's names). */
export const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'paused',
  'completed',
  'failed',
] as const;

/**
 * Upper bounds of the job duration buckets, in seconds: from a quick plan or skip (under a
 * second) to a long training job (hours).
 */
export const JOB_DURATION_BUCKETS = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400,
];

/** Upper bounds of the HTTP request duration buckets, in seconds. */
export const REQUEST_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Queue counts older than this are not waited for at a scrape (Redis not answering). */
export const QUEUE_COUNT_TIMEOUT_MS = 2000;

/** What one preprocess job reports (the counts the images metrics add up). */
export interface PreprocessedCounts {
  accepted: number;
  reasons: Record<string, number>;
}

/** A process's registry and the imgcluster metrics registered on it. */
export class ServiceMetrics {
  readonly registry: Registry;
  /** Seconds from a job's start to its end in this process, by queue, stage and outcome. */
  readonly jobDuration: Histogram<'queue' | 'stage' | 'outcome'>;
  /** Jobs per queue and state, read from BullMQ when scraped (see watchQueues). */
  readonly queueJobs: Gauge<'queue' | 'state'>;
  /** Scrapes whose queue counts failed or timed out (Redis down or slow). */
  readonly queueCountErrors: Counter;
  /** Images decoded, resized and written to an image shard. */
  readonly imagesPreprocessed: Counter;
  /** Images skipped by preprocessing, by reason (not_an_image, corrupt, missing, …). */
  readonly imagesRejected: Counter<'reason'>;
  /** Images turned into codes by the encoder. */
  readonly imagesEncoded: Counter;
  /** Mean reconstruction loss of the last finished training epoch. */
  readonly trainingEpochLoss: Gauge;
  /** Mean loss of the training epoch under way, updated with its live progress. */
  readonly trainingCurrentLoss: Gauge;
  /** Training epochs finished by this process. */
  readonly trainingEpochs: Counter;
  /** Sum of squared distances of every code to its centroid, last finished clustering. */
  readonly kmeansInertia: Gauge;
  /** Number of clusters of the last finished clustering. */
  readonly kmeansClusters: Gauge;
  /** Smoothed mini-batch inertia per code while k-means fits. */
  readonly kmeansSmoothedInertia: Gauge;
  /** API request durations by method, route pattern and status code. */
  readonly requestDuration: Histogram<'method' | 'route' | 'status_code'>;

  private queues: () => Queue[] = () => [];
  private counting?: Promise<Map<string, Record<string, number>> | null>;
  private refreshing?: Promise<void>;

  /** Registers every metric on `registry` (a new one by default), with process metrics. */
  constructor(registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    collectDefaultMetrics({ register: registry });

    this.jobDuration = new Histogram({
      name: 'imgcluster_job_duration_seconds',
      help: 'Seconds a job handler ran in this process, by queue, stage and outcome',
      labelNames: ['queue', 'stage', 'outcome'],
      buckets: JOB_DURATION_BUCKETS,
      registers,
    });
    const self = this;
    this.queueJobs = new Gauge({
      name: 'imgcluster_queue_jobs',
      help: 'Jobs in each BullMQ queue by state, read at scrape time',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        await self.refreshQueueCounts();
      },
    });
    this.queueCountErrors = new Counter({
      name: 'imgcluster_queue_count_errors_total',
      help: 'Scrapes whose queue counts failed or took longer than 2 s',
      registers,
      // Read after this scrape's count, which may add one.
      async collect() {
        await self.refreshQueueCounts();
      },
    });
    this.imagesPreprocessed = new Counter({
      name: 'imgcluster_images_preprocessed_total',
      help: 'Images decoded, resized and written to an image shard',
      registers,
    });
    this.imagesRejected = new Counter({
      name: 'imgcluster_images_rejected_total',
      help: 'Input images skipped by preprocessing, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.imagesEncoded = new Counter({
      name: 'imgcluster_images_encoded_total',
      help: 'Images turned into codes and attention maps by the encoder',
      registers,
    });
    this.trainingEpochLoss = new Gauge({
      name: 'imgcluster_training_epoch_loss',
      help: 'Mean reconstruction loss of the last finished training epoch',
      registers,
    });
    this.trainingCurrentLoss = new Gauge({
      name: 'imgcluster_training_current_loss',
      help: 'Mean reconstruction loss of the training epoch under way so far',
      registers,
    });
    this.trainingEpochs = new Counter({
      name: 'imgcluster_training_epochs_total',
      help: 'Training epochs finished by this process',
      registers,
    });
    this.kmeansInertia = new Gauge({
      name: 'imgcluster_kmeans_inertia',
      help: 'Sum of squared distances of every code to its centroid, last finished clustering',
      registers,
    });
    this.kmeansClusters = new Gauge({
      name: 'imgcluster_kmeans_clusters',
      help: 'Number of clusters (k) of the last finished clustering',
      registers,
    });
    this.kmeansSmoothedInertia = new Gauge({
      name: 'imgcluster_kmeans_smoothed_inertia',
      help: 'Smoothed mini-batch inertia per code while k-means fits',
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'imgcluster_http_request_duration_seconds',
      help: 'API request durations by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: REQUEST_DURATION_BUCKETS,
      registers,
    });
  }

  /** Labels every metric of this registry with the service's name. */
  setService(service: string): void {
    this.registry.setDefaultLabels({ service });
  }

  /** The text Prometheus scrapes, and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /**
   * Counts the jobs of these queues by state at every scrape. The function is called at
   * each scrape, so queues created later are counted too.
   */
  watchQueues(queues: () => Queue[]): void {
    this.queues = queues;
  }

  /** Observes one job's duration; returns the seconds observed. */
  observeJob(queue: string, stage: string, outcome: JobOutcome, startedAt: number): number {
    const seconds = (Date.now() - startedAt) / 1000;
    this.jobDuration.observe({ queue, stage, outcome }, seconds);
    return seconds;
  }

  /** Makes the rejection reasons appear (at 0) before the first image is rejected. */
  knowRejectReasons(reasons: readonly string[]): void {
    for (const reason of reasons) this.imagesRejected.inc({ reason }, 0);
  }

  /** Adds one preprocess job's accepted and rejected images. */
  recordPreprocessed(counts: PreprocessedCounts): void {
    this.imagesPreprocessed.inc(counts.accepted);
    for (const [reason, n] of Object.entries(counts.reasons)) {
      this.imagesRejected.inc({ reason }, n);
    }
  }

  /** A training epoch finished with this mean loss. */
  recordEpoch(loss: number): void {
    this.trainingEpochLoss.set(loss);
    this.trainingCurrentLoss.set(loss);
    this.trainingEpochs.inc();
  }

  /** A clustering finished: its k and the inertia of its assignment pass. */
  recordClustering(k: number, inertia: number): void {
    this.kmeansClusters.set(k);
    this.kmeansInertia.set(inertia);
  }

  /** One refresh per scrape, shared by the metrics that depend on it. */
  private refreshQueueCounts(): Promise<void> {
    this.refreshing ??= this.countQueues().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async countQueues(): Promise<void> {
    const queues = this.queues();
    if (queues.length === 0) return;
    // One count at a time: scrapes while Redis is slow wait on the same one.
    this.counting ??= countJobs(queues)
      .catch(() => null)
      .finally(() => (this.counting = undefined));
    const counts = await Promise.race([
      this.counting,
      sleep(QUEUE_COUNT_TIMEOUT_MS, null, { ref: false }),
    ]);
    this.queueJobs.reset();
    if (!counts) {
      this.queueCountErrors.inc();
      return;
    }
    for (const [queue, byState] of counts) {
      for (const state of QUEUE_STATES) this.queueJobs.set({ queue, state }, byState[state] ?? 0);
    }
  }
}

async function countJobs(queues: Queue[]): Promise<Map<string, Record<string, number>>> {
  const counts = await Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_STATES)));
  return new Map(queues.map((q, i) => [q.name, counts[i]]));
}

let processMetrics: ServiceMetrics | undefined;

/** The metrics of this process (one registry per process, made on first use). */
export function serviceMetrics(): ServiceMetrics {
  processMetrics ??= new ServiceMetrics();
  return processMetrics;
}
