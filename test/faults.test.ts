/**
 * Fault tolerance, end to end: processes killed with SIGKILL mid-run, Redis stopped and
 * restarted, object storage failing for a while (a fault proxy in front of the S3
 * server), a permanent storage error followed by a retry, and a cancel followed by a
 * retry. Every run must end complete, with each input image accounted for exactly once
 * and artifacts of the same shape as a clean run's (image shards byte for byte).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { ImgclusterClient } from '@imgcluster/client';
import { runKeys, STAGES, type RunSpecInput, type Stage } from '@imgcluster/config';
import { balancedSubset, readFashionMnist } from '@imgcluster/datasets';
import {
  startStack,
  uploadFashionMnist,
  type LocalStack,
  type ServiceName,
} from '@imgcluster/devstack';
import { createRedis, jobIds, QUEUES, type RunStatus } from '@imgcluster/queues';

const IMAGES = 2000;
const BAD_FILES: Record<string, Buffer> = {
  'faults/bad-empty.png': Buffer.alloc(0),
  'faults/bad-text.jpg': Buffer.from('not an image\n'),
};
/** Short locks so a killed worker's job is taken over in seconds, not a minute. */
const ENV = {
  JOB_LOCK_MS: '4000',
  STALLED_INTERVAL_MS: '2000',
  JOB_ATTEMPTS: '8',
  S3_MAX_ATTEMPTS: '3',
  S3_TIMEOUT_MS: '3000',
  SHUTDOWN_GRACE_MS: '5000',
};
const RUN_TIMEOUT_MS = 240_000;

let stack: LocalStack;
let work: string;
let client: ImgclusterClient;
let spec: RunSpecInput;
let inputKeys: string[] = [];
let reference: RunShape | undefined;
let cleanLosses: number[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-faults-'));
  stack = await startStack(work, { preprocess: 2, encoder: 2 }, ENV, { faultProxy: true });
  client = new ImgclusterClient(stack.apiUrl);
  const data = await readFashionMnist({ split: 'test' });
  const upload = await uploadFashionMnist(
    stack.storage,
    data,
    balancedSubset(data.labels, IMAGES, 3),
    {
      bucket: 'datasets',
      prefix: 'faults/',
    },
  );
  for (const [key, body] of Object.entries(BAD_FILES))
    await stack.storage.put('datasets', key, body);
  inputKeys = [...upload.keys, ...Object.keys(BAD_FILES)].sort();
  spec = {
    input: { bucket: 'datasets', prefix: 'faults/' },
    labels: { key: upload.labelsKey },
    image: { size: 32, channels: 1 },
    training: { epochs: 3, batchSize: 32, checkpointSteps: 10 },
    kmeans: { k: 10, maxSteps: 100 },
    shardSize: 50,
  };
});

after(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** What must not depend on faults: artifact paths, sizes of fixed-size data, shard bytes. */
interface RunShape {
  paths: string[];
  fixedSizes: Record<string, number>;
  imageShardHashes: Record<string, string>;
}

/** Polls the run (riding out API errors while a server is down) until `done(status)`. */
async function until(
  id: string,
  done: (s: RunStatus) => boolean | Promise<boolean>,
  what: string,
  intervalMs = 100,
): Promise<RunStatus> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    try {
      const s = await client.status(id);
      if (await done(s)) return s;
      if (s.state === 'failed' || s.state === 'cancelled' || s.state === 'succeeded') {
        if (!(await done(s))) throw new Error(`run ${id} ${s.state} before ${what}: ${s.error}`);
      }
    } catch (err) {
      if ((err as Error).message.startsWith(`run ${id}`)) throw err;
      // The API may be unreachable for a moment (e.g. Redis restarting): poll again.
    }
    if (Date.now() > deadline) throw new Error(`run ${id}: no ${what} within ${RUN_TIMEOUT_MS} ms`);
    await sleep(intervalMs);
  }
}

const finished = (s: RunStatus) => ['succeeded', 'failed', 'cancelled'].includes(s.state);

async function sha256(key: string): Promise<string> {
  return createHash('sha256')
    .update(await stack.storage.get(stack.env.S3_BUCKET, key))
    .digest('hex');
}

/**
 * Checks a finished run: complete, every input once, and returns its shape. Runs are
 * seeded, so a run whose training was not interrupted has the clean run's model and labels
 * byte for byte; training resumed in a new process agrees to rounding (`exactModel` off).
 */
async function checkRun(id: string, final: RunStatus, exactModel = true): Promise<RunShape> {
  assert.equal(final.state, 'succeeded', `${id}: ${final.error}`);
  for (const stage of STAGES) assert.equal(final.stages[stage].state, 'succeeded', stage);
  assert.equal(final.stages.preprocess.done, final.stages.preprocess.total);
  assert.equal(final.stages.encode.done, final.stages.encode.total);

  const rows = (await client.download(id, 'labels.csv')).toString('utf8').trim().split('\n');
  const labelled = rows.slice(1).map((line) => line.split(',')[0]);
  const index = await client.artifactJson<{ rejected: { key: string; reason: string }[] }>(
    id,
    'shard-index.json',
  );
  for (const r of index.rejected) assert.ok(r.reason, `${r.key} rejected without a reason`);
  const seen = [...labelled, ...index.rejected.map((r) => r.key)];
  assert.equal(new Set(seen).size, seen.length, 'an image is accounted for twice');
  assert.deepEqual([...seen].sort(), inputKeys);
  assert.equal(labelled.length, IMAGES);

  const { complete, artifacts } = await client.artifacts(id);
  assert.equal(complete, true);
  const fixed = /^(images\/|codes\/|centroids\.bin$|model\/.*\.bin$)/;
  const shape: RunShape = {
    // A checkpoint's files are replaced as training goes; an old one left behind by a
    // storage fault is harmless, so checkpoints are compared through their state only.
    paths: artifacts
      .map((a) => a.path)
      .filter((p) => !p.startsWith('checkpoint/') || p === 'checkpoint/state.json')
      .sort(),
    fixedSizes: Object.fromEntries(
      artifacts.filter((a) => fixed.test(a.path)).map((a) => [a.path, a.bytes]),
    ),
    imageShardHashes: {},
  };
  const hashed = exactModel
    ? /^(images\/shard-.*|model\/encoder\/weights\.bin|labels\.csv|centroids\.bin)$/
    : /^images\/shard-.*$/;
  for (const a of artifacts.filter((x) => hashed.test(x.path))) {
    shape.imageShardHashes[a.path] = await sha256(`${runKeys(id).root}/${a.path}`);
  }
  if (reference) {
    assert.deepEqual(shape.paths, reference.paths, 'artifact paths differ from a clean run');
    assert.deepEqual(shape.fixedSizes, reference.fixedSizes, 'artifact sizes differ');
    const expected = Object.fromEntries(
      Object.entries(reference.imageShardHashes).filter(([path]) => path in shape.imageShardHashes),
    );
    assert.deepEqual(shape.imageShardHashes, expected, 'shards, model or labels differ');
  }
  return shape;
}

/**
 * Training resumed from a checkpoint follows the uninterrupted one: the same loss per epoch
 * within `tolerance` (relative). A resumed run is not bit-identical to an uninterrupted one.
 */
async function assertLossesClose(id: string, tolerance = 1e-3) {
  const training = await client.artifactJson<{ epochs: { loss: number }[] }>(
    id,
    'model/training.json',
  );
  const losses = training.epochs.map((e) => e.loss);
  assert.equal(losses.length, cleanLosses.length);
  losses.forEach((loss, i) =>
    assert.ok(
      Math.abs(loss - cleanLosses[i]) < tolerance * cleanLosses[i],
      `epoch ${i + 1}: ${loss} vs ${cleanLosses[i]}`,
    ),
  );
}

/** The running processes of a service in the stack. */
function processesOf(name: ServiceName) {
  return stack.services
    .filter((s) => s.name === name)
    .map((s) => s.process)
    .filter((p) => p.child.exitCode === null && p.child.signalCode === null);
}

/**
 * SIGKILLs a process of `service` while it is running a job of the run on `stage` (jobs
 * record which process runs them); returns that job's id.
 */
async function killMidJob(id: string, stage: Stage, service: ServiceName): Promise<string> {
  return (await stopMidJob(id, stage, service, 'kill')).jobId;
}

/**
 * Stops a process of `service` while it is running a job of the run on `stage`: SIGKILL, or
 * SIGTERM and a wait for it to exit (SIGKILL after 60 s). Returns the job's id and how the
 * process ended.
 */
async function stopMidJob(
  id: string,
  stage: Stage,
  service: ServiceName,
  how: 'kill' | 'term',
): Promise<{ jobId: string; code: number | null; signal: string | null; pid: number }> {
  const connection = createRedis(stack.redis.url);
  const queue = new Queue(QUEUES[stage], { connection });
  try {
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    for (;;) {
      for (const job of await queue.getActive()) {
        if (job.data.runId !== id || !job.processedBy) continue;
        const victim = processesOf(service).find((p) =>
          job.processedBy!.endsWith(`:${p.child.pid}`),
        );
        if (victim) {
          if (how === 'kill') await victim.kill();
          else await victim.stop(60_000);
          const { exitCode: code, signalCode: signal, pid } = victim.child;
          return { jobId: job.id!, code, signal, pid: pid! };
        }
      }
      assert.ok(Date.now() < deadline, `no ${stage} job of ${id} seen running`);
      await sleep(10);
    }
  } finally {
    await queue.close();
    await connection.quit();
  }
}

/** The job finished after stalling once: another process took it over. */
async function assertTakenOver(stage: Stage, jobId: string) {
  const connection = createRedis(stack.redis.url);
  const queue = new Queue(QUEUES[stage], { connection });
  try {
    const job = await queue.getJob(jobId);
    assert.ok(job, `job ${jobId} is gone`);
    assert.equal(await job.getState(), 'completed');
    assert.ok(job.stalledCounter >= 1, `job ${jobId} never stalled: the kill missed it`);
  } finally {
    await queue.close();
    await connection.quit();
  }
}

async function runToEnd(id: string) {
  return until(id, finished, 'finish', 500);
}

/** A job of a stage's queue as read now (its connection is closed: read fields only). */
async function jobOf(stage: Stage, jobId: string) {
  const connection = createRedis(stack.redis.url);
  const queue = new Queue(QUEUES[stage], { connection });
  try {
    const job = await queue.getJob(jobId);
    assert.ok(job, `job ${jobId} is gone`);
    return job;
  } finally {
    await queue.close();
    await connection.quit();
  }
}

/** The log file of the `service` process with this pid. */
function serviceLog(service: ServiceName, pid: number): string {
  const entry = stack.services.find((s) => s.name === service && s.process.child.pid === pid);
  assert.ok(entry, `no ${service} process ${pid}`);
  return entry.logFile;
}

async function jobState(stage: Stage, jobId: string): Promise<string> {
  const connection = createRedis(stack.redis.url);
  const queue = new Queue(QUEUES[stage], { connection });
  try {
    return await queue.getJobState(jobId);
  } finally {
    await queue.close();
    await connection.quit();
  }
}

async function jobExists(stage: Stage, jobId: string): Promise<boolean> {
  const connection = createRedis(stack.redis.url);
  const queue = new Queue(QUEUES[stage], { connection });
  try {
    return (await queue.getJob(jobId)) !== undefined;
  } finally {
    await queue.close();
    await connection.quit();
  }
}

test(
  'a clean run sets the reference shape; retrying it is refused',
  { timeout: 300_000 },
  async () => {
    const { id } = await client.submit(spec);
    reference = await checkRun(id, await runToEnd(id));
    cleanLosses = (
      await client.artifactJson<{ epochs: { loss: number }[] }>(id, 'model/training.json')
    ).epochs.map((e) => e.loss);
    assert.ok(Object.keys(reference.imageShardHashes).length >= 40);

    const res = await fetch(`${stack.apiUrl}/v1/runs/${id}/retry`, { method: 'POST' });
    assert.equal(res.status, 409);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'RUN_NOT_RETRYABLE');
    assert.match(body.error.message, /succeeded/);
    const unknown = await fetch(`${stack.apiUrl}/v1/runs/run_nosuchrun1/retry`, { method: 'POST' });
    assert.equal(unknown.status, 404);
  },
);

test(
  'a preprocess process killed mid-run: its shard is taken over',
  { timeout: 300_000 },
  async () => {
    const { id } = await client.submit(spec);
    const jobId = await killMidJob(id, 'preprocess', 'preprocess');
    await checkRun(id, await runToEnd(id));
    await assertTakenOver('preprocess', jobId);
    stack.addService('preprocess');
  },
);

test('an encoder killed mid-run: its shard is taken over', { timeout: 300_000 }, async () => {
  const { id } = await client.submit(spec);
  const jobId = await killMidJob(id, 'encode', 'encoder');
  await checkRun(id, await runToEnd(id));
  await assertTakenOver('encode', jobId);
  stack.addService('encoder');
});

test(
  'the trainer killed mid-epoch: a new one resumes from the checkpoint',
  { timeout: 300_000 },
  async () => {
    const { id } = await client.submit(spec);
    const stateKey = runKeys(id).checkpoint;
    await until(
      id,
      async () => {
        const state = await stack.storage.getJsonIfExists<{ epochsDone: number; step?: number }>(
          stack.env.S3_BUCKET,
          stateKey,
        );
        // Any epoch will do: a busy machine can run a whole short epoch between two polls.
        return state !== undefined && (state.step ?? 0) > 0;
      },
      'a mid-epoch checkpoint',
      20,
    );
    const [trainer] = processesOf('trainer');
    assert.ok(trainer, 'no trainer running');
    await trainer.kill();
    stack.addService('trainer');
    const final = await runToEnd(id);
    await checkRun(id, final, false);
    await assertTakenOver('train', jobIds.train(id));
    await assertLossesClose(id);
    const resumed = final.stages.train.detail.resumedFrom as { epoch: number; step: number };
    assert.ok(resumed, 'training did not resume from a checkpoint');
    assert.ok(
      resumed.epoch > 1 || resumed.step > 0,
      `resumed from scratch: ${JSON.stringify(resumed)}`,
    );
  },
);

test(
  'SIGTERM to the trainer mid-epoch: it saves the step, hands its job back and exits 0',
  { timeout: 300_000 },
  async () => {
    const { id } = await client.submit(spec);
    // Mid-epoch, with epochs left: the trainer stops at its next step.
    await until(
      id,
      (s) =>
        s.stages.train.state === 'running' &&
        Number(s.stages.train.detail.step ?? 0) > 0 &&
        s.stages.train.done < s.stages.train.total - 1,
      'training mid-epoch',
      20,
    );
    const stopped = await stopMidJob(id, 'train', 'trainer', 'term');
    try {
      assert.deepEqual([stopped.code, stopped.signal], [0, null], 'the trainer did not exit 0');
      const log = readFileSync(serviceLog('trainer', stopped.pid), 'utf8');
      assert.match(log, /checkpointed for shutdown/);
      assert.match(log, /job released on shutdown/);
      // Handed back at once: waiting (or about to be), not held by a lapsing lock.
      assert.match(await jobState('train', stopped.jobId), /^(delayed|waiting|wait|prioritized)$/);
    } finally {
      stack.addService('trainer');
    }
    const final = await runToEnd(id);
    await checkRun(id, final, false);
    // Stopped at any step, not at a periodic checkpoint: within 1% per epoch.
    await assertLossesClose(id, 1e-2);
    const job = await jobOf('train', stopped.jobId);
    assert.equal(job.stalledCounter, 0, 'the job was taken over after a stall, not released');
    const resumed = final.stages.train.detail.resumedFrom as { epoch: number; step: number };
    assert.ok(resumed && resumed.step > 0, `not resumed mid-epoch: ${JSON.stringify(resumed)}`);
  },
);

test(
  'SIGTERM to an encoder mid-shard: it finishes the shard and exits 0',
  { timeout: 300_000 },
  async () => {
    const { id } = await client.submit(spec);
    const stopped = await stopMidJob(id, 'encode', 'encoder', 'term');
    stack.addService('encoder');
    assert.deepEqual([stopped.code, stopped.signal], [0, null], 'the encoder did not exit 0');
    assert.equal(await jobState('encode', stopped.jobId), 'completed');
    const job = await jobOf('encode', stopped.jobId);
    assert.ok(job.processedBy?.endsWith(`:${stopped.pid}`), 'finished by another process');
    assert.equal(job.stalledCounter, 0);
    await checkRun(id, await runToEnd(id));
  },
);

test('Redis stopped and restarted mid-run: nothing is lost', { timeout: 300_000 }, async () => {
  const { id } = await client.submit(spec);
  await until(id, (s) => s.stages.preprocess.done >= 1, 'preprocessing');
  await stack.redis.stop();
  await sleep(2000);
  await stack.redis.restart();
  await checkRun(id, await runToEnd(id));
});

test('object storage failing for a while: requests are retried', { timeout: 300_000 }, async () => {
  const proxy = stack.proxy!;
  const before = proxy.stats.failed;
  const { id } = await client.submit(spec);
  proxy.inject({ kind: 'error', rate: 0.6, forMs: 3000 });
  await sleep(3000);
  proxy.inject({ kind: 'reset', rate: 0.5, forMs: 3000 });
  await sleep(3000);
  proxy.inject({ kind: 'hang', rate: 0.2, forMs: 4000 });
  await sleep(4000);
  proxy.clear();
  await checkRun(id, await runToEnd(id));
  assert.ok(proxy.stats.failed - before > 20, `only ${proxy.stats.failed - before} faults`);
});

test(
  'a permanent storage error fails the run with its cause; retry resumes it',
  { timeout: 300_000 },
  async () => {
    const proxy = stack.proxy!;
    const { id } = await client.submit(spec);
    await until(
      id,
      async (s) =>
        s.stages.train.state === 'running' &&
        (await stack.storage.exists(stack.env.S3_BUCKET, runKeys(id).checkpoint)),
      'a checkpoint',
      50,
    );
    proxy.inject({ kind: 'deny' });
    const failed = await runToEnd(id);
    proxy.clear();
    assert.equal(failed.state, 'failed');
    assert.match(failed.error ?? '', /^train: object storage: AccessDenied/);
    assert.equal(failed.stages.train.state, 'failed');
    assert.equal((await client.artifacts(id)).complete, false);

    const retried = await client.retry(id);
    assert.equal(retried.resumesAt, 'train');
    assert.equal(retried.retry, 1);
    const final = await runToEnd(id);
    await checkRun(id, final, false);
    await assertLossesClose(id);
    assert.equal(final.retries, 1);
    assert.ok(final.stages.train.detail.resumedFrom, 'training restarted from scratch');
    // Finished preprocess shards were reused: the retry queued no preprocess job.
    assert.equal(await jobExists('preprocess', jobIds.preprocess(id, 0, 1)), false);
    assert.equal(await jobExists('train', jobIds.train(id, 1)), true);
  },
);

test('cancel stops the running trainer; retry finishes the run', { timeout: 300_000 }, async () => {
  const { id } = await client.submit(spec);
  await until(id, (s) => s.stages.train.state === 'running', 'training', 50);
  await client.cancel(id);
  // The train job stops by itself within a few progress intervals.
  const connection = createRedis(stack.redis.url);
  const queue = new Queue(QUEUES.train, { connection });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const state = await (await queue.getJob(jobIds.train(id)))?.getState();
      if (state !== 'active') break;
      assert.ok(Date.now() < deadline, 'the cancelled train job is still running');
      await sleep(200);
    }
  } finally {
    await queue.close();
    await connection.quit();
  }
  const cancelled = await client.status(id);
  assert.equal(cancelled.state, 'cancelled');
  assert.equal((await client.artifacts(id)).complete, false);

  const retried = await client.retry(id);
  assert.equal(retried.resumesAt, 'train');
  await checkRun(id, await runToEnd(id), false);
  await assertLossesClose(id);
});
