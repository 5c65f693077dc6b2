import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, allocPoints, assign, freePoints, kmeansPlusPlus } from '../src/index.js';
import { blobs } from './helpers.js';

/** Seeds and the potential reported for them. */
function seedWith(
  points: Float32Array,
  n: number,
  dim: number,
  k: number,
  seed: number,
  threads: number,
) {
  let potential = NaN;
  const seeds = kmeansPlusPlus(points, n, dim, k, new Rng(seed), {
    threads,
    potential: (sum) => (potential = sum),
  });
  return { seeds, potential };
}

test('threads 1, 2 and 3 pick the same seeds for the same rng seed', () => {
  // Overlapping blobs, so trials compete closely. The split only changes the order in which
  // each trial's float64 potential is added up (per part, then the parts), so a thread count
  // could change a pick only when two trials' potentials tie to within a last-bit rounding.
  const n = 2000;
  const dim = 6;
  const { points } = blobs(n, dim, 30, 17, 1.5, 10);
  for (const k of [2, 20, 64]) {
    for (const seed of [0, 1, 2]) {
      const one = seedWith(points, n, dim, k, seed, 1);
      for (const threads of [2, 3]) {
        const many = seedWith(points, n, dim, k, seed, threads);
        assert.deepEqual(many.seeds, one.seeds, `k${k} seed ${seed} threads ${threads}`);
        assert.equal(many.potential, one.potential);
      }
    }
  }
});

test('threads give the same seeds for points already in kernel memory', () => {
  const n = 1500;
  const dim = 9;
  const { points } = blobs(n, dim, 12, 4, 1, 8);
  const held = allocPoints(n, dim);
  try {
    held.set(points);
    const want = seedWith(points, n, dim, 12, 7, 1).seeds;
    assert.deepEqual(seedWith(held, n, dim, 12, 7, 2).seeds, want);
    assert.deepEqual(seedWith(held, n, dim, 12, 7, 1).seeds, want);
  } finally {
    freePoints(held);
  }
});

test('the potential callback equals the inertia of the seeds on the points', () => {
  const n = 2000;
  for (const [dim, k, sigma] of [
    [4, 10, 0.5],
    [16, 25, 2],
    [3, 100, 1],
  ]) {
    const { points } = blobs(n, dim, 15, dim, sigma, 10);
    for (const threads of [1, 2]) {
      const { seeds, potential } = seedWith(points, n, dim, k, 3, threads);
      const inertia = assign(points, n, dim, seeds, k, { threads: 1 }).inertia;
      assert.ok(inertia > 0);
      const gap = Math.abs(potential - inertia);
      assert.ok(
        gap <= 1e-6 * inertia,
        `dim${dim} k${k} threads ${threads}: ${potential} vs ${inertia}`,
      );
    }
  }
});

test('k distinct rows, each repeated 50 times, give one seed per distinct row', () => {
  const rng = new Rng(21);
  const k = 12;
  const dim = 3;
  const distinct = new Float32Array(k * dim);
  for (let i = 0; i < distinct.length; i++) distinct[i] = rng.gaussian() * 5;
  // Two of them close together: still distinct, so both must be picked.
  for (let t = 0; t < dim; t++) distinct[dim + t] = distinct[t] + 1e-3;
  const n = 50 * k;
  const points = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const j = (i * 5) % k;
    points.set(distinct.subarray(j * dim, (j + 1) * dim), i * dim);
  }
  const key = (a: Float32Array, j: number) => Array.from(a.subarray(j * dim, (j + 1) * dim)).join();
  const want = Array.from({ length: k }, (_, j) => key(distinct, j)).sort();
  for (const threads of [1, 2]) {
    for (const seed of [0, 1, 2]) {
      const { seeds, potential } = seedWith(points, n, dim, k, seed, threads);
      const got = Array.from({ length: k }, (_, j) => key(seeds, j)).sort();
      assert.deepEqual(got, want, `threads ${threads} seed ${seed}`);
      assert.equal(potential, 0);
    }
  }
});

test('distinct rows whose float32 distances underflow to 0 are still picked once each', () => {
  // Rows 1e-25 apart: squared distances of 1e-50 are 0 in float32, so every draw weight is 0
  // and seeding falls back to the first rows not equal to a chosen seed.
  const dim = 2;
  const k = 4;
  const n = 40;
  const points = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) points[i * dim] = (i % k) * 1e-25;
  const { seeds, potential } = seedWith(points, n, dim, k, 0, 1);
  const firsts = Array.from({ length: k }, (_, j) => seeds[j * dim]).sort();
  assert.deepEqual(firsts, [0, 1e-25, 2e-25, 3e-25].map(Math.fround).sort());
  assert.equal(potential, 0);
});
