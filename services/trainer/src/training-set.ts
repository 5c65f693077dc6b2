import { permutation as drawPermutation, Rng } from '@imgcluster/kmeans';
import type { RunSpec } from '@imgcluster/config';

/** A shard the trainer reads, and how many of its images it uses. */
export interface TrainingShard {
  index: number;
  /** Images used from the start of the shard (shards are already a random sample). */
  count: number;
}

/**
 * Which images the trainer sees: every accepted image, or the first `maxImages` of the
 * (already shuffled) shards. The rest are only encoded.
 */
export function trainingShards(
  accepted: Map<number, number>,
  spec: { training: Pick<RunSpec['training'], 'maxImages'> },
): TrainingShard[] {
  const limit = spec.training.maxImages ?? Number.POSITIVE_INFINITY;
  const out: TrainingShard[] = [];
  let taken = 0;
  for (const index of [...accepted.keys()].sort((a, b) => a - b)) {
    const available = accepted.get(index) ?? 0;
    const count = Math.min(available, limit - taken);
    if (count <= 0) continue;
    out.push({ index, count });
    taken += count;
    if (taken >= limit) break;
  }
  return out;
}

/** Seeded permutation of 0..n-1. */
export function permutation(n: number, seed: number): Uint32Array {
  return drawPermutation(n, new Rng(seed));
}
