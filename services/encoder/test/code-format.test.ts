import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeShard, encodeShard } from '@imgcluster/shard';
import { storedCodes } from '../src/code-format.js';

test('float32 codes are stored as they are', () => {
  const codes = Float32Array.from([0.1, 2, 1e6]);
  const stored = storedCodes(codes, 'float32');
  assert.equal(stored.dtype, 'float32');
  assert.equal(stored.data, codes);
  assert.equal(storedCodes(codes).dtype, 'float32');
});

test('float16 codes are rounded halves that decode to the nearest values', () => {
  const codes = Float32Array.from([0.1, 2, 0, 3.14159, 65504]);
  const stored = storedCodes(codes, 'float16');
  assert.equal(stored.dtype, 'float16');
  assert.ok(stored.data instanceof Uint16Array);
  const shard = encodeShard({ dtype: stored.dtype, shape: [1, 5], keys: ['a'] }, stored.data);
  const back = decodeShard(shard).data as Float32Array;
  codes.forEach((v, i) => assert.ok(Math.abs(back[i] - v) <= Math.abs(v) * 2 ** -11));
});

test('a shard with codes beyond the float16 range stays float32', () => {
  const codes = Float32Array.from([1, 70000, -1e9, 2]);
  const stored = storedCodes(codes, 'float16');
  assert.equal(stored.dtype, 'float32');
  assert.equal(stored.data, codes);
  assert.equal(stored.overflow, 2);
});
