import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fit, Rng } from '@imgcluster/kmeans';
import { ari } from '@imgcluster/metrics';
import {
  decodeManifold,
  embed,
  encodeManifold,
  fitManifold,
  ManifoldError,
  type Manifold,
} from '@imgcluster/manifold';

/** `perGroup` noisy points around each of `groups` random centres in `dim` dimensions. */
function blobs(groups: number, perGroup: number, dim: number, spread: number, seed: number) {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const centres = Array.from({ length: groups }, () =>
    Array.from({ length: dim }, () => gauss() * 10),
  );
  const n = groups * perGroup;
  const x = new Float32Array(n * dim);
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    const g = i % groups;
    truth.push(g);
    for (let d = 0; d < dim; d++) x[i * dim + d] = centres[g][d] + gauss() * spread;
  }
  return { x, n, truth };
}

const small = blobs(4, 60, 16, 1, 7);
let fitted: Manifold | undefined;
const manifold = async () =>
  (fitted ??= await fitManifold(small.x, small.n, 16, { dims: 3, neighbors: 10, seed: 1 }));

test('the layout keeps separated groups apart, and k-means finds them there', async () => {
  const m = await manifold();
  assert.equal(m.embedding.length, small.n * 3);
  const placed = embed(m, small.x, small.n);
  const labels = fit(placed, small.n, 3, { k: 4, seed: 0 }).labels;
  assert.equal(ari(small.truth, Array.from(labels)), 1);
});

test('the same seed gives the same layout, another seed another', async () => {
  const a = await manifold();
  const b = await fitManifold(small.x, small.n, 16, { dims: 3, neighbors: 10, seed: 1 });
  assert.deepEqual(b.embedding, a.embedding);
  const c = await fitManifold(small.x, small.n, 16, { dims: 3, neighbors: 10, seed: 2 });
  assert.notDeepEqual(c.embedding, a.embedding);
});

test('a reference code is placed among its own group, new codes of a group with it', async () => {
  const m = await manifold();
  const placed = embed(m, small.x, small.n);
  // Each placed point is nearer its own layout position than any other group's mean position.
  const means = Array.from({ length: 4 }, () => new Float64Array(3));
  for (let i = 0; i < small.n; i++)
    for (let c = 0; c < 3; c++) means[small.truth[i]][c] += m.embedding[i * 3 + c] / 60;
  const sq = (i: number, mean: Float64Array) =>
    [0, 1, 2].reduce((s, c) => s + (placed[i * 3 + c] - mean[c]) ** 2, 0);
  for (let i = 0; i < small.n; i++) {
    const own = sq(i, means[small.truth[i]]);
    for (let g = 0; g < 4; g++) if (g !== small.truth[i]) assert.ok(own < sq(i, means[g]));
  }

  // Fresh points from the same groups (same centres, another noise draw).
  const fresh = blobs(4, 10, 16, 1, 7);
  const again = embed(m, fresh.x, fresh.n);
  assert.deepEqual(embed(m, fresh.x, fresh.n), again, 'the same code lands in the same place');
});

test('a code equal to several reference codes at once gets their mean place', async () => {
  // Five identical reference points: any of them is "the nearest", so they share equally.
  const m: Manifold = {
    points: new Float32Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9]),
    embedding: new Float32Array([1, 2, 3, 4, 5, 100]),
    m: 6,
    dim: 2,
    dims: 1,
    neighbors: 5,
  };
  const placed = embed(m, new Float32Array([0, 0]), 1);
  assert.ok(Math.abs(placed[0] - 3) < 1e-6, `${placed[0]}`);
});

test('the manifold file round-trips, keys included', async () => {
  const m = await manifold();
  const keys = Array.from({ length: small.n }, (_, i) => `images/é ${i}+.png`);
  const back = decodeManifold(encodeManifold(m, keys), 16, 10);
  assert.deepEqual(back, m);
  assert.throws(
    () => decodeManifold(encodeManifold(m, keys), 19, 10),
    (e: unknown) => e instanceof ManifoldError && e.code === 'MANIFOLD_BAD_FILE',
  );
  assert.throws(() => encodeManifold(m, keys.slice(1)), /keys for/);
});

test('tiny samples lower the neighbour count; bad input is refused with a code', async () => {
  const x = new Float32Array([0, 0, 1, 0, 0, 1, 5, 5]);
  const m = await fitManifold(x, 4, 2, { dims: 2, neighbors: 15, seed: 0 });
  assert.equal(m.neighbors, 3);
  assert.ok(m.embedding.every(Number.isFinite));

  const three = await fitManifold(x, 3, 2, { dims: 2, neighbors: 15, seed: 0 });
  assert.equal(three.neighbors, 2);
  assert.ok(three.embedding.every(Number.isFinite));

  // Two codes (a run of two images, k = 2): a unit apart, each code placed at its nearest.
  const two = await fitManifold(x, 2, 2, { dims: 3, neighbors: 15, seed: 0 });
  assert.deepEqual(Array.from(two.embedding), [0, 0, 0, 1, 0, 0]);
  assert.deepEqual(
    Array.from(embed(two, new Float32Array([0.9, 0.1, 0, 0.2]), 2)),
    [1, 0, 0, 0, 0, 0],
  );

  const code = (c: string) => (e: unknown) => e instanceof ManifoldError && e.code === c;
  await assert.rejects(
    fitManifold(x, 1, 2, { dims: 2, neighbors: 15, seed: 0 }),
    code('MANIFOLD_TOO_FEW_POINTS'),
  );
  await assert.rejects(
    fitManifold(new Float32Array([0, NaN, 1, 1, 2, 2]), 3, 2, { dims: 2, neighbors: 2, seed: 0 }),
    code('MANIFOLD_NOT_FINITE'),
  );
  await assert.rejects(
    fitManifold(x, 4, 2, { dims: 0, neighbors: 15, seed: 0 }),
    code('MANIFOLD_INVALID_ARGUMENT'),
  );
  assert.throws(() => embed(m, new Float32Array([1]), 1), code('MANIFOLD_INVALID_ARGUMENT'));
});
