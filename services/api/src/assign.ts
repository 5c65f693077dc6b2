import { randomBytes } from 'node:crypto';
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import {
  assignImages,
  assignObjects,
  RunModelCache,
  summarise,
  type AssignInput,
  type RunModel,
} from '@imgcluster/assign';
import { runKeys } from '@imgcluster/config';
import { initBackend } from '@imgcluster/model';
import { jobIds, type AssignJobInput, type RunStatus } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { checkInTenantRoot, tenantRoot, type ApiKeyring } from './auth.js';
import { ApiError } from './errors.js';
import { getRun } from './runs.js';
import { isMissingBucket } from './uploads.js';
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
export function assignRoutes(ctx: ServiceContext, keyring: ApiKeyring): FastifyPluginAsync {
  const models = new RunModelCache(ctx.storage, ctx.bucket);
  let backend: Promise<unknown> | undefined;
  const withModel = async <T>(status: RunStatus, work: (model: RunModel) => Promise<T>) => {
    backend ??= initBackend(ctx.env.TF_BACKEND);
    await backend;
    return models.use(status.id, status.spec, work);
  };
  const syncMax = ctx.env.ASSIGN_SYNC_MAX;

  return async (scope) => {
    await scope.register(multipart, {
      throwFileSizeLimit: false,
      // Keep folders in file names (a/x.png and b/x.png are different images).
      preservePath: true,
      limits: {
        fileSize: ctx.env.UPLOAD_MAX_BYTES,
        files: ASSIGN_MAX_IMAGES,
        fields: MAX_FIELDS,
        parts: ASSIGN_MAX_IMAGES + MAX_FIELDS,
      },
    });

    const route = { bodyLimit: ASSIGN_BODY_LIMIT };
    scope.post<{ Params: { id: string } }>('/v1/runs/:id/assign', route, async (request, reply) => {
      const status = await succeededRun(ctx, request.params.id, request.caller.tenant);
      const assignment = `asg_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;

      let staged: AssignJobInput[];
      if (request.isMultipart()) {
        const got = await readFiles(ctx, request, status.id, assignment, syncMax);
        if (got.inMemory) {
          const inputs = got.inMemory;
          const results = await withModel(status, (model) => assignImages(model, inputs));
          return { id: status.id, ...summarise(results) };
        }
        staged = got.staged;
      } else {
        if (request.body !== undefined && !isJson(request.headers['content-type'])) {
          throw new ApiError(
            'UNSUPPORTED_MEDIA_TYPE',
            'send images as multipart/form-data files, or keys as application/json',
          );
        }
        const body = parse(assignBodySchema, request.body ?? {}, 'body');
        const root = tenantRoot(keyring, request.caller);
        body.keys.forEach((key, i) => checkInTenantRoot(root, key, `body.keys.${i}`));
        const bucket = body.bucket ?? status.spec.input.bucket;
        if (bucket === ctx.bucket) {
          throw new ApiError(
            'VALIDATION_FAILED',
            'images cannot be read from the artifact bucket',
            [{ path: 'body.bucket', message: 'the artifact bucket only holds run artifacts' }],
          );
        }
        await checkBucket(ctx, bucket, body.bucket === undefined);
        const inputs = body.keys.map((key) => ({ bucket, key, name: key }));
        if (inputs.length <= syncMax) {
          const results = await withModel(status, (model) =>
            assignObjects(model, ctx.storage, inputs),
          );
          return { id: status.id, ...summarise(results) };
        }
        staged = inputs;
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
        const { status, aid, job } = await assignmentOf(ctx, request.params, request.caller.tenant);
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
        const { status, aid, job } = await assignmentOf(ctx, request.params, request.caller.tenant);
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

/** Non-file fields a multipart request may carry (a form's submit button); they are ignored. */
const MAX_FIELDS = 100;

/** Largest JSON body of an assign request: 10,000 keys of a few hundred bytes. */
const ASSIGN_BODY_LIMIT = 4 * 2 ** 20;

function isJson(contentType: string | undefined): boolean {
  return /^application\/([\w.+-]+\+)?json\b/i.test(contentType ?? '');
}

/** The bucket that keys are read from must exist (400 INPUT_BUCKET_NOT_FOUND otherwise). */
async function checkBucket(ctx: ServiceContext, bucket: string, isInputBucket: boolean) {
  try {
    await ctx.storage.list(bucket, '\u0000');
  } catch (err) {
    if (!isMissingBucket(err)) throw err;
    throw new ApiError(
      'INPUT_BUCKET_NOT_FOUND',
      `bucket ${bucket} does not exist${isInputBucket ? " (the run's input bucket)" : ''}`,
      [{ path: 'body.bucket', message: 'bucket does not exist' }],
    );
  }
}

async function succeededRun(ctx: ServiceContext, id: string, tenant: string): Promise<RunStatus> {
  const status = await getRun(ctx, id, tenant);
  if (status.state !== 'succeeded') {
    throw new ApiError(
      'RUN_NOT_FINISHED',
      `run ${status.id} is ${status.state}: images can be assigned once it has succeeded`,
    );
  }
  return status;
}

async function assignmentOf(
  ctx: ServiceContext,
  params: { id: string; aid: string },
  tenant: string,
) {
  const status = await getRun(ctx, params.id, tenant);
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
 * holds one file at a time however many are sent. A file over UPLOAD_MAX_BYTES, too many
 * files or a malformed body refuse the whole request, and files already put are removed.
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
    staged.push({ bucket: ctx.bucket, key, name: file.name });
    await ctx.storage.put(ctx.bucket, key, file.bytes);
  };

  let count = 0;
  try {
    const parts = request.files()[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<MultipartFile>;
      let bytes: Buffer;
      try {
        next = await parts.next();
        if (next.done) break;
        bytes = await next.value.toBuffer();
      } catch (err) {
        throw multipartError(err);
      }
      const part = next.value;
      const name = part.filename ? part.filename.slice(0, 1024) : `file ${count}`;
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
    if (staged.length > 0) {
      await ctx.storage
        .delete(
          ctx.bucket,
          staged.map((s) => s.key),
        )
        .catch((e: Error) => {
          request.log.warn({ err: e.message, assignment }, 'staged inputs not removed');
        });
    }
    throw err;
  }
  if (count === 0) {
    throw new ApiError('NO_IMAGES', 'the multipart request has no file parts');
  }
  return staged.length > 0 ? { staged } : { inMemory: held };
}

/** A multipart parsing failure as the API error it is. */
function multipartError(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') {
    return new ApiError('TOO_MANY_IMAGES', `at most ${ASSIGN_MAX_IMAGES} images per request`);
  }
  if (code === 'FST_FIELDS_LIMIT') {
    return new ApiError('VALIDATION_FAILED', `at most ${MAX_FIELDS} non-file fields per request`);
  }
  if (err instanceof ApiError) return err;
  // busboy's own errors: a missing or wrong boundary, a body cut short, a bad header.
  const message = (err as Error).message ?? String(err);
  return new ApiError('VALIDATION_FAILED', `malformed multipart/form-data body: ${message}`);
}
