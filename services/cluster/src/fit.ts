import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { allocPoints, freePoints, MiniBatchKMeans, permutation, Rng } from '@imgcluster/kmeans';
import type { RunSpec } from '@imgcluster/config';
import type { CodeShards } from './choose-k.js';

/** Progress callback: steps done, smoothed inertia per point. */
export type FitProgress = (steps: number, ewaInertia: number | null) => Promise<void>;

/** The k-means settings of a fit: the run's, with k decided (chosen when it was "auto"). */
export type FitSettings = Pick<RunSpec['kmeans'], 'batchSize' | 'maxSteps' | 'seed'> & {
  k: number;
};

/** What the fit reports. */
export interface FitSummary {
  steps: number;
  stopReason: string | null;
  initSample: number;
}

/**
 * Mini-batch k-means streamed over the code shards (as k-means sees them: see CodeSpace):
 * k-means++ on a sample drawn from the
 * first shards (each shard is already a random sample of the input), then passes over the
 * shards in a shuffled order, each shard cut into batches of its shuffled rows, until the
 * smoothed inertia stops improving or maxSteps is reached. Only the cached shards and
 * one batch are in memory at once.
 */
export async function fitStreaming(
  source: CodeShards,
  counts: Map<number, number>,
  dim: number,
  spec: FitSettings,
  progress: FitProgress,
  checkCancelled: () => Promise<void>,
): Promise<{ model: MiniBatchKMeans; summary: FitSummary }> {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const model = new MiniBatchKMeans({
    k: spec.k,
    dim,
    batchSize: spec.batchSize,
    maxSteps: spec.maxSteps,
    seed: spec.seed,
    datasetSize: total,
  });
  const rng = new Rng(spec.seed + 1);

  const initSize = Math.min(total, Math.max(3 * spec.batchSize, 10 * spec.k));
  const drawn = await gatherSample(source, initSize, dim);
  model.init(drawn, drawn.length / dim);

  // One batch buffer in the k-means kernel's memory, so steps read it without a copy.
  const batch = allocPoints(spec.batchSize, dim);
  let lastReport = 0;
  try {
    while (!model.converged) {
      const order = permutation(source.shards.length, rng);
      for (const o of order) {
        const shard = await source.codes(source.shards[o]);
        const n = shard.header.shape[0];
        const rows = permutation(n, rng);
        for (let start = 0; start < n && !model.converged; start += spec.batchSize) {
          const m = Math.min(spec.batchSize, n - start);
          for (let i = 0; i < m; i++) {
            const r = rows[start + i];
            batch.set(shard.data.subarray(r * dim, (r + 1) * dim), i * dim);
          }
          const step = model.partialFit(batch, m);
          await yieldToEventLoop();
          if (Date.now() - lastReport > 1000) {
            lastReport = Date.now();
            await progress(model.steps, step.ewaInertia);
            await checkCancelled();
          }
        }
        if (model.converged) break;
      }
    }
  } finally {
    freePoints(batch);
  }
  await progress(model.steps, null);
  return {
    model,
    summary: { steps: model.steps, stopReason: model.stopReason, initSample: initSize },
  };
}

async function gatherSample(source: CodeShards, size: number, dim: number): Promise<Float32Array> {
  const out = new Float32Array(size * dim);
  let filled = 0;
  for (const index of source.shards) {
    if (filled >= size) break;
    const shard = await source.codes(index);
    const take = Math.min(shard.header.shape[0], size - filled);
    out.set(shard.data.subarray(0, take * dim), filled * dim);
    filled += take;
  }
  return out.subarray(0, filled * dim);
}
