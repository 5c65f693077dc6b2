import { createContext, runStageWorker } from '@imgcluster/runtime';
import type { RunJobData, ShardJobData } from '@imgcluster/queues';
import { planRun } from './plan.js';
import { preprocessShard } from './preprocess-shard.js';

// The preprocess service runs the plan queue (one listing per run) and the preprocess
// queue (one job per shard of input images). Scale it out by starting more processes.
const ctx = createContext('preprocess');
await runStageWorker<RunJobData>(ctx, 'plan', (job, log) => planRun(ctx, job, log));
await runStageWorker<ShardJobData>(
  ctx,
  'preprocess',
  (job, log) => preprocessShard(ctx, job, log),
  ctx.env.WORKER_CONCURRENCY,
);
