/**
 * Observability end to end, on the local stack (real Redis, S3 server and service
 * processes): a run's preprocessing shows in the preprocess worker's /metrics (images by
 * outcome and rejection reason, job durations) and in the API's (jobs by queue and state,
 * request durations); /healthz and /readyz answer on both, and /readyz names the server that
 * stopped answering; the log lines of a job carry runId, stage and shard, and no secret.
 * Then the start-up check of Redis's eviction policy, on a real redis-server with another
 * policy.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startService, startStack, type LocalStack } from '@imgcluster/devstack';
import { encodePng } from '@imgcluster/images';

/** A password the services receive and must never log. */
const ADMIN_PASSWORD = 'observability-admin-secret-7f3a';
const INPUT = { bucket: 'obs-input', prefix: 'in/' };
const GOOD_IMAGES = 4;
const BAD_FILES: Record<string, Buffer> = {
  'in/bad-empty.png': Buffer.alloc(0),
  'in/bad-text.png': Buffer.from('not an image at all\n'),
};
const SHARDS = 3;

let work: string;
let stack: LocalStack;
let runId: string;
const extraRedis: ChildProcess[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-observability-'));
  // The API and one preprocess worker: the run stops before training, which is all the
  // metrics under test need.
  stack = await startStack(
    work,
    { preprocess: 1, trainer: 0, encoder: 0, cluster: 0 },
    { ADMIN_PASSWORD, LOG_LEVEL: 'debug' },
  );
  await stack.storage.ensureBucket(INPUT.bucket);
  for (let i = 0; i < GOOD_IMAGES; i++) {
    const pixels = new Uint8Array(16 * 16).fill(40 + i * 50);
    await stack.storage.put(INPUT.bucket, `in/good-${i}.png`, await encodePng(pixels, 16, 16, 1));
  }
  for (const [key, body] of Object.entries(BAD_FILES)) {
    await stack.storage.put(INPUT.bucket, key, body);
  }

  const res = await fetch(`${stack.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      input: INPUT,
      image: { size: 16, channels: 1 },
      kmeans: { k: 2 },
      shardSize: 2,
    }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  runId = (await res.json()).id;
  await until(async () => {
    const run = await (await fetch(`${stack.apiUrl}/v1/runs/${runId}`)).json();
    return run.stages.preprocess.done === SHARDS;
  }, 'every shard preprocessed');
});

after(async () => {
  for (const child of extraRedis) child.kill('SIGKILL');
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Polls `check` until it holds (30 s at most). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`${what}: not within 30 s`);
}

/** The value of one sample in Prometheus text, undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}) {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
const preprocessService = () => stack.services.find((s) => s.name === 'preprocess')!;

test('the preprocess worker counts images by outcome and reason, and times its jobs', async () => {
  const url = await stack.metricsUrl(preprocessService());
  assert.notEqual(url, stack.apiUrl, 'a port of its own');
  const done = { stage: 'preprocess', outcome: 'completed', queue: 'imgcluster-preprocess' };
  let text = '';
  await until(async () => {
    text = await scrape(url);
    return sample(text, 'imgcluster_job_duration_seconds_count', done) === SHARDS;
  }, 'three preprocess jobs observed');

  const service = { service: 'preprocess' };
  assert.equal(sample(text, 'imgcluster_images_preprocessed_total', service), GOOD_IMAGES);
  const rejected = (reason: string) =>
    sample(text, 'imgcluster_images_rejected_total', { reason, ...service });
  assert.equal(rejected('empty'), 1);
  assert.equal(rejected('not_an_image'), 1);
  assert.equal(rejected('corrupt'), 0, 'every reason is listed before it happens');
  assert.equal(rejected('missing'), 0);
  const plan = { stage: 'plan', outcome: 'completed', queue: 'imgcluster-plan' };
  assert.equal(sample(text, 'imgcluster_job_duration_seconds_count', plan), 1);

  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual((await ready.json()).checks, { service: 'ok', redis: 'ok', storage: 'ok' });
});

test('the API counts jobs by queue and state at each scrape, and its requests', async () => {
  let text = '';
  // Every shard done: the train job (the flow's parent) waits for a trainer that is not here.
  await until(async () => {
    text = await scrape(stack.apiUrl);
    const train = { queue: 'imgcluster-train', state: 'waiting' };
    return sample(text, 'imgcluster_queue_jobs', train) === 1;
  }, 'the train job waiting');
  const jobs = (queue: string, state: string) =>
    sample(text, 'imgcluster_queue_jobs', { queue, state, service: 'api' });
  assert.equal(jobs('imgcluster-preprocess', 'completed'), SHARDS);
  assert.equal(jobs('imgcluster-preprocess', 'waiting'), 0);
  assert.equal(jobs('imgcluster-plan', 'completed'), 1);
  assert.equal(jobs('imgcluster-encode', 'active'), 0);
  assert.equal(jobs('imgcluster-assign', 'waiting'), 0);
  assert.equal(sample(text, 'imgcluster_queue_count_errors_total'), 0);

  const polled = { method: 'GET', route: '/v1/runs/:id', status_code: '200' };
  assert.ok((sample(text, 'imgcluster_http_request_duration_seconds_count', polled) ?? 0) >= 1);
  const submitted = { method: 'POST', route: '/v1/runs', status_code: '202' };
  assert.equal(sample(text, 'imgcluster_http_request_duration_seconds_count', submitted), 1);
});

test("a job's log lines carry runId, stage and shard, and no log holds a secret", () => {
  const lines = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  const preprocess = lines(preprocessService().logFile);
  const shards = preprocess.filter((l) => l.msg === 'shard preprocessed');
  assert.equal(shards.length, SHARDS);
  for (const l of shards) {
    assert.equal(l.runId, runId);
    assert.equal(l.stage, 'preprocess');
    assert.equal(l.service, 'preprocess');
  }
  assert.deepEqual(shards.map((l) => l.shard).sort(), [0, 1, 2]);
  const planned = preprocess.find((l) => l.msg === 'run planned');
  assert.equal(planned?.runId, runId);
  assert.equal(planned?.stage, 'plan');

  for (const file of readdirSync(stack.logDir)) {
    const text = readFileSync(join(stack.logDir, file), 'utf8');
    assert.ok(!text.includes(ADMIN_PASSWORD), `${file} holds ADMIN_PASSWORD`);
    const start = lines(join(stack.logDir, file)).find((l) => l.msg?.endsWith(' starting'));
    assert.ok(start, `${file} has no start line`);
    assert.equal(start.config.S3_SECRET_ACCESS_KEY, '[redacted]', file);
    assert.equal(start.config.ADMIN_PASSWORD, '[redacted]', file);
    assert.equal(start.config.REDIS_URL, stack.redis.url, 'no password to hide');
  }
});

test('/readyz names what stopped answering: storage, then Redis', async () => {
  const worker = await stack.metricsUrl(preprocessService());
  await stack.s3.stop();

  for (const url of [worker, stack.apiUrl]) {
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 503, url);
    const body = await res.json();
    assert.equal(body.ok, false);
    assert.equal(body.checks.redis, 'ok');
    assert.match(body.checks.storage, /^bucket imgcluster: /);
    assert.match(body.error, /^storage: bucket imgcluster: /);
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'still alive');
  }

  await stack.redis.stop();
  try {
    const res = await fetch(`${worker}/readyz`);
    assert.equal(res.status, 503);
    assert.equal((await res.json()).checks.redis, 'no answer within 2000 ms');
    assert.equal((await fetch(`${worker}/healthz`)).status, 200, 'alive without Redis');
    const metrics = await fetch(`${stack.apiUrl}/metrics`);
    assert.equal(metrics.status, 200, 'the API scrapes without Redis');
    assert.equal(sample(await metrics.text(), 'imgcluster_queue_count_errors_total'), 1);
  } finally {
    await stack.redis.restart();
  }
});

/** A redis-server on a free loopback port with `--maxmemory-policy <policy>`; its URL. */
async function evictingRedis(policy: string): Promise<string> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', policy],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  extraRedis.push(child);
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return `redis://127.0.0.1:${port}`;
}

test('a service refuses a Redis that may evict, unless told to go on', async () => {
  const url = await evictingRedis('allkeys-lru');
  const env = { ...stack.env, REDIS_URL: url };

  const refusedLog = join(work, 'refused.log');
  const refused = startService('preprocess', env, refusedLog);
  const code = await new Promise((resolve) => refused.child.once('exit', (c) => resolve(c)));
  assert.equal(code, 1);
  const fatal = readFileSync(refusedLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => l.level === 60);
  assert.ok(fatal, 'a fatal log line');
  assert.match(fatal.msg, /redis maxmemory-policy is allkeys-lru, not noeviction/);
  assert.equal(fatal.code, 'REDIS_EVICTION_POLICY');

  const allowedLog = join(work, 'allowed.log');
  const allowed = startService('preprocess', { ...env, REDIS_ALLOW_EVICTION: 'true' }, allowedLog);
  try {
    const probes = await stack.metricsUrl({
      name: 'preprocess',
      process: allowed,
      logFile: allowedLog,
    });
    assert.equal((await fetch(`${probes}/healthz`)).status, 200);
    const unsafe = readFileSync(allowedLog, 'utf8')
      .split('\n')
      .find((l) => l.includes('UNSAFE'));
    assert.ok(unsafe, 'a loud warning');
    assert.equal(JSON.parse(unsafe).level, 50);
  } finally {
    await allowed.stop(15_000);
  }
});
