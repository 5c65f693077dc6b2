import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, Rng, kmeansPlusPlus, lloyd } from '../src/index.js';
import { allFinite, blobs, samePartition } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

test('1-D known answer: {0, 1, 10, 11} from [0, 10] gives centres 0.5 and 10.5', () => {
  const points = new Float32Array([0, 1, 10, 11]);
  const r = lloyd(points, 4, 1, new Float32Array([0, 10]));
  assert.deepEqual(Array.from(r.centroids), [0.5, 10.5]);
  assert.deepEqual(Array.from(r.labels), [0, 0, 1, 1]);
  assert.equal(r.inertia, 1);
  assert.equal(r.converged, true);
  assert.equal(r.iterations, 2);
});

test('a bad start is corrected: {0, 1, 10, 11} from [0, 1] still ends at 0.5 / 10.5', () => {
  const points = new Float32Array([0, 1, 10, 11]);
  const r = lloyd(points, 4, 1, new Float32Array([0, 1]));
  assert.deepEqual(Array.from(r.centroids), [0.5, 10.5]);
  assert.equal(r.inertia, 1);
});

test('an empty cluster moves to the farthest point instead of becoming NaN', () => {
  const points = new Float32Array([0, 1, 2, 50]);
  const r = lloyd(points, 4, 1, new Float32Array([1, 1000]));
  assert.ok(allFinite(r.centroids));
  assert.deepEqual(Array.from(r.centroids), [1, 50]);
  assert.equal(r.inertia, 2);
});

test('recovers blobs from k-means++ seeds; maxIter bounds the passes', () => {
  const { points, truth } = blobs(1000, 6, 7, 3);
  const init = kmeansPlusPlus(points, 1000, 6, 7, new Rng(1));
  const r = lloyd(points, 1000, 6, init);
  assert.ok(r.converged);
  assert.ok(samePartition(truth, r.labels));
  const { points: hard } = blobs(1000, 2, 10, 4, 3, 5);
  const short = lloyd(hard, 1000, 2, kmeansPlusPlus(hard, 1000, 2, 10, new Rng(1)), 1);
  assert.equal(short.iterations, 1);
  assert.equal(short.converged, false);
});

test('bad arguments throw coded errors', () => {
  const points = new Float32Array([0, 1]);
  assert.throws(() => lloyd(points, 2, 1, new Float32Array([0, 1, 2])), code('KMEANS_K_EXCEEDS_N'));
  assert.throws(() => lloyd(points, 2, 2, new Float32Array([0])), code('KMEANS_INVALID_ARGUMENT'));
  const one = new Float32Array([0]);
  assert.throws(() => lloyd(points, 2, 1, one, 0), code('KMEANS_INVALID_ARGUMENT'));
});
