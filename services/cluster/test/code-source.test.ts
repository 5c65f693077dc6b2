import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKeys } from '@imgcluster/config';
import type { ServiceContext } from '@imgcluster/runtime';
import { encodeShard, type ShardDtype } from '@imgcluster/shard';
import { CodeSource } from '../src/code-source.js';

const runId = 'run_codesource';
const dim = 4;

/** Storage holding one code shard per dtype given, counting reads. */
function fakeContext(dtypes: ShardDtype[]) {
  const objects = new Map<string, Buffer>();
  dtypes.forEach((dtype, shard) => {
    const codes = Float32Array.from({ length: 2 * dim }, (_, i) => shard + i / 4);
    const header = { dtype, shape: [2, dim], keys: [`s${shard}a`, `s${shard}b`] };
    const data = dtype === 'uint8' ? new Uint8Array(codes.length) : codes;
    objects.set(runKeys(runId).codeShard(shard), encodeShard(header, data));
    objects.set(
      runKeys(runId).attentionShard(shard),
      encodeShard({ dtype: 'float32', shape: [2, 1], keys: header.keys }, new Float32Array(2)),
    );
  });
  const reads: string[] = [];
  const storage = {
    get: async (_bucket: string, key: string) => {
      reads.push(key);
      const body = objects.get(key);
      if (!body) throw new Error(`no object ${key}`);
      return body;
    },
  };
  return { ctx: { bucket: 'b', storage } as unknown as ServiceContext, reads };
}

test('float16 and float32 code shards both read as float32', async () => {
  const { ctx } = fakeContext(['float32', 'float16']);
  const source = new CodeSource(ctx, runId, [0, 1], 1 << 20);
  const a = await source.codes(0);
  const b = await source.codes(1);
  assert.ok(a.data instanceof Float32Array && b.data instanceof Float32Array);
  assert.deepEqual(Array.from(a.data), [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]);
  // These values are exact halves, so float16 loses nothing here.
  assert.deepEqual(Array.from(b.data), [1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75]);
  assert.deepEqual(b.header.keys, ['s1a', 's1b']);
  assert.ok((await source.attention(1)).data instanceof Float32Array);
  // A cached float16 shard is widened again on every read, to the same values.
  assert.deepEqual(Array.from((await source.codes(1)).data), Array.from(b.data));
});

test('the cache counts float16 shards at their stored size', async () => {
  // Each float32 shard is 32 bytes, each float16 one 16: a 32-byte budget holds one float32
  // shard or two float16 ones.
  for (const [dtype, rereads] of [
    ['float32', 1],
    ['float16', 0],
  ] as const) {
    const { ctx, reads } = fakeContext([dtype, dtype]);
    const source = new CodeSource(ctx, runId, [0, 1], 32);
    await source.codes(0);
    await source.codes(1);
    await source.codes(0);
    assert.equal(reads.length - 2, rereads, dtype);
  }
});

test('an image shard where codes should be is refused as invalid', async () => {
  const { ctx } = fakeContext(['uint8']);
  const source = new CodeSource(ctx, runId, [0], 1 << 20);
  await assert.rejects(() => source.codes(0), /uint8 data, not codes/);
});
