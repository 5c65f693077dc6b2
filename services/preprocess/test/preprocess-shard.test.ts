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
import { ObjectNotFoundError } from '@imgcluster/storage';
import { preprocessShard } from '../src/preprocess-shard.js';

const SIZE = 16;
const spec = runSpecSchema.parse({
  input: { bucket: 'input' },
  image: { size: SIZE, channels: 3 },
});

/** Objects in memory; reads wait a pseudo-random few ms so they finish out of order. */
class MemoryStorage {
  readonly objects = new Map<string, Buffer>();
  reads = 0;
  failOn?: string;

  async get(bucket: string, key: string): Promise<Buffer> {
    this.reads++;
    await sleep((this.reads * 7919) % 5);
    if (key === this.failOn)
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const body = this.objects.get(`${bucket}/${key}`);
    if (!body) throw new ObjectNotFoundError(bucket, key);
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
