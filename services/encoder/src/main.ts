import { initBackend } from '@imgcluster/model';
import type { ShardJobData } from '@imgcluster/queues';
import { createContext, observeWorkerJobs, runStageWorker } from '@imgcluster/runtime';
import { startAssignWorker } from './assign-job.js';
import { encodeShardJob } from './encode.js';

// The encoder pool: start as many processes as there are cores to spare; each takes
// one shard at a time from the encode queue, and large assign requests from theirs.
const ctx = await createContext('encoder', process.env, { probes: true });
const chosen = await initBackend(ctx.env.TF_BACKEND);
ctx.log.info(chosen, 'tensorflow.js backend selected');

await runStageWorker<ShardJobData>(
  ctx,
  'encode',
  async (job, log) => {
    const result = await encodeShardJob(ctx, job, log);
    ctx.metrics.imagesEncoded.inc(result.images);
    return result;
  },
  ctx.env.WORKER_CONCURRENCY,
);
observeWorkerJobs(ctx, startAssignWorker(ctx), 'assign');
