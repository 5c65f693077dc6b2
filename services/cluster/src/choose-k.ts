import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RunSpec } from '@imgcluster/config';
import {
  DEFAULT_SILHOUETTE_SAMPLE,
  Rng,
  selectKSteps,
  type KRange,
  type KScore,
  type KStep,
} from '@imgcluster/kmeans';
import type { CodeSource } from './code-source.js';

/** Codes every k is fitted on when k is "auto" (more when the range goes past k = 400). */
export const SELECTION_SAMPLE = 4000;

/** The code shards, as far as drawing a sample needs them. */
export type CodeShards = Pick<CodeSource, 'shards' | 'codes'>;

/** How k was chosen: written as k-selection.json, summarised in metrics.json and the report. */
export interface KSelectionRecord {
  /** The k the run was clustered with. */
  chosen: number;
  /** The rule that chose it: the highest mean silhouette. */
  criterion: 'silhouette';
  /** The elbow of the inertia curve, reported beside the chosen k. */
  elbow: number;
  /** The k values asked for (kRange, max lowered to below the number of images). */
  range: KRange;
  /** Codes every k was fitted on, drawn across all code shards. */
  samplePoints: number;
  /** Codes of that sample the silhouette was measured on. */
  silhouettePoints: number;
  /** First k not tried because the sample holds fewer distinct codes; null if none. */
  stoppedAt: number | null;
  /** Seconds the sampling and the fits took. */
  seconds: number;
  /** Inertia (over the sample) and mean silhouette of every k tried. */
  curve: KScore[];
}

/** Codes in the selection sample for `total` codes and a range up to `kMax`. */
export function selectionSampleSize(total: number, kMax: number): number {
  return Math.min(total, Math.max(SELECTION_SAMPLE, 10 * kMax));
}

/**
 * Chooses k for k "auto": draws a sample of the codes across all shards, then fits every k of
 * `range` on it and keeps the highest mean silhouette (`selectKSteps` of @imgcluster/kmeans).
 * Calls `progress` after each k and yields to the event loop between two k, so the job's lock
 * is renewed; the fits of one k still hold the thread (about 1.5 s at 2,888-float codes and a
 * 4,000-code sample).
 */
export async function chooseK(
  source: CodeShards,
  counts: Map<number, number>,
  dim: number,
  kmeans: Pick<RunSpec['kmeans'], 'seed' | 'batchSize' | 'maxSteps'>,
  range: KRange,
  progress: (step: KStep) => Promise<void>,
  checkCancelled: () => Promise<void>,
): Promise<KSelectionRecord> {
  const started = Date.now();
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const size = selectionSampleSize(total, range.max);
  const sample = await sampleAcrossShards(source, counts, size, dim, kmeans.seed);
  const n = sample.length / dim;

  const steps = selectKSteps(sample, n, dim, {
    range,
    seed: kmeans.seed,
    batchSize: kmeans.batchSize,
    maxSteps: kmeans.maxSteps,
    silhouetteSample: DEFAULT_SILHOUETTE_SAMPLE,
  });
  for (;;) {
    const step = steps.next();
    if (step.done) {
      const r = step.value;
      return {
        chosen: r.chosen,
        criterion: r.criterion,
        elbow: r.elbow,
        range,
        samplePoints: n,
        silhouettePoints: r.silhouettePoints,
        stoppedAt: r.stoppedAt,
        seconds: (Date.now() - started) / 1000,
        curve: r.curve,
      };
    }
    await progress(step.value);
    await yieldToEventLoop();
    await checkCancelled();
  }
}

/**
 * `size` codes drawn without replacement from every shard in proportion to its count (largest
 * remainders settle the rounding), rows picked with a generator seeded by `seed` and the
 * shard's number: the same sample for the same run on every attempt. Reads each shard once;
 * only the sample is kept. The drawn codes' keys are appended to `keys` when given.
 */
export async function sampleAcrossShards(
  source: CodeShards,
  counts: Map<number, number>,
  size: number,
  dim: number,
  seed: number,
  keys?: string[],
): Promise<Float32Array> {
  const shards = source.shards.filter((s) => (counts.get(s) ?? 0) > 0);
  const quotas = proportionalQuotas(
    shards.map((s) => counts.get(s)!),
    size,
  );
  const out = new Float32Array(quotas.reduce((a, b) => a + b, 0) * dim);
  let filled = 0;
  for (const [i, index] of shards.entries()) {
    if (quotas[i] === 0) continue;
    const shard = await source.codes(index);
    const rows = shard.header.shape[0];
    const take = Math.min(quotas[i], rows);
    const rng = new Rng((Math.imul(seed, 0x9e3779b1) + index + 0x51ed27) >>> 0);
    for (const r of pickRows(rows, take, rng)) {
      out.set(shard.data.subarray(r * dim, (r + 1) * dim), filled * dim);
      keys?.push(shard.header.keys[r]);
      filled++;
    }
    await yieldToEventLoop();
  }
  return out.subarray(0, filled * dim);
}

/** Splits `size` over shards of the given counts in proportion, never above a count. */
export function proportionalQuotas(counts: number[], size: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return counts.map(() => 0);
  const want = Math.min(size, total);
  const exact = counts.map((c) => (c * want) / total);
  const quotas = exact.map(Math.floor);
  let left = want - quotas.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((e, i) => ({ i, rest: e - Math.floor(e) }))
    .sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left === 0) break;
    if (quotas[i] < counts[i]) {
      quotas[i]++;
      left--;
    }
  }
  return quotas;
}

/** `take` distinct rows of 0..rows-1 in increasing order (partial Fisher-Yates). */
function pickRows(rows: number, take: number, rng: Rng): Int32Array {
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  for (let i = 0; i < take; i++) {
    const j = i + rng.nextInt(rows - i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order.subarray(0, take).sort();
}
