import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Rng } from '@imgcluster/kmeans';
import type { CodeShards } from './choose-k.js';
import type { CodeSource } from './code-source.js';

/** Where one image sits: its shard and row there. */
export interface MemberRef {
  key: string;
  shard: number;
  row: number;
  distance: number;
}

/** Per-cluster totals of the assignment pass. */
export interface ClusterTotals {
  size: number;
  /** Sum of squared distances of members to the centroid. */
  inertia: number;
  /** Mean code of the members (k-means' centre as the data sees it). */
  meanCode: Float32Array;
  /** Mean attention map of the members. */
  meanAttention: Float32Array;
  /** Members nearest the centroid, nearest first. */
  nearest: MemberRef[];
  /** A uniform random sample of the members (reservoir). */
  random: MemberRef[];
}

/** One labelled image, and where its pixels and code are (shard, row). */
export interface LabelRow {
  key: string;
  cluster: number;
  distance: number;
  shard: number;
  row: number;
}

/** Nearest and random members kept per cluster for the pictures. */
export const NEAREST_KEPT = 16;
export const RANDOM_KEPT = 8;

/** Clusters and squared distances to their centres of `n` prepared codes. */
export type RowAssigner = (
  x: Float32Array,
  n: number,
) => { labels: ArrayLike<number>; distances: ArrayLike<number> };

/**
 * One pass over every code shard: each code's cluster (`assignRows`: the nearest centroid, or
 * the most probable mixture component) and squared distance to its centre in the space
 * k-means worked in (`prepared`), and per cluster the mean raw code (`dim` floats), mean
 * attention map, nearest and random members.
 */
export async function assignAll(
  source: CodeSource,
  prepared: CodeShards,
  assignRows: RowAssigner,
  k: number,
  dim: number,
  attentionSize: number,
  seed: number,
  onShard: (done: number) => Promise<void>,
): Promise<{ labels: LabelRow[]; clusters: ClusterTotals[]; inertia: number }> {
  const sums = Array.from({ length: k }, () => new Float64Array(dim));
  const attSums = Array.from({ length: k }, () => new Float64Array(attentionSize));
  const sizes = new Float64Array(k);
  const inertias = new Float64Array(k);
  const nearest: MemberRef[][] = Array.from({ length: k }, () => []);
  const random: MemberRef[][] = Array.from({ length: k }, () => []);
  const rng = new Rng(seed + 2);
  const labels: LabelRow[] = [];
  let inertia = 0;

  for (const [done, shardIndex] of source.shards.entries()) {
    const codes = await source.codes(shardIndex);
    const attention = await source.attention(shardIndex);
    const n = codes.header.shape[0];
    // Distances in the space k-means worked in; the mean code stays that of the raw codes
    // (it is decoded into the cluster's picture).
    const space = await prepared.codes(shardIndex);
    const result = assignRows(space.data, n);

    for (let i = 0; i < n; i++) {
      const c = result.labels[i];
      const d = result.distances[i];
      const ref: MemberRef = { key: codes.header.keys[i], shard: shardIndex, row: i, distance: d };
      labels.push({ key: ref.key, cluster: c, distance: d, shard: shardIndex, row: i });
      sizes[c] += 1;
      inertias[c] += d;
      inertia += d;
      addRow(sums[c], codes.data, i * dim, dim);
      addRow(attSums[c], attention.data, i * attentionSize, attentionSize);
      keepNearest(nearest[c], ref);
      keepRandom(random[c], ref, sizes[c], rng);
    }
    await onShard(done + 1);
    await yieldToEventLoop();
  }

  const clusters = Array.from({ length: k }, (_, c): ClusterTotals => ({
    size: sizes[c],
    inertia: inertias[c],
    meanCode: mean(sums[c], sizes[c]),
    meanAttention: mean(attSums[c], sizes[c]),
    nearest: nearest[c],
    random: random[c],
  }));
  return { labels, clusters, inertia };
}

function addRow(into: Float64Array, from: Float32Array, offset: number, length: number) {
  for (let j = 0; j < length; j++) into[j] += from[offset + j];
}

function mean(sum: Float64Array, count: number): Float32Array {
  const out = new Float32Array(sum.length);
  if (count > 0) for (let j = 0; j < sum.length; j++) out[j] = sum[j] / count;
  return out;
}

function keepNearest(list: MemberRef[], ref: MemberRef) {
  if (list.length === NEAREST_KEPT && ref.distance >= list[list.length - 1].distance) return;
  let at = list.length;
  while (at > 0 && list[at - 1].distance > ref.distance) at--;
  list.splice(at, 0, ref);
  if (list.length > NEAREST_KEPT) list.pop();
}

function keepRandom(list: MemberRef[], ref: MemberRef, seen: number, rng: Rng) {
  if (list.length < RANDOM_KEPT) {
    list.push(ref);
    return;
  }
  const j = rng.nextInt(seen);
  if (j < RANDOM_KEPT) list[j] = ref;
}
