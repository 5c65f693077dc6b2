import { Worker, type Job } from 'bullmq';
import { hostname } from 'node:os';
import { assignObjects, RunModelCache, summarise } from '@imgcluster/assign';
import { runKeys } from '@imgcluster/config';
import { ASSIGN_QUEUE, PermanentJobError, type AssignJobData } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';

/** Progress of an assign job as BullMQ stores it (job.progress). */
export interface AssignProgress {
  done: number;
  total: number;
}

/**
 * Starts the worker of assign jobs in this encoder process: the images of a large
 * POST /v1/runs/:id/assign request, assigned with the run's encoder and centroids. The
 * results are written to runKeys(runId).assignment(id).results; progress is the job's.
 */
export function startAssignWorker(ctx: ServiceContext): Worker<AssignJobData> {
  const models = new RunModelCache(ctx.storage, ctx.bucket);
  const worker = new Worker<AssignJobData>(
    ASSIGN_QUEUE,
    async (job: Job<AssignJobData>) => {
      const { runId, assignment, inputs } = job.data;
      const log = ctx.log.child({ runId, stage: 'assign', assignment, jobId: job.id });
      const spec = await ctx.store.spec(runId);
      if (!spec) throw new PermanentJobError('RUN_UNKNOWN', `run ${runId} has no spec`);
      const total = inputs.length;
      await job.updateProgress({ done: 0, total } satisfies AssignProgress);
      const results = await models.use(runId, spec, (model) =>
        assignObjects(model, ctx.storage, inputs, (done) =>
          job.updateProgress({ done, total } satisfies AssignProgress),
        ),
      );
      const summary = summarise(results);
      await ctx.storage.putJson(ctx.bucket, runKeys(runId).assignment(assignment).results, {
        id: runId,
        assignment,
        ...summary,
      });
      // Files a multipart request left for this job are not needed once it has its results.
      const staged = inputs.filter((i) => i.bucket === ctx.bucket).map((i) => i.key);
      if (staged.length > 0) {
        await ctx.storage.delete(ctx.bucket, staged).catch((err: Error) => {
          log.warn({ err: err.message }, 'staged inputs not removed');
        });
      }
      log.info({ total, assigned: summary.assigned }, 'assign job finished');
      return { total, assigned: summary.assigned, rejected: summary.rejected };
    },
    {
      connection: ctx.redis,
      name: `${ctx.service}@${hostname()}:${process.pid}`,
      concurrency: 1,
      lockDuration: ctx.env.JOB_LOCK_MS,
      stalledInterval: ctx.env.STALLED_INTERVAL_MS,
    },
  );
  worker.on('error', (err) => ctx.log.warn({ err: err.message }, 'assign worker error'));
  ctx.workers.push(worker as unknown as Worker);
  return worker;
}
