import { runKeys, type RunSpec } from '@imgcluster/config';
import { gridPng, heatmapPng } from '@imgcluster/images';
import { decodeCodes, loadModel } from '@imgcluster/model';
import type { ServiceContext } from '@imgcluster/runtime';
import { decodeShard } from '@imgcluster/shard';
import type { ClusterTotals, MemberRef } from './assign-pass.js';

/** Integer upscale so small thumbnails (28–32 px) are visible: about 96 px a tile. */
function tileScale(size: number): number {
  return Math.max(1, Math.round(96 / size));
}

/**
 * Writes each cluster's three pictures: a grid of members (nearest to the centre first,
 * then random ones), the mean attention map, and the mean code run through the decoder.
 */
export async function writeClusterPictures(
  ctx: ServiceContext,
  runId: string,
  spec: RunSpec,
  clusters: ClusterTotals[],
): Promise<void> {
  const k = runKeys(runId);
  const { size, channels } = spec.image;
  const side = size / 8;

  const decoder = await loadModel(
    await ctx.storage.get(ctx.bucket, k.decoderJson),
    await ctx.storage.get(ctx.bucket, k.decoderWeights),
  );
  const codeSize = side * side * spec.model.filters[2];
  const means = new Float32Array(clusters.length * codeSize);
  clusters.forEach((c, i) => means.set(c.meanCode, i * codeSize));
  const decoded = decodeCodes(decoder, means, clusters.length);
  decoder.dispose();

  const pixels = await memberPixels(ctx, runId, spec, clusters);
  const itemBytes = size * size * channels;

  for (const [c, cluster] of clusters.entries()) {
    const members = sampleMembers(cluster).map((m) => pixels.get(refId(m))!);
    const grid =
      members.length > 0
        ? await gridPng(members, size, channels, { cols: 8, pad: 2, scale: tileScale(size) })
        : await gridPng([new Uint8Array(itemBytes)], size, channels, { cols: 1 });
    await ctx.storage.put(ctx.bucket, k.clusterImage(c, 'samples'), grid);

    const heat = await heatmapPng(cluster.meanAttention, side, side, { scaleTo: 96 });
    await ctx.storage.put(ctx.bucket, k.clusterImage(c, 'attention'), heat);

    const image = decoded.subarray(c * itemBytes, (c + 1) * itemBytes);
    const big = await gridPng([image], size, channels, { cols: 1, scale: tileScale(size) });
    await ctx.storage.put(ctx.bucket, k.clusterImage(c, 'decoded'), big);
  }
}

/** The members shown in a cluster's grid: nearest first, then random ones not already in. */
export function sampleMembers(cluster: ClusterTotals): MemberRef[] {
  const seen = new Set(cluster.nearest.map(refId));
  return [...cluster.nearest, ...cluster.random.filter((m) => !seen.has(refId(m)))];
}

function refId(m: MemberRef): string {
  return `${m.shard}:${m.row}`;
}

/** Reads the pixels of every pictured member, one image shard at a time. */
async function memberPixels(
  ctx: ServiceContext,
  runId: string,
  spec: RunSpec,
  clusters: ClusterTotals[],
): Promise<Map<string, Uint8Array>> {
  const byShard = new Map<number, MemberRef[]>();
  for (const c of clusters) {
    for (const m of sampleMembers(c)) {
      const list = byShard.get(m.shard) ?? [];
      list.push(m);
      byShard.set(m.shard, list);
    }
  }
  const itemBytes = spec.image.size * spec.image.size * spec.image.channels;
  const out = new Map<string, Uint8Array>();
  for (const [shard, refs] of byShard) {
    const raw = await ctx.storage.get(ctx.bucket, runKeys(runId).imageShard(shard));
    const data = decodeShard(raw).data as Uint8Array;
    for (const m of refs) out.set(refId(m), data.slice(m.row * itemBytes, (m.row + 1) * itemBytes));
  }
  return out;
}
