import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MetricsError,
  ari,
  clusterAccuracy,
  contingency,
  matchClusters,
  mutualInformation,
  nmi,
} from '../src/index.js';

const close = (got: number, want: number, tol = 1e-9) =>
  assert.ok(Math.abs(got - want) <= tol, `got ${got}, want ${want}`);
const code = (c: string) => (e: unknown) => e instanceof MetricsError && e.code === c;

/** Small deterministic generator for label noise (LCG, 32-bit). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

test('contingency counts items per (class, cluster) with arbitrary label values', () => {
  const ct = contingency([10, 10, -3, -3, 10], [7.5, 2, 2, 2, 7.5]);
  assert.deepEqual(ct.classes, [-3, 10]);
  assert.deepEqual(ct.clusters, [2, 7.5]);
  assert.deepEqual(ct.table, [
    [2, 0],
    [1, 2],
  ]);
  assert.deepEqual(ct.classSizes, [2, 3]);
  assert.deepEqual(ct.clusterSizes, [3, 2]);
  assert.equal(ct.n, 5);
});

test('perfect and permuted labellings score 1', () => {
  const truth = [0, 0, 1, 1, 2, 2, 2, 3];
  const permuted = [5, 5, 9, 9, 1, 1, 1, 0];
  for (const pred of [truth, permuted]) {
    close(nmi(truth, pred), 1);
    close(ari(truth, pred), 1);
    close(clusterAccuracy(truth, pred), 1);
  }
  assert.deepEqual(
    [...matchClusters(truth, permuted).mapping].sort((a, b) => a[0] - b[0]),
    [
      [0, 3],
      [1, 2],
      [5, 0],
      [9, 1],
    ],
  );
});

test('hand-computed case: [0,0,0,1,1,1] vs [0,0,1,1,2,2]', () => {
  const truth = [0, 0, 0, 1, 1, 1];
  const pred = [0, 0, 1, 1, 2, 2];
  // MI = (2/3) ln 2, H(truth) = ln 2, H(pred) = ln 3, so NMI = 4 ln 2 / (3 ln 6).
  close(mutualInformation(contingency(truth, pred)), (2 / 3) * Math.log(2));
  close(nmi(truth, pred), (4 * Math.log(2)) / (3 * Math.log(6)));
  // Pairs: together 2, same class 6, same cluster 3, all 15: (2 - 6*3/15) / (4.5 - 1.2) = 8/33.
  close(ari(truth, pred), 8 / 33);
  close(clusterAccuracy(truth, pred), 4 / 6);
});

test('hand-computed case: [0,0,1,1] vs [0,0,1,2] (ARI 4/7, NMI 0.8)', () => {
  close(ari([0, 0, 1, 1], [0, 0, 1, 2]), 4 / 7);
  // MI = ln 2, H(truth) = ln 2, H(pred) = 1.5 ln 2: NMI = 1 / 1.25.
  close(nmi([0, 0, 1, 1], [0, 0, 1, 2]), 0.8);
});

test('hand-computed 3x3 case: ARI 1/9, NMI (2/3) ln 2 / ln 3, accuracy 2/3', () => {
  const truth = [0, 0, 0, 1, 1, 1, 2, 2, 2];
  const pred = [0, 0, 1, 1, 1, 2, 2, 2, 0];
  close(ari(truth, pred), 1 / 9);
  close(nmi(truth, pred), ((2 / 3) * Math.log(2)) / Math.log(3));
  close(clusterAccuracy(truth, pred), 2 / 3);
  close(ari(pred, truth), 1 / 9);
  close(nmi(pred, truth), nmi(truth, pred));
});

test('exactly independent labellings: NMI 0, ARI -1/3998', () => {
  const n = 4000;
  const truth = Array.from({ length: n }, (_, i) => i % 2);
  const pred = Array.from({ length: n }, (_, i) => Math.floor(i / 2) % 2);
  close(nmi(truth, pred), 0, 1e-12);
  close(ari(truth, pred), -1 / 3998, 1e-12);
  close(clusterAccuracy(truth, pred), 0.5);
});

test('random independent labellings score about 0', () => {
  const rnd = lcg(12345);
  const n = 20000;
  const truth = Int32Array.from({ length: n }, () => Math.floor(rnd() * 10));
  const pred = Int32Array.from({ length: n }, () => Math.floor(rnd() * 10));
  assert.ok(nmi(truth, pred) < 0.005);
  assert.ok(Math.abs(ari(truth, pred)) < 0.003);
  assert.ok(clusterAccuracy(truth, pred) < 0.13);
});

test('partial agreement lies strictly between chance and perfect', () => {
  const rnd = lcg(7);
  const n = 5000;
  const truth = Array.from({ length: n }, (_, i) => i % 5);
  const pred = truth.map((t) => (rnd() < 0.7 ? t : Math.floor(rnd() * 5)));
  const a = ari(truth, pred);
  const m = nmi(truth, pred);
  const acc = clusterAccuracy(truth, pred);
  assert.ok(a > 0.3 && a < 0.8, `ari ${a}`);
  assert.ok(m > 0.3 && m < 0.8, `nmi ${m}`);
  close(acc, 0.76, 0.03); // 0.7 kept plus 0.3 x 1/5 relabelled to the right class
});

test('rectangular: more or fewer clusters than classes', () => {
  close(clusterAccuracy([0, 0, 1, 1], [0, 1, 2, 3]), 0.5);
  close(clusterAccuracy([0, 1, 2, 3], [0, 0, 1, 1]), 0.5);
  const m = matchClusters([0, 0, 0, 1, 1, 2], [4, 4, 4, 4, 4, 4]);
  assert.deepEqual([...m.mapping], [[4, 0]]);
  close(m.accuracy, 0.5);
});

test('degenerate labellings follow the documented limits', () => {
  assert.equal(nmi([1, 1, 1], [2, 2, 2]), 1);
  assert.equal(ari([1, 1, 1], [2, 2, 2]), 1);
  assert.equal(nmi([1, 1, 1], [0, 1, 2]), 0);
  assert.equal(ari([1, 1, 1], [0, 1, 2]), 0);
  assert.equal(ari([0, 1, 2], [5, 6, 7]), 1);
  assert.equal(nmi([0, 1, 2], [5, 6, 7]), 1);
  assert.equal(ari([3], [4]), 1);
  assert.equal(nmi([3], [4]), 1);
  assert.equal(clusterAccuracy([3], [4]), 1);
});

test('bad inputs throw coded errors', () => {
  assert.throws(() => nmi([0, 1], [0]), code('METRICS_LENGTH_MISMATCH'));
  assert.throws(() => ari([], []), code('METRICS_EMPTY'));
  assert.throws(() => clusterAccuracy([0, NaN], [0, 1]), code('METRICS_INVALID_LABEL'));
  assert.throws(() => contingency([0, 1], [Infinity, 1]), code('METRICS_INVALID_LABEL'));
});
