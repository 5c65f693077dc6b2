import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  balancedSubset,
  DatasetError,
  DEFAULT_FASHION_MNIST_DIR,
  readFashionMnist,
  seededRandom,
} from '../src/index.js';

function countBy(labels: ArrayLike<number>, indices: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const i of indices) m.set(labels[i], (m.get(labels[i]) ?? 0) + 1);
  return m;
}

function assertSortedUnique(indices: number[], length: number): void {
  for (let k = 0; k < indices.length; k++) {
    assert.ok(Number.isInteger(indices[k]) && indices[k] >= 0 && indices[k] < length);
    if (k > 0) assert.ok(indices[k] > indices[k - 1], 'ascending and unique');
  }
}

/** Labels 0..9 repeated, in a shuffled-looking order: i*7 mod 10 for 1,000 items. */
const EVEN = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 10);

test('seededRandom is deterministic and in [0, 1)', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  const other = seededRandom(43);
  assert.notDeepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => other()),
  );
});

test('balanced: equal counts per class, sorted unique, deterministic per seed', () => {
  const a = balancedSubset(EVEN, 200, 1);
  assert.equal(a.length, 200);
  assertSortedUnique(a, EVEN.length);
  assert.deepEqual([...countBy(EVEN, a).values()], new Array(10).fill(20));
  assert.deepEqual(balancedSubset(EVEN, 200, 1), a);
  assert.notDeepEqual(balancedSubset(EVEN, 200, 2), a);
});

test('balanced: a remainder gives some classes one more, never two', () => {
  const a = balancedSubset(EVEN, 203, 5);
  const c = [...countBy(EVEN, a).values()].sort();
  assert.deepEqual(c, [20, 20, 20, 20, 20, 20, 20, 21, 21, 21]);
});

test('balanced: a small class gives all it has, the others share the rest', () => {
  // Class 0: 5 items, class 1: 100, class 2: 100, class 7: 40.
  const labels = [
    ...new Array(5).fill(0),
    ...new Array(100).fill(1),
    ...new Array(100).fill(2),
    ...new Array(40).fill(7),
  ];
  const a = balancedSubset(labels, 125, 3);
  assert.equal(a.length, 125);
  assertSortedUnique(a, labels.length);
  const c = countBy(labels, a);
  assert.equal(c.get(0), 5);
  assert.equal(c.get(7), 40);
  assert.equal((c.get(1) ?? 0) + (c.get(2) ?? 0), 80);
  assert.ok(Math.abs((c.get(1) ?? 0) - (c.get(2) ?? 0)) <= 1);
  assert.equal(balancedSubset(labels, 245, 3).length, 245, 'n = length takes everything');
  assert.deepEqual(balancedSubset(labels, 0, 3), []);
});

test('balanced: bad n or seed throws', () => {
  const isArg = (e: unknown): boolean => e instanceof DatasetError && e.code === 'invalid_argument';
  assert.throws(() => balancedSubset(EVEN, 1001, 1), isArg);
  assert.throws(() => balancedSubset(EVEN, -1, 1), isArg);
  assert.throws(() => balancedSubset(EVEN, 2.5, 1), isArg);
  assert.throws(() => balancedSubset(EVEN, 10, 0.5), isArg);
});

const SKIP = existsSync(DEFAULT_FASHION_MNIST_DIR)
  ? false
  : `${DEFAULT_FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)`;

test('balanced: 2,000 of Fashion-MNIST train are 200 per class', { skip: SKIP }, async () => {
  const { labels } = await readFashionMnist({ split: 'train' });
  const a = balancedSubset(labels, 2000, 7);
  assertSortedUnique(a, labels.length);
  assert.deepEqual(
    [...countBy(labels, a).entries()].sort((x, y) => x[0] - y[0]),
    Array.from({ length: 10 }, (_, k) => [k, 200]),
  );
  // Spread across the file, not just its beginning.
  assert.ok(a[a.length - 1] > 50000, `last index ${a[a.length - 1]}`);
});
