/**
 * Runs and their tenants in the run store, and the image limit a run carries to its plan,
 * against a real private redis-server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { runSpecSchema } from '@imgcluster/config';
import { startRedis, type LocalRedis } from '@imgcluster/devstack';
import {
  createRedis,
  DEFAULT_TENANT,
  PermanentJobError,
  Producers,
  queueShardStage,
  RunStore,
} from '../src/index.js';

let redis: LocalRedis;
let conn: Redis;
let store: RunStore;
let producers: Producers;
let dir: string;
const spec = runSpecSchema.parse({ input: { bucket: 'datasets', prefix: 'in/' } });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgcluster-tenants-'));
  redis = await startRedis(dir);
  conn = createRedis(redis.url);
  store = new RunStore(conn, 'tenanttest');
  producers = new Producers(conn);
});

after(async () => {
  await producers?.close();
  await conn?.quit();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('each tenant lists only its runs, newest first, page by page', async () => {
  const t0 = Date.UTC(2025, 0, 1);
  for (let n = 0; n < 5; n++) {
    await store.create(`run_a${n}`, spec, new Date(t0 + 10 * n), { tenant: 'acme' });
    await store.create(`run_g${n}`, spec, new Date(t0 + 10 * n + 5), { tenant: 'globex' });
  }
  const first = await store.list(undefined, 2, 'acme');
  assert.deepEqual(first, { ids: ['run_a4', 'run_a3'], total: 5, next: t0 + 30 });
  const second = await store.list(first.next!, 2, 'acme');
  assert.deepEqual(second.ids, ['run_a2', 'run_a1']);
  const last = await store.list(second.next!, 2, 'acme');
  assert.deepEqual(last, { ids: ['run_a0'], total: 5, next: null });
  assert.equal((await store.list(undefined, 100, 'globex')).total, 5);
  assert.equal((await store.list(undefined, 100, 'nobody')).total, 0);
  assert.equal((await store.list(undefined, 100)).total, 10, 'no tenant: every run');
  assert.equal((await store.get('run_g0'))?.tenant, 'globex');
  assert.equal((await store.get('run_a0'))?.maxImages, undefined);
});

test('runs recorded without a tenant are adopted by the default tenant, once', async () => {
  // As an older version recorded a run: no tenant field, only in the run index.
  await conn.hset('tenanttest:run:run_old1', { state: 'succeeded', spec: JSON.stringify(spec) });
  await conn.zadd('tenanttest:runs', 1, 'run_old1');
  await conn.zadd('tenanttest:runs', 2, 'run_gone1');
  assert.equal((await store.get('run_old1'))?.tenant, DEFAULT_TENANT);
  assert.equal((await store.list(undefined, 10, DEFAULT_TENANT)).total, 0);

  assert.equal(await store.adoptUntenantedRuns(), 1);
  assert.equal(await store.adoptUntenantedRuns(), 0);
  assert.deepEqual((await store.list(undefined, 10, DEFAULT_TENANT)).ids, ['run_old1']);
  assert.equal((await store.list(undefined, 10, 'acme')).total, 5, 'other runs untouched');
});

test('a plan over more images than the run may have fails before any shard is queued', async () => {
  for (const [id, images] of [
    ['run_lim1', 3],
    ['run_lim2', 2],
  ] as const) {
    await store.create(id, spec, new Date(), { tenant: 'acme', maxImages: 2 });
    await store.finishStage(id, 'plan');
    await store.setDetail(id, 'plan', { images, shards: 1 });
  }
  await assert.rejects(
    queueShardStage(store, producers, 'run_lim1', 0, 'preprocess', 3),
    (err: Error) =>
      err instanceof PermanentJobError &&
      err.code === 'TOO_MANY_IMAGES' &&
      err.message.includes('3 input objects under s3://datasets/in/') &&
      err.message.includes('at most 2 (RUN_MAX_IMAGES)'),
  );
  assert.equal((await store.get('run_lim1'))?.stages.preprocess.state, 'pending');
  await queueShardStage(store, producers, 'run_lim2', 0, 'preprocess', 3);
  assert.equal((await store.get('run_lim2'))?.stages.preprocess.state, 'running');
});
