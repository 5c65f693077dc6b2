/**
 * One preprocess job against in-memory storage whose reads answer in scrambled order: the
 * shard must hold the same keys in plan order with the same pixels as a plain one-by-one
 * loop, run after run; a transient read error must fail the job and stop further reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from 'bullmq';
import { runKeys, runSpecSchema } from '@imgcluster/config';
import { encodePng, preprocessImage } from '@imgcluster/images';
import type { Logger } from '@imgcluster/logging';
import type { ShardJobData } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { decodeShard } from '@imgcluster/shard';
import { ObjectNotFoundError, ObjectTooLargeError } from '@imgcluster/storage';
import { buildCorpus } from '../../../packages/images/test/corpus.js';
import { ByteBudget, preprocessShard } from '../src/preprocess-shard.js';

const SIZE = 16;
const spec = runSpecSchema.parse({
  input: { bucket: 'input' },
  image: { size: SIZE, channels: 3 },
});

/** Objects in memory; reads wait a pseudo-random few ms so they finish out of order. */
class MemoryStorage {
  readonly objects = new Map<string, Buffer>();
  /** Sizes the server would declare for some keys (a stand-in for huge objects). */
  readonly declared = new Map<string, number>();
  reads = 0;
  failOn?: string;

  async get(bucket: string, key: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    this.reads++;
    await sleep((this.reads * 7919) % 5);
    if (key === this.failOn)
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const body = this.objects.get(`${bucket}/${key}`);
    if (!body) throw new ObjectNotFoundError(bucket, key);
    const size = this.declared.get(key) ?? body.length;
    if (size > (opts.maxBytes ?? Infinity)) {
      throw new ObjectTooLargeError(bucket, key, size, opts.maxBytes!);
    }
    return body;
  }

  async getJson<T>(bucket: string, key: string): Promise<T> {
    return JSON.parse((await this.get(bucket, key)).toString('utf8')) as T;
  }

  async put(bucket: string, key: string, body: Uint8Array | string): Promise<void> {
    this.objects.set(`${bucket}/${key}`, Buffer.from(body));
  }

  async putJson(bucket: string, key: string, value: unknown): Promise<void> {
    await this.put(bucket, key, JSON.stringify(value));
  }
}

const silent = { info() {}, debug() {}, warn() {}, error() {} } as unknown as Logger;

async function setUp(runId: string) {
  const storage = new MemoryStorage();
  const keys: string[] = [];
  for (let i = 0; i < 60; i++) {
    const grey = new Uint8Array(28 * 28).map((_, p) => (p * (i + 3)) & 0xff);
    keys.push(`img/${i}.png`);
    await storage.put('input', keys[i], await encodePng(grey, 28, 28, 1));
  }
  await storage.put('input', 'img/empty.png', Buffer.alloc(0));
  await storage.put('input', 'img/text.png', 'not an image');
  keys.splice(10, 0, 'img/empty.png', 'img/missing.png');
  keys.splice(40, 0, 'img/text.png');
  const plan = {
    runId,
    inputBucket: 'input',
    imageCount: keys.length,
    shards: [{ index: 0, keys }],
  };
  await storage.putJson('out', runKeys(runId).plan, plan);
  const ctx = {
    storage,
    bucket: 'out',
    store: { spec: async () => spec, shardDone: async () => undefined },
  } as unknown as ServiceContext;
  const job = { data: { runId, shard: 0 } } as Job<ShardJobData>;
  return { storage, keys, ctx, job };
}

test('the shard holds accepted keys in plan order, with the pixels of a serial loop', async () => {
  const outputs: Buffer[] = [];
  for (const runId of ['run_a', 'run_b']) {
    const { storage, keys, ctx, job } = await setUp(runId);
    const result = await preprocessShard(ctx, job, silent);
    assert.deepEqual(result, {
      accepted: 60,
      rejected: 3,
      reasons: { empty: 1, missing: 1, not_an_image: 1 },
    });

    const shard = decodeShard(storage.objects.get(`out/${runKeys(runId).imageShard(0)}`)!);
    const accepted = keys.filter(
      (k) => !['img/empty.png', 'img/missing.png', 'img/text.png'].includes(k),
    );
    assert.deepEqual(shard.header.keys, accepted);
    const item = SIZE * SIZE * 3;
    for (const [i, key] of accepted.entries()) {
      const serial = await preprocessImage(storage.objects.get(`input/${key}`)!, {
        size: SIZE,
        channels: 3,
      });
      assert.ok(serial.ok);
      assert.deepEqual(shard.data.subarray(i * item, (i + 1) * item), serial.pixels, key);
    }
    const rejected = JSON.parse(
      storage.objects.get(`out/${runKeys(runId).rejected(0)}`)!.toString(),
    );
    assert.deepEqual(
      rejected.map((r: { key: string }) => r.key),
      ['img/empty.png', 'img/missing.png', 'img/text.png'],
    );
    outputs.push(storage.objects.get(`out/${runKeys(runId).imageShard(0)}`)!);
  }
  assert.ok(outputs[0].equals(outputs[1]), 'two runs wrote different shard bytes');
});

test('a transient read error fails the job and stops taking more keys', async () => {
  const { storage, keys, ctx, job } = await setUp('run_c');
  storage.failOn = keys[5];
  storage.reads = 0;
  await assert.rejects(preprocessShard(ctx, job, silent), /socket hang up/);
  await sleep(50);
  assert.ok(storage.reads < keys.length, `read ${storage.reads} of ${keys.length} keys`);
  assert.equal(storage.objects.has(`out/${runKeys('run_c').imageShard(0)}`), false);
});

test('the bad-input corpus through one job: each file accepted or rejected with its reason', async () => {
  const corpus = await buildCorpus();
  const { storage, ctx, job } = await setUp('run_corpus');
  const keys = corpus.map((e) => `corpus/${e.name}.${e.ext}`);
  for (const [i, e] of corpus.entries()) await storage.put('input', keys[i], e.bytes);
  // 5 GB videos in the photo folder: one refused from its listed size (never fetched), one
  // that grew after the listing refused from the size its GET declares (its body unread).
  const videos = ['corpus/holiday-video.jpg', 'corpus/grown-video.jpg'];
  for (const v of videos) {
    await storage.put('input', v, Buffer.from('pretend'));
    storage.declared.set(v, 5e9);
  }
  const all = [...keys, ...videos];
  const plan = {
    runId: 'run_corpus',
    inputBucket: 'input',
    imageCount: all.length,
    shards: [
      {
        index: 0,
        keys: all,
        sizes: all.map((k) => (k === videos[0] ? 5e9 : storage.objects.get(`input/${k}`)!.length)),
      },
    ],
  };
  await storage.putJson('out', runKeys('run_corpus').plan, plan);

  storage.reads = 0;
  const result = await preprocessShard(ctx, job, silent);
  assert.equal(storage.reads, all.length - 1 + 1, 'the listed 5 GB object was fetched'); // + plan
  const rejected = JSON.parse(
    storage.objects.get(`out/${runKeys('run_corpus').rejected(0)}`)!.toString(),
  ) as { key: string; reason: string }[];
  const reasonOf = new Map(rejected.map((r) => [r.key, r.reason]));
  for (const v of videos) assert.equal(reasonOf.get(v), 'too_large', v);
  const shard = decodeShard(storage.objects.get(`out/${runKeys('run_corpus').imageShard(0)}`)!);
  const accepted = new Set(shard.header.keys);
  for (const [i, e] of corpus.entries()) {
    if (e.expect.ok)
      assert.ok(accepted.has(keys[i]), `${e.name} not accepted: ${reasonOf.get(keys[i])}`);
    else
      assert.equal(
        reasonOf.get(keys[i]),
        e.expect.reason,
        `${e.name}: ${rejected.find((r) => r.key === keys[i]) ? JSON.stringify(rejected.find((r) => r.key === keys[i])) : ''}`,
      );
  }
  assert.equal(result.accepted + result.rejected, all.length);
  assert.equal(result.accepted, corpus.filter((e) => e.expect.ok).length);
});

test('the byte budget holds fetched bytes under its limit, in order, and lets a big one run alone', async () => {
  const budget = new ByteBudget(100);
  let used = 0;
  let peak = 0;
  const order: number[] = [];
  const sizes = [60, 30, 60, 250, 10, 40, 90];
  await Promise.all(
    sizes.map((bytes, i) =>
      budget.run(bytes, async () => {
        order.push(i);
        used += bytes;
        peak = Math.max(peak, used);
        if (bytes > 100) assert.equal(used, bytes, 'an oversized call shares the budget');
        else assert.ok(used <= 100, `${used} bytes held at once`);
        await sleep(5 + ((i * 7) % 4));
        used -= bytes;
      }),
    ),
  );
  assert.equal(peak, 250);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6], 'first come, first served');
});
