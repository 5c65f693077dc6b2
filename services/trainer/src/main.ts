import { initBackend } from '@imgcluster/model';
import type { Job } from 'bullmq';
import type { Logger } from '@imgcluster/logging';
import { PermanentJobError, type RunJobData } from '@imgcluster/queues';
import { createContext, runStageWorker } from '@imgcluster/runtime';
import { trainRun } from './train.js';

// The trainer: exactly one per deployment (concurrency 1), on the GPU node where there is
// one. The TensorFlow.js backend (with its gradient fixes) is chosen once at start and logged.
const ctx = await createContext('trainer', process.env, { probes: true });
const chosen = await initBackend(ctx.env.TF_BACKEND);
ctx.log.info(chosen, 'tensorflow.js backend selected');

/**
 * A WebAssembly module that aborted (emscripten's `Aborted(...)`, most often memory it could
 * not get) stays dead: every later op of the process would fail the same way. The job fails
 * with a message that says so, and the trainer exits shortly after, for its supervisor
 * (compose's restart policy, Kubernetes) to start a fresh one.
 */
async function trainOrRestart(job: Job<RunJobData>, log: Logger) {
  try {
    return await trainRun(ctx, job, log, chosen.backend);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!/^Aborted\(/.test(message)) throw err;
    log.fatal({ err: message }, 'compute backend aborted: the trainer exits to be restarted');
    setTimeout(() => process.exit(1), 2000).unref();
    throw new PermanentJobError(
      'BACKEND_ABORTED',
      `the ${chosen.backend} backend aborted while training (most often it ran out of memory: ` +
        'the model or a batch is too large for it); this trainer exits, to be restarted',
    );
  }
}

await runStageWorker<RunJobData>(ctx, 'train', trainOrRestart, 1);
