import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, Rng } from '../src/index.js';

test('xoshiro128** matches hand-computed outputs from state [1, 2, 3, 4]', () => {
  const rng = new Rng();
  rng.setState([1, 2, 3, 4]);
  // rotl(2 * 5, 7) * 9 = 11520; then s1 = 0 gives 0; then s1 = 1029 gives rotl(5145, 7) * 9.
  assert.equal(rng.nextUint32(), 11520);
  assert.equal(rng.nextUint32(), 0);
  assert.equal(rng.nextUint32(), 5927040);
  assert.deepEqual(rng.getState(), [25179138, 12295, 540162, 2107404]);
});

test('same seed gives the same sequence; different seeds differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 100 }, () => a.nextUint32());
  const sb = Array.from({ length: 100 }, () => b.nextUint32());
  const sc = Array.from({ length: 100 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('next() is in [0, 1) with mean near 1/2, nextInt covers its range', () => {
  const rng = new Rng(7);
  let sum = 0;
  const hits = new Array(5).fill(0);
  for (let i = 0; i < 20000; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    hits[rng.nextInt(5)]++;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
  for (const h of hits) assert.ok(h > 3600 && h < 4400, `bucket count ${h}`);
});

test('gaussian() has mean 0 and variance 1', () => {
  const rng = new Rng(3);
  let s = 0;
  let s2 = 0;
  const m = 50000;
  for (let i = 0; i < m; i++) {
    const g = rng.gaussian();
    s += g;
    s2 += g * g;
  }
  assert.ok(Math.abs(s / m) < 0.02);
  assert.ok(Math.abs(s2 / m - 1) < 0.03);
});

test('state round-trips and an all-zero state is rejected with a code', () => {
  const a = new Rng(9);
  a.nextUint32();
  const b = new Rng(0);
  b.setState(a.getState());
  assert.equal(a.nextUint32(), b.nextUint32());
  assert.throws(
    () => b.setState([0, 0, 0, 0]),
    (e: unknown) => e instanceof KMeansError && e.code === 'KMEANS_INVALID_ARGUMENT',
  );
});
