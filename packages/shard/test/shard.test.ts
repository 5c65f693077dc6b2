import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dataOffset,
  decodeShard,
  encodeShard,
  PREAMBLE_BYTES,
  ShardFormatError,
} from '../src/index.js';

test('uint8 and float32 shards round-trip with keys', () => {
  const pixels = Uint8Array.from({ length: 2 * 4 * 4 }, (_, i) => i);
  const back = decodeShard(
    encodeShard({ dtype: 'uint8', shape: [2, 4, 4, 1], keys: ['a', 'b é'] }, pixels),
  );
  assert.deepEqual(back.header.keys, ['a', 'b é']);
  assert.deepEqual(Array.from(back.data), Array.from(pixels));

  const codes = Float32Array.from([1.5, -2, 3.25, 0]);
  const bytes = encodeShard({ dtype: 'float32', shape: [1, 4], keys: ['x'] }, codes);
  const parsed = decodeShard(bytes.subarray(0));
  assert.ok(parsed.data instanceof Float32Array);
  assert.deepEqual(Array.from(parsed.data), [1.5, -2, 3.25, 0]);
});

test('inconsistent shapes and corrupt bytes are refused', () => {
  assert.throws(
    () => encodeShard({ dtype: 'uint8', shape: [2, 2], keys: ['a', 'b'] }, new Uint8Array(3)),
    ShardFormatError,
  );
  assert.throws(() => decodeShard(Buffer.from('not a shard at all')), ShardFormatError);
  const good = encodeShard({ dtype: 'uint8', shape: [1, 2], keys: ['a'] }, new Uint8Array(2));
  assert.throws(() => decodeShard(good.subarray(0, good.length - 1)), ShardFormatError);
});

test('dataOffset locates an item from the first bytes alone', () => {
  const data = new Uint8Array(3 * 4).map((_, i) => i);
  const bytes = encodeShard({ dtype: 'uint8', shape: [3, 4], keys: ['a', 'bé', 'c'] }, data);
  const start = dataOffset(bytes.subarray(0, PREAMBLE_BYTES));
  assert.deepEqual([...bytes.subarray(start + 4, start + 8)], [4, 5, 6, 7]);
  assert.throws(() => dataOffset(new Uint8Array(12)), /bad magic/);
});
