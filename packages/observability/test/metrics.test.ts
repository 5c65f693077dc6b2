/**
 * The metrics of a service process and the worker's probe server: names and values in the
 * Prometheus text, queue counts read from a real Redis at scrape time (and given up on when
 * Redis stops answering), and the probe server's answers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { startRedis, type LocalRedis } from '@imgcluster/devstack';
import { createRedis } from '@imgcluster/queues';
import {
  ProbeServerError,
  ServiceMetrics,
  startProbeServer,
  type Readiness,
} from '../src/index.js';

let dir: string;
let redis: LocalRedis;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgcluster-metrics-'));
  redis = await startRedis(dir);
});

after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

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

test('the pipeline metrics appear with their values and the service label', async () => {
  const metrics = new ServiceMetrics(new Registry());
  metrics.setService('preprocess');
  metrics.knowRejectReasons(['empty', 'corrupt']);
  metrics.recordPreprocessed({ accepted: 7, reasons: { corrupt: 2, missing: 1 } });
  metrics.recordPreprocessed({ accepted: 3, reasons: {} });
  metrics.recordEpoch(0.25);
  metrics.recordEpoch(0.125);
  metrics.recordClustering(10, 1234.5);
  metrics.observeJob('imgcluster-preprocess', 'preprocess', 'completed', Date.now() - 1500);
  metrics.observeJob('imgcluster-preprocess', 'preprocess', 'failed', Date.now());

  const { body, contentType } = await metrics.render();
  assert.match(contentType, /^text\/plain/);
  const service = { service: 'preprocess' };
  assert.equal(sample(body, 'imgcluster_images_preprocessed_total', service), 10);
  assert.equal(sample(body, 'imgcluster_images_rejected_total', { reason: 'corrupt' }), 2);
  assert.equal(sample(body, 'imgcluster_images_rejected_total', { reason: 'missing' }), 1);
  assert.equal(sample(body, 'imgcluster_images_rejected_total', { reason: 'empty' }), 0);
  assert.equal(sample(body, 'imgcluster_training_epoch_loss'), 0.125);
  assert.equal(sample(body, 'imgcluster_training_epochs_total'), 2);
  assert.equal(sample(body, 'imgcluster_kmeans_inertia'), 1234.5);
  assert.equal(sample(body, 'imgcluster_kmeans_clusters'), 10);

  const job = { queue: 'imgcluster-preprocess', stage: 'preprocess' };
  const done = { ...job, outcome: 'completed' };
  assert.equal(sample(body, 'imgcluster_job_duration_seconds_count', done), 1);
  assert.equal(sample(body, 'imgcluster_job_duration_seconds_bucket', { ...done, le: '1' }), 0);
  assert.equal(sample(body, 'imgcluster_job_duration_seconds_bucket', { ...done, le: '2.5' }), 1);
  const failed = { ...job, outcome: 'failed' };
  assert.equal(sample(body, 'imgcluster_job_duration_seconds_count', failed), 1);

  // prom-client's process metrics come along.
  assert.ok(sample(body, 'process_cpu_user_seconds_total', service) !== undefined);
  assert.ok(sample(body, 'nodejs_eventloop_lag_seconds', service) !== undefined);
});

test('queue counts are read from Redis at each scrape, and skipped when it is down', async () => {
  const connection = createRedis(redis.url);
  const queues = ['metrics-a', 'metrics-b'].map((name) => new Queue(name, { connection }));
  const metrics = new ServiceMetrics(new Registry());
  metrics.watchQueues(() => queues);
  try {
    await queues[0].add('x', {});
    await queues[0].add('y', {}, { delay: 60_000 });
    await queues[1].add('z', {});
    await queues[1].pause();

    let text = (await metrics.render()).body;
    const count = (queue: string, state: string) =>
      sample(text, 'imgcluster_queue_jobs', { queue, state });
    assert.equal(count('metrics-a', 'waiting'), 1);
    assert.equal(count('metrics-a', 'delayed'), 1);
    assert.equal(count('metrics-a', 'active'), 0);
    assert.equal(count('metrics-b', 'paused'), 1);
    assert.equal(sample(text, 'imgcluster_queue_count_errors_total'), 0);

    await queues[0].add('w', {});
    text = (await metrics.render()).body;
    assert.equal(count('metrics-a', 'waiting'), 2, 'read again at the next scrape');

    // Redis stops answering: the scrape still answers, without stale queue counts.
    await redis.stop();
    text = (await metrics.render()).body;
    assert.equal(count('metrics-a', 'waiting'), undefined);
    assert.equal(sample(text, 'imgcluster_queue_count_errors_total'), 1);
  } finally {
    await redis.restart();
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
  }
});

test('the probe server answers /healthz, /readyz and /metrics', async () => {
  const metrics = new ServiceMetrics(new Registry());
  metrics.setService('encoder');
  metrics.imagesEncoded.inc(5);
  let readiness: Readiness = { ready: true, checks: { redis: 'ok', storage: 'ok' } };
  const server = await startProbeServer({
    host: '127.0.0.1',
    port: 0,
    metrics,
    readiness: async () => readiness,
  });
  try {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
    const get = (path: string, method = 'GET') => fetch(`${server.url}${path}`, { method });

    const health = await get('/healthz');
    assert.equal(health.status, 200);
    assert.equal((await health.json()).ok, true);

    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true, checks: readiness.checks });

    readiness = { ready: false, checks: { redis: 'ok', storage: 'bucket x does not exist' } };
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 503);
    assert.equal((await notReady.json()).error, 'storage: bucket x does not exist');

    const scrape = await get('/metrics?x=1');
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    assert.equal(sample(text, 'imgcluster_images_encoded_total', { service: 'encoder' }), 5);

    assert.equal((await get('/other')).status, 404);
    assert.equal((await get('/metrics', 'POST')).status, 405);
  } finally {
    await server.close();
  }
});

test('a taken port fails start-up with a message naming it', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startProbeServer({
        host: '127.0.0.1',
        port,
        metrics: new ServiceMetrics(new Registry()),
        readiness: async () => ({ ready: true, checks: {} }),
      }),
      (err: Error) =>
        err instanceof ProbeServerError &&
        err.message.includes(`127.0.0.1:${port}: EADDRINUSE`) &&
        err.message.includes('METRICS_PORT'),
    );
  } finally {
    blocker.close();
  }
});
