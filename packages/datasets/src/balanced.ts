import { DatasetError } from './errors.js';

/** Deterministic 32-bit PRNG (mulberry32); returns a function giving floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle in place with the given random source. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * How many to take from each class: as equal as the class sizes allow (water-filling); the
 * classes that get one extra are chosen in `order`.
 */
function quotas(sizes: number[], n: number, order: number[]): number[] {
  const take = sizes.map(() => 0);
  let left = n;
  while (left > 0) {
    const open = order.filter((c) => take[c] < sizes[c]);
    if (open.length === 0) break;
    const share = Math.floor(left / open.length);
    if (share === 0) {
      for (const c of open.slice(0, left)) take[c]++;
      break;
    }
    for (const c of open) {
      const add = Math.min(share, sizes[c] - take[c]);
      take[c] += add;
      left -= add;
    }
  }
  return take;
}

/**
 * Indices (ascending) of a deterministic class-balanced subset of `n` items: every label gets
 * n/classes items, or all it has when it has fewer, the rest shared among the others. The same
 * labels, n and seed (an integer) always give the same subset. Throws DatasetError
 * 'invalid_argument' when n is not an integer in 0..labels.length.
 */
export function balancedSubset(labels: ArrayLike<number>, n: number, seed: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > labels.length) {
    throw new DatasetError('invalid_argument', `n must be an integer in 0..${labels.length}: ${n}`);
  }
  if (!Number.isInteger(seed)) {
    throw new DatasetError('invalid_argument', `seed must be an integer: ${seed}`);
  }
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const group = byClass.get(labels[i]);
    if (group) group.push(i);
    else byClass.set(labels[i], [i]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const random = seededRandom(seed);
  const groups = classes.map((c) => shuffle(byClass.get(c)!, random));
  const order = shuffle(
    classes.map((_, k) => k),
    random,
  );
  const take = quotas(
    groups.map((g) => g.length),
    n,
    order,
  );
  const picked = groups.flatMap((g, k) => g.slice(0, take[k]));
  return picked.sort((a, b) => a - b);
}
