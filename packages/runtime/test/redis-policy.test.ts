/**
 * The start-up check of Redis's maxmemory-policy, against real redis-server processes
 * started with other policies, with CONFIG disabled (as managed services do) and with INFO
 * disabled too.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { freePort } from '@imgcluster/devstack';
import { createLogger } from '@imgcluster/logging';
import { createRedis } from '@imgcluster/queues';
import { checkRedisPolicy, createContext, RedisPolicyError } from '../src/index.js';

const missing = spawnSync('redis-server', ['--version']).error;
const skip = missing ? 'redis-server is not installed: apt-get install -y redis-server' : false;

const servers: ChildProcess[] = [];

after(async () => {
  for (const child of servers) {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

/** A throwaway redis-server on a loopback port with extra arguments; its URL. */
async function redisWith(...args: string[]): Promise<string> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  servers.push(child);
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${seen}`)));
  });
  return `redis://127.0.0.1:${port}`;
}

/** A logger whose JSON lines are kept in `lines`. */
function capturingLogger() {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('test', 'debug', sink), lines };
}

async function check(url: string, allow: boolean) {
  const redis = createRedis(url);
  // Without INFO, ioredis's ready check reports an error event (and goes on).
  redis.on('error', () => undefined);
  const { log, lines } = capturingLogger();
  try {
    const result = await checkRedisPolicy(redis, allow, log).then(
      (reading) => ({ reading, error: undefined }),
      (error: Error) => ({ reading: undefined, error }),
    );
    return { ...result, lines };
  } finally {
    redis.disconnect();
  }
}

test('noeviction passes quietly', { skip }, async () => {
  const url = await redisWith('--maxmemory-policy', 'noeviction');
  const { reading, error, lines } = await check(url, false);
  assert.equal(error, undefined);
  assert.deepEqual(reading, { policy: 'noeviction', source: 'config' });
  assert.ok(lines.every((l) => l.level < 40));
});

test('another policy refuses start-up unless REDIS_ALLOW_EVICTION', { skip }, async () => {
  const url = await redisWith('--maxmemory-policy', 'allkeys-lru');

  const refused = await check(url, false);
  assert.ok(refused.error instanceof RedisPolicyError);
  assert.match(refused.error.message, /maxmemory-policy is allkeys-lru, not noeviction/);
  assert.match(refused.error.message, /REDIS_ALLOW_EVICTION=true/);

  const allowed = await check(url, true);
  assert.equal(allowed.error, undefined);
  assert.equal(allowed.reading?.policy, 'allkeys-lru');
  const loud = allowed.lines.find((l) => l.level >= 50);
  assert.ok(loud, 'an error-level line');
  assert.match(loud.msg, /^UNSAFE: redis maxmemory-policy is allkeys-lru/);
});

test('with CONFIG disabled the policy is read from INFO', { skip }, async () => {
  const url = await redisWith(
    '--maxmemory-policy',
    'volatile-lru',
    '--rename-command',
    'CONFIG',
    '',
  );
  const { reading, error } = await check(url, false);
  assert.ok(error instanceof RedisPolicyError);
  assert.match(error.message, /is volatile-lru/);

  const ok = await redisWith('--rename-command', 'CONFIG', '', '--maxmemory-policy', 'noeviction');
  assert.deepEqual((await check(ok, false)).reading, { policy: 'noeviction', source: 'info' });
  assert.equal(reading, undefined);
});

test('a server that tells neither way gets a warning and start-up goes on', { skip }, async () => {
  const url = await redisWith(
    '--maxmemory-policy',
    'allkeys-random',
    '--rename-command',
    'CONFIG',
    '',
    '--rename-command',
    'INFO',
    '',
  );
  const { reading, error, lines } = await check(url, false);
  assert.equal(error, undefined);
  assert.equal(reading?.source, 'unknown');
  assert.match(reading?.error ?? '', /CONFIG GET: ERR unknown command/);
  const warning = lines.find((l) => l.level === 40);
  assert.ok(warning);
  assert.match(warning.msg, /cannot read redis maxmemory-policy: make sure it is noeviction/);
});

test('createContext refuses an evicting Redis and closes what it opened', { skip }, async () => {
  const url = await redisWith('--maxmemory-policy', 'allkeys-lfu');
  const env = { REDIS_URL: url, S3_BUCKET: 'unused', LOG_LEVEL: 'silent' };
  await assert.rejects(createContext('test', env), RedisPolicyError);

  const ctx = await createContext('test', { ...env, REDIS_ALLOW_EVICTION: 'true' });
  assert.equal(ctx.env.REDIS_ALLOW_EVICTION, true);
  ctx.stopping = true;
  await ctx.redis.quit();
  ctx.storage.close();
});
