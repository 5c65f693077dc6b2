import { runKeys, type RunSpec } from '@imgcluster/config';
import { gridPng, heatmapPng } from '@imgcluster/images';
import { decodeCodes, loadModel } from '@imgcluster/model';
import type { ServiceContext } from '@imgcluster/runtime';
import { dataOffset, PREAMBLE_BYTES } from '@imgcluster/shard';
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

/**
 * Reads the pixels of every pictured member with ranged reads of its image shard: a few
 * hundred small requests instead of downloading every shard a member lies in.
 */
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
  const work = [...byShard];
  const readShard = async () => {
    for (let next = work.pop(); next; next = work.pop()) {
      const [shard, refs] = next;
      const key = runKeys(runId).imageShard(shard);
      const start = dataOffset(await ctx.storage.getRange(ctx.bucket, key, 0, PREAMBLE_BYTES - 1));
      for (const m of refs) {
        const at = start + m.row * itemBytes;
        const row = await ctx.storage.getRange(ctx.bucket, key, at, at + itemBytes - 1);
        if (row.length !== itemBytes) {
          throw new Error(`image shard ${shard} row ${m.row}: ${row.length} of ${itemBytes} bytes`);
        }
        out.set(refId(m), new Uint8Array(row));
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, readShard));
  return out;
}
