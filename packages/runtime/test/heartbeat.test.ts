import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, startRedis, type LocalRedis } from '@imgcluster/devstack';
import { createContext, startHeartbeat } from '../src/index.js';

let dir: string;
let redis: LocalRedis;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgcluster-heartbeat-'));
  redis = await startRedis(dir);
});

after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const check = (...args: string[]) =>
  spawnSync(process.execPath, [join(REPO_ROOT, 'packages/runtime/heartbeat-check.mjs'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });

test('a worker touches its heartbeat file while Redis answers', async () => {
  const file = join(dir, 'beat');
  const ctx = await createContext('test', {
    REDIS_URL: redis.url,
    S3_BUCKET: 'unused',
    HEARTBEAT_FILE: file,
  });
  try {
    startHeartbeat(ctx);
    for (let i = 0; i < 100 && check(file).status !== 0; i++) await sleep(20);
    assert.equal(check(file).status, 0, 'no fresh heartbeat');
    const first = statSync(file).mtimeMs;
    assert.ok(Date.now() - first < 5000);
  } finally {
    ctx.stopping = true;
    await ctx.redis.quit();
  }
});

test('the check fails on an old, a missing or no heartbeat file', () => {
  const file = join(dir, 'old');
  writeFileSync(file, '');
  assert.equal(check(file).status, 0);
  const old = new Date(Date.now() - 120_000);
  utimesSync(file, old, old);
  const stale = check(file);
  assert.equal(stale.status, 1);
  assert.match(stale.stderr, /is 12\d s old/);
  assert.equal(check(file, '300').status, 0, 'a longer limit accepts it');
  assert.equal(check(join(dir, 'missing')).status, 1);
  assert.equal(check().status, 2);
});
