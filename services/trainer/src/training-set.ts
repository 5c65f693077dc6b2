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
  spec: Pick<RunSpec, 'training'>,
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

/** Seeded permutation of 0..n-1 (mulberry32 + Fisher–Yates). */
export function permutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    const j = Math.floor(r * (i + 1));
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
}
