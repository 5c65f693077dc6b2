import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dataOffset,
  decodeShard,
  decodeShardRaw,
  encodeShard,
  PREAMBLE_BYTES,
  ShardFormatError,
  widenShard,
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

test('float16 shards store halves and decode to float32', () => {
  const codes = Float32Array.from([1, -2, 0.1, 65504, 70000, 2 ** -24]);
  const bytes = encodeShard({ dtype: 'float16', shape: [2, 3], keys: ['a', 'b'] }, codes);
  const float32 = encodeShard({ dtype: 'float32', shape: [2, 3], keys: ['a', 'b'] }, codes);
  assert.equal(bytes.length - dataOffset(bytes), codes.length * 2);
  assert.equal(float32.length - dataOffset(float32), codes.length * 4);
  // Little-endian halves: 1.0 is 0x3c00, stored as 00 3c.
  assert.deepEqual([...bytes.subarray(dataOffset(bytes), dataOffset(bytes) + 2)], [0x00, 0x3c]);

  const parsed = decodeShard(bytes);
  assert.equal(parsed.header.dtype, 'float16');
  assert.ok(parsed.data instanceof Float32Array);
  assert.deepEqual(Array.from(parsed.data), [1, -2, 0.0999755859375, 65504, Infinity, 2 ** -24]);

  const raw = decodeShardRaw(bytes);
  assert.ok(raw.data instanceof Uint16Array);
  assert.deepEqual(Array.from(raw.data), [0x3c00, 0xc000, 0x2e66, 0x7bff, 0x7c00, 0x0001]);
  assert.deepEqual(Array.from(widenShard(raw).data), Array.from(parsed.data));

  // Half bits can be given as they are, and re-encode to the same bytes.
  const again = encodeShard({ dtype: 'float16', shape: [2, 3], keys: ['a', 'b'] }, raw.data);
  assert.deepEqual(again, bytes);
});

test('raw decoding leaves uint8 and float32 shards as decodeShard does', () => {
  const codes = Float32Array.from([1.5, -2]);
  const raw = decodeShardRaw(encodeShard({ dtype: 'float32', shape: [1, 2], keys: ['x'] }, codes));
  assert.ok(raw.data instanceof Float32Array);
  assert.equal(widenShard(raw).data, raw.data);
});

test('inconsistent shapes and corrupt bytes are refused', () => {
  assert.throws(
    () => encodeShard({ dtype: 'uint8', shape: [2, 2], keys: ['a', 'b'] }, new Uint8Array(3)),
    ShardFormatError,
  );
  assert.throws(() => decodeShard(Buffer.from('not a shard at all')), ShardFormatError);
  const good = encodeShard({ dtype: 'uint8', shape: [1, 2], keys: ['a'] }, new Uint8Array(2));
  assert.throws(() => decodeShard(good.subarray(0, good.length - 1)), ShardFormatError);

  const half = encodeShard({ dtype: 'float16', shape: [1, 2], keys: ['a'] }, new Uint16Array(2));
  assert.throws(() => decodeShard(half.subarray(0, half.length - 1)), ShardFormatError);
  assert.throws(
    () => encodeShard({ dtype: 'float16', shape: [1, 2], keys: ['a'] }, new Uint8Array(2)),
    /does not match/,
  );
  const odd = Buffer.from(half);
  odd.write('"float64"', odd.indexOf('"float16"'));
  assert.throws(() => decodeShard(odd), /unknown dtype "float64"/);
});

test('dataOffset locates an item from the first bytes alone', () => {
  const data = new Uint8Array(3 * 4).map((_, i) => i);
  const bytes = encodeShard({ dtype: 'uint8', shape: [3, 4], keys: ['a', 'bé', 'c'] }, data);
  const start = dataOffset(bytes.subarray(0, PREAMBLE_BYTES));
  assert.deepEqual([...bytes.subarray(start + 4, start + 8)], [4, 5, 6, 7]);
  assert.throws(() => dataOffset(new Uint8Array(12)), /bad magic/);
});
