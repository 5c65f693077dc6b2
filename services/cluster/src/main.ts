import { initBackend } from '@imgcluster/model';
import type { RunJobData } from '@imgcluster/queues';
import { createContext, runStageWorker } from '@imgcluster/runtime';
import { clusterRun } from './cluster.js';

// The cluster worker: one per deployment. It needs TensorFlow.js only to decode the
// cluster means back into images.
const ctx = await createContext('cluster', process.env, { probes: true });
const chosen = await initBackend(ctx.env.TF_BACKEND);
ctx.log.info(chosen, 'tensorflow.js backend selected');

await runStageWorker<RunJobData>(ctx, 'cluster', (job, log) => clusterRun(ctx, job, log), 1);
