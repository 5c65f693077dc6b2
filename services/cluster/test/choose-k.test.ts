import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Rng } from '@imgcluster/kmeans';
import type { Shard } from '@imgcluster/shard';
import {
  chooseK,
  proportionalQuotas,
  sampleAcrossShards,
  selectionSampleSize,
  type CodeShards,
} from '../src/choose-k.js';
import { K_PLOT_HEIGHT, K_PLOT_WIDTH, kSelectionPng, kSelectionSvg } from '../src/k-plot.js';

/** Code shards held in memory, with the number of reads of each. */
function memoryShards(rows: Float32Array[], dim: number) {
  const reads = rows.map(() => 0);
  const source: CodeShards = {
    shards: rows.map((_, i) => i),
    codes: async (i: number): Promise<Shard<Float32Array>> => {
      reads[i]++;
      const n = rows[i].length / dim;
      const keys = Array.from({ length: n }, (_, r) => `s${i}/${r}`);
      return { header: { dtype: 'float32', shape: [n, dim], keys }, data: rows[i] };
    },
  };
  const counts = new Map(rows.map((r, i) => [i, r.length / dim]));
  return { source, counts, reads };
}

test('quotas split a sample in proportion to the shards, never above a shard', () => {
  assert.deepEqual(proportionalQuotas([100, 100, 50], 50), [20, 20, 10]);
  assert.deepEqual(proportionalQuotas([3, 3, 3], 4), [2, 1, 1]);
  assert.deepEqual(proportionalQuotas([5, 1], 100), [5, 1]);
  assert.deepEqual(proportionalQuotas([0, 0], 10), [0, 0]);
  for (const size of [1, 7, 99, 250]) {
    const q = proportionalQuotas([120, 7, 1, 80, 42], size);
    assert.equal(
      q.reduce((a, b) => a + b, 0),
      size,
    );
  }
  assert.equal(selectionSampleSize(100_000, 20), 4000);
  assert.equal(selectionSampleSize(1500, 20), 1500);
  assert.equal(selectionSampleSize(100_000, 1000), 10_000);
});

test('the selection sample is drawn from every shard, once each, the same on every attempt', async () => {
  // Row r of shard s holds (s, r): the sample says where each code came from.
  const sizes = [300, 100, 200];
  const shards = sizes.map((n, s) => {
    const data = new Float32Array(n * 2);
    for (let r = 0; r < n; r++) data.set([s, r], r * 2);
    return data;
  });
  const { source, counts, reads } = memoryShards(shards, 2);
  const sample = await sampleAcrossShards(source, counts, 120, 2, 7);
  assert.equal(sample.length, 240);
  assert.deepEqual(reads, [1, 1, 1]);

  const perShard = [0, 0, 0];
  const seen = new Set<string>();
  for (let i = 0; i < 120; i++) {
    perShard[sample[i * 2]]++;
    seen.add(`${sample[i * 2]}:${sample[i * 2 + 1]}`);
  }
  assert.deepEqual(perShard, [60, 20, 40]);
  assert.equal(seen.size, 120, 'a code was drawn twice');
  assert.deepEqual(await sampleAcrossShards(source, counts, 120, 2, 7), sample);
  assert.notDeepEqual(await sampleAcrossShards(source, counts, 120, 2, 8), sample);
});

test('chooseK finds the number of blobs in codes spread over shards, reporting every k', async () => {
  const dim = 6;
  const k = 5;
  const rng = new Rng(11);
  const centres = Array.from({ length: k }, () =>
    Array.from({ length: dim }, () => rng.next() * 20),
  );
  const shards = [400, 250, 350].map((n) => {
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = centres[rng.nextInt(k)];
      for (let d = 0; d < dim; d++) data[i * dim + d] = c[d] + 0.4 * rng.gaussian();
    }
    return data;
  });
  const { source, counts } = memoryShards(shards, dim);
  const steps: [number, number, number][] = [];
  let checks = 0;
  const kmeans = {
    k: 'auto' as const,
    normalize: 'none' as const,
    batchSize: 256,
    maxSteps: 100,
    seed: 0,
  };
  const record = await chooseK(
    source,
    counts,
    dim,
    kmeans,
    { min: 2, max: 9 },
    async (s) => void steps.push([s.k, s.done, s.total]),
    async () => void checks++,
  );
  assert.equal(record.chosen, k, JSON.stringify(record.curve));
  assert.equal(record.criterion, 'silhouette');
  assert.equal(record.samplePoints, 1000);
  assert.equal(record.silhouettePoints, 1000);
  assert.deepEqual(record.range, { min: 2, max: 9 });
  assert.equal(record.stoppedAt, null);
  assert.deepEqual(
    steps,
    [2, 3, 4, 5, 6, 7, 8, 9].map((kk, i) => [kk, i + 1, 8]),
  );
  assert.equal(checks, 8);
  assert.ok(record.elbow >= 2 && record.elbow <= 9);
  assert.ok(record.seconds >= 0);
});

test('the k-selection plot marks the chosen k in red and rasterises to a PNG', async () => {
  const curve = [2, 3, 4, 5, 6, 7, 8].map((k) => ({
    k,
    inertia: 1000 / k,
    silhouette: 1 - Math.abs(k - 5) / 10,
  }));
  const svg = kSelectionSvg({ curve, chosen: 5, elbow: 4 });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal(svg.match(/<circle /g)?.length, 2 * curve.length);
  assert.equal(
    svg.match(/<circle [^>]*r="5"/g)?.length,
    2,
    'the chosen k is marked in both panels',
  );

  const png = await kSelectionPng({ curve, chosen: 5, elbow: 4 });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [K_PLOT_WIDTH, K_PLOT_HEIGHT]);
  // The chosen k's line, in the gap between the two panels: red.
  const x = Math.round(70 + ((5 - 2) / 6) * (K_PLOT_WIDTH - 90));
  const y = Math.round(K_PLOT_HEIGHT / 2);
  const at = (y * info.width + x) * info.channels;
  const [r, g, b] = data.subarray(at, at + 3);
  assert.ok(r > 150 && g < 120 && b < 120, `pixel ${r},${g},${b}`);
});
