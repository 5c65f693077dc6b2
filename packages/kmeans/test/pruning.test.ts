import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kernel } from '../src/kernel.js';
import { CentroidSet, MAX_DIRECTIONS, directionsFor, symmetricEigen } from '../src/pruning.js';
import { Rng, allocPoints, assign, freePoints } from '../src/index.js';
import { blobs, naiveAssign } from './helpers.js';

type Kind =
  'overlapping' | 'separated' | 'uniform' | 'duplicates' | 'centroid rows' | 'offset' | 'tiny';

const KINDS: Kind[] = [
  'overlapping',
  'separated',
  'uniform',
  'duplicates',
  'centroid rows',
  'offset',
  'tiny',
];
const KS = [1, 2, 3, 7, 25, 70, 300];
/** Points per case for each width: fewer for wide codes, so the naive search stays quick. */
const ROWS: Record<number, number> = { 1: 400, 3: 400, 17: 300, 128: 120, 2888: 20 };

/** A data set of `kind` with `k` centroids for it, both float32. */
function makeCase(kind: Kind, n: number, dim: number, k: number, seed: number) {
  const rng = new Rng(seed);
  const gauss = (m: number, scale: number) => {
    const a = new Float32Array(m * dim);
    for (let i = 0; i < a.length; i++) a[i] = scale * rng.gaussian();
    return a;
  };
  switch (kind) {
    case 'overlapping': {
      const centres = gauss(Math.max(2, Math.min(k, 20)), 1);
      const m = centres.length / dim;
      const points = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        const j = rng.nextInt(m);
        for (let t = 0; t < dim; t++) points[i * dim + t] = centres[j * dim + t] + rng.gaussian();
      }
      return { points, centroids: gauss(k, 1) };
    }
    case 'separated': {
      const { points, centres } = blobs(n, dim, k, seed, 0.1, 10);
      const centroids = centres.slice();
      for (let i = 0; i < centroids.length; i++) centroids[i] += 0.05 * rng.gaussian();
      return { points, centroids };
    }
    case 'uniform': {
      const points = new Float32Array(n * dim);
      const centroids = new Float32Array(k * dim);
      for (let i = 0; i < points.length; i++) points[i] = rng.next();
      for (let i = 0; i < centroids.length; i++) centroids[i] = rng.next();
      return { points, centroids };
    }
    case 'duplicates': {
      const distinct = gauss(5, 2);
      const points = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        const j = rng.nextInt(5);
        points.set(distinct.subarray(j * dim, (j + 1) * dim), i * dim);
      }
      return { points, centroids: gauss(k, 2) };
    }
    case 'centroid rows': {
      // Every point is a copy of a centroid, and the last centroid repeats the first: exact
      // zero distances and exact ties, which go to the lowest index.
      const centroids = gauss(k, 1);
      if (k >= 3) centroids.set(centroids.subarray(0, dim), (k - 1) * dim);
      const points = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        const j = (i * 7) % k;
        points.set(centroids.subarray(j * dim, (j + 1) * dim), i * dim);
      }
      return { points, centroids };
    }
    case 'offset': {
      const points = gauss(n, 1);
      const centroids = gauss(k, 1);
      for (let i = 0; i < points.length; i++) points[i] += 1000;
      for (let i = 0; i < centroids.length; i++) centroids[i] += 1000;
      return { points, centroids };
    }
    case 'tiny':
      return { points: gauss(n, 1e-20), centroids: gauss(k, 1e-20) };
  }
}

/** Float32 rounding allowance for a squared distance near `want` over `dim` terms. */
function tolerance(want: number, dim: number): number {
  // The absolute part covers float32 subnormals (squares of 1e-20 differences).
  return 2e-4 * want + dim * 2e-45;
}

test('pruned assign equals the unpruned kernel bit for bit and a float64 search up to ties', () => {
  let seed = 1;
  for (const dim of [1, 3, 17, 128, 2888]) {
    const n = ROWS[dim];
    for (const k of KS) {
      for (const kind of KINDS) {
        const label = `${kind} n${n} k${k} dim${dim}`;
        const { points, centroids } = makeCase(kind, n, dim, k, seed++);
        const pruned = assign(points, n, dim, centroids, k, { threads: 1 });
        const full = assign(points, n, dim, centroids, k, { threads: 1, prune: false });
        assert.deepEqual(pruned.labels, full.labels, label);
        assert.deepEqual(pruned.distances, full.distances, label);
        assert.equal(pruned.inertia, full.inertia, label);
        assert.ok(pruned.computed <= n * k, `${label}: computed ${pruned.computed}`);
        // Every row measures at least its first candidate.
        assert.ok(pruned.computed >= n, `${label}: computed ${pruned.computed}`);

        const want = naiveAssign(points, n, dim, centroids, k);
        for (let i = 0; i < n; i++) {
          const tol = tolerance(want.distances[i], dim);
          const got = pruned.distances[i];
          assert.ok(Math.abs(got - want.distances[i]) <= tol, `${label} row ${i}: ${got}`);
          if (pruned.labels[i] !== want.labels[i]) {
            // Only a near tie may go the other way.
            const j = pruned.labels[i];
            const other = naiveAssign(
              points.subarray(i * dim),
              1,
              dim,
              centroids.subarray(j * dim),
              1,
            );
            assert.ok(Math.abs(other.distances[0] - want.distances[i]) <= tol, `${label} row ${i}`);
          }
        }
        if (kind === 'centroid rows') {
          assert.ok(
            pruned.distances.every((d) => d === 0),
            label,
          );
          if (k >= 3) assert.ok(!pruned.labels.includes(k - 1), `${label}: tie to lowest index`);
        }
      }
    }
  }
});

test('well-separated blobs: pruning measures about one distance per point, not n x k', () => {
  for (const [k, dim] of [
    [7, 17],
    [25, 17],
    [70, 8],
    [300, 16],
  ]) {
    const n = 3000;
    const { points, centres } = blobs(n, dim, k, k, 0.1, 10);
    const a = assign(points, n, dim, centres, k, { threads: 1 });
    // The nearest bound is the point's own blob, and every other bound exceeds its distance.
    assert.ok(a.computed >= n && a.computed <= 1.5 * n, `k${k}: ${a.computed} of ${n * k}`);
    const b = assign(points, n, dim, centres, k, { threads: 1, prune: false });
    assert.deepEqual(a.labels, b.labels);
  }
});

test('computed counts every distance when pruning is off or k = 1', () => {
  const n = 200;
  const { points, centres } = blobs(n, 4, 5, 3);
  assert.equal(assign(points, n, 4, centres, 5, { prune: false }).computed, n * 5);
  assert.equal(assign(points, n, 4, centres, 1).computed, n);
});

test('1, 2 and 3 threads give bit-identical labels, distances and work', () => {
  const rng = new Rng(77);
  for (const [n, dim, k] of [
    [2000, 17, 25],
    [1531, 3, 7],
    [777, 128, 70],
    [600, 5, 300],
  ]) {
    const points = new Float32Array(n * dim);
    for (let i = 0; i < points.length; i++) points[i] = rng.gaussian() * (1 + (i % 5));
    const centroids = points.slice(0, k * dim);
    for (let i = 0; i < centroids.length; i++) centroids[i] += 0.3 * rng.gaussian();
    const one = assign(points, n, dim, centroids, k, { threads: 1 });
    for (const threads of [2, 3]) {
      const many = assign(points, n, dim, centroids, k, { threads });
      const label = `n${n} dim${dim} k${k} threads ${threads}`;
      assert.deepEqual(many.labels, one.labels, label);
      assert.deepEqual(many.distances, one.distances, label);
      assert.equal(many.computed, one.computed, label);
      assert.ok(Math.abs(many.inertia - one.inertia) <= 1e-12 * one.inertia, label);
    }
  }
});

test('threads split points that already lie in kernel memory the same way', () => {
  const n = 1024;
  const dim = 12;
  const k = 9;
  const { points } = blobs(n, dim, k, 8, 1, 4);
  const held = allocPoints(n, dim);
  try {
    held.set(points);
    const centroids = points.slice(0, k * dim);
    const copied = assign(points, n, dim, centroids, k, { threads: 1 });
    for (const threads of [1, 2, 3]) {
      const inPlace = assign(held, n, dim, centroids, k, { threads });
      assert.deepEqual(inPlace.labels, copied.labels);
      assert.deepEqual(inPlace.distances, copied.distances);
    }
  } finally {
    freePoints(held);
  }
});

test('inertia is the same bit for bit across thread counts', () => {
  const rng = new Rng(3);
  const n = 5000;
  const dim = 3;
  const points = new Float32Array(n * dim);
  // Distances over many orders of magnitude make float64 sums depend on their order.
  for (let i = 0; i < points.length; i++) points[i] = rng.gaussian() * Math.exp(6 * rng.gaussian());
  const centroids = new Float32Array(7 * dim);
  for (let i = 0; i < centroids.length; i++) centroids[i] = rng.gaussian();
  const one = assign(points, n, dim, centroids, 7, { threads: 1 });
  const two = assign(points, n, dim, centroids, 7, { threads: 2 });
  assert.equal(two.inertia, one.inertia);
});

/** Largest |entry| of A v - lambda v over all eigenpairs, and of V^T V - I. */
function eigenErrors(a: Float64Array, m: number, values: Float64Array, vectors: Float64Array) {
  let residual = 0;
  let orthogonality = 0;
  for (let e = 0; e < m; e++) {
    for (let i = 0; i < m; i++) {
      let av = 0;
      for (let j = 0; j < m; j++) av += a[i * m + j] * vectors[j * m + e];
      residual = Math.max(residual, Math.abs(av - values[e] * vectors[i * m + e]));
    }
    for (let f = 0; f < m; f++) {
      let dot = 0;
      for (let i = 0; i < m; i++) dot += vectors[i * m + e] * vectors[i * m + f];
      orthogonality = Math.max(orthogonality, Math.abs(dot - (e === f ? 1 : 0)));
    }
  }
  return { residual, orthogonality };
}

test('symmetricEigen: a diagonal matrix is its own decomposition', () => {
  const a = Float64Array.from([3, 0, 0, 0, -1, 0, 0, 0, 7]);
  const { values, vectors } = symmetricEigen(a, 3);
  assert.deepEqual(Array.from(values), [3, -1, 7]);
  assert.deepEqual(Array.from(vectors), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

test('symmetricEigen: 2 x 2 matrices with known eigenpairs', () => {
  // [[2, 1], [1, 2]]: eigenvalues 1 and 3 along (1, -1) and (1, 1).
  const a = Float64Array.from([2, 1, 1, 2]);
  const { values, vectors } = symmetricEigen(a, 2);
  const sorted = Array.from(values).sort((x, y) => x - y);
  assert.ok(Math.abs(sorted[0] - 1) < 1e-12 && Math.abs(sorted[1] - 3) < 1e-12, `${sorted}`);
  const big = values[0] > values[1] ? 0 : 1;
  assert.ok(Math.abs(Math.abs(vectors[big]) - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(vectors[big] - vectors[2 + big]) < 1e-12, 'the top vector is along (1, 1)');
  // [[0, 1], [1, 0]] has a zero diagonal: eigenvalues -1 and 1.
  const swap = symmetricEigen(Float64Array.from([0, 1, 1, 0]), 2);
  const s = Array.from(swap.values).sort((x, y) => x - y);
  assert.ok(Math.abs(s[0] + 1) < 1e-12 && Math.abs(s[1] - 1) < 1e-12, `${s}`);
});

test('symmetricEigen: random symmetric 10 x 10, A v = lambda v and orthonormal vectors', () => {
  const rng = new Rng(42);
  const m = 10;
  for (let trial = 0; trial < 5; trial++) {
    const a = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let j = i; j < m; j++) {
        const v = rng.gaussian() * 10;
        a[i * m + j] = v;
        a[j * m + i] = v;
      }
    }
    const { values, vectors } = symmetricEigen(a, m);
    const { residual, orthogonality } = eigenErrors(a, m, values, vectors);
    assert.ok(residual < 1e-9, `residual ${residual}`);
    assert.ok(orthogonality < 1e-9, `orthogonality ${orthogonality}`);
    let trace = 0;
    for (let i = 0; i < m; i++) trace += a[i * m + i];
    const sum = values.reduce((x, y) => x + y, 0);
    assert.ok(Math.abs(trace - sum) < 1e-9 * (1 + Math.abs(trace)));
  }
});

test('symmetricEigen: a Gram matrix of rank 2 has two positive eigenvalues, the rest 0', () => {
  const rng = new Rng(9);
  const m = 8;
  const u = Array.from({ length: m }, () => rng.gaussian());
  const w = Array.from({ length: m }, () => rng.gaussian());
  const a = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) a[i * m + j] = u[i] * u[j] + w[i] * w[j];
  const { values, vectors } = symmetricEigen(a, m);
  const sorted = Array.from(values).sort((x, y) => y - x);
  assert.ok(sorted[1] > 0.1, `${sorted}`);
  for (const v of sorted.slice(2)) assert.ok(Math.abs(v) < 1e-9, `${sorted}`);
  const { residual, orthogonality } = eigenErrors(a, m, values, vectors);
  assert.ok(residual < 1e-9 && orthogonality < 1e-9);
});

test('directionsFor: about log2(k) - 2, from 1 to MAX_DIRECTIONS', () => {
  assert.equal(MAX_DIRECTIONS, 8);
  assert.equal(directionsFor(1), 1);
  assert.equal(directionsFor(2), 1);
  assert.equal(directionsFor(8), 1);
  assert.equal(directionsFor(9), 2);
  assert.equal(directionsFor(10), 2);
  assert.equal(directionsFor(25), 3);
  assert.equal(directionsFor(64), 4);
  assert.equal(directionsFor(1000), 8);
  assert.equal(directionsFor(1 << 20), 8);
});

test('CentroidSet: an orthonormal basis of directionsFor(k) rows, none for equal centroids', () => {
  const kern = new Kernel();
  const rng = new Rng(4);
  for (const [k, dim, r] of [
    [2, 5, 1],
    [25, 40, 3],
    [1000, 40, 8],
    [1000, 12, 3],
    [25, 2, 0],
    [70, 30, 5],
  ]) {
    const c = new Float32Array(k * dim);
    for (let i = 0; i < c.length; i++) c[i] = rng.gaussian();
    const set = new CentroidSet(kern, c, k, dim);
    assert.equal(set.r, r, `k${k} dim${dim}`);
    const p = set.basis;
    for (let a = 0; a < r; a++) {
      for (let b = 0; b < r; b++) {
        let dot = 0;
        for (let t = 0; t < dim; t++) dot += p[a * dim + t] * p[b * dim + t];
        assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-5, `k${k} rows ${a}, ${b}: ${dot}`);
      }
    }
    set.dispose();
  }
  const same = new Float32Array(6 * 3).fill(2.5);
  const set = new CentroidSet(kern, same, 6, 3);
  assert.equal(set.r, 0);
  set.dispose();
  assert.equal(kern.usage().allocated, 0, 'dispose returns every block');
});

test('a row whose every lower bound overflows does not touch memory outside the scratch', () => {
  const kern = new Kernel();
  const dim = 8;
  const c = new Float32Array(3 * dim);
  for (let i = 0; i < c.length; i++) c[i] = (i * 7) % 5;
  const set = new CentroidSet(kern, c, 3, dim);
  assert.ok(set.r > 0);
  const s = set.scratch();
  const x = kern.copyIn(new Float32Array(dim).fill(1e20));
  const labels = kern.alloc(4);
  const dist = kern.alloc(4);
  const guard = kern.f32(s.lb - 4, 1);
  guard[0] = 12345;
  set.run(set.args(x, 0, 1, labels, dist, s));
  assert.equal(guard[0], 12345, 'the float before lb is unchanged');
  assert.ok(kern.i32(labels, 1)[0] >= 0, 'a real centroid index');
});
