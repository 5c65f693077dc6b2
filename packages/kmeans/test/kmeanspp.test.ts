import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, Rng, assign, kmeansPlusPlus } from '../src/index.js';
import { blobs } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

/** Index of the row of `points` equal to row `j` of `c`, or -1. */
function rowIndex(points: Float32Array, n: number, dim: number, c: Float32Array, j: number) {
  for (let i = 0; i < n; i++) {
    let eq = true;
    for (let d = 0; d < dim && eq; d++) eq = points[i * dim + d] === c[j * dim + d];
    if (eq) return i;
  }
  return -1;
}

test('seeds are copies of points, one per well-separated blob', () => {
  const { points, truth } = blobs(500, 8, 6, 1);
  const seeds = kmeansPlusPlus(points, 500, 8, 6, new Rng(0));
  assert.equal(seeds.length, 6 * 8);
  const classes = new Set<number>();
  for (let j = 0; j < 6; j++) {
    const i = rowIndex(points, 500, 8, seeds, j);
    assert.ok(i >= 0, 'seed is a data point');
    classes.add(truth[i]);
  }
  assert.equal(classes.size, 6);
});

test('same rng state gives the same seeds; localTrials = 1 is plain k-means++', () => {
  const { points } = blobs(300, 4, 5, 2);
  const a = kmeansPlusPlus(points, 300, 4, 5, new Rng(8));
  const b = kmeansPlusPlus(points, 300, 4, 5, new Rng(8));
  assert.deepEqual(a, b);
  const c = kmeansPlusPlus(points, 300, 4, 5, new Rng(8), { localTrials: 1 });
  assert.equal(c.length, 20);
});

test('greedy trials do not raise the potential compared with a single trial', () => {
  const { points } = blobs(2000, 5, 20, 4, 1.5, 10);
  let greedy = 0;
  let plain = 0;
  for (let s = 0; s < 5; s++) {
    greedy += assign(points, 2000, 5, kmeansPlusPlus(points, 2000, 5, 20, new Rng(s)), 20).inertia;
    const p = kmeansPlusPlus(points, 2000, 5, 20, new Rng(s), { localTrials: 1 });
    plain += assign(points, 2000, 5, p, 20).inertia;
  }
  assert.ok(greedy < plain, `greedy ${greedy} vs plain ${plain}`);
});

test('duplicates: k equal to the number of distinct rows picks each distinct row once', () => {
  const distinct = [
    [0, 0],
    [5, 5],
    [-3, 7],
  ];
  const n = 90;
  const points = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) points.set(distinct[i % 3], i * 2);
  const seeds = kmeansPlusPlus(points, n, 2, 3, new Rng(1));
  const got = [0, 1, 2].map((j) => `${seeds[2 * j]},${seeds[2 * j + 1]}`).sort();
  assert.deepEqual(got, ['-3,7', '0,0', '5,5']);
});

test('fewer distinct rows than k, k > n and k < 1 throw coded errors', () => {
  const points = new Float32Array([1, 1, 1, 1, 2, 2, 1, 1]);
  assert.throws(() => kmeansPlusPlus(points, 4, 2, 3, new Rng(0)), code('KMEANS_TOO_FEW_DISTINCT'));
  assert.throws(() => kmeansPlusPlus(points, 4, 2, 5, new Rng(0)), code('KMEANS_K_EXCEEDS_N'));
  assert.throws(() => kmeansPlusPlus(points, 4, 2, 0, new Rng(0)), code('KMEANS_INVALID_K'));
  assert.throws(() => kmeansPlusPlus(points, 4, 2, 2.5, new Rng(0)), code('KMEANS_INVALID_K'));
  const same = new Float32Array(20).fill(3);
  assert.deepEqual(Array.from(kmeansPlusPlus(same, 10, 2, 1, new Rng(0))), [3, 3]);
  assert.throws(() => kmeansPlusPlus(same, 10, 2, 2, new Rng(0)), code('KMEANS_TOO_FEW_DISTINCT'));
});

test('nearly equal but distinct rows still count as distinct', () => {
  const dim = 16;
  const points = new Float32Array(2 * dim).fill(1000);
  points[dim] = 1000.0001220703125; // two float32 steps above 1000
  const seeds = kmeansPlusPlus(points, 2, dim, 2, new Rng(0));
  assert.notEqual(seeds[0], seeds[dim]);
});
