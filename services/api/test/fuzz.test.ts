/**
 * Property-based fuzzing of every route the API registers (read from the app itself, so a new
 * route is fuzzed without touching this file): generated path parameters (odd ids, Unicode,
 * encoded slashes and dots, broken escapes), query strings, headers (content types, keys) and
 * bodies (JSON of every shape, deep nesting, prototype-pollution keys, near-valid run specs,
 * bytes, text, multipart, oversized). No answer may be a 5xx, and every 4xx is the
 * catalogue's error shape with a known code and its status. Runs against a real redis-server
 * and S3 server with API keys, the dashboard and rate limiting on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { apiKeyEntry, newApiKey } from '@imgcluster/client';
import { routesOf, type RegisteredRoute } from '../src/app.js';
import { DASHBOARD_PREFIX } from '../src/dashboard.js';
import { API_ERRORS } from '../src/errors.js';
import { API_ROUTES, fastifyUrl } from '../src/openapi.js';
import { errorBodySchema } from '../src/response-schemas.js';
import {
  bearer,
  fabricateRun,
  INPUT_BUCKET,
  startHarness,
  testPng,
  type FabricatedRun,
  type Harness,
} from './harness.js';

/** Generated requests in all (spread over every route). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const ADMIN_PASSWORD = 'fuzzing admin password';
const ADMIN_BASIC = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

let h: Harness;
let key: string;
let otherKey: string;
let mine: FabricatedRun;
let theirs: FabricatedRun;
let queuedRun: string;
let png: Buffer;

before(async () => {
  key = newApiKey();
  otherKey = newApiKey();
  h = await startHarness({
    API_KEYS: `${apiKeyEntry('acme', key)} ${apiKeyEntry('globex', otherKey)}`,
    ADMIN_PASSWORD,
    RATE_LIMIT_MAX: '1000000',
    UPLOAD_MAX_BYTES: String(64 * 1024),
    API_BODY_MAX_BYTES: String(256 * 1024),
    ASSIGN_SYNC_MAX: '2',
  });
  mine = await fabricateRun(h.ctx, 'acme', 'acme/fuzz/');
  theirs = await fabricateRun(h.ctx, 'globex', 'globex/fuzz/');
  png = await testPng(1);
  const res = await h.app.inject({
    method: 'POST',
    url: '/v1/runs',
    headers: bearer(key),
    payload: { input: { bucket: INPUT_BUCKET, prefix: 'acme/fuzz/' } },
  });
  assert.equal(res.statusCode, 202, res.body);
  queuedRun = res.json().id;
});

after(() => h?.stop());

// ---- generators ----

/** Raw path segments that are already escaped (or deliberately broken). */
const RAW_SEGMENTS = [
  '%2F',
  '..%2F..%2Fetc',
  '%2e%2e',
  '%00',
  '%E0%A4%A',
  '%',
  '%zz',
  '%C0%AE%C0%AE',
  '%F0%9F%98%80',
  '%ED%A0%80',
  'a%2Fb',
  '%20',
  '~',
  '..',
  '.',
];

const oddText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '\ud800', 'ä', '😀', '-1', '1e9', '0x1f', 'NaN', 'null'),
  fc.string({ minLength: 90, maxLength: 400 }),
);

/** Percent-encodes the UTF-8 bytes of any string (a lone surrogate becomes U+FFFD). */
function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** One path parameter: mostly ids this tenant owns (to get past the lookups), then near misses. */
function paramValue(name: string): fc.Arbitrary<string> {
  const likely: Record<string, fc.Arbitrary<string>> = {
    id: fc.oneof({ weight: 6, arbitrary: fc.constant(mine.id) }, fc.constant(queuedRun)),
    c: fc.constantFrom('0', '1'),
    rank: fc.constantFrom('0', '1'),
    aid: fc.constantFrom('asg_zzzzzzzzzz', 'asg_0'),
    bucket: fc.constant(INPUT_BUCKET),
  };
  const near = fc.constantFrom(
    theirs.id,
    'run_zzzzzzzzzzzz',
    `${mine.id}x`,
    mine.id.toUpperCase(),
    '2',
    '999999999',
    '00',
    '-0',
    h.ctx.bucket,
    'manifest.json',
    'clusters/000-samples.png',
    'acme/fuzz/img-0.png',
  );
  const encoded = oddText.map(percentEncode);
  const raw = fc.constantFrom(...RAW_SEGMENTS);
  if (name === '*') {
    const segment = fc.oneof(near, encoded, raw, fc.constantFrom('acme', 'fuzz', 'clusters'));
    const tail = fc.array(segment, { minLength: 0, maxLength: 6 }).map((parts) => parts.join('/'));
    return fc.oneof(
      tail,
      tail.map((t) => `acme/fuzz/${t}`),
      near,
    );
  }
  return fc.oneof({ weight: 4, arbitrary: likely[name] ?? near }, near, encoded, raw);
}

const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom('limit', 'cursor', 'prefix', '__proto__', 'constructor', 'limit[]'),
        fc.string({ maxLength: 10 }),
      ),
      fc.oneof(
        fc.constantFrom('0', '1', '20', '-5', '1e3', '9'.repeat(30), '', 'acme/', 'AAAA'),
        fc.string({ maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 30 }),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => {
    const q = new URLSearchParams();
    for (const [k, v] of pairs) q.append(k, v);
    return q.toString();
  });

const printable = fc
  .string({ unit: 'binary-ascii', maxLength: 60 })
  .map((s) => s.replace(/[^\x20-\x7e]/g, ''));

const contentType = fc.option(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant('application/json') },
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/vnd.api+json',
      'text/plain',
      'text/html',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      'multipart/form-data; boundary=fuzzboundary',
      'multipart/form-data; boundary=',
      'image/png',
      'application/json, text/plain',
      ';;;',
    ),
    printable,
  ),
  { nil: undefined },
);

const authorization = fc.oneof(
  { weight: 12, arbitrary: fc.constant(`Bearer ${'KEY'}`) },
  fc.constant(`Bearer ${'OTHER'}`),
  fc.constant(undefined),
  fc.constant(ADMIN_BASIC),
  fc.constantFrom('Bearer', 'Bearer ', 'bearer ick_x', 'Basic !!!', 'Token abc'),
  printable.map((s) => `Bearer ${s}`),
);

const headers = fc.record(
  {
    'content-type': contentType,
    authorization,
    accept: fc.option(fc.constantFrom('application/json', '*/*', 'text/html', 'image/*'), {
      nil: undefined,
    }),
    'x-forwarded-for': fc.option(fc.constantFrom('1.2.3.4', 'garbage', '::1, 10.0.0.1'), {
      nil: undefined,
    }),
    'x-fuzz': fc.option(printable, { nil: undefined }),
  },
  { requiredKeys: [] },
);

/** A run spec near a valid one: fields of the wrong type, out of range, or unknown. */
const nearSpec = fc.record(
  {
    name: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    input: fc.oneof(
      fc.record({
        bucket: fc.oneof(fc.constantFrom(INPUT_BUCKET, 'no-such-bucket', 'A', ''), fc.string()),
        prefix: fc.oneof(
          fc.constantFrom('acme/fuzz/', 'acme/', 'globex/', '', 'acme/../x/'),
          fc.string(),
        ),
      }),
      fc.anything(),
    ),
    labels: fc.record({ key: fc.oneof(fc.constant('acme/labels.json'), fc.string()) }),
    image: fc.record({
      size: fc.oneof(fc.integer({ min: -10, max: 2000 }), fc.double(), fc.string()),
      channels: fc.oneof(fc.integer({ min: -1, max: 5 }), fc.string()),
    }),
    kmeans: fc.record({
      k: fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.constantFrom('auto', 'AUTO', '')),
      kRange: fc.record({ min: fc.integer({ min: -5, max: 2000 }), max: fc.integer() }),
    }),
    training: fc.record({ epochs: fc.oneof(fc.integer(), fc.double()) }),
    shardSize: fc.oneof(fc.integer(), fc.double()),
    extra: fc.anything(),
  },
  { requiredKeys: ['input'] },
);

const pollution = fc
  .tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue())
  .map(
    ([k, v]) =>
      `{"${k}":{"polluted":true,"prototype":{"polluted":true}},` +
      `"input":{"bucket":"${INPUT_BUCKET}","prefix":"acme/fuzz/","${k}":${JSON.stringify(v)}},` +
      `"keys":["acme/fuzz/img-0.png"],"${k}":1}`,
  );

const deep = fc
  .tuple(fc.integer({ min: 100, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([depth, open]) => {
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(depth)}1${close.repeat(depth)}`;
  });

const multipart = fc
  .record({
    field: fc.constantFrom('images', 'file', ''),
    filename: fc.oneof(fc.constantFrom('a.png', '../../x.png', '', 'ä/😀.png'), printable),
    bytes: fc.oneof(fc.constant('PNG'), fc.uint8Array({ maxLength: 200 })),
    close: fc.boolean(),
    count: fc.integer({ min: 0, max: 4 }),
  })
  .map(({ field, filename, bytes, close, count }) => {
    const part = (n: number) =>
      Buffer.concat([
        Buffer.from(
          `--fuzzboundary\r\nContent-Disposition: form-data; name="${field}"; ` +
            `filename="${n}${filename}"\r\nContent-Type: image/png\r\n\r\n`,
        ),
        bytes === 'PNG' ? png : Buffer.from(bytes),
        Buffer.from('\r\n'),
      ]);
    const parts = Array.from({ length: count }, (_, n) => part(n));
    return Buffer.concat([...parts, Buffer.from(close ? '--fuzzboundary--\r\n' : '')]);
  });

const body = fc.option(
  fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
    nearSpec.map((v) => JSON.stringify(v)),
    pollution,
    deep,
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    multipart,
    fc.constant('{"keys":["acme/fuzz/img-0.png","acme/fuzz/img-1.png","acme/fuzz/img-2.png"]}'),
    fc.integer({ min: 65 * 1024, max: 300 * 1024 }).map((n) => Buffer.alloc(n, 0x7b)),
  ),
  { nil: undefined },
);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;

/** A request aimed at one registered route (and sometimes another method of it). */
function requestFor(route: RegisteredRoute): fc.Arbitrary<InjectOptions> {
  const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)|\*/g)].map((m) => m[1] ?? '*');
  const params = fc.tuple(...names.map(paramValue));
  return fc
    .record({
      params: names.length > 0 ? params : fc.constant([] as string[]),
      query: fc.option(queryString, { nil: undefined }),
      headers,
      body,
      method: fc.oneof(
        { weight: 5, arbitrary: fc.constant(route.method) },
        fc.constantFrom(...METHODS),
      ),
    })
    .map(({ params: values, query, headers: hs, body: payload, method }) => {
      let n = 0;
      const path = route.url.replace(/:([A-Za-z0-9_]+)|\*/g, () => values[n++]);
      const given: Record<string, string> = {};
      for (const [name, value] of Object.entries(hs)) {
        if (value === undefined) continue;
        given[name] = value.replace('KEY', key).replace('OTHER', otherKey);
      }
      return {
        method: method as InjectOptions['method'],
        url: query ? `${path}?${query}` : path,
        headers: given,
        ...(payload !== undefined && method !== 'GET' && method !== 'HEAD' ? { payload } : {}),
      };
    });
}

/**
 * Bull Board behind the dashboard's credentials answers its UI in its own error shape
 * ({ error: { key } }, e.g. an unknown queue or a refused static path); everything else is
 * the API's.
 */
function isBoardApi(request: InjectOptions): boolean {
  const path = String(request.url).split('?')[0];
  return path.startsWith(`${DASHBOARD_PREFIX}/`) && hasAdminAuth(request);
}

/** True when the request carries the dashboard's credentials. */
function hasAdminAuth(request: InjectOptions): boolean {
  const auth = (request.headers as Record<string, string> | undefined)?.authorization ?? '';
  return auth === ADMIN_BASIC;
}

/** What every answer must be: no 5xx; a 4xx in the catalogue's shape with its status. */
function checkAnswer(
  request: InjectOptions,
  res: { statusCode: number; body: string; headers: Record<string, unknown> },
) {
  const what = `${request.method} ${request.url} → ${res.statusCode} ${res.body.slice(0, 300)}`;
  assert.ok(res.statusCode < 500, what);
  if (res.statusCode < 400 || request.method === 'HEAD') return;
  assert.match(String(res.headers['content-type']), /^application\/json/, what);
  const json = JSON.parse(res.body);
  if (isBoardApi(request) && typeof json?.error?.key === 'string') return;
  const parsed = errorBodySchema.safeParse(json);
  assert.ok(parsed.success, `${what}: not the error shape`);
  const { code } = parsed.data.error;
  const status = code === 'INPUT_BUCKET_NOT_FOUND' ? [400, 404] : [API_ERRORS[code].status];
  assert.ok(status.includes(res.statusCode), `${what}: ${code} answers ${status}`);
}

test('every documented /v1 route is a registered route, and the other way round', () => {
  const registered = new Set(
    routesOf(h.app)
      .filter((r) => r.url.startsWith('/v1/') || r.url === '/v1/runs')
      .filter((r) => r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url}`),
  );
  const documented = new Set(
    API_ROUTES.filter((r) => r.path.startsWith('/v1/')).map(
      (r) => `${r.method.toUpperCase()} ${fastifyUrl(r)}`,
    ),
  );
  assert.deepEqual([...registered].sort(), [...documented].sort());
});

test('generated requests to every route: never a 5xx, every 4xx from the catalogue', async () => {
  const routes = routesOf(h.app);
  assert.ok(routes.length > 30, `${routes.length} routes`);
  for (const must of ['/v1/runs', '/v1/uploads/:bucket/*', '/admin/queues/api/queues', '/docs']) {
    assert.ok(
      routes.some((r) => r.url === must),
      must,
    );
  }
  // Most requests go to the API's own routes; the docs' and dashboard's get a few each.
  const api = routes.filter((r) => r.url.startsWith('/v1/'));
  const others = routes.filter((r) => !r.url.startsWith('/v1/'));
  for (const route of routes) {
    const share = api.includes(route) ? (0.8 * RUNS) / api.length : (0.2 * RUNS) / others.length;
    await fc.assert(
      fc.asyncProperty(requestFor(route), async (request) => {
        const res = await h.app.inject(request);
        checkAnswer(request, res);
      }),
      { numRuns: Math.max(10, Math.ceil(share)), endOnFailure: true },
    );
  }
  const probe = {} as Record<string, unknown>;
  assert.equal(probe.polluted, undefined, 'Object.prototype was not polluted');
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
});

test('the fixed nasty cases, on every route', async () => {
  const nasty: Omit<InjectOptions, 'url'>[] = [
    { method: 'POST', payload: '{"input":', headers: { 'content-type': 'application/json' } },
    { method: 'POST', payload: '', headers: { 'content-type': 'application/json' } },
    { method: 'POST', payload: 'null', headers: { 'content-type': 'application/json' } },
    { method: 'POST', payload: '[]', headers: { 'content-type': 'application/json' } },
    {
      method: 'POST',
      payload: 'x=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    { method: 'POST', payload: 'abc', headers: { 'content-type': 'multipart/form-data' } },
    { method: 'PUT', payload: Buffer.alloc(70 * 1024, 1), headers: {} },
    { method: 'GET', headers: { authorization: 'Bearer ' + 'k'.repeat(5000) } },
    { method: 'DELETE', payload: '{}', headers: { 'content-type': 'application/json' } },
  ];
  for (const route of routesOf(h.app)) {
    const url = route.url.replace(/:([A-Za-z0-9_]+)|\*/g, 'x%2F..%2Fy');
    for (const request of nasty) {
      const withKey = {
        ...request,
        url,
        headers: { ...bearer(key), ...(request.headers as Record<string, string>) },
      };
      const res = await h.app.inject(withKey);
      checkAnswer(withKey, res);
    }
  }
});
