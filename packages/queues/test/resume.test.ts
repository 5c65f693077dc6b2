/** Reopening and resuming runs, against a real private redis-server. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { runSpecSchema } from '@imgcluster/config';
import { startRedis, type LocalRedis } from '@imgcluster/devstack';
import { createRedis, jobIds, Producers, QUEUES, resumeRun, RunStore } from '../src/index.js';

let redis: LocalRedis;
let conn: Redis;
let store: RunStore;
let producers: Producers;
let dir: string;
const spec = runSpecSchema.parse({ input: { bucket: 'datasets' } });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgcluster-resume-'));
  redis = await startRedis(dir);
  conn = createRedis(redis.url);
  store = new RunStore(conn);
  producers = new Producers(conn);
});

after(async () => {
  await producers?.close();
  await conn?.quit();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitingIds(stage: keyof typeof QUEUES): Promise<string[]> {
  const queue = new Queue(QUEUES[stage], { connection: conn });
  const jobs = await queue.getJobs(['waiting', 'waiting-children', 'prioritized']);
  return jobs.map((j) => j.id!).sort();
}

test('only a failed or cancelled run reopens, once per retry', async () => {
  await store.create('run_reopen1', spec);
  assert.deepEqual(await store.reopen('run_reopen1'), { previous: 'queued' });
  await store.startStage('run_reopen1', 'plan', 1);
  await store.fail('run_reopen1', 'plan', 'boom');
  const first = await store.reopen('run_reopen1');
  assert.deepEqual(first, { gen: 1, previous: 'failed' });
  assert.deepEqual(await store.reopen('run_reopen1'), { previous: 'queued' });
  const status = await store.get('run_reopen1');
  assert.equal(status?.state, 'queued');
  assert.equal(status?.error, undefined);
  assert.equal(status?.retries, 1);
  assert.equal(status?.stages.plan.state, 'pending');
  assert.equal(status?.stages.plan.error, undefined);
  assert.deepEqual(await store.control('run_reopen1'), { state: 'queued', gen: 1 });
});

test('a run failed in preprocess resumes with only the unfinished shards', async () => {
  const id = 'run_resumepre1';
  await store.create(id, spec);
  await store.finishStage(id, 'plan');
  await store.setDetail(id, 'plan', { shards: 4 });
  for (const shard of [0, 2]) {
    await store.shardDone(id, 'preprocess', shard, { accepted: 5, rejected: 0, reasons: {} });
  }
  await store.fail(id, 'preprocess', 'storage down');
  const { gen } = await store.reopen(id);
  assert.equal(gen, 1);
  assert.equal(await resumeRun(store, producers, id, gen!, 3), 'preprocess');
  const mine = (ids: string[]) => ids.filter((j) => j.startsWith(id));
  assert.deepEqual(mine(await waitingIds('preprocess')), [
    jobIds.preprocess(id, 1, 1),
    jobIds.preprocess(id, 3, 1),
  ]);
  assert.deepEqual(mine(await waitingIds('train')), [jobIds.train(id, 1)]);
  assert.equal((await store.get(id))?.stages.preprocess.state, 'running');
});

test('a run failed in encode resumes encoding without retraining', async () => {
  const id = 'run_resumeenc1';
  await store.create(id, spec);
  for (const stage of ['plan', 'preprocess', 'train'] as const) await store.finishStage(id, stage);
  for (const [shard, accepted] of [
    [0, 5],
    [1, 0],
    [2, 5],
    [3, 5],
  ]) {
    await store.shardDone(id, 'preprocess', shard, { accepted, rejected: 5 - accepted });
  }
  await store.shardDone(id, 'encode', 3, { images: 5 });
  await store.setState(id, 'cancelled');
  const { gen } = await store.reopen(id);
  assert.equal(await resumeRun(store, producers, id, gen!, 3), 'encode');
  const mine = (ids: string[]) => ids.filter((j) => j.startsWith(id));
  // Shard 1 had no accepted image, shard 3 is already encoded.
  assert.deepEqual(mine(await waitingIds('encode')), [
    jobIds.encode(id, 0, 1),
    jobIds.encode(id, 2, 1),
  ]);
  assert.deepEqual(mine(await waitingIds('cluster')), [jobIds.cluster(id, 1)]);
  assert.deepEqual(mine(await waitingIds('train')), []);
  assert.equal((await store.get(id))?.stages.encode.total, 3);
});

test('with every shard of a stage done, the next stage is queued alone', async () => {
  const id = 'run_resumeall1';
  await store.create(id, spec);
  await store.finishStage(id, 'plan');
  await store.setDetail(id, 'plan', { shards: 2 });
  for (const shard of [0, 1]) await store.shardDone(id, 'preprocess', shard, { accepted: 1 });
  await store.fail(id, 'train', 'killed');
  await store.setState(id, 'failed');
  const { gen } = await store.reopen(id);
  // preprocess was never marked succeeded (the trainer does that), so it resumes there.
  assert.equal(await resumeRun(store, producers, id, gen!, 3), 'preprocess');
  assert.deepEqual(
    (await waitingIds('train')).filter((j) => j.startsWith(id)),
    [jobIds.train(id, 1)],
  );
  assert.deepEqual(
    (await waitingIds('preprocess')).filter((j) => j.startsWith(id)),
    [],
  );
});
