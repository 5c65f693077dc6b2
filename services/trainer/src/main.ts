import { initBackend } from '@imgcluster/model';
import type { RunJobData } from '@imgcluster/queues';
import { createContext, runStageWorker } from '@imgcluster/runtime';
import { trainRun } from './train.js';

// The trainer: exactly one per deployment (concurrency 1), on the GPU node where there is
// one. The TensorFlow.js backend (with its gradient fixes) is chosen once at start and logged.
const ctx = await createContext('trainer', process.env, { probes: true });
const chosen = await initBackend(ctx.env.TF_BACKEND);
ctx.log.info(chosen, 'tensorflow.js backend selected');

await runStageWorker<RunJobData>(
  ctx,
  'train',
  (job, log) => trainRun(ctx, job, log, chosen.backend),
  1,
);
