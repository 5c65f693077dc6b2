import { z } from 'zod';
import { RUN_STATES, runSpecSchema, STAGE_STATES, STAGES, type Stage } from '@imgcluster/config';
import { API_ERRORS, type ApiErrorCode } from './errors.js';

/**
 * The zod schemas of the API's main response bodies. Routes do not parse their answers
 * with them; they exist so the OpenAPI document describes what the routes of app.ts and
 * uploads.ts send. A field that a route leaves out when it has no value (JSON drops
 * `undefined`) is optional here; one it sends as `null` is nullable.
 */

/** One object per pipeline stage, keyed by the stage's name. */
function perStage<T extends z.ZodTypeAny>(schema: T) {
  const shape = Object.fromEntries(STAGES.map((stage) => [stage, schema]));
  return z.object(shape as Record<Stage, T>);
}

const runState = z.enum(RUN_STATES);
const stageState = z.enum(STAGE_STATES);
/** ISO 8601 time, e.g. 2025-01-31T12:00:00.000Z. */
const time = z.string().datetime();
/** The cursor of the next page, or null on the last page. */
const nextCursor = z.string().nullable();

const errorCodes = Object.keys(API_ERRORS) as [ApiErrorCode, ...ApiErrorCode[]];

/** Every error's body: { error: { code, message, issues? } }. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(errorCodes),
    message: z.string(),
    issues: z
      .array(
        z.object({
          /** Where, as a JSON path such as body.kmeans.k. */
          path: z.string(),
          message: z.string(),
        }),
      )
      .optional(),
  }),
});

/** GET /healthz. */
export const okSchema = z.object({ ok: z.literal(true) });

/** Each readiness check (service, redis, storage) and "ok" or what failed. */
const readinessChecks = z.record(z.string(), z.string());

/** GET /healthz, and GET /readyz when Redis and object storage answer. */
export const readySchema = z.object({ ok: z.literal(true), checks: readinessChecks.optional() });

/** GET /readyz when Redis or object storage does not answer (503). */
export const notReadySchema = z.object({
  ok: z.literal(false),
  /** The failed checks, as "name: reason; ...". */
  error: z.string(),
  checks: readinessChecks.optional(),
});

/** POST /v1/runs (202). */
export const runAcceptedSchema = z.object({
  id: z.string(),
  state: z.literal('queued'),
  /** Where to poll the run's status. */
  url: z.string(),
});

/** DELETE /v1/runs/:id (202). */
export const runCancelledSchema = z.object({ id: z.string(), state: z.literal('cancelled') });

/** POST /v1/runs/:id/retry (202). */
export const runRetriedSchema = z.object({
  id: z.string(),
  state: z.literal('queued'),
  /** The run's attempt: 1 after the first retry. */
  retry: z.number().int().min(1),
  /** The first stage that runs again; the ones before it had succeeded. */
  resumesAt: z.enum(STAGES),
  url: z.string(),
});

/** One run in GET /v1/runs. */
export const runSummarySchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  state: runState,
  createdAt: time,
  finishedAt: time.optional(),
  error: z.string().optional(),
  retries: z.number().int().min(0),
  stages: perStage(
    z.object({ state: stageState, done: z.number().int(), total: z.number().int() }),
  ),
  url: z.string(),
});

/** GET /v1/runs: one page of runs, newest first. */
export const runListPageSchema = z.object({
  runs: z.array(runSummarySchema),
  /** Runs in all, on every page. */
  total: z.number().int().min(0),
  next: nextCursor,
});

/** One stage of a run in GET /v1/runs/:id. */
const stageStatusSchema = z.object({
  state: stageState,
  /** Units finished: shards (preprocess, encode), epochs (train), steps (cluster). */
  done: z.number().int(),
  /** Units in all; 0 while unknown. */
  total: z.number().int(),
  startedAt: time.optional(),
  finishedAt: time.optional(),
  /** Seconds from start to finish, or to now while running. */
  seconds: z.number().optional(),
  error: z.string().optional(),
  /** Stage-specific counters; preprocess has accepted, rejected and reasons (by reason). */
  detail: z.record(z.unknown()),
});

/** GET /v1/runs/:id: the run's full status, its spec with every default filled in. */
export const runStatusSchema = z.object({
  id: z.string(),
  /** The tenant of the key that submitted it (`default` while the API is open). */
  tenant: z.string(),
  /** Most input images the run may have (RUN_MAX_IMAGES when it was submitted). */
  maxImages: z.number().int().optional(),
  name: z.string().optional(),
  state: runState,
  createdAt: time,
  updatedAt: time,
  finishedAt: time.optional(),
  error: z.string().optional(),
  retries: z.number().int().min(0),
  spec: runSpecSchema,
  stages: perStage(stageStatusSchema),
  links: z.object({
    self: z.string(),
    artifacts: z.string(),
    report: z.string(),
    retry: z.string(),
    clusters: z.string(),
  }),
});

/** GET /v1/runs/:id/artifacts. */
export const artifactListSchema = z.object({
  id: z.string(),
  state: runState,
  /** True once the run's manifest exists (it is written last). */
  complete: z.boolean(),
  artifacts: z.array(
    z.object({
      /** Path under the run's folder, e.g. clusters.json. */
      path: z.string(),
      bytes: z.number().int().min(0),
      contentType: z.string(),
      url: z.string(),
    }),
  ),
});

/** GET /v1/runs/:id/clusters. */
export const clusterListSchema = z.object({
  id: z.string(),
  k: z.number().int().min(1),
  clusters: z.array(
    z.object({
      cluster: z.number().int().min(0),
      size: z.number().int().min(0),
      /** Mean squared distance of the members to the centre. */
      meanDistance: z.number(),
      /** Members per label; only for a run submitted with labels. */
      labels: z.record(z.number().int()).optional(),
      pictures: z.object({ samples: z.string(), attention: z.string(), decoded: z.string() }),
      /** URL of the cluster's members. */
      members: z.string(),
    }),
  ),
});

/** GET /v1/runs/:id/clusters/:c/members: one page of members, nearest the centre first. */
export const membersPageSchema = z.object({
  id: z.string(),
  cluster: z.number().int().min(0),
  /** Members in all. */
  size: z.number().int().min(0),
  members: z.array(
    z.object({
      /** 0 for the member nearest the centre. */
      rank: z.number().int().min(0),
      /** The input image's object key. */
      key: z.string(),
      /** Squared distance to the centre. */
      distance: z.number(),
      image: z.string(),
      thumbnail: z.string(),
    }),
  ),
  next: nextCursor,
});

/** PUT /v1/uploads/:bucket/<key> (201). */
export const uploadResultSchema = z.object({
  bucket: z.string(),
  key: z.string(),
  bytes: z.number().int().min(0),
});

/** GET /v1/uploads/:bucket: one page of objects in key order. */
export const uploadPageSchema = z.object({
  bucket: z.string(),
  prefix: z.string(),
  /** The largest file PUT /v1/uploads accepts (UPLOAD_MAX_BYTES). */
  maxBytes: z.number().int().min(1),
  objects: z.array(z.object({ key: z.string(), bytes: z.number().int().min(0) })),
  next: nextCursor,
});

/** One image's answer of an assignment: its cluster, or why it could not be assigned. */
const assignOutcomeSchema = z.union([
  z.object({
    /** The file name (multipart) or object key. */
    name: z.string(),
    cluster: z.number().int().min(0),
    /** Squared distance of its code to the centre. */
    distance: z.number(),
    /** Each code position's largest channel, row-major height × width. */
    attention: z.object({
      height: z.number().int(),
      width: z.number().int(),
      values: z.array(z.number()),
    }),
  }),
  z.object({
    name: z.string(),
    rejected: z.object({
      /** empty, not_an_image, unsupported_format, too_large, corrupt or not_found. */
      reason: z.string(),
      message: z.string(),
    }),
  }),
]);

/** POST /v1/runs/:id/assign answered at once (200), and an assignment's results. */
export const assignResultsSchema = z.object({
  id: z.string(),
  total: z.number().int().min(0),
  assigned: z.number().int().min(0),
  rejected: z.number().int().min(0),
  /** In the order the images were sent. */
  results: z.array(assignOutcomeSchema),
});

/** POST /v1/runs/:id/assign queued (202), and GET /v1/runs/:id/assignments/:aid. */
export const assignmentStatusSchema = z.object({
  id: z.string(),
  assignment: z.string(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed']),
  /** Images assigned so far (present once polled). */
  done: z.number().int().min(0).optional(),
  total: z.number().int().min(0),
  /** Why it failed. */
  error: z.string().optional(),
  /** URL of the results, once it has succeeded. */
  results: z.string().optional(),
  url: z.string(),
});
