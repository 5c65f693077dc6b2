import { runKeys } from '@imgcluster/config';
import type { ServiceContext } from '@imgcluster/runtime';
import { decodeShard, type Shard } from '@imgcluster/shard';

/** The code shards of a run, read from storage with a bounded in-memory cache. */
export class CodeSource {
  private readonly cache = new Map<number, Shard<Float32Array>>();
  private cachedBytes = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly runId: string,
    /** Shard numbers that have codes. */
    readonly shards: number[],
    private readonly budgetBytes: number,
  ) {}

  /** One code shard (cached while the budget allows; least recently used goes first). */
  async codes(shard: number): Promise<Shard<Float32Array>> {
    const hit = this.cache.get(shard);
    if (hit) {
      this.cache.delete(shard);
      this.cache.set(shard, hit);
      return hit;
    }
    const bytes = await this.ctx.storage.get(this.ctx.bucket, runKeys(this.runId).codeShard(shard));
    const loaded = decodeShard(bytes) as Shard<Float32Array>;
    this.keep(shard, loaded);
    return loaded;
  }

  /** One attention-map shard (not cached: read once, in the assignment pass). */
  async attention(shard: number): Promise<Shard<Float32Array>> {
    const key = runKeys(this.runId).attentionShard(shard);
    return decodeShard(await this.ctx.storage.get(this.ctx.bucket, key)) as Shard<Float32Array>;
  }

  private keep(shard: number, loaded: Shard<Float32Array>) {
    const size = loaded.data.byteLength;
    if (size > this.budgetBytes) return;
    while (this.cachedBytes + size > this.budgetBytes && this.cache.size > 0) {
      const [oldest, value] = this.cache.entries().next().value as [number, Shard<Float32Array>];
      this.cache.delete(oldest);
      this.cachedBytes -= value.data.byteLength;
    }
    this.cache.set(shard, loaded);
    this.cachedBytes += size;
  }
}
