import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, elbowOf, selectK, selectKSteps, silhouette } from '../src/index.js';
import { blobs } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;
const near = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('silhouette matches a hand-computed value', () => {
  // Clusters {0, 2} and {5, 9} on a line. Per point (b - a) / max(a, b):
  // 0: a 2, b 7 -> 5/7; 2: a 2, b 5 -> 3/5; 5: a 4, b 4 -> 0; 9: a 4, b 8 -> 1/2.
  const points = Float32Array.from([0, 2, 5, 9]);
  near(silhouette(points, 4, 1, [0, 0, 1, 1]), (5 / 7 + 3 / 5 + 0 + 1 / 2) / 4);

  // The same in two dimensions (distances are euclidean, not squared): rotate by 3-4-5.
  const rotated = Float32Array.from([0, 0, 1.2, 1.6, 3, 4, 5.4, 7.2]);
  near(silhouette(rotated, 4, 2, [0, 0, 1, 1]), (5 / 7 + 3 / 5 + 0 + 1 / 2) / 4, 1e-6);

  // A point alone in its cluster scores 0: 0 -> 3/5, 2 -> 1/3, 5 -> 0.
  near(silhouette(Float32Array.from([0, 2, 5]), 3, 1, [0, 0, 1]), (3 / 5 + 1 / 3) / 3);
  // One cluster only: nothing to compare against.
  assert.equal(silhouette(points, 4, 1, [0, 0, 0, 0]), 0);
  assert.throws(() => silhouette(points, 4, 1, [0, 0, -1, 1]), code('KMEANS_INVALID_ARGUMENT'));
});

test('the elbow is the point farthest below the chord of the scaled inertia curve', () => {
  const curve = [100, 40, 30, 25, 22].map((inertia, i) => ({ k: i + 2, inertia }));
  assert.equal(elbowOf(curve), 3);
  // No point below the chord: the first k.
  assert.equal(elbowOf([10, 8, 2].map((inertia, i) => ({ k: i + 2, inertia }))), 2);
  assert.equal(elbowOf(curve.slice(0, 2)), 2);
  assert.throws(() => elbowOf([]), code('KMEANS_INVALID_ARGUMENT'));
});

for (const k of [4, 7]) {
  test(`${k} well-separated blobs: the silhouette chooses k = ${k}`, () => {
    const n = 100 * k;
    const dim = 8;
    const { points } = blobs(n, dim, k, 40 + k, 0.3, 10);
    const r = selectK(points, n, dim, { range: { min: 2, max: 10 }, seed: 1, batchSize: 256 });
    assert.equal(r.chosen, k, JSON.stringify(r.curve));
    assert.equal(r.criterion, 'silhouette');
    assert.deepEqual(
      r.curve.map((p) => p.k),
      [2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.equal(r.stoppedAt, null);
    assert.equal(r.silhouettePoints, n);
    const best = r.curve.find((p) => p.k === k)!;
    assert.ok(best.silhouette > 0.7, `silhouette ${best.silhouette}`);
    for (const p of r.curve) assert.ok(p.silhouette >= -1 && p.silhouette <= 1);
    // The chord elbow is a cruder rule: inertia falls nearly linearly up to the true k, so the
    // point farthest below the chord can come before it (k = 5 for these 7 blobs).
    assert.ok(r.elbow >= 3 && r.elbow <= k, `elbow ${r.elbow}`);
  });
}

test('selection is deterministic for a seed and reports every k as a step', () => {
  const n = 600;
  const { points } = blobs(n, 6, 5, 9, 1.5, 10);
  const opts = { range: { min: 2, max: 8 }, seed: 3, batchSize: 128, silhouetteSample: 200 };
  const a = selectK(points, n, 6, opts);
  const b = selectK(points, n, 6, opts);
  assert.deepEqual(a, b);
  assert.equal(a.silhouettePoints, 200);

  const steps = selectKSteps(points, n, 6, opts);
  const seen: [number, number, number][] = [];
  let s = steps.next();
  for (; !s.done; s = steps.next()) seen.push([s.value.k, s.value.done, s.value.total]);
  assert.deepEqual(
    seen,
    [2, 3, 4, 5, 6, 7, 8].map((k, i) => [k, i + 1, 7]),
  );
  assert.deepEqual(s.value, a);

  // Each k keeps the best of its restarts, the first of which is the single fit.
  const once = selectK(points, n, 6, { ...opts, restarts: 1 });
  for (const [i, p] of a.curve.entries()) assert.ok(p.inertia <= once.curve[i].inertia);
  assert.throws(
    () => selectK(points, n, 6, { ...opts, restarts: 0 }),
    code('KMEANS_INVALID_ARGUMENT'),
  );
});

test('a range that is empty, starts at 1 or exceeds the sample is refused with a code', () => {
  const n = 20;
  const { points } = blobs(n, 2, 2, 1);
  const run = (min: number, max: number) => () =>
    selectK(points, n, 2, { range: { min, max }, seed: 0 });
  assert.throws(run(1, 5), code('KMEANS_INVALID_K_RANGE'));
  assert.throws(run(0, 5), code('KMEANS_INVALID_K_RANGE'));
  assert.throws(run(5, 4), code('KMEANS_INVALID_K_RANGE'));
  assert.throws(run(2.5, 4), code('KMEANS_INVALID_K_RANGE'));
  assert.throws(run(2, 20), code('KMEANS_K_EXCEEDS_N'));
  assert.throws(run(25, 30), code('KMEANS_K_EXCEEDS_N'));
  assert.doesNotThrow(run(2, 19));
  assert.throws(
    () => selectK(points, n, 2, { range: { min: 2, max: 3 }, silhouetteSample: 1 }),
    code('KMEANS_INVALID_ARGUMENT'),
  );
});

test('the range stops at the first k above the number of distinct points', () => {
  // 30 points, only 3 distinct.
  const n = 30;
  const points = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) points.set([(i % 3) * 10, (i % 3) * -4], i * 2);
  const r = selectK(points, n, 2, { range: { min: 2, max: 6 }, seed: 0 });
  assert.deepEqual(
    r.curve.map((p) => p.k),
    [2, 3],
  );
  assert.equal(r.stoppedAt, 4);
  assert.equal(r.chosen, 3);
  near(r.curve[1].silhouette, 1);
  near(r.curve[1].inertia, 0);

  assert.throws(
    () => selectK(points, n, 2, { range: { min: 4, max: 6 }, seed: 0 }),
    code('KMEANS_TOO_FEW_DISTINCT'),
  );
});
