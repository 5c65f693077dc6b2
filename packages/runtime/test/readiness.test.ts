/**
 * Readiness of a service against a real redis-server and the local S3 server: ready while
 * both answer, and the reason when one does not (Redis stopped, S3 stopped, bucket
 * missing), when the workers have not started yet, or while the service stops. Then the
 * probe server a worker service starts in createContext, on a port it picks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import {
  LOCAL_S3_CREDENTIALS,
  startRedis,
  startS3,
  type LocalRedis,
  type LocalS3,
} from '@imgcluster/devstack';
import { ServiceMetrics } from '@imgcluster/observability';
import { checkReadiness, createContext, type ServiceContext } from '../src/index.js';

let dir: string;
let redis: LocalRedis;
let s3: LocalS3;
const contexts: ServiceContext[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgcluster-readiness-'));
  redis = await startRedis(join(dir, 'redis'));
  s3 = await startS3(join(dir, 's3'));
});

after(async () => {
  for (const ctx of contexts) {
    ctx.stopping = true;
    await ctx.probes?.close();
    ctx.storage.close();
    ctx.redis.disconnect();
  }
  await redis.stop();
  await s3.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function context(bucket: string, extra: Record<string, string> = {}) {
  const ctx = await createContext(
    'test',
    {
      REDIS_URL: redis.url,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      S3_BUCKET: bucket,
      S3_MAX_ATTEMPTS: '1',
      LOG_LEVEL: 'silent',
      ...extra,
    },
    { metrics: new ServiceMetrics(new Registry()), probes: extra.METRICS_PORT !== undefined },
  );
  contexts.push(ctx);
  return ctx;
}

test('ready while Redis and the bucket answer; the reason when one does not', async () => {
  const ctx = await context('ready-bucket');
  await ctx.storage.ensureBucket('ready-bucket');
  assert.deepEqual(await checkReadiness(ctx), {
    ready: true,
    checks: { service: 'ok', redis: 'ok', storage: 'ok' },
  });

  const starting = await checkReadiness(ctx, { needsWorkers: true });
  assert.equal(starting.ready, false);
  assert.equal(starting.checks.service, 'starting');

  const other = await context('absent-bucket');
  const absent = await checkReadiness(other);
  assert.equal(absent.ready, false);
  assert.equal(absent.checks.storage, 'bucket absent-bucket does not exist');
  assert.equal(absent.checks.redis, 'ok');

  await redis.stop();
  try {
    const down = await checkReadiness(ctx, { timeoutMs: 500 });
    assert.equal(down.ready, false);
    assert.equal(down.checks.redis, 'no answer within 500 ms');
    assert.equal(down.checks.storage, 'ok');
  } finally {
    await redis.restart();
  }
  for (let i = 0; i < 50 && !(await checkReadiness(ctx)).ready; i++) await sleep(100);
  assert.equal((await checkReadiness(ctx)).ready, true, 'ready again after Redis is back');

  ctx.stopping = true;
  assert.equal((await checkReadiness(ctx)).checks.service, 'stopping');
});

test('a worker context serves its probes on a port it picked', async () => {
  const ctx = await context('probe-bucket', { METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' });
  await ctx.storage.ensureBucket('probe-bucket');
  assert.ok(ctx.probes, 'the probe server started');
  assert.ok(ctx.probes.port > 0);

  assert.equal((await fetch(`${ctx.probes.url}/healthz`)).status, 200);
  const starting = await fetch(`${ctx.probes.url}/readyz`);
  assert.equal(starting.status, 503, 'no worker yet');
  assert.equal((await starting.json()).error, 'service: starting');

  const metrics = await (await fetch(`${ctx.probes.url}/metrics`)).text();
  assert.match(metrics, /^process_cpu_user_seconds_total\{service="test"\} /m);

  await s3.stop();
  const noStorage = await fetch(`${ctx.probes.url}/readyz`);
  assert.equal(noStorage.status, 503);
  const body = await noStorage.json();
  assert.equal(body.checks.redis, 'ok');
  assert.match(body.checks.storage, /^bucket probe-bucket: /);
});
