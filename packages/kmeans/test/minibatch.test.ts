import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, MiniBatchKMeans, assign } from '../src/index.js';
import { allFinite, blobs, samePartition } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

/** Streams `points` in consecutive batches of `b` rows, wrapping around, until converged. */
function stream(model: MiniBatchKMeans, points: Float32Array, n: number, b: number, max = 500) {
  const dim = model.options.dim;
  for (let s = 0, at = 0; s < max && !model.converged; s++, at = (at + b) % n) {
    const rows = Math.min(b, n - at);
    model.partialFit(points.subarray(at * dim, (at + rows) * dim), rows);
  }
}

test('streamed batches recover well-separated blobs exactly', () => {
  const n = 3000;
  const { points, truth } = blobs(n, 10, 5, 21);
  const model = new MiniBatchKMeans({ k: 5, dim: 10, batchSize: 256, seed: 3 });
  model.init(points.subarray(0, 768 * 10), 768);
  stream(model, points, n, 256);
  assert.ok(model.converged);
  assert.equal(model.stopReason, 'no-improvement');
  assert.ok(samePartition(truth, model.predict(points, n).labels));
  const total = Array.from(model.counts).reduce((a, b) => a + b, 0);
  assert.ok(total > 0 && total <= model.steps * 256);
});

test('same seed and batches give bit-identical centroids; another seed differs', () => {
  const n = 2000;
  const { points } = blobs(n, 6, 8, 5, 2, 10);
  const run = (seed: number) => {
    const m = new MiniBatchKMeans({ k: 8, dim: 6, batchSize: 200, seed, maxSteps: 40 });
    stream(m, points, n, 200);
    return m;
  };
  const a = run(1);
  const b = run(1);
  assert.deepEqual(a.centroids, b.centroids);
  assert.deepEqual(a.counts, b.counts);
  assert.equal(a.steps, b.steps);
  assert.notDeepEqual(a.centroids, run(2).centroids);
});

test('a centroid far from all data is reassigned to a batch point, never NaN', () => {
  const n = 1000;
  const dim = 4;
  const { points } = blobs(n, dim, 4, 9);
  const model = new MiniBatchKMeans({ k: 4, dim, batchSize: 250, seed: 0 });
  model.init(points, n);
  const c = model.centroids;
  c.fill(1e6, 0, dim); // centre 0 now attracts no point
  model.setCentroids(c);
  const r = model.partialFit(points.subarray(0, 250 * dim), 250);
  assert.ok(r.reassigned >= 1);
  assert.ok(allFinite(model.centroids));
  assert.ok(model.centroids[0] < 100, 'the far centre moved onto the data');
  assert.ok(model.counts[0] > 0);
  stream(model, points, n, 250);
  assert.ok(allFinite(model.centroids));
  assert.ok(Number.isFinite(model.predict(points, n).inertia));
});

test('with reassignment off an unreachable centre stays put, finite, with count 0', () => {
  const dim = 3;
  const { points } = blobs(600, dim, 3, 4);
  const model = new MiniBatchKMeans({ k: 3, dim, batchSize: 100, reassignmentRatio: 0 });
  model.init(points, 600);
  const c = model.centroids;
  c.fill(-5e5, 2 * dim, 3 * dim);
  model.setCentroids(c);
  for (let s = 0; s < 6; s++) model.partialFit(points.subarray(s * 100 * dim), 100);
  assert.ok(allFinite(model.centroids));
  assert.deepEqual(Array.from(model.centroids.subarray(2 * dim)), [-5e5, -5e5, -5e5]);
  assert.equal(model.counts[2], 0);
});

test('per-centre learning rate 1/count makes each centre the running mean', () => {
  const model = new MiniBatchKMeans({ k: 2, dim: 1, reassignmentRatio: 0 });
  model.setCentroids([0, 100]);
  model.partialFit(new Float32Array([1, 3, 99]), 3);
  assert.deepEqual(Array.from(model.centroids), [2, 99]);
  model.partialFit(new Float32Array([5, 103]), 2);
  assert.deepEqual(Array.from(model.centroids), [3, 101]);
  assert.deepEqual(Array.from(model.counts), [3, 2]);
});

test('duplicate points: centres land exactly on the distinct values, zero inertia', () => {
  const values = [
    [1, 2],
    [8, 8],
    [-4, 0],
  ];
  const n = 300;
  const points = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) points.set(values[(i * 7) % 3], 2 * i);
  const model = new MiniBatchKMeans({ k: 3, dim: 2, batchSize: 64 });
  stream(model, points, n, 64);
  assert.equal(assign(points, n, 2, model.centroids, 3).inertia, 0);
});

test('init errors: too few distinct rows, k > n, k < 1, bad options', () => {
  const model = new MiniBatchKMeans({ k: 3, dim: 2 });
  const twoDistinct = new Float32Array([0, 0, 1, 1, 0, 0, 1, 1]);
  assert.throws(() => model.init(twoDistinct, 4), code('KMEANS_TOO_FEW_DISTINCT'));
  assert.throws(() => model.partialFit(twoDistinct, 4), code('KMEANS_TOO_FEW_DISTINCT'));
  assert.throws(() => model.init(twoDistinct, 2), code('KMEANS_K_EXCEEDS_N'));
  assert.equal(model.initialized, false);
  assert.throws(() => model.centroids, code('KMEANS_NOT_INITIALIZED'));
  assert.throws(() => new MiniBatchKMeans({ k: 0, dim: 2 }), code('KMEANS_INVALID_K'));
  assert.throws(() => new MiniBatchKMeans({ k: 2, dim: 0 }), code('KMEANS_INVALID_ARGUMENT'));
  const badRatio = { k: 2, dim: 2, reassignmentRatio: 1 };
  assert.throws(() => new MiniBatchKMeans(badRatio), code('KMEANS_INVALID_ARGUMENT'));
  const badTol = { k: 2, dim: 2, tol: -1 };
  assert.throws(() => new MiniBatchKMeans(badTol), code('KMEANS_INVALID_ARGUMENT'));
});

test('a batch with NaN throws and leaves the centroids unchanged', () => {
  const model = new MiniBatchKMeans({ k: 2, dim: 2 });
  model.setCentroids([0, 0, 1, 1]);
  assert.throws(() => model.partialFit(new Float32Array([0.5, NaN]), 1), code('KMEANS_NON_FINITE'));
  assert.deepEqual(Array.from(model.centroids), [0, 0, 1, 1]);
  assert.equal(model.steps, 0);
});

test('maxSteps ends the run with reason max-steps', () => {
  const { points } = blobs(400, 2, 2, 1, 3, 5);
  const model = new MiniBatchKMeans({ k: 2, dim: 2, batchSize: 100, maxSteps: 3 });
  const results = [0, 1, 2].map((s) => model.partialFit(points.subarray(s * 200), 100));
  assert.deepEqual(
    results.map((r) => r.converged),
    [false, false, true],
  );
  assert.equal(results[0].ewaInertia, null);
  assert.equal(model.stopReason, 'max-steps');
});

test('getState / fromState resumes bit-for-bit', () => {
  const n = 1200;
  const { points } = blobs(n, 5, 6, 13, 2, 8);
  const b = 100;
  const a = new MiniBatchKMeans({ k: 6, dim: 5, batchSize: b, seed: 4, maxSteps: 10000 });
  a.init(points, n);
  for (let s = 0; s < 5; s++) a.partialFit(points.subarray(s * b * 5), b);
  const state = JSON.parse(JSON.stringify(a.getState()));
  const c = MiniBatchKMeans.fromState(state);
  for (let s = 5; s < 12; s++) {
    const ra = a.partialFit(points.subarray(s * b * 5), b);
    const rc = c.partialFit(points.subarray(s * b * 5), b);
    assert.deepEqual(rc, ra);
  }
  assert.deepEqual(c.centroids, a.centroids);
  assert.equal(c.steps, a.steps);
});
