import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, MiniBatchKMeans, Rng, fit, kmeansPlusPlus, lloyd } from '../src/index.js';
import { blobs, samePartition } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

const N = 20000;
const DIM = 8;
const K = 10;
const BATCH = 256;
/** The data set the smoothing weight is sized for; only N of its rows are held here. */
const DATASET = 200000;

test('smoothingSteps 20 stops far sooner than the half-epoch window, at the same quality', () => {
  const { points, truth } = blobs(N, DIM, K, 31, 0.5, 10);
  const seeds = kmeansPlusPlus(points, N, DIM, K, new Rng(2), { threads: 1 });
  const reference = lloyd(points, N, DIM, seeds);
  assert.ok(reference.converged);
  assert.ok(samePartition(truth, reference.labels), 'the seeds find every blob');

  const run = (smoothingSteps: number) =>
    fit(points, N, DIM, {
      k: K,
      batchSize: BATCH,
      datasetSize: DATASET,
      smoothingSteps,
      initialCentroids: seeds,
      maxSteps: 5000,
      seed: 4,
      threads: 1,
    });
  const capped = run(20);
  const halfEpoch = run(0);
  assert.equal(capped.stopReason, 'no-improvement');
  assert.equal(halfEpoch.stopReason, 'no-improvement');

  // The rule starts once 1 / alpha smoothed values are in, then needs maxNoImprovement (10)
  // steps without a new best; the first step is not smoothed.
  // smoothingSteps 20: alpha = 2 / 21, so at least 1 + 11 + 10 steps.
  // smoothingSteps 0: alpha = 2 x 256 / 200001, so at least 1 + 391 + 10 steps.
  assert.ok(capped.steps >= 22, `capped: ${capped.steps} steps`);
  assert.ok(halfEpoch.steps >= 402, `half-epoch: ${halfEpoch.steps} steps`);
  assert.ok(capped.steps * 4 < halfEpoch.steps, `${capped.steps} vs ${halfEpoch.steps} steps`);

  for (const [name, r] of [
    ['capped', capped],
    ['half-epoch', halfEpoch],
  ] as const) {
    const excess = r.inertia / reference.inertia - 1;
    assert.ok(excess < 0.01, `${name}: inertia ${r.inertia} vs Lloyd ${reference.inertia}`);
    assert.ok(samePartition(truth, r.labels), name);
  }
});

test('the no-improvement rule waits for a full smoothing window', () => {
  // A constant batch never improves after its first smoothed value: the run stops exactly
  // when the window is full and maxNoImprovement more steps have passed.
  const { points } = blobs(BATCH, DIM, K, 3, 0.5, 10);
  for (const [smoothingSteps, datasetSize, want] of [
    [20, DATASET, 1 + 11 + 3], // alpha = 2 / 21: 11 smoothed values fill the window
    [9, DATASET, 1 + 5 + 3], // alpha = 2 / 10: 5
    [0, 10 * BATCH, 1 + 6 + 3], // alpha = 512 / 2561: 6
    [0, DATASET, 1 + 391 + 3], // alpha = 512 / 200001: 391
  ]) {
    const model = new MiniBatchKMeans({
      k: K,
      dim: DIM,
      batchSize: BATCH,
      datasetSize,
      smoothingSteps,
      maxNoImprovement: 3,
      // Rounding of an unchanged value is not progress.
      tol: 1e-6,
      reassignmentRatio: 0,
      threads: 1,
    });
    model.init(points, BATCH);
    // Settle the centroids on this batch first, so that every counted step sees the same value.
    model.setCentroids(
      lloyd(points, BATCH, DIM, model.centroids).centroids,
      new Array(K).fill(1e9),
    );
    let steps = 0;
    while (!model.converged && steps < 1000) {
      model.partialFit(points, BATCH);
      steps++;
    }
    assert.equal(model.stopReason, 'no-improvement');
    assert.equal(steps, want, `smoothingSteps ${smoothingSteps}, datasetSize ${datasetSize}`);
  }
});

test('maxSteps caps the run with max-steps', () => {
  const { points } = blobs(4000, DIM, K, 5, 0.5, 10);
  const r = fit(points, 4000, DIM, {
    k: K,
    batchSize: BATCH,
    datasetSize: DATASET,
    maxSteps: 15,
    seed: 1,
    threads: 1,
  });
  assert.equal(r.stopReason, 'max-steps');
  assert.equal(r.steps, 15);
  assert.equal(r.model.steps, 15);
});

test('smoothingSteps must be a non-negative integer', () => {
  for (const smoothingSteps of [-1, 1.5, NaN]) {
    assert.throws(
      () => new MiniBatchKMeans({ k: 2, dim: 2, smoothingSteps }),
      code('KMEANS_INVALID_ARGUMENT'),
      `smoothingSteps ${smoothingSteps}`,
    );
  }
  assert.equal(new MiniBatchKMeans({ k: 2, dim: 2 }).options.smoothingSteps, 20);
  assert.equal(new MiniBatchKMeans({ k: 2, dim: 2, smoothingSteps: 0 }).options.smoothingSteps, 0);
});
