import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, Rng, fit, kmeansPlusPlus, lloyd } from '../src/index.js';
import { allFinite, blobs, samePartition } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

test('fit recovers well-separated Gaussian blobs exactly (labels up to permutation)', () => {
  const n = 5000;
  const { points, truth } = blobs(n, 16, 10, 17, 0.5, 10);
  const r = fit(points, n, 16, { k: 10, batchSize: 512, seed: 0 });
  assert.ok(samePartition(truth, r.labels));
  assert.equal(r.stopReason, 'no-improvement');
  assert.ok(allFinite(r.centroids));
});

test('mini-batch inertia is within 1% of Lloyd on blobs', () => {
  const n = 8000;
  const dim = 16;
  const k = 10;
  const { points } = blobs(n, dim, k, 23, 1, 10);
  let best = Infinity;
  for (let s = 0; s < 3; s++) {
    const init = kmeansPlusPlus(points, n, dim, k, new Rng(s));
    best = Math.min(best, lloyd(points, n, dim, init).inertia);
  }
  for (const seed of [0, 1, 2]) {
    const r = fit(points, n, dim, { k, batchSize: 512, seed });
    const ratio = r.inertia / best;
    assert.ok(ratio < 1.01 && ratio > 0.99, `seed ${seed}: ratio ${ratio}`);
  }
});

test('fit is deterministic for a seed', () => {
  const n = 3000;
  const { points } = blobs(n, 8, 6, 2, 3, 10);
  const a = fit(points, n, 8, { k: 6, batchSize: 256, seed: 5 });
  const b = fit(points, n, 8, { k: 6, batchSize: 256, seed: 5 });
  assert.deepEqual(a.centroids, b.centroids);
  assert.deepEqual(a.labels, b.labels);
  assert.equal(a.steps, b.steps);
  assert.equal(a.inertia, b.inertia);
});

test('fit works when n is smaller than the batch size, and for k = 1', () => {
  const { points, truth } = blobs(90, 3, 3, 8);
  const r = fit(points, 90, 3, { k: 3 });
  assert.ok(samePartition(truth, r.labels));
  const one = fit(points, 90, 3, { k: 1 });
  assert.ok(one.labels.every((l) => l === 0));
  let mean = 0;
  for (let i = 0; i < 90; i++) mean += points[i * 3] / 90;
  assert.ok(Math.abs(one.centroids[0] - mean) < 1e-3);
});

test('duplicates: a sample with too few distinct rows falls back to all points', () => {
  const n = 2000;
  const dim = 2;
  const points = new Float32Array(n * dim);
  // 1997 copies of the origin and three distinct outliers: a small sample misses them. With
  // reassignment on, centres holding one point in 2000 would count as starved and move.
  points.set([5, 5, -5, 5, 5, -5], (n - 3) * dim);
  const opts = { k: 4, batchSize: 16, initSize: 20, seed: 1, reassignmentRatio: 0 };
  const r = fit(points, n, dim, opts);
  assert.ok(allFinite(r.centroids));
  const rows = [0, 1, 2, 3].map((j) => `${r.centroids[2 * j]},${r.centroids[2 * j + 1]}`).sort();
  assert.deepEqual(rows, ['-5,5', '0,0', '5,-5', '5,5']);
  assert.equal(r.inertia, 0);
});

test('fit errors: too few distinct points, k > n, k < 1, NaN', () => {
  const points = new Float32Array([1, 1, 2, 2, 1, 1, 2, 2]);
  assert.throws(() => fit(points, 4, 2, { k: 3 }), code('KMEANS_TOO_FEW_DISTINCT'));
  assert.throws(() => fit(points, 4, 2, { k: 5 }), code('KMEANS_K_EXCEEDS_N'));
  assert.throws(() => fit(points, 4, 2, { k: 0 }), code('KMEANS_INVALID_K'));
  const bad = new Float32Array([1, 1, NaN, 2]);
  assert.throws(() => fit(bad, 2, 2, { k: 1 }), code('KMEANS_NON_FINITE'));
});
