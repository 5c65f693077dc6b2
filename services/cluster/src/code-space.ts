import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { manifoldFor, type RunSpec } from '@imgcluster/config';
import { prepareCodes } from '@imgcluster/kmeans';
import { embed, fitManifold, type Manifold } from '@imgcluster/manifold';
import type { Shard } from '@imgcluster/shard';
import { sampleAcrossShards } from './choose-k.js';
import type { CodeSource } from './code-source.js';

/** The manifold of a run, as the cluster stage fitted it. */
export interface FittedManifold {
  model: Manifold;
  /** The image of each reference code, in order. */
  keys: string[];
  /** Seconds the sample, the layout and the placing of every code took. */
  seconds: number;
}

/** Progress of {@link CodeSpace.build}: the layout's passes, then shards placed. */
export interface SpaceProgress {
  layout(done: number, total: number): Promise<void>;
  placed(shards: number): Promise<void>;
}

/**
 * The codes as k-means sees them: normalised as the run says and, with a manifold step, each
 * code's place in the UMAP layout instead of the code. Reads like the code shards (same
 * shards, keys and rows), so choosing k, the fit and the assignment pass take either.
 */
export class CodeSpace {
  private constructor(
    private readonly source: CodeSource,
    /** Floats per prepared code. */
    readonly dim: number,
    private readonly kmeans: RunSpec['kmeans'],
    readonly manifold?: FittedManifold,
    private readonly placed?: Map<number, Shard<Float32Array>>,
  ) {}

  /**
   * Without a manifold step (see manifoldFor): a view that normalises each shard as it is
   * read. With one:
   * UMAP fitted on `kmeans.manifold.sample` codes drawn across all shards (normalised
   * first), then every code placed in the layout and kept (n × dims floats in memory).
   */
  static async build(
    source: CodeSource,
    counts: Map<number, number>,
    codeDim: number,
    kmeans: RunSpec['kmeans'],
    progress: SpaceProgress,
  ): Promise<CodeSpace> {
    const settings = kmeans.manifold;
    if (!manifoldFor(kmeans, codeDim)) return new CodeSpace(source, codeDim, kmeans);
    const started = Date.now();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const keys: string[] = [];
    const drawn = await sampleAcrossShards(
      source,
      counts,
      Math.min(total, settings.sample),
      codeDim,
      kmeans.seed,
      keys,
    );
    const m = drawn.length / codeDim;
    const model = await fitManifold(
      prepareCodes(drawn, m, codeDim, kmeans.normalize, true),
      m,
      codeDim,
      { dims: settings.dims, neighbors: settings.neighbors, seed: kmeans.seed },
      progress.layout,
    );

    const placed = new Map<number, Shard<Float32Array>>();
    for (const [done, index] of source.shards.entries()) {
      const shard = await source.codes(index);
      const n = shard.header.shape[0];
      const prepared = prepareCodes(shard.data, n, codeDim, kmeans.normalize);
      placed.set(index, {
        header: { ...shard.header, shape: [n, settings.dims] },
        data: embed(model, prepared, n),
      });
      await progress.placed(done + 1);
      await yieldToEventLoop();
    }
    const seconds = (Date.now() - started) / 1000;
    return new CodeSpace(source, settings.dims, kmeans, { model, keys, seconds }, placed);
  }

  get shards(): number[] {
    return this.source.shards;
  }

  /** One shard's codes as k-means sees them (a copy whenever they differ from the stored). */
  async codes(shard: number): Promise<Shard<Float32Array>> {
    const placed = this.placed?.get(shard);
    if (placed) return placed;
    const raw = await this.source.codes(shard);
    const n = raw.header.shape[0];
    return { header: raw.header, data: prepareCodes(raw.data, n, this.dim, this.kmeans.normalize) };
  }
}
