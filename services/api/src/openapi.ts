import fastifySwagger, { type StaticDocumentSpec } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { zodToJsonSchema, type PostProcessCallback } from 'zod-to-json-schema';
import { runSpecSchema } from '@imgcluster/config';
import { API_ERRORS, type ApiErrorCode } from './errors.js';
import {
  artifactListSchema,
  assignmentStatusSchema,
  assignResultsSchema,
  clusterListSchema,
  errorBodySchema,
  membersPageSchema,
  notReadySchema,
  okSchema,
  readySchema,
  runAcceptedSchema,
  runCancelledSchema,
  runListPageSchema,
  runRetriedSchema,
  runStatusSchema,
  uploadPageSchema,
  uploadResultSchema,
} from './response-schemas.js';
import {
  assignBodySchema,
  assignmentIdSchema,
  bucketParamsSchema,
  indexSchema,
  membersQuerySchema,
  runIdSchema,
  runListQuerySchema,
  uploadListQuerySchema,
  uploadTargetSchema,
} from './schemas.js';

/**
 * The API's OpenAPI 3.0 document, generated from a table of its routes. Request bodies,
 * path and query parameters are converted from the zod schemas the routes parse with,
 * and response bodies from response-schemas.ts, so validation and documentation share one
 * source. Served at GET /docs/openapi.json, with a browsable UI at GET /docs.
 */

/** Path or query parameters: the zod object a route parses them with, and what each means. */
export interface ParameterSet {
  schema: z.AnyZodObject;
  describe: Record<string, string>;
}

/** Builds a ParameterSet; the compiler checks that every field of the schema is described. */
export function parameters<S extends z.AnyZodObject>(
  schema: S,
  describe: { [K in keyof S['shape'] & string]: string },
): ParameterSet {
  return { schema, describe };
}

/** One response of a route other than an error. */
export interface ResponseDoc {
  description: string;
  /** The body as JSON; absent for a body that is not JSON (see `contentType`). */
  schema?: z.ZodTypeAny;
  /** Content type of a body that is not JSON, e.g. image/png; `*\/*` for whatever was stored. */
  contentType?: string;
}

/** An error a route answers with, at its usual status or (for a few codes) another one. */
export type ErrorRef = ApiErrorCode | { code: ApiErrorCode; status: number };

/** One route of the API as the OpenAPI document describes it. */
export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path template, e.g. /v1/runs/{id}. */
  path: string;
  /** The path parameter that takes the rest of the URL, slashes included (Fastify's `*`). */
  rest?: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  params?: ParameterSet;
  query?: ParameterSet;
  body?: {
    description: string;
    schema?: z.ZodTypeAny;
    contentType?: string;
    /** Also accepted as multipart/form-data: files under this field name (any name works). */
    files?: string;
  };
  /** Answers other than errors, by HTTP status. */
  responses: Record<number, ResponseDoc>;
  /**
   * The error codes the route answers with; INTERNAL (500) is added to every route, and the
   * key and rate-limit errors (ACCESS_ERRORS) to every /v1 route.
   */
  errors: ErrorRef[];
}

/** Errors of every /v1 route: a missing or unknown API key, and the rate limit. */
export const ACCESS_ERRORS: ApiErrorCode[] = [
  'API_KEY_REQUIRED',
  'API_KEY_INVALID',
  'RATE_LIMITED',
];

const runParams = z.object({ id: runIdSchema }).strict();
const clusterParams = z.object({ id: runIdSchema, c: indexSchema }).strict();
const memberParams = z.object({ id: runIdSchema, c: indexSchema, rank: indexSchema }).strict();
/** The artifact route's own check of its path (app.ts): anything else is ARTIFACT_NOT_FOUND. */
const artifactPath = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9._/-]+$/);
const artifactParams = z.object({ id: runIdSchema, path: artifactPath }).strict();

const assignmentParams = z.object({ id: runIdSchema, aid: assignmentIdSchema }).strict();

const RUN_ID = 'The run id, as POST /v1/runs answered it.';
const ASSIGNMENT = 'The assignment id, as POST /v1/runs/{id}/assign answered it (202).';
const CLUSTER = 'The cluster, 0..k-1.';
const RANK = "The member's rank in its cluster, 0 for the one nearest the centre.";

/** Errors of every route that reads one run's clusters. */
const CLUSTER_ERRORS: ErrorRef[] = ['RUN_NOT_FOUND', 'RUN_NOT_FINISHED', 'CLUSTER_NOT_FOUND'];

/**
 * Every route of the API. A new route is documented by appending its entry here; the
 * document is built from this array each time openApiDocument() is called.
 */
export const API_ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tag: 'health',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive.', schema: okSchema } },
    errors: [],
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'health',
    summary: 'Prometheus metrics',
    description:
      'Jobs by queue and state, job and request durations, images processed and rejected by ' +
      'reason, training loss and k-means inertia, in the Prometheus text format ' +
      '(docs/observability.md). Needs no API key.',
    responses: { 200: { description: 'The metrics.', contentType: 'text/plain' } },
    errors: [],
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    tag: 'health',
    summary: 'Readiness: Redis and object storage answer',
    responses: {
      200: { description: 'Ready.', schema: readySchema },
      503: { description: 'Redis or object storage did not answer.', schema: notReadySchema },
    },
    errors: [],
  },
  {
    method: 'post',
    path: '/v1/runs',
    operationId: 'submitRun',
    tag: 'runs',
    summary: 'Submit a run',
    description:
      'Checks that the input bucket (and the labels object, if given) exist, then queues the ' +
      'run. Unknown fields are refused. With `kmeans.k` "auto" the cluster stage tries every k ' +
      'of `kmeans.kRange` (default 2..20) on a sample of the codes and keeps the one with the ' +
      'highest mean silhouette.',
    body: {
      description: 'The run spec; every field but `input` has a default.',
      schema: runSpecSchema,
    },
    responses: { 202: { description: 'Queued.', schema: runAcceptedSchema } },
    errors: [
      'VALIDATION_FAILED',
      'INVALID_JSON',
      'UNSUPPORTED_MEDIA_TYPE',
      'BODY_TOO_LARGE',
      'INPUT_BUCKET_NOT_FOUND',
      'LABELS_NOT_FOUND',
      'OUTSIDE_TENANT_PREFIX',
      'STORAGE_UNAVAILABLE',
    ],
  },
  {
    method: 'get',
    path: '/v1/runs',
    operationId: 'listRuns',
    tag: 'runs',
    summary: 'List runs, newest first',
    description: 'Runs submitted while paging do not shift the pages.',
    query: parameters(runListQuerySchema, {
      limit: 'Runs per page, 1..100. Default 20.',
      cursor: 'The `next` of the previous page.',
    }),
    responses: { 200: { description: 'One page of runs.', schema: runListPageSchema } },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}',
    operationId: 'getRun',
    tag: 'runs',
    summary: "A run's status",
    description:
      'Every stage with done/total counts, timings and errors; preprocess details count the ' +
      'accepted and rejected images, by reason.',
    params: parameters(runParams, { id: RUN_ID }),
    responses: { 200: { description: 'The run.', schema: runStatusSchema } },
    errors: ['RUN_NOT_FOUND'],
  },
  {
    method: 'delete',
    path: '/v1/runs/{id}',
    operationId: 'cancelRun',
    tag: 'runs',
    summary: 'Cancel a run',
    description: 'Queued jobs are skipped; running ones stop at their next check.',
    params: parameters(runParams, { id: RUN_ID }),
    responses: { 202: { description: 'Cancelled.', schema: runCancelledSchema } },
    errors: ['RUN_NOT_FOUND', 'RUN_FINISHED'],
  },
  {
    method: 'post',
    path: '/v1/runs/{id}/retry',
    operationId: 'retryRun',
    tag: 'runs',
    summary: 'Retry a failed or cancelled run',
    description: 'The run resumes at its first stage that had not succeeded.',
    params: parameters(runParams, { id: RUN_ID }),
    responses: { 202: { description: 'Queued again.', schema: runRetriedSchema } },
    errors: ['RUN_NOT_FOUND', 'RUN_NOT_RETRYABLE'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/artifacts',
    operationId: 'listArtifacts',
    tag: 'artifacts',
    summary: "A run's artifacts with download URLs",
    params: parameters(runParams, { id: RUN_ID }),
    responses: { 200: { description: 'The artifacts so far.', schema: artifactListSchema } },
    errors: ['RUN_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/artifacts/{path}',
    rest: 'path',
    operationId: 'getArtifact',
    tag: 'artifacts',
    summary: "One artifact's bytes",
    params: parameters(artifactParams, {
      id: RUN_ID,
      path: 'Path under the run folder, slashes included, e.g. clusters/000-samples.png.',
    }),
    responses: {
      200: { description: 'The artifact, with its stored content type.', contentType: '*/*' },
    },
    errors: ['RUN_NOT_FOUND', 'ARTIFACT_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/report',
    operationId: 'getReport',
    tag: 'artifacts',
    summary: "The run's HTML report",
    description:
      'One page that loads nothing from elsewhere: settings, timings, scores, cluster sizes, ' +
      "loss curve, reconstructions and every cluster, its pictures being the run's artifacts " +
      '(loaded lazily).',
    params: parameters(runParams, { id: RUN_ID }),
    responses: { 200: { description: 'The report.', contentType: 'text/html' } },
    errors: ['RUN_NOT_FOUND', 'RUN_NOT_FINISHED'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/clusters',
    operationId: 'listClusters',
    tag: 'clusters',
    summary: 'Every cluster of a succeeded run',
    description: 'Size, mean distance, label make-up (for a run with labels) and picture URLs.',
    params: parameters(runParams, { id: RUN_ID }),
    responses: { 200: { description: 'The clusters.', schema: clusterListSchema } },
    errors: ['RUN_NOT_FOUND', 'RUN_NOT_FINISHED'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/clusters/{c}/members',
    operationId: 'listMembers',
    tag: 'clusters',
    summary: "A cluster's members, nearest the centre first",
    params: parameters(clusterParams, { id: RUN_ID, c: CLUSTER }),
    query: parameters(membersQuerySchema, {
      limit: 'Members per page, 1..500. Default 50.',
      cursor: 'The `next` of the previous page.',
    }),
    responses: { 200: { description: 'One page of members.', schema: membersPageSchema } },
    errors: ['VALIDATION_FAILED', ...CLUSTER_ERRORS],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/clusters/{c}/members/{rank}/image',
    operationId: 'getMemberImage',
    tag: 'clusters',
    summary: "The member's original input image",
    params: parameters(memberParams, { id: RUN_ID, c: CLUSTER, rank: RANK }),
    responses: {
      200: { description: 'The image as uploaded, with its content type.', contentType: '*/*' },
    },
    errors: [...CLUSTER_ERRORS, 'MEMBER_NOT_FOUND', 'ARTIFACT_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/clusters/{c}/members/{rank}/thumbnail',
    operationId: 'getMemberThumbnail',
    tag: 'clusters',
    summary: 'The member as the model saw it (resized)',
    params: parameters(memberParams, { id: RUN_ID, c: CLUSTER, rank: RANK }),
    responses: { 200: { description: 'The resized image.', contentType: 'image/png' } },
    errors: [...CLUSTER_ERRORS, 'MEMBER_NOT_FOUND'],
  },
  {
    method: 'put',
    path: '/v1/uploads/{bucket}/{key}',
    rest: 'key',
    operationId: 'upload',
    tag: 'uploads',
    summary: 'Store a file in object storage',
    description:
      'Any bucket but the artifact bucket (S3_BUCKET); the bucket is created by its first ' +
      'upload. At most UPLOAD_MAX_BYTES.',
    params: parameters(uploadTargetSchema, {
      bucket: 'The bucket to store into.',
      key: "The object key, slashes included; no '.' or '..' segments, none over 255 bytes.",
    }),
    body: {
      description: 'The raw file; its content type is stored (else guessed from the key).',
      contentType: '*/*',
    },
    responses: { 201: { description: 'Stored.', schema: uploadResultSchema } },
    errors: [
      'VALIDATION_FAILED',
      'UPLOAD_BUCKET_RESERVED',
      'UPLOAD_TOO_LARGE',
      'OUTSIDE_TENANT_PREFIX',
      'STORAGE_UNAVAILABLE',
    ],
  },
  {
    method: 'get',
    path: '/v1/uploads/{bucket}',
    operationId: 'listUploads',
    tag: 'uploads',
    summary: 'List the objects under a prefix, in key order',
    params: parameters(bucketParamsSchema, { bucket: 'The bucket to list.' }),
    query: parameters(uploadListQuerySchema, {
      prefix: "Only keys starting with this. Default '' (the whole bucket).",
      cursor: 'The `next` of the previous page.',
      limit: 'Objects per page, 1..1000. Default 1000.',
    }),
    responses: { 200: { description: 'One page of objects.', schema: uploadPageSchema } },
    errors: [
      'VALIDATION_FAILED',
      'UPLOAD_BUCKET_RESERVED',
      { code: 'INPUT_BUCKET_NOT_FOUND', status: 404 },
      'OUTSIDE_TENANT_PREFIX',
      'STORAGE_UNAVAILABLE',
    ],
  },
  {
    method: 'post',
    path: '/v1/runs/{id}/assign',
    operationId: 'assignImages',
    tag: 'assign',
    summary: "Assign new images to a finished run's clusters",
    description:
      'Send the images as multipart/form-data files (any field name), or JSON naming stored ' +
      "images. Each image is resized like the run's inputs, encoded with the run's model and " +
      'given the nearest centroid. Up to ASSIGN_SYNC_MAX images (default 64) are answered at ' +
      'once (200); more are queued as an assignment to poll (202). An image that does not ' +
      'decode is answered with its reason; the others are assigned all the same.',
    params: parameters(runParams, { id: RUN_ID }),
    body: {
      description:
        'Stored images by key (application/json), or the images themselves as ' +
        'multipart/form-data files (up to 10,000; other fields are ignored).',
      schema: assignBodySchema,
      files: 'images',
    },
    responses: {
      200: { description: 'Assigned at once.', schema: assignResultsSchema },
      202: { description: 'Queued: poll its url.', schema: assignmentStatusSchema },
    },
    errors: [
      'VALIDATION_FAILED',
      'INVALID_JSON',
      'UNSUPPORTED_MEDIA_TYPE',
      'BODY_TOO_LARGE',
      'INPUT_BUCKET_NOT_FOUND',
      'NO_IMAGES',
      'TOO_MANY_IMAGES',
      'UPLOAD_TOO_LARGE',
      'OUTSIDE_TENANT_PREFIX',
      'RUN_NOT_FOUND',
      'RUN_NOT_FINISHED',
    ],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/assignments/{aid}',
    operationId: 'getAssignment',
    tag: 'assign',
    summary: "A queued assignment's state and progress",
    params: parameters(assignmentParams, { id: RUN_ID, aid: ASSIGNMENT }),
    responses: { 200: { description: 'State and progress.', schema: assignmentStatusSchema } },
    errors: ['RUN_NOT_FOUND', 'ASSIGNMENT_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/runs/{id}/assignments/{aid}/results',
    operationId: 'getAssignmentResults',
    tag: 'assign',
    summary: "A succeeded assignment's results",
    params: parameters(assignmentParams, { id: RUN_ID, aid: ASSIGNMENT }),
    responses: { 200: { description: 'Every image, in order.', schema: assignResultsSchema } },
    errors: ['RUN_NOT_FOUND', 'ASSIGNMENT_NOT_FOUND', 'ASSIGNMENT_NOT_FINISHED'],
  },
];

/** The parts of an OpenAPI 3.0 document this module writes. */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, JsonSchema>;
  };
}

export interface OpenApiOperation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  parameters?: OpenApiParameter[];
  /** The API key (bearer) on /v1 routes; it is needed only where the API has keys set. */
  security?: Record<string, string[]>[];
  requestBody?: { description: string; required: true; content: Record<string, MediaType> };
  responses: Record<string, { description: string; content?: Record<string, MediaType> }>;
}

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description: string;
  schema: JsonSchema;
}

type JsonSchema = Record<string, unknown>;
interface MediaType {
  schema: JsonSchema;
  examples?: Record<string, { summary: string; value: unknown }>;
}

const TAGS = [
  { name: 'health', description: 'Liveness and readiness probes.' },
  { name: 'runs', description: 'Submit, poll, cancel and retry runs.' },
  { name: 'artifacts', description: "Download a run's files." },
  { name: 'clusters', description: "Browse a succeeded run's clusters and their members." },
  { name: 'uploads', description: 'Put input images into object storage through the API.' },
];

const ERROR_REF = { $ref: '#/components/schemas/Error' };
/** A body that is not JSON: the bytes as they are. */
const binary: JsonSchema = { type: 'string', format: 'binary' };

/**
 * OpenAPI 3.0 describes an array's items with one schema, so a tuple (model.filters) is
 * described by the schema its items share, or any of theirs; its length stays fixed by
 * minItems and maxItems.
 */
const tuplesAsArrays: PostProcessCallback = (schema) => {
  const items = (schema as { items?: unknown } | undefined)?.items;
  if (!Array.isArray(items)) return schema;
  const distinct = [...new Map(items.map((s) => [JSON.stringify(s), s])).values()];
  return { ...schema, items: distinct.length === 1 ? distinct[0] : { anyOf: distinct } };
};

/**
 * A zod schema as an OpenAPI 3.0 schema object, inlined (no $refs). A `.strict()` object
 * (the requests) forbids other properties; any other object (the responses) says nothing
 * about them, so a field added to a response later breaks no client.
 */
export function toOpenApiSchema(schema: z.ZodTypeAny): JsonSchema {
  return zodToJsonSchema(schema, {
    target: 'openApi3',
    $refStrategy: 'none',
    removeAdditionalStrategy: 'strict',
    allowedAdditionalProperties: undefined,
    postProcess: tuplesAsArrays,
  }) as JsonSchema;
}

/** Builds the document from `routes` (default: every route of the API). */
export function openApiDocument(routes: readonly RouteDoc[] = API_ROUTES): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    if (item[route.method]) throw new Error(`${route.method} ${route.path} is listed twice`);
    item[route.method] = operation(route);
  }

  return {
    openapi: '3.0.3',
    info: {
      title: 'imgcluster API',
      version: '1',
      description:
        'Sorts unlabeled image collections into groups. Submit a run over the images under an ' +
        'object-storage prefix, poll it, then browse its clusters. Every error answers ' +
        '`{ error: { code, message, issues? } }` with a stable code. Where the API has keys ' +
        'configured, every /v1 route needs `Authorization: Bearer <key>` and acts for the ' +
        "key's tenant: other tenants' runs answer 404 as missing ones do.",
    },
    tags: TAGS,
    paths,
    components: {
      schemas: { Error: toOpenApiSchema(errorBodySchema) },
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key made with `imgcluster keys create --tenant NAME`.',
        },
      },
    },
  };
}

function operation(route: RouteDoc): OpenApiOperation {
  const keyed = route.path.startsWith('/v1/');
  const parameters = [
    ...pathParameters(route),
    ...(route.query ? parameterList(route.query, 'query') : []),
  ];
  const op: OpenApiOperation = {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(keyed ? { security: [{ apiKey: [] }] } : {}),
    responses: {},
  };

  if (route.body) {
    const { description, schema, contentType, files } = route.body;
    op.requestBody = {
      description,
      required: true,
      content: {
        ...(schema
          ? { 'application/json': { schema: toOpenApiSchema(schema) } }
          : { [contentType ?? 'application/octet-stream']: { schema: binary } }),
        ...(files
          ? {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  properties: { [files]: { type: 'array', items: binary } },
                },
              },
            }
          : {}),
      },
    };
  }

  for (const [status, response] of Object.entries(route.responses)) {
    op.responses[status] = {
      description: response.description,
      content: response.schema
        ? { 'application/json': { schema: toOpenApiSchema(response.schema) } }
        : { [response.contentType ?? 'application/octet-stream']: { schema: binary } },
    };
  }
  const errors = [...route.errors, ...(keyed ? ACCESS_ERRORS : []), 'INTERNAL' as const];
  for (const [status, codes] of errorsByStatus(errors)) {
    op.responses[status] = {
      description: codes.join(', '),
      content: {
        'application/json': {
          schema: ERROR_REF,
          examples: Object.fromEntries(
            codes.map((code) => [
              code,
              {
                summary: API_ERRORS[code].message,
                value: { error: { code, message: API_ERRORS[code].message } },
              },
            ]),
          ),
        },
      },
    };
  }
  return op;
}

/** The path parameters, in the order the path names them; each must be in `params`. */
function pathParameters(route: RouteDoc): OpenApiParameter[] {
  const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const declared = route.params ? parameterList(route.params, 'path') : [];
  const byName = new Map(declared.map((p) => [p.name, p]));
  if (names.length !== declared.length || names.some((n) => !byName.has(n))) {
    throw new Error(`${route.method} ${route.path}: path parameters and params do not match`);
  }
  return names.map((n) => byName.get(n)!);
}

/** One parameter per property of the set's object schema. */
function parameterList(set: ParameterSet, where: 'path' | 'query'): OpenApiParameter[] {
  const object = toOpenApiSchema(set.schema) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(object.properties ?? {}).map(([name, schema]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    description: set.describe[name] ?? '',
    schema,
  }));
}

/** The routes' error codes grouped by the status they answer with, lowest status first. */
function errorsByStatus(errors: ErrorRef[]): [string, ApiErrorCode[]][] {
  const groups = new Map<number, ApiErrorCode[]>();
  for (const ref of errors) {
    const { code, status } =
      typeof ref === 'string' ? { code: ref, status: API_ERRORS[ref].status } : ref;
    const codes = groups.get(status) ?? [];
    if (!codes.includes(code)) codes.push(code);
    groups.set(status, codes);
  }
  return [...groups].sort(([a], [b]) => a - b).map(([status, codes]) => [String(status), codes]);
}

/** The Fastify route URL of a documented path: {name} → :name, the `rest` parameter → *. */
export function fastifyUrl(route: Pick<RouteDoc, 'path' | 'rest'>): string {
  return route.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    name === route.rest ? '*' : `:${name}`,
  );
}

/**
 * Serves the document at GET /docs/openapi.json and Swagger UI at GET /docs, in a scope of
 * their own. The UI loads the same document from /docs/json; it makes no request elsewhere
 * (the online validator is off).
 */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  const document = openApiDocument();
  await app.register(async (scope) => {
    await scope.register(fastifySwagger, {
      mode: 'static',
      specification: { document: document as unknown as StaticDocumentSpec['document'] },
    });
    await scope.register(fastifySwaggerUi, { routePrefix: '/docs' });
    scope.get('/docs/openapi.json', { schema: { hide: true } }, async () => document);
  });
}
