/**
 * API keys, rate limits, request limits and what the logs hold, against a real redis-server
 * and S3 server: /v1 needs a key once keys are configured while the probes and docs stay
 * open; the open API acts as tenant `default`; each credential has its own counter, shared by
 * API replicas through Redis; every limit answers its catalogue code naming the field, and an
 * oversized upload stores nothing; no key ever reaches a log line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { apiKeyEntry, hashApiKey, newApiKey } from '@imgcluster/client';
import { REPO_ROOT } from '@imgcluster/devstack';
import { API_ERRORS } from '../src/errors.js';
import { errorBodySchema } from '../src/response-schemas.js';
import { bearer, INPUT_BUCKET, startHarness, testPng, type Harness } from './harness.js';

const errorOf = (res: { body: string }) => errorBodySchema.parse(JSON.parse(res.body)).error;

/** PUTs the chunks with Transfer-Encoding: chunked; resolves to the status and body. */
function chunkedPut(url: string, chunks: Buffer[]) {
  return new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'PUT' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body }));
    });
    // The server may answer and close before every chunk is written.
    req.on('error', (err) => (req.writableEnded ? undefined : reject(err)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('API keys', () => {
  let h: Harness;
  const key = newApiKey();
  const other = newApiKey();

  before(async () => {
    h = await startHarness({
      API_KEYS: `${apiKeyEntry('acme', key)}\n${apiKeyEntry('acme', other)}`,
      ADMIN_PASSWORD: 'a dashboard password',
      LOG_LEVEL: 'trace',
    });
  });
  after(() => h?.stop());

  test('every /v1 route needs a key: 401 with the catalogue code', async () => {
    const urls = ['/v1/runs', '/v1/runs/run_abcdef123', `/v1/uploads/${INPUT_BUCKET}`, '/v1/nope'];
    for (const url of urls) {
      const none = await h.app.inject({ method: 'GET', url });
      assert.equal(none.statusCode, 401, url);
      assert.equal(errorOf(none).code, 'API_KEY_REQUIRED');
      assert.equal(errorOf(none).issues?.[0].path, 'headers.authorization');
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="imgcluster"');

      for (const authorization of [
        `Bearer ${key}x`,
        `Bearer ${hashApiKey(key)}`,
        `Basic ${Buffer.from(`acme:${key}`).toString('base64')}`,
        key,
        'Bearer',
      ]) {
        const wrong = await h.app.inject({ method: 'GET', url, headers: { authorization } });
        assert.equal(wrong.statusCode, 401, `${url} ${authorization}`);
        assert.equal(errorOf(wrong).code, 'API_KEY_INVALID');
        assert.ok(!wrong.body.includes(key), 'the answer does not echo the key');
      }
    }
    const ok = await h.app.inject({ method: 'GET', url: '/v1/runs', headers: bearer(key) });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['www-authenticate'], undefined);
    const second = await h.app.inject({ method: 'GET', url: '/v1/runs', headers: bearer(other) });
    assert.equal(second.statusCode, 200, 'a tenant may have several keys');
  });

  test('probes, docs and the dashboard do not take API keys', async () => {
    for (const url of ['/healthz', '/readyz', '/docs/openapi.json']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
    }
    const board = await h.app.inject({
      method: 'GET',
      url: '/admin/queues/api/queues',
      headers: bearer(key),
    });
    assert.equal(board.statusCode, 401);
    assert.equal(errorOf(board).code, 'ADMIN_AUTH_REQUIRED');
  });

  test('no key reaches the logs', async () => {
    await h.app.inject({ method: 'POST', url: '/v1/runs', headers: bearer(key), payload: {} });
    await h.app.inject({ method: 'GET', url: `/v1/runs?cursor=x`, headers: bearer(other) });
    await h.app.inject({ method: 'GET', url: '/v1/runs', headers: bearer(`${key}-wrong`) });
    const logged = h.logs.join('\n');
    assert.match(logged, /"url":"\/v1\/runs"/, 'requests were logged at all');
    assert.match(logged, /API keys configured/);
    for (const secret of [key, other, 'ick_', 'a dashboard password']) {
      assert.ok(!logged.includes(secret), `the logs hold ${secret.slice(0, 6)}…`);
    }
  });
});

describe('the open API (no keys configured)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({});
  });
  after(() => h?.stop());

  test('needs no key, warns at start, and records runs for tenant default', async () => {
    assert.ok(h.logs.some((l) => l.includes('NO API KEYS CONFIGURED') && l.includes('"level":40')));
    await h.app.inject({
      method: 'PUT',
      url: `/v1/uploads/${INPUT_BUCKET}/any/where.png`,
      payload: await testPng(0),
    });
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/runs',
      // A key sent to an open API changes nothing.
      headers: bearer(newApiKey()),
      payload: { input: { bucket: INPUT_BUCKET, prefix: 'any/' } },
    });
    assert.equal(res.statusCode, 202, res.body);
    const status = await h.app.inject({ method: 'GET', url: `/v1/runs/${res.json().id}` });
    assert.equal(status.json().tenant, 'default');
    assert.equal(status.json().maxImages, 1_000_000);
  });
});

describe('rate limiting', () => {
  let h: Harness;
  const a = newApiKey();
  const b = newApiKey();

  before(async () => {
    h = await startHarness({
      API_KEYS: `${apiKeyEntry('acme', a)},${apiKeyEntry('globex', b)}`,
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
    });
  });
  after(() => h?.stop());

  test('per credential, across API replicas, with 429 RATE_LIMITED and Retry-After', async () => {
    const get = (app: Harness['app'], key: string) =>
      app.inject({ method: 'GET', url: '/v1/runs', headers: bearer(key) });
    for (let n = 0; n < 2; n++) {
      const res = await get(h.app, a);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-ratelimit-limit'], '3');
      assert.equal(res.headers['x-ratelimit-remaining'], String(2 - n));
    }
    // A second API on the same Redis counts against the same counter.
    const replica = await h.another({});
    assert.equal((await get(replica.app, a)).statusCode, 200);
    for (const app of [h.app, replica.app]) {
      const over = await get(app, a);
      assert.equal(over.statusCode, 429);
      const error = errorOf(over);
      assert.equal(error.code, 'RATE_LIMITED');
      assert.match(error.message, /RATE_LIMIT_MAX/);
      const retry = Number(over.headers['retry-after']);
      assert.ok(retry > 0 && retry <= 60, `Retry-After ${over.headers['retry-after']}`);
    }
    // Another credential has its own counter; probes and docs are not counted.
    assert.equal((await get(h.app, b)).statusCode, 200);
    for (let n = 0; n < 5; n++) {
      assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    }
    const keys = await h.ctx.redis.keys('imgcluster:ratelimit:*');
    assert.equal(keys.length, 2, 'one counter per credential');
    for (const k of keys) assert.ok(!k.includes(a) && !k.includes(b), 'counters do not name keys');
  });

  test('while the API is open, per client address', async () => {
    const open = await h.another({ API_KEYS: '' });
    const from = (remoteAddress: string) =>
      open.app.inject({ method: 'GET', url: '/v1/runs', remoteAddress });
    for (let n = 0; n < 3; n++) assert.equal((await from('10.0.0.1')).statusCode, 200);
    assert.equal((await from('10.0.0.1')).statusCode, 429);
    assert.equal((await from('10.0.0.2')).statusCode, 200);
  });
});

describe('limits', () => {
  let h: Harness;
  const limit = 1024;

  before(async () => {
    h = await startHarness({
      UPLOAD_MAX_BYTES: String(limit),
      API_BODY_MAX_BYTES: '2048',
      RUN_MAX_K: '50',
      RUN_MAX_IMAGE_SIZE: '64',
      RUN_MAX_IMAGES: '2',
    });
    await h.ctx.storage.put(INPUT_BUCKET, 'in/a.png', await testPng(0));
  });
  after(() => h?.stop());

  const submit = (payload: unknown) =>
    h.app.inject({ method: 'POST', url: '/v1/runs', payload: payload as object });

  test('an oversized upload answers 413 UPLOAD_TOO_LARGE and stores nothing', async () => {
    const exact = await h.app.inject({
      method: 'PUT',
      url: `/v1/uploads/${INPUT_BUCKET}/big/exact.bin`,
      payload: Buffer.alloc(limit, 7),
    });
    assert.equal(exact.statusCode, 201);
    assert.equal(exact.json().bytes, limit);

    const sized = await h.app.inject({
      method: 'PUT',
      url: `/v1/uploads/${INPUT_BUCKET}/big/over.bin`,
      payload: Buffer.alloc(limit + 1, 7),
    });
    // The same body without a length, as a stream: refused as it passes the limit.
    const streamed = await h.app.inject({
      method: 'PUT',
      url: `/v1/uploads/${INPUT_BUCKET}/big/streamed.bin`,
      headers: { 'transfer-encoding': 'chunked' },
      payload: Readable.from([Buffer.alloc(600, 1), Buffer.alloc(600, 2), Buffer.alloc(600, 3)]),
    });
    // And over a real socket, chunked, as curl -T - or a streaming client sends it.
    const address = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const overSocket = await chunkedPut(`${address}/v1/uploads/${INPUT_BUCKET}/big/socket.bin`, [
      Buffer.alloc(600, 1),
      Buffer.alloc(600, 2),
    ]);
    for (const res of [sized, streamed, overSocket]) {
      assert.equal(res.statusCode, 413, res.body);
      assert.equal(errorOf(res).code, 'UPLOAD_TOO_LARGE');
      assert.match(errorOf(res).message, /UPLOAD_MAX_BYTES = 1024/);
    }
    const listed = await h.ctx.storage.list(INPUT_BUCKET, 'big/');
    assert.deepEqual(
      listed.map((o) => [o.key, o.size]),
      [['big/exact.bin', limit]],
    );
  });

  test('a JSON body over API_BODY_MAX_BYTES answers 413 BODY_TOO_LARGE', async () => {
    const res = await submit({ name: 'x'.repeat(3000), input: { bucket: INPUT_BUCKET } });
    assert.equal(res.statusCode, 413);
    assert.equal(errorOf(res).code, 'BODY_TOO_LARGE');
    assert.deepEqual(errorOf(res).issues?.[0].path, 'body');
  });

  test('k, image size and model weights above the configured limits name their fields', async () => {
    const cases: [object, string][] = [
      [{ kmeans: { k: 51 } }, 'body.kmeans.k'],
      [{ kmeans: { k: 'auto', kRange: { min: 2, max: 51 } } }, 'body.kmeans.kRange.max'],
      [{ image: { size: 72 } }, 'body.image.size'],
      [{ kmeans: { k: 1 } }, 'body.kmeans.k'],
      [{ image: { size: 8 } }, 'body.image.size'],
      // 64×64×3 inputs into 4096 units twice over: about 117 million weights.
      [
        {
          image: { size: 64, channels: 3 },
          model: { architecture: 'dense', hidden: [4096, 4096] },
        },
        'body.model.hidden',
      ],
    ];
    for (const [extra, path] of cases) {
      const res = await submit({ input: { bucket: INPUT_BUCKET, prefix: 'in/' }, ...extra });
      assert.equal(res.statusCode, 400, JSON.stringify(extra));
      assert.equal(errorOf(res).code, 'VALIDATION_FAILED');
      assert.deepEqual(
        errorOf(res).issues?.map((i) => i.path),
        [path],
      );
    }
    const dense = await submit({
      input: { bucket: INPUT_BUCKET, prefix: 'in/' },
      image: { size: 64, channels: 3 },
      model: { architecture: 'dense', hidden: [4096, 4096] },
    });
    assert.match(
      errorOf(dense).issues?.[0].message ?? '',
      /^the dense autoencoder for 64×64×3 images would have \d+ weights, more than 25000000 \(RUN_MAX_MODEL_WEIGHTS\)$/,
    );
    const ok = await submit({
      input: { bucket: INPUT_BUCKET, prefix: 'in/' },
      kmeans: { k: 50 },
      model: { architecture: 'dense' },
    });
    assert.equal(ok.statusCode, 202, ok.body);
    const status = await h.ctx.store.get(ok.json().id);
    assert.equal(status?.maxImages, 2, 'the run carries RUN_MAX_IMAGES to its plan');
  });

  test('bucket names and keys that object stores refuse are a 400 here', async () => {
    for (const url of [
      `/v1/uploads/my..bucket/a.png`,
      `/v1/uploads/ab-.cd/a.png`,
      `/v1/uploads/192.168.1.1/a.png`,
      `/v1/uploads/${INPUT_BUCKET}/a//b.png`,
      `/v1/uploads/${INPUT_BUCKET}/a/%2F/b.png`,
      `/v1/uploads/${INPUT_BUCKET}/a/%00/b.png`,
    ]) {
      const res = await h.app.inject({ method: 'PUT', url, payload: 'x' });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(errorOf(res).code, 'VALIDATION_FAILED');
      assert.match(errorOf(res).issues?.[0].path ?? '', /^params\.(bucket|key)$/);
    }
    const run = await submit({ input: { bucket: 'my..bucket' } });
    assert.equal(run.statusCode, 400);
    assert.equal(errorOf(run).issues?.[0].path, 'body.input.bucket');
  });
});

test('docs/api-security.md lists every error code with its status', () => {
  const whole = readFileSync(`${REPO_ROOT}/docs/api-security.md`, 'utf8');
  const doc = whole.slice(whole.indexOf('\n## Errors'), whole.indexOf('\n## How it is tested'));
  const rows = new Map(
    [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
  );
  for (const [code, { status }] of Object.entries(API_ERRORS)) {
    assert.equal(rows.get(code), status, `${code} (${status}) in the table`);
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(API_ERRORS).sort(), 'no stale codes');
});
