import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, Rng, assign, pairwiseSquaredDistances, squaredNorms } from '../src/index.js';
import { naiveAssign } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

function randomMatrix(rows: number, dim: number, rng: Rng): Float32Array {
  const m = new Float32Array(rows * dim);
  for (let i = 0; i < m.length; i++) m[i] = rng.gaussian();
  return m;
}

test('assign matches a naive search for every tile/remainder shape', () => {
  const rng = new Rng(11);
  for (const n of [1, 2, 3, 4, 5, 63, 64, 65, 130]) {
    for (const k of [1, 2, 3, 4, 5, 7, 10]) {
      for (const dim of [1, 3, 17]) {
        const x = randomMatrix(n, dim, rng);
        const c = randomMatrix(k, dim, rng);
        const got = assign(x, n, dim, c, k);
        const want = naiveAssign(x, n, dim, c, k);
        let inertia = 0;
        for (let i = 0; i < n; i++) {
          inertia += want.distances[i];
          const tol = 1e-5 * (1 + want.distances[i]);
          assert.ok(Math.abs(got.distances[i] - want.distances[i]) < tol, `n${n} k${k} d${dim}`);
          if (got.labels[i] !== want.labels[i]) {
            // Only a near tie may flip: the other centre must be as close up to rounding.
            const other = c.subarray(got.labels[i] * dim);
            const alt = naiveAssign(x.subarray(i * dim), 1, dim, other, 1);
            assert.ok(Math.abs(alt.distances[0] - want.distances[i]) < tol);
          }
        }
        assert.ok(Math.abs(got.inertia - inertia) < 1e-5 * (1 + inertia));
      }
    }
  }
});

test('assign on wide codes (dim 2888) agrees with the naive search', () => {
  const rng = new Rng(5);
  const n = 37;
  const k = 25;
  const dim = 2888;
  const x = randomMatrix(n, dim, rng);
  const c = randomMatrix(k, dim, rng);
  const got = assign(x, n, dim, c, k);
  const want = naiveAssign(x, n, dim, c, k);
  assert.deepEqual(Array.from(got.labels), Array.from(want.labels));
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(got.distances[i] - want.distances[i]) < 1e-4 * want.distances[i]);
  }
});

test('identical point and centroid are exactly 0 apart; ties go to the lowest index', () => {
  const x = new Float32Array([0.1, 0.7, 123.456, -3.3, 5e-3, 9]);
  const c = new Float32Array([9, 9, 9, 0.1, 0.7, 123.456, 0.1, 0.7, 123.456]);
  const a = assign(x, 2, 3, c, 3);
  assert.equal(a.labels[0], 1);
  assert.equal(a.distances[0], 0);
  const d = pairwiseSquaredDistances(x, 1, 3, c, 3);
  assert.equal(d[1], 0);
  assert.equal(d[2], 0);
});

test('distances are clamped at 0 and never NaN for large nearly-equal codes', () => {
  const dim = 64;
  const x = new Float32Array(dim).fill(1e4);
  const c = new Float32Array(dim).fill(1e4);
  c[0] = 1e4 + 0.001;
  const a = assign(x, 1, dim, c, 1);
  assert.ok(a.distances[0] >= 0 && Number.isFinite(a.distances[0]));
});

test('assign writes into caller buffers and handles n = 0', () => {
  const labels = new Int32Array(4).fill(-7);
  const distances = new Float32Array(4);
  const x = new Float32Array([0, 0, 10, 10]);
  const c = new Float32Array([10, 10, 0, 0]);
  const a = assign(x, 2, 2, c, 2, { labels, distances });
  assert.equal(a.labels, labels);
  assert.deepEqual(Array.from(labels), [1, 0, -7, -7]);
  assert.equal(a.inertia, 0);
  const empty = assign(new Float32Array(0), 0, 2, c, 2);
  assert.equal(empty.labels.length, 0);
  assert.equal(empty.inertia, 0);
});

test('squaredNorms and pairwise distances have known values', () => {
  const x = new Float32Array([3, 4, 1, 1]);
  assert.deepEqual(Array.from(squaredNorms(x, 2, 2)), [25, 2]);
  const d = pairwiseSquaredDistances(x, 2, 2, new Float32Array([0, 0, 3, 4]), 2);
  assert.deepEqual(Array.from(d), [25, 0, 2, 13]);
});

test('bad inputs throw coded errors', () => {
  const x = new Float32Array([1, 2, 3, 4]);
  assert.throws(() => assign(x, 3, 2, x, 1), code('KMEANS_INVALID_ARGUMENT'));
  assert.throws(() => assign(x, 2, 2, x, 0), code('KMEANS_INVALID_K'));
  assert.throws(() => assign(x, 2, 2, x, 3), code('KMEANS_INVALID_ARGUMENT'));
  const bad = new Float32Array([1, NaN, 3, 4]);
  assert.throws(() => assign(bad, 2, 2, x, 1), code('KMEANS_NON_FINITE'));
  assert.throws(() => assign(x, 2, 2, bad, 1), code('KMEANS_NON_FINITE'));
  const inf = new Float32Array([Infinity, 0]);
  assert.throws(() => assign(x, 2, 2, inf, 1), code('KMEANS_NON_FINITE'));
  assert.throws(
    () => assign(x, 2, 2, x, 1, { labels: new Int32Array(1) }),
    code('KMEANS_INVALID_ARGUMENT'),
  );
});
