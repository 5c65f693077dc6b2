import { runKeys } from '@imgcluster/config';
import type { ServiceContext } from '@imgcluster/runtime';
import { PermanentJobError } from '@imgcluster/queues';
import { decodeShardRaw, widenShard, type Shard, type ShardData } from '@imgcluster/shard';

/**
 * The code shards of a run, read from storage with a bounded in-memory cache. Code shards
 * may be float32 or float16 (the run's `codes.dtype`; a float16 run may hold float32 shards
 * whose codes overflowed half precision): readers always get float32. The cache keeps the
 * shards as stored, so float16 codes take half the memory and twice as many shards fit; they
 * are widened on each read, about 3 ns a value (some 10 ms for a 1,000-image shard of
 * 2,888-value codes): small beside the distances k-means computes on it.
 */
export class CodeSource {
  private readonly cache = new Map<number, Shard<ShardData>>();
  private cachedBytes = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly runId: string,
    /** Shard numbers that have codes. */
    readonly shards: number[],
    private readonly budgetBytes: number,
  ) {}

  /** One code shard as float32 (cached while the budget allows; least recently used goes first). */
  async codes(shard: number): Promise<Shard<Float32Array>> {
    const hit = this.cache.get(shard);
    if (hit) {
      this.cache.delete(shard);
      this.cache.set(shard, hit);
      return asFloat32(hit, shard);
    }
    const bytes = await this.ctx.storage.get(this.ctx.bucket, runKeys(this.runId).codeShard(shard));
    const loaded = decodeShardRaw(bytes);
    this.keep(shard, loaded);
    return asFloat32(loaded, shard);
  }

  /** One attention-map shard (not cached: read once, in the assignment pass). */
  async attention(shard: number): Promise<Shard<Float32Array>> {
    const key = runKeys(this.runId).attentionShard(shard);
    return asFloat32(decodeShardRaw(await this.ctx.storage.get(this.ctx.bucket, key)), shard);
  }

  private keep(shard: number, loaded: Shard<ShardData>) {
    const size = loaded.data.byteLength;
    if (size > this.budgetBytes) return;
    while (this.cachedBytes + size > this.budgetBytes && this.cache.size > 0) {
      const [oldest, value] = this.cache.entries().next().value as [number, Shard<ShardData>];
      this.cache.delete(oldest);
      this.cachedBytes -= value.data.byteLength;
    }
    this.cache.set(shard, loaded);
    this.cachedBytes += size;
  }
}

/** A float16 or float32 shard as float32; a uint8 shard here is a corrupt run. */
function asFloat32(stored: Shard<ShardData>, shard: number): Shard<Float32Array> {
  const wide = widenShard(stored);
  if (!(wide.data instanceof Float32Array)) {
    const message = `shard ${shard} holds ${stored.header.dtype} data, not codes`;
    throw new PermanentJobError('SHARD_INVALID', message);
  }
  return { header: wide.header, data: wide.data };
}
