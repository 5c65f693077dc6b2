import { randomBytes } from 'node:crypto';
import Fastify, {
  type FastifyReply,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import { modelWeights, runKeys, runSpecSchema, STAGES, type RunSpec } from '@imgcluster/config';
import { DEFAULT_TENANT, resumeRun, RunStore, type RunStatus } from '@imgcluster/queues';
import { readinessBody, serviceMetrics } from '@imgcluster/observability';
import { checkReadiness, type ServiceContext } from '@imgcluster/runtime';
import { encodePng } from '@imgcluster/images';
import { dataOffset, PREAMBLE_BYTES } from '@imgcluster/shard';
import { guessContentType, isStorageOutage, ObjectNotFoundError } from '@imgcluster/storage';
import { assignRoutes } from './assign.js';
import { checkInTenantRoot, loadApiKeys, registerAuth, tenantRoot, type Caller } from './auth.js';
import { registerRateLimit } from './rate-limit.js';
import { registerDashboard } from './dashboard.js';
import { ApiError, type ApiIssue } from './errors.js';
import { isMissingBucket, uploadRoutes } from './uploads.js';
import { registerDocs } from './openapi.js';
import { getRun } from './runs.js';
import {
  BUCKET_NAME_RULE,
  hasControlCharacters,
  indexSchema,
  isStorageBucketName,
  membersQuerySchema,
  runListQuerySchema,
} from './schemas.js';
import { parse } from './validate.js';

/** One cluster's summary as the cluster worker wrote it (clusters.json). */
interface ClusterSummary {
  cluster: number;
  size: number;
  meanDistance: number;
  images: { samples: string; attention: string; decoded: string };
  labels?: Record<string, number>;
}

/** One cluster's members file (clusters/NNN-members.json), nearest first. */
interface ClusterMembers {
  cluster: number;
  size: number;
  members: { key: string; distance: number; shard: number; row: number }[];
}

/** Builds the API (routes, docs, dashboard, error handling); listening is the caller's. */
export async function buildApp(ctx: ServiceContext): Promise<FastifyInstance> {
  const keyring = await loadApiKeys(ctx.env);
  const app = Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    bodyLimit: ctx.env.API_BODY_MAX_BYTES,
    // URLs the router cannot even parse get the same error shape as everything else.
    frameworkErrors: (err, _request, reply: FastifyReply) => {
      const code =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'ROUTE_NOT_FOUND' : 'VALIDATION_FAILED';
      const apiErr = new ApiError(code, `malformed URL: ${err.message}`);
      void reply.status(apiErr.status).send(apiErr.toBody());
    },
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const apiErr = toApiError(err, ctx.env.API_BODY_MAX_BYTES);
    if (apiErr.status >= 500) request.log.error({ err }, 'request failed');
    void reply.status(apiErr.status).send(apiErr.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(new ApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`).toBody());
  });

  // ---- Access: API keys and tenants, rate limits, the route list (auth.ts, rate-limit.ts) ----
  const routes: RegisteredRoute[] = [];
  registeredRoutes.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  registerAuth(app, keyring);
  if (keyring.open) {
    ctx.log.warn(
      'NO API KEYS CONFIGURED (API_KEYS, API_KEYS_FILE): the API is open to anyone who can ' +
        `reach it, and every request acts as tenant "${DEFAULT_TENANT}"`,
    );
  } else {
    ctx.log.info({ tenants: keyring.tenants }, 'API keys configured: /v1 routes need a key');
  }
  await registerRateLimit(app, ctx);
  const rootOf = (caller: Caller) => tenantRoot(keyring, caller);
  // ---- end of access ----

  // ---- Observability: probes, /metrics, request durations (packages/observability) ----
  // A context assembled by hand (tests) may come without metrics: the process's are used.
  const metrics = ctx.metrics ?? serviceMetrics();
  metrics.watchQueues(() => [
    ...STAGES.map((stage) => ctx.producers.queue(stage)),
    ctx.producers.assignQueue(),
  ]);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status_code: reply.statusCode };
    metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
  });
  app.get('/healthz', async () => ({ ok: true }));
  // Redis PING and HEAD of the artifact bucket, each within 2 s; 503 names what failed.
  app.get('/readyz', async (_request, reply) => {
    const readiness = await checkReadiness(ctx);
    return reply.status(readiness.ready ? 200 : 503).send(readinessBody(readiness));
  });
  app.get('/metrics', async (_request, reply) => {
    const { body, contentType } = await metrics.render();
    return reply.header('content-type', contentType).send(body);
  });
  // ---- end of observability ----

  app.post('/v1/runs', async (request, reply) => {
    const spec = parse(runSpecSchema, request.body ?? {}, 'body');
    checkLimits(ctx, spec);
    checkInputAccess(ctx, spec, rootOf(request.caller));
    await checkInputs(ctx, spec);

    const id = newRunId();
    await ctx.storage.putJson(ctx.bucket, runKeys(id).spec, spec);
    await ctx.store.create(id, spec, new Date(), {
      tenant: request.caller.tenant,
      maxImages: ctx.env.RUN_MAX_IMAGES,
    });
    await ctx.producers.addRunJob(id, 0, 'plan', ctx.env.JOB_ATTEMPTS);
    request.log.info({ runId: id }, 'run submitted');
    return reply.status(202).send({ id, state: 'queued', url: `/v1/runs/${id}` });
  });

  app.get('/v1/runs', async (request) => {
    const query = parse(runListQuerySchema, request.query, 'query');
    const before = query.cursor === undefined ? undefined : Number(query.cursor);
    const { ids, total, next } = await ctx.store.list(before, query.limit, request.caller.tenant);
    const runs = (await Promise.all(ids.map((id) => ctx.store.get(id)))).filter(
      (r): r is RunStatus => r !== undefined,
    );
    return { runs: runs.map(summary), total, next: next === null ? null : String(next) };
  });

  app.get<{ Params: { id: string } }>('/v1/runs/:id', async (request) => {
    const status = await getRun(ctx, request.params.id, request.caller.tenant);
    const shards = await ctx.store.shardResults<{
      accepted: number;
      rejected: number;
      reasons: Record<string, number>;
    }>(status.id, 'preprocess');
    const images = { accepted: 0, rejected: 0, reasons: {} as Record<string, number> };
    for (const r of shards.values()) {
      images.accepted += r.accepted;
      images.rejected += r.rejected;
      for (const [reason, n] of Object.entries(r.reasons))
        images.reasons[reason] = (images.reasons[reason] ?? 0) + n;
    }
    status.stages.preprocess.detail = { ...status.stages.preprocess.detail, ...images };
    return { ...status, links: links(status.id) };
  });

  app.delete<{ Params: { id: string } }>('/v1/runs/:id', async (request, reply) => {
    const status = await getRun(ctx, request.params.id, request.caller.tenant);
    if (RunStore.isTerminal(status.state)) {
      throw new ApiError('RUN_FINISHED', `run ${status.id} has already finished (${status.state})`);
    }
    await ctx.store.setState(status.id, 'cancelled', 'cancelled by request');
    for (const stage of STAGES) {
      const s = status.stages[stage].state;
      if (s === 'running' || s === 'pending')
        await ctx.store.finishStage(status.id, stage, 'cancelled');
    }
    request.log.info({ runId: status.id }, 'run cancelled');
    return reply.status(202).send({ id: status.id, state: 'cancelled' });
  });

  app.post<{ Params: { id: string } }>('/v1/runs/:id/retry', async (request, reply) => {
    const status = await getRun(ctx, request.params.id, request.caller.tenant);
    const { gen, previous } = await ctx.store.reopen(status.id);
    if (gen === undefined) {
      throw new ApiError(
        'RUN_NOT_RETRYABLE',
        `run ${status.id} is ${previous}: only a failed or cancelled run can be retried`,
      );
    }
    const stage = await resumeRun(ctx.store, ctx.producers, status.id, gen, ctx.env.JOB_ATTEMPTS);
    request.log.info({ runId: status.id, retry: gen, stage }, 'run retried');
    return reply.status(202).send({
      id: status.id,
      state: 'queued',
      retry: gen,
      resumesAt: stage,
      url: links(status.id).self,
    });
  });

  app.get<{ Params: { id: string } }>('/v1/runs/:id/artifacts', async (request) => {
    const status = await getRun(ctx, request.params.id, request.caller.tenant);
    const root = `${runKeys(status.id).root}/`;
    const objects = await ctx.storage.list(ctx.bucket, root);
    const manifest = await ctx.storage.getJsonIfExists<Record<string, unknown>>(
      ctx.bucket,
      runKeys(status.id).manifest,
    );
    return {
      id: status.id,
      state: status.state,
      complete: manifest !== undefined,
      artifacts: objects.map((o) => {
        const path = o.key.slice(root.length);
        return {
          path,
          bytes: o.size,
          contentType: guessContentType(path),
          url: `/v1/runs/${status.id}/artifacts/${path}`,
        };
      }),
    };
  });

  app.get<{ Params: { id: string; '*': string } }>(
    '/v1/runs/:id/artifacts/*',
    async (request, reply) => {
      const status = await getRun(ctx, request.params.id, request.caller.tenant);
      const path = request.params['*'];
      const parts = path.split('/');
      const tooLong = path.length > 512 || parts.some((p) => p.length > 200);
      if (!/^[A-Za-z0-9._/-]+$/.test(path) || parts.includes('..') || tooLong) {
        throw new ApiError('ARTIFACT_NOT_FOUND', `no artifact ${path}`);
      }
      return sendObject(ctx, reply, `${runKeys(status.id).root}/${path}`);
    },
  );

  // Recently read members files: paging through a cluster reads its file once.
  const membersCache = new Map<string, ClusterMembers>();
  // A succeeded run's clusters never change, so each is read from storage once.
  const summariesCache = new Map<string, ClusterSummary[]>();
  const clusterSummaries = async (status: RunStatus): Promise<ClusterSummary[]> => {
    const cached = summariesCache.get(status.id);
    if (cached) return cached;
    const summaries =
      status.state === 'succeeded'
        ? await ctx.storage.getJsonIfExists<ClusterSummary[]>(
            ctx.bucket,
            runKeys(status.id).clusters,
          )
        : undefined;
    if (summaries) {
      if (summariesCache.size >= 64) summariesCache.delete(summariesCache.keys().next().value!);
      summariesCache.set(status.id, summaries);
    }
    if (!summaries) {
      throw new ApiError(
        'RUN_NOT_FINISHED',
        `run ${status.id} is ${status.state}: its clusters exist once it has succeeded`,
      );
    }
    return summaries;
  };
  const clusterMembers = async (status: RunStatus, c: string): Promise<ClusterMembers> => {
    const k = (await clusterSummaries(status)).length;
    if (!indexSchema.safeParse(c).success || Number(c) >= k) {
      throw new ApiError(
        'CLUSTER_NOT_FOUND',
        `run ${status.id} has clusters 0..${k - 1}, not ${c}`,
      );
    }
    const cacheKey = `${status.id}/${Number(c)}`;
    let members = membersCache.get(cacheKey);
    if (!members) {
      members = await ctx.storage.getJson<ClusterMembers>(
        ctx.bucket,
        runKeys(status.id).clusterMembers(Number(c)),
      );
      if (membersCache.size >= 16) membersCache.delete(membersCache.keys().next().value!);
      membersCache.set(cacheKey, members);
    }
    return members;
  };

  app.get<{ Params: { id: string } }>('/v1/runs/:id/clusters', async (request) => {
    const status = await getRun(ctx, request.params.id, request.caller.tenant);
    const summaries = await clusterSummaries(status);
    const base = `/v1/runs/${status.id}`;
    return {
      id: status.id,
      k: summaries.length,
      clusters: summaries.map((s) => ({
        cluster: s.cluster,
        size: s.size,
        meanDistance: s.meanDistance,
        ...(s.labels ? { labels: s.labels } : {}),
        pictures: {
          samples: `${base}/artifacts/${s.images.samples}`,
          attention: `${base}/artifacts/${s.images.attention}`,
          decoded: `${base}/artifacts/${s.images.decoded}`,
        },
        members: `${base}/clusters/${s.cluster}/members`,
      })),
    };
  });

  app.get<{ Params: { id: string; c: string } }>(
    '/v1/runs/:id/clusters/:c/members',
    async (request) => {
      const query = parse(membersQuerySchema, request.query, 'query');
      const status = await getRun(ctx, request.params.id, request.caller.tenant);
      const file = await clusterMembers(status, request.params.c);
      const start = query.cursor === undefined ? 0 : Number(query.cursor);
      const page = file.members.slice(start, start + query.limit);
      const base = `/v1/runs/${status.id}/clusters/${file.cluster}/members`;
      const end = start + page.length;
      return {
        id: status.id,
        cluster: file.cluster,
        size: file.size,
        members: page.map((m, i) => ({
          rank: start + i,
          key: m.key,
          distance: m.distance,
          image: `${base}/${start + i}/image`,
          thumbnail: `${base}/${start + i}/thumbnail`,
        })),
        next: end < file.members.length ? String(end) : null,
      };
    },
  );

  const memberAt = async (params: { id: string; c: string; rank: string }, caller: Caller) => {
    const status = await getRun(ctx, params.id, caller.tenant);
    const file = await clusterMembers(status, params.c);
    const member = indexSchema.safeParse(params.rank).success
      ? file.members[Number(params.rank)]
      : undefined;
    if (!member) {
      throw new ApiError(
        'MEMBER_NOT_FOUND',
        `cluster ${file.cluster} has members 0..${file.members.length - 1}, not ${params.rank}`,
      );
    }
    return { status, member };
  };

  app.get<{ Params: { id: string; c: string; rank: string } }>(
    '/v1/runs/:id/clusters/:c/members/:rank/image',
    async (request, reply) => {
      const { status, member } = await memberAt(request.params, request.caller);
      // The original input image, as uploaded (its stored type only if a raster image's).
      return sendObject(ctx, reply, member.key, status.spec.input.bucket, true);
    },
  );

  app.get<{ Params: { id: string; c: string; rank: string } }>(
    '/v1/runs/:id/clusters/:c/members/:rank/thumbnail',
    async (request, reply) => {
      const { status, member } = await memberAt(request.params, request.caller);
      // The image as the model saw it (resized), read from its shard with ranged reads.
      const { size, channels } = status.spec.image;
      const itemBytes = size * size * channels;
      const key = runKeys(status.id).imageShard(member.shard);
      const start = dataOffset(await ctx.storage.getRange(ctx.bucket, key, 0, PREAMBLE_BYTES - 1));
      const at = start + member.row * itemBytes;
      const pixels = await ctx.storage.getRange(ctx.bucket, key, at, at + itemBytes - 1);
      const png = await encodePng(new Uint8Array(pixels), size, size, channels);
      return reply.header('content-type', 'image/png').send(png);
    },
  );

  app.get<{ Params: { id: string } }>('/v1/runs/:id/report', async (request, reply) => {
    const status = await getRun(ctx, request.params.id, request.caller.tenant);
    const html = await ctx.storage
      .get(ctx.bucket, runKeys(status.id).report)
      .catch((err: unknown) => {
        if (!(err instanceof ObjectNotFoundError)) throw err;
        throw new ApiError(
          'RUN_NOT_FINISHED',
          `run ${status.id} is ${status.state}: its report is written when it succeeds`,
        );
      });
    // The report names its pictures relative to the artifact root (so a downloaded copy
    // works as it is); served from here, they live under artifacts/.
    const page = html.toString('utf8').replace(/ src="(?!artifacts\/)/g, ' src="artifacts/');
    return reply.header('content-type', 'text/html; charset=utf-8').send(page);
  });

  void app.register(uploadRoutes(ctx, keyring));
  void app.register(assignRoutes(ctx, keyring));
  await registerDocs(app);
  await registerDashboard(app, ctx);

  return app;
}

/** Content types an uploaded input may be served with; anything else goes as bytes. */
const RASTER_TYPES = /^image\/(jpeg|png|gif|webp|tiff|avif|heif|heic)$/i;

/**
 * Streams an object. `untrusted` (a user's input, not an artifact this system wrote): its
 * stored content type is kept only when it names a raster image, so an upload labelled
 * text/html or image/svg+xml is never rendered as a page from the API's origin.
 */
async function sendObject(
  ctx: ServiceContext,
  reply: import('fastify').FastifyReply,
  key: string,
  bucket = ctx.bucket,
  untrusted = false,
) {
  try {
    const obj = await ctx.storage.getStream(bucket, key);
    let type = obj.contentType ?? guessContentType(key);
    if (untrusted && !RASTER_TYPES.test(type.split(';')[0].trim())) {
      type = 'application/octet-stream';
    }
    void reply.header('content-type', type);
    void reply.header('x-content-type-options', 'nosniff');
    if (obj.size !== undefined) void reply.header('content-length', obj.size);
    return reply.send(obj.body);
  } catch (err) {
    if (err instanceof ObjectNotFoundError)
      throw new ApiError(
        'ARTIFACT_NOT_FOUND',
        bucket === ctx.bucket
          ? `no artifact ${key.split('/').slice(2).join('/')}`
          : `the input image s3://${bucket}/${key} is no longer in storage`,
      );
    throw err;
  }
}

/**
 * Refuses what a run asks beyond this API's limits (RUN_MAX_K, RUN_MAX_IMAGE_SIZE,
 * RUN_MAX_MODEL_WEIGHTS).
 */
function checkLimits(ctx: ServiceContext, spec: RunSpec) {
  const issues: ApiIssue[] = [];
  const maxK = ctx.env.RUN_MAX_K;
  const maxSize = ctx.env.RUN_MAX_IMAGE_SIZE;
  if (typeof spec.kmeans.k === 'number' && spec.kmeans.k > maxK)
    issues.push({ path: 'body.kmeans.k', message: `must be at most ${maxK} (RUN_MAX_K)` });
  if (spec.kmeans.kRange && spec.kmeans.kRange.max > maxK)
    issues.push({ path: 'body.kmeans.kRange.max', message: `must be at most ${maxK} (RUN_MAX_K)` });
  if (spec.image.size > maxSize) {
    const message = `must be at most ${maxSize} (RUN_MAX_IMAGE_SIZE)`;
    issues.push({ path: 'body.image.size', message });
  }
  const weights = modelWeights(spec);
  const maxWeights = ctx.env.RUN_MAX_MODEL_WEIGHTS;
  if (weights > maxWeights) {
    const path = spec.model.architecture === 'dense' ? 'body.model.hidden' : 'body.model.filters';
    const message =
      `the ${spec.model.architecture} autoencoder for ${spec.image.size}×${spec.image.size}×` +
      `${spec.image.channels} images would have ${weights} weights, more than ` +
      `${maxWeights} (RUN_MAX_MODEL_WEIGHTS)`;
    issues.push({ path, message });
  }
  if (issues.length > 0) throw new ApiError('VALIDATION_FAILED', 'invalid body', issues);
}

/**
 * The objects a run reads must be the caller's: bucket names object stores accept, never the
 * artifact bucket (other runs' data), no `.` or `..` prefix segments (which file-backed stores
 * could resolve elsewhere) nor control characters, and with API keys, input prefix and labels
 * key under the tenant's root.
 */
function checkInputAccess(ctx: ServiceContext, spec: RunSpec, root: string | undefined) {
  const issues: ApiIssue[] = [];
  for (const [path, bucket] of [
    ['body.input.bucket', spec.input.bucket],
    ['body.labels.bucket', spec.labels?.bucket],
  ] as const) {
    if (bucket === undefined) continue;
    if (!isStorageBucketName(bucket)) issues.push({ path, message: BUCKET_NAME_RULE });
    else if (bucket === ctx.bucket)
      issues.push({ path, message: 'the artifact bucket only holds run artifacts' });
  }
  const { prefix } = spec.input;
  if (prefix.split('/').some((part) => part === '.' || part === '..'))
    issues.push({ path: 'body.input.prefix', message: "must not have '.' or '..' segments" });
  if (hasControlCharacters(prefix))
    issues.push({ path: 'body.input.prefix', message: 'must not have control characters' });
  if (spec.labels && hasControlCharacters(spec.labels.key))
    issues.push({ path: 'body.labels.key', message: 'must not have control characters' });
  if (issues.length > 0) throw new ApiError('VALIDATION_FAILED', 'invalid body', issues);

  checkInTenantRoot(root, prefix, 'body.input.prefix', 'input prefixes');
  if (spec.labels) checkInTenantRoot(root, spec.labels.key, 'body.labels.key');
}

async function checkInputs(ctx: ServiceContext, spec: RunSpec) {
  try {
    await ctx.storage.list(spec.input.bucket, `${spec.input.prefix}\u0000`);
  } catch (err) {
    if (isMissingBucket(err)) {
      throw new ApiError('INPUT_BUCKET_NOT_FOUND', `bucket ${spec.input.bucket} does not exist`, [
        { path: 'body.input.bucket', message: 'bucket does not exist' },
      ]);
    }
    throw new ApiError('STORAGE_UNAVAILABLE', `object storage: ${(err as Error).message}`);
  }
  if (spec.labels) {
    const bucket = spec.labels.bucket ?? spec.input.bucket;
    if (!(await ctx.storage.exists(bucket, spec.labels.key))) {
      throw new ApiError('LABELS_NOT_FOUND', `no labels object s3://${bucket}/${spec.labels.key}`, [
        { path: 'body.labels.key', message: 'object does not exist' },
      ]);
    }
  }
}

function toApiError(err: FastifyError, bodyLimit: number): ApiError {
  if (err instanceof ApiError) return err;
  const body = (message: string) => [{ path: 'body', message }];
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError)
    return new ApiError('INVALID_JSON', err.message, body('not valid JSON'));
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return new ApiError('INVALID_JSON', 'the JSON body is empty', body('empty'));
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new ApiError('UNSUPPORTED_MEDIA_TYPE', undefined, [
      { path: 'headers.content-type', message: 'must be application/json' },
    ]);
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError(
      'BODY_TOO_LARGE',
      `the request body is larger than ${bodyLimit} bytes (API_BODY_MAX_BYTES)`,
      body(`larger than ${bodyLimit} bytes`),
    );
  // The docs' static files refuse paths such as a//b with 403: no such file, like any other.
  if (err.statusCode === 403 || err.statusCode === 404)
    return new ApiError('ROUTE_NOT_FOUND', `no such path (${err.message})`);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
    return new ApiError('VALIDATION_FAILED', err.message);
  if (isStorageOutage(err))
    return new ApiError('STORAGE_UNAVAILABLE', `object storage: ${err.message}`);
  return new ApiError('INTERNAL');
}

/** A route as Fastify registered it: one method and the URL pattern. */
export interface RegisteredRoute {
  method: string;
  url: string;
}

const registeredRoutes = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route of an app built by buildApp, HEAD and the docs' and dashboard's included. */
export function routesOf(app: FastifyInstance): RegisteredRoute[] {
  return [...(registeredRoutes.get(app) ?? [])];
}

function newRunId(): string {
  return `run_${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
}

function links(id: string) {
  return {
    self: `/v1/runs/${id}`,
    artifacts: `/v1/runs/${id}/artifacts`,
    report: `/v1/runs/${id}/report`,
    retry: `/v1/runs/${id}/retry`,
    clusters: `/v1/runs/${id}/clusters`,
  };
}

function summary(s: RunStatus) {
  const progress = Object.fromEntries(
    STAGES.map((st) => [
      st,
      { state: s.stages[st].state, done: s.stages[st].done, total: s.stages[st].total },
    ]),
  );
  return {
    id: s.id,
    name: s.name,
    state: s.state,
    createdAt: s.createdAt,
    finishedAt: s.finishedAt,
    error: s.error,
    retries: s.retries,
    stages: progress,
    url: `/v1/runs/${s.id}`,
  };
}
