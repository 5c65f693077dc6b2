import { REJECT_REASONS } from '@imgcluster/images';
import { createContext, runStageWorker } from '@imgcluster/runtime';
import type { RunJobData, ShardJobData } from '@imgcluster/queues';
import { planRun } from './plan.js';
import { preprocessShard } from './preprocess-shard.js';

// The preprocess service runs the plan queue (one listing per run) and the preprocess
// queue (one job per shard of input images). Scale it out by starting more processes.
const ctx = await createContext('preprocess', process.env, { probes: true });
ctx.metrics.knowRejectReasons([...REJECT_REASONS, 'missing']);
await runStageWorker<RunJobData>(ctx, 'plan', (job, log) => planRun(ctx, job, log));
await runStageWorker<ShardJobData>(
  ctx,
  'preprocess',
  async (job, log) => {
    const result = await preprocessShard(ctx, job, log);
    ctx.metrics.recordPreprocessed(result);
    return result;
  },
  ctx.env.WORKER_CONCURRENCY,
);
