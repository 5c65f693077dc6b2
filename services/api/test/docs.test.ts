/**
 * The OpenAPI document and its UI (/docs), and the queue dashboard (/admin/queues) with
 * its basic auth, each mounted on a small Fastify instance that answers errors and unknown
 * routes the way the API does. The dashboard tests run against a private redis-server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { loadEnv, type Env } from '@imgcluster/config';
import { startRedis, type LocalRedis } from '@imgcluster/devstack';
import { createLogger } from '@imgcluster/logging';
import { createRedis, QUEUES } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { buildApp } from '../src/app.js';
import { DASHBOARD_PREFIX, DASHBOARD_QUEUES, registerDashboard } from '../src/dashboard.js';
import { ApiError } from '../src/errors.js';
import {
  API_ROUTES,
  fastifyUrl,
  openApiDocument,
  registerDocs,
  type OpenApiDocument,
} from '../src/openapi.js';
import { errorBodySchema } from '../src/response-schemas.js';

const PASSWORD = 'correct horse battery staple';

/** A Fastify instance with the API's error and not-found answers. */
function apiLikeApp(): FastifyInstance {
  const app = Fastify();
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    const apiErr = err instanceof ApiError ? err : new ApiError('INTERNAL');
    void reply.status(apiErr.status).send(apiErr.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(new ApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`).toBody());
  });
  return app;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('OpenAPI document', () => {
  let app: FastifyInstance;
  let doc: OpenApiDocument;

  before(async () => {
    app = apiLikeApp();
    await registerDocs(app);
    await app.ready();
    const res = await app.inject({ method: 'GET', url: '/docs/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    doc = res.json();
  });
  after(() => app.close());

  test('is an OpenAPI 3.0 document with every route of the table', () => {
    assert.match(doc.openapi, /^3\.0\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    for (const route of API_ROUTES) {
      const op = doc.paths[route.path]?.[route.method];
      assert.ok(op, `${route.method} ${route.path} is documented`);
      assert.ok(Object.keys(op.responses).length > 0);
      assert.ok(op.responses['500'], `${route.method} ${route.path} answers 500 INTERNAL`);
    }
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
    assert.equal(operations.length, API_ROUTES.length);
    const ids = operations.map((op) => op.operationId);
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  test('every route of the table is a route of the API', async () => {
    const ctx = { env: loadEnv({}), log: createLogger('api', 'silent') };
    const api = await buildApp(ctx as unknown as ServiceContext);
    await api.ready();
    for (const route of API_ROUTES) {
      const url = fastifyUrl(route);
      assert.ok(
        api.hasRoute({ method: route.method.toUpperCase(), url }),
        `app.ts or uploads.ts has ${route.method.toUpperCase()} ${url}`,
      );
    }
    await api.close();
  });

  test('the run body comes from runSpecSchema', () => {
    const body = doc.paths['/v1/runs'].post.requestBody;
    assert.equal(body?.required, true);
    const schema = body?.content['application/json'].schema as {
      required: string[];
      properties: Record<string, { properties: Record<string, Record<string, unknown>> }>;
    };
    assert.deepEqual(schema.required, ['input']);
    const k = schema.properties.kmeans.properties.k;
    assert.deepEqual(k.anyOf, [
      { type: 'integer', minimum: 2, maximum: 1000 },
      { type: 'string', enum: ['auto'] },
    ]);
    assert.equal(k.default, 10);
    const kRange = schema.properties.kmeans.properties.kRange as {
      properties: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(kRange.properties.min, {
      type: 'integer',
      minimum: 2,
      maximum: 1000,
      default: 2,
    });
    assert.equal(kRange.properties.max.default, 20);
    const filters = schema.properties.model.properties.filters;
    assert.ok(!Array.isArray(filters.items), 'a tuple is one items schema in OpenAPI 3.0');
  });

  test('query schemas become one parameter per property', () => {
    const members = doc.paths['/v1/runs/{id}/clusters/{c}/members'].get.parameters ?? [];
    const limit = members.find((p) => p.name === 'limit' && p.in === 'query');
    assert.ok(limit);
    assert.equal(limit.required, false);
    assert.equal(limit.schema.maximum, 500);
    assert.equal(limit.schema.default, 50);
    assert.ok(limit.description.length > 0);
    assert.deepEqual(
      members.map((p) => `${p.in}:${p.name}`),
      ['path:id', 'path:c', 'query:limit', 'query:cursor'],
    );

    const uploads = doc.paths['/v1/uploads/{bucket}'].get.parameters ?? [];
    assert.deepEqual(
      uploads.map((p) => p.name),
      ['bucket', 'prefix', 'cursor', 'limit'],
    );
    assert.equal(uploads.find((p) => p.name === 'limit')?.schema.maximum, 1000);
  });

  test('errors point at the shared Error schema, with every code', () => {
    const error = doc.components.schemas.Error as {
      properties: { error: { properties: { code: { enum: string[] } }; required: string[] } };
    };
    const codes = error.properties.error.properties.code.enum;
    for (const code of ['RUN_NOT_FOUND', 'ADMIN_AUTH_REQUIRED', 'DASHBOARD_DISABLED', 'INTERNAL'])
      assert.ok(codes.includes(code), code);
    assert.deepEqual(error.properties.error.required, ['code', 'message']);

    const getRun = doc.paths['/v1/runs/{id}'].get.responses['404'];
    assert.deepEqual(getRun.content?.['application/json'].schema, {
      $ref: '#/components/schemas/Error',
    });
    assert.ok(getRun.content?.['application/json'].examples?.RUN_NOT_FOUND);

    const listUploads = doc.paths['/v1/uploads/{bucket}'].get.responses;
    assert.ok(listUploads['404'].description.includes('INPUT_BUCKET_NOT_FOUND'));
    assert.ok(listUploads['400'].description.includes('UPLOAD_BUCKET_RESERVED'));
  });

  test('every $ref resolves', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      const name = /#\/components\/schemas\/([^"]+)/.exec(ref)?.[1];
      assert.ok(name && doc.components.schemas[name], ref);
    }
  });

  test('the error body schema matches what ApiError sends', () => {
    const body = new ApiError('VALIDATION_FAILED', 'invalid body', [
      { path: 'body.kmeans.k', message: 'too small' },
    ]).toBody();
    assert.ok(errorBodySchema.safeParse(body).success);
  });

  test('building the document twice gives the same document', () => {
    assert.deepEqual(openApiDocument(), doc);
  });

  test('GET /docs is the browsable UI over the same document', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    assert.match(page.body, /swagger-ui/i);

    const json = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.deepEqual(json.json(), doc);
  });
});

describe('queue dashboard', () => {
  let work: string;
  let server: LocalRedis;
  let redis: Redis;
  const apps: FastifyInstance[] = [];

  const mount = async (password: string | undefined) => {
    const env: Env = { ...loadEnv({}), ADMIN_PASSWORD: password };
    const app = apiLikeApp();
    // Both, as the API mounts them: their static files and decorators must not collide.
    await registerDocs(app);
    await registerDashboard(app, { redis, env });
    await app.ready();
    apps.push(app);
    return app;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgcluster-dashboard-'));
    server = await startRedis(join(work, 'redis'));
    redis = createRedis(server.url);
  });
  after(async () => {
    for (const app of apps) await app.close();
    await redis?.quit();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('without ADMIN_PASSWORD it is off: 404 DASHBOARD_DISABLED', async () => {
    const app = await mount(undefined);
    for (const url of [
      DASHBOARD_PREFIX,
      `${DASHBOARD_PREFIX}/`,
      `${DASHBOARD_PREFIX}/api/queues`,
    ]) {
      const res = await app.inject({
        method: 'GET',
        url,
        headers: { authorization: basic('admin', PASSWORD) },
      });
      assert.equal(res.statusCode, 404, url);
      const body = errorBodySchema.parse(res.json());
      assert.equal(body.error.code, 'DASHBOARD_DISABLED');
      assert.match(body.error.message, /ADMIN_PASSWORD/);
    }
  });

  test('every page, API call, static file and unknown path asks for credentials', async () => {
    const app = await mount(PASSWORD);
    const wrong = [
      undefined,
      basic('admin', 'wrong password here'),
      basic('admin', `${PASSWORD}x`),
      basic('root', PASSWORD),
      basic('admin', PASSWORD).replace('Basic', 'Bearer'),
      'Basic !!!',
    ];
    const urls = [
      DASHBOARD_PREFIX,
      `${DASHBOARD_PREFIX}/`,
      `${DASHBOARD_PREFIX}/queue/${QUEUES.plan}`,
      `${DASHBOARD_PREFIX}/api/queues`,
      `${DASHBOARD_PREFIX}/static/images/logo.svg`,
      `${DASHBOARD_PREFIX}/no-such-page/at/all`,
    ];
    for (const url of urls) {
      for (const authorization of wrong) {
        const res = await app.inject({
          method: 'GET',
          url,
          headers: authorization ? { authorization } : {},
        });
        assert.equal(res.statusCode, 401, `${url} with ${authorization}`);
        assert.equal(res.headers['www-authenticate'], 'Basic realm="imgcluster admin"');
        assert.equal(errorBodySchema.parse(res.json()).error.code, 'ADMIN_AUTH_REQUIRED');
      }
    }
    const pause = await app.inject({
      method: 'PUT',
      url: `${DASHBOARD_PREFIX}/api/queues/${QUEUES.train}/pause`,
    });
    assert.equal(pause.statusCode, 401);
  });

  test('with the right credentials it serves the board over every stage queue', async () => {
    const app = await mount(PASSWORD);
    const headers = { authorization: basic('admin', PASSWORD) };

    for (const url of [DASHBOARD_PREFIX, `${DASHBOARD_PREFIX}/`]) {
      const page = await app.inject({ method: 'GET', url, headers });
      assert.equal(page.statusCode, 200, url);
      assert.match(page.headers['content-type'] as string, /^text\/html/);
      assert.match(page.body, /\/admin\/queues\//);
    }

    const asset = await app.inject({
      method: 'GET',
      url: `${DASHBOARD_PREFIX}/static/images/logo.svg`,
      headers,
    });
    assert.equal(asset.statusCode, 200);

    const res = await app.inject({ method: 'GET', url: `${DASHBOARD_PREFIX}/api/queues`, headers });
    assert.equal(res.statusCode, 200);
    const { queues } = res.json() as { queues: { name: string; readOnlyMode: boolean }[] };
    assert.deepEqual(queues.map((q) => q.name).sort(), [...DASHBOARD_QUEUES].sort());
    for (const name of Object.values(QUEUES)) assert.ok(DASHBOARD_QUEUES.includes(name), name);
    assert.ok(queues.every((q) => q.readOnlyMode));

    const pause = await app.inject({
      method: 'PUT',
      url: `${DASHBOARD_PREFIX}/api/queues/${QUEUES.train}/pause`,
      headers,
    });
    assert.equal(pause.statusCode, 405, 'read-only: queues cannot be paused');

    const unknown = await app.inject({ method: 'GET', url: `${DASHBOARD_PREFIX}/nope`, headers });
    assert.equal(unknown.statusCode, 404);
    assert.equal(errorBodySchema.parse(unknown.json()).error.code, 'ROUTE_NOT_FOUND');
  });
});
