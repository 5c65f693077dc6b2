import { randomBytes } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import {
  assignImages,
  assignObjects,
  RunModelCache,
  summarise,
  type AssignInput,
} from '@imgcluster/assign';
import { runKeys } from '@imgcluster/config';
import { initBackend } from '@imgcluster/model';
import { jobIds, type AssignJobInput, type RunStatus } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { ApiError } from './errors.js';
import { getRun } from './runs.js';
import { ASSIGN_MAX_IMAGES, assignBodySchema, assignmentIdSchema } from './schemas.js';
import { parse } from './validate.js';

/**
 * Assigning new images to a finished run's clusters:
 *
 *   POST /v1/runs/:id/assign                      images as multipart/form-data files, or
 *                                                 JSON {keys, bucket?} of stored images
 *   GET  /v1/runs/:id/assignments/:aid            a queued request's state and progress
 *   GET  /v1/runs/:id/assignments/:aid/results    its results, once it has succeeded
 *
 * Up to ASSIGN_SYNC_MAX images are assigned in the API process and answered at once
 * (200); more become an assign job for the encoder pool (202, then poll).
 */
export function assignRoutes(ctx: ServiceContext): FastifyPluginAsync {
  const models = new RunModelCache(ctx.storage, ctx.bucket);
  let backend: Promise<unknown> | undefined;
  const modelFor = async (status: RunStatus) => {
    backend ??= initBackend(ctx.env.TF_BACKEND);
    await backend;
    return models.get(status.id, status.spec);
  };
  const syncMax = ctx.env.ASSIGN_SYNC_MAX;

  return async (scope) => {
    await scope.register(multipart, {
      throwFileSizeLimit: false,
      limits: {
        fileSize: ctx.env.UPLOAD_MAX_BYTES,
        files: ASSIGN_MAX_IMAGES,
        fields: 0,
        parts: ASSIGN_MAX_IMAGES,
      },
    });

    scope.post<{ Params: { id: string } }>('/v1/runs/:id/assign', async (request, reply) => {
      const status = await succeededRun(ctx, request.params.id);
      const assignment = `asg_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;

      let staged: AssignJobInput[];
      if (request.isMultipart()) {
        const got = await readFiles(ctx, request, status.id, assignment, syncMax);
        if (got.inMemory) {
          const model = await modelFor(status);
          return { id: status.id, ...summarise(await assignImages(model, got.inMemory)) };
        }
        staged = got.staged;
      } else {
        const body = parse(assignBodySchema, request.body ?? {}, 'body');
        const bucket = body.bucket ?? status.spec.input.bucket;
        if (bucket === ctx.bucket) {
          throw new ApiError(
            'VALIDATION_FAILED',
            'images cannot be read from the artifact bucket',
            [{ path: 'body.bucket', message: 'the artifact bucket only holds run artifacts' }],
          );
        }
        staged = body.keys.map((key) => ({ bucket, key, name: key }));
        if (staged.length <= syncMax) {
          const model = await modelFor(status);
          return {
            id: status.id,
            ...summarise(await assignObjects(model, ctx.storage, staged)),
          };
        }
      }

      await ctx.producers.addAssignJob(
        { runId: status.id, assignment, inputs: staged },
        ctx.env.JOB_ATTEMPTS,
      );
      request.log.info({ runId: status.id, assignment, images: staged.length }, 'assign queued');
      return reply.status(202).send({
        id: status.id,
        assignment,
        state: 'queued',
        total: staged.length,
        url: `/v1/runs/${status.id}/assignments/${assignment}`,
      });
    });

    scope.get<{ Params: { id: string; aid: string } }>(
      '/v1/runs/:id/assignments/:aid',
      async (request) => {
        const { status, aid, job } = await assignmentOf(ctx, request.params);
        const state = await job.getState();
        const progress = job.progress as { done?: number; total?: number } | number;
        const total = job.data.inputs.length;
        const done = typeof progress === 'object' ? (progress.done ?? 0) : 0;
        const base = `/v1/runs/${status.id}/assignments/${aid}`;
        const named =
          state === 'completed'
            ? 'succeeded'
            : state === 'failed'
              ? 'failed'
              : state === 'active'
                ? 'running'
                : 'queued';
        return {
          id: status.id,
          assignment: aid,
          state: named,
          done: named === 'succeeded' ? total : done,
          total,
          ...(named === 'failed' ? { error: job.failedReason } : {}),
          ...(named === 'succeeded'
            ? { ...(job.returnvalue as object), results: `${base}/results` }
            : {}),
          url: base,
        };
      },
    );

    scope.get<{ Params: { id: string; aid: string } }>(
      '/v1/runs/:id/assignments/:aid/results',
      async (request, reply) => {
        const { status, aid, job } = await assignmentOf(ctx, request.params);
        if ((await job.getState()) !== 'completed') {
          throw new ApiError('ASSIGNMENT_NOT_FINISHED', `assignment ${aid} has not succeeded yet`);
        }
        const obj = await ctx.storage.getStream(
          ctx.bucket,
          runKeys(status.id).assignment(aid).results,
        );
        return reply.header('content-type', 'application/json').send(obj.body);
      },
    );
  };
}

async function succeededRun(ctx: ServiceContext, id: string): Promise<RunStatus> {
  const status = await getRun(ctx, id);
  if (status.state !== 'succeeded') {
    throw new ApiError(
      'RUN_NOT_FINISHED',
      `run ${status.id} is ${status.state}: images can be assigned once it has succeeded`,
    );
  }
  return status;
}

async function assignmentOf(ctx: ServiceContext, params: { id: string; aid: string }) {
  const status = await getRun(ctx, params.id);
  const job = assignmentIdSchema.safeParse(params.aid).success
    ? await ctx.producers.assignQueue().getJob(jobIds.assign(status.id, params.aid))
    : undefined;
  if (!job) {
    throw new ApiError('ASSIGNMENT_NOT_FOUND', `run ${status.id} has no assignment ${params.aid}`);
  }
  return { status, aid: params.aid, job };
}

/**
 * Reads the files of a multipart request. Up to `syncMax` stay in memory; once there are
 * more, every file is put into the artifact bucket for an assign job instead, so memory
 * holds one file at a time however many are sent. A file over UPLOAD_MAX_BYTES is
 * refused with the request (nothing is queued).
 */
async function readFiles(
  ctx: ServiceContext,
  request: FastifyRequest,
  runId: string,
  assignment: string,
  syncMax: number,
): Promise<
  { inMemory: AssignInput[]; staged?: never } | { inMemory?: never; staged: AssignJobInput[] }
> {
  const held: AssignInput[] = [];
  const staged: AssignJobInput[] = [];
  const keys = runKeys(runId).assignment(assignment);
  const stage = async (file: AssignInput) => {
    const key = keys.input(staged.length);
    await ctx.storage.put(ctx.bucket, key, file.bytes);
    staged.push({ bucket: ctx.bucket, key, name: file.name });
  };

  let count = 0;
  try {
    for await (const part of request.files()) {
      const bytes = await part.toBuffer();
      const name = part.filename ? part.filename.slice(0, 512) : `file ${count}`;
      if (part.file.truncated) {
        throw new ApiError(
          'UPLOAD_TOO_LARGE',
          `file ${count} (${JSON.stringify(name)}) is larger than ${ctx.env.UPLOAD_MAX_BYTES} bytes`,
        );
      }
      count++;
      const file = { name, bytes };
      if (staged.length > 0) await stage(file);
      else if (held.length < syncMax) held.push(file);
      else {
        for (const h of held.splice(0)) await stage(h);
        await stage(file);
      }
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') {
      throw new ApiError('TOO_MANY_IMAGES', `at most ${ASSIGN_MAX_IMAGES} images per request`);
    }
    if (code === 'FST_FIELDS_LIMIT') {
      throw new ApiError('VALIDATION_FAILED', 'send only files: this request takes no fields');
    }
    throw err;
  }
  if (count === 0) {
    throw new ApiError('NO_IMAGES', 'the multipart request has no file parts');
  }
  return staged.length > 0 ? { staged } : { inMemory: held };
}
