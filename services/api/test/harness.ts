/**
 * The API on a private redis-server and the local S3-compatible server, driven with
 * app.inject (no socket): what the security and fuzz tests run on. Also makes a succeeded
 * run without running the pipeline (a small untrained encoder, centroids, clusters, members,
 * an image shard and a report), so the routes that read a finished run have something real
 * to read.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { runKeys, runSpecSchema, type RunSpec } from '@imgcluster/config';
import { localEnv, startRedis, startS3, type LocalRedis, type LocalS3 } from '@imgcluster/devstack';
import { encodePng } from '@imgcluster/images';
import { createLogger } from '@imgcluster/logging';
import { buildAutoencoder, encodeBatch, initBackend, saveModel } from '@imgcluster/model';
import { encodeShard } from '@imgcluster/shard';
import { createContext, type ServiceContext } from '@imgcluster/runtime';
import { buildApp } from '../src/app.js';

/** The input bucket the tests upload into. */
export const INPUT_BUCKET = 'datasets';

export interface Harness {
  app: FastifyInstance;
  ctx: ServiceContext;
  redis: LocalRedis;
  s3: LocalS3;
  /** Every line the API logged (level trace), as written. */
  logs: string[];
  /** Builds another API on the same servers with more environment (closed by stop()). */
  another(extraEnv: Record<string, string>): Promise<Harness>;
  stop(): Promise<void>;
}

/** Starts Redis and the S3 server and builds the API over them with `extraEnv`. */
export async function startHarness(extraEnv: Record<string, string> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'imgcluster-api-'));
  const redis = await startRedis(join(dir, 'redis'));
  const s3 = await startS3(join(dir, 's3'));
  const built: Harness[] = [];
  const build = async (env: Record<string, string>): Promise<Harness> => {
    const { ctx, app, logs } = await buildOn(redis, s3, env);
    const h: Harness = {
      app,
      ctx,
      redis,
      s3,
      logs,
      another: (more) => build({ ...extraEnv, ...more }),
      stop: async () => {
        for (const other of built.reverse()) await closeApi(other);
        await s3.stop();
        await redis.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    built.push(h);
    return h;
  };
  return build(extraEnv);
}

async function buildOn(redis: LocalRedis, s3: LocalS3, extraEnv: Record<string, string>) {
  const env = localEnv(redis, s3, { LOG_LEVEL: 'silent', TF_BACKEND: 'wasm', ...extraEnv });
  const ctx = await createContext('api', env);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  ctx.log = createLogger('api', 'trace', sink);
  await ctx.storage.ensureBucket(ctx.bucket);
  await ctx.storage.ensureBucket(INPUT_BUCKET);
  const app = await buildApp(ctx);
  await app.ready();
  return { ctx, app, logs };
}

async function closeApi(h: Harness) {
  await h.app.close();
  await h.ctx.producers.close();
  h.ctx.storage.close();
  await h.ctx.redis.quit().catch(() => undefined);
}

/** The data of every BullMQ job in Redis, by job key. */
export async function jobPayloads(ctx: ServiceContext): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', 'bull:*', 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      if ((await ctx.redis.type(key)) !== 'hash') continue;
      const data = await ctx.redis.hget(key, 'data');
      if (data !== null) out.set(key, data);
    }
  } while (cursor !== '0');
  return out;
}

/** `Authorization: Bearer <key>` headers. */
export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** A w×h greyscale PNG with a bright square whose corner depends on `n`. */
export async function testPng(n: number, side = 24): Promise<Buffer> {
  const px = Buffer.alloc(side * side);
  const at = (n * 5) % (side - 8);
  for (let r = at; r < at + 8; r++) for (let c = at; c < at + 8; c++) px[r * side + c] = 255;
  return encodePng(new Uint8Array(px), side, side, 1);
}

/** What fabricateRun made. */
export interface FabricatedRun {
  id: string;
  spec: RunSpec;
  /** The input keys, in the order of the image shard's rows. */
  keys: string[];
}

/**
 * A succeeded run of `tenant` over three images under `prefix` in INPUT_BUCKET, with every
 * artifact the API reads: encoder, centroids (the codes of the first two images), clusters
 * and their members, the image shard, a report and a manifest.
 */
export async function fabricateRun(
  ctx: ServiceContext,
  tenant: string,
  prefix: string,
): Promise<FabricatedRun> {
  await initBackend('wasm', { strict: true });
  const spec = runSpecSchema.parse({
    input: { bucket: INPUT_BUCKET, prefix },
    image: { size: 16, channels: 1 },
    model: { filters: [4, 4, 2] },
    // The centroids are raw codes: no normalisation, no manifold.
    kmeans: { k: 2, normalize: 'none', manifold: { method: 'none' } },
  });
  const id = `run_${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;
  const keys = [0, 1, 2].map((n) => `${prefix}img-${n}.png`);
  for (const [n, key] of keys.entries()) {
    await ctx.storage.put(INPUT_BUCKET, key, await testPng(n), 'image/png');
  }

  const size = spec.image.size;
  const pixels = new Uint8Array(keys.length * size * size);
  for (let n = 0; n < keys.length; n++)
    pixels.fill(40 + 80 * n, n * size * size, (n + 1) * size * size);
  const { encoder } = buildAutoencoder({
    imageSize: size,
    channels: 1,
    filters: [4, 4, 2],
    seed: 3,
  });
  const { codes } = encodeBatch(encoder, pixels, keys.length, size, 1);
  const dim = codes.length / keys.length;
  const files = await saveModel(encoder);
  encoder.dispose();

  const k = runKeys(id);
  const side = size / 8;
  await ctx.storage.put(ctx.bucket, k.encoderJson, files.modelJson);
  await ctx.storage.put(ctx.bucket, k.encoderWeights, files.weights);
  await ctx.storage.put(
    ctx.bucket,
    k.centroids,
    encodeShard(
      { dtype: 'float32', shape: [2, side, side, dim / (side * side)], keys: ['0', '1'] },
      codes.slice(0, 2 * dim),
    ),
  );
  await ctx.storage.put(
    ctx.bucket,
    k.imageShard(0),
    encodeShard({ dtype: 'uint8', shape: [keys.length, size, size, 1], keys }, pixels),
  );
  const png = await testPng(9);
  const summaries = [0, 1].map((c) => {
    const name = (kind: string) => `clusters/${String(c).padStart(3, '0')}-${kind}.png`;
    return {
      cluster: c,
      size: c === 0 ? 2 : 1,
      meanDistance: 0.5,
      images: { samples: name('samples'), attention: name('attention'), decoded: name('decoded') },
    };
  });
  for (const s of summaries) {
    for (const path of Object.values(s.images)) {
      await ctx.storage.put(ctx.bucket, `${k.root}/${path}`, png, 'image/png');
    }
  }
  await ctx.storage.putJson(ctx.bucket, k.clusters, summaries);
  const rows = [
    [0, 2],
    [1, -1],
  ];
  for (const c of [0, 1]) {
    const members = rows[c]
      .filter((row) => row >= 0)
      .map((row) => ({ key: keys[row], distance: 0.25 * row, shard: 0, row }));
    await ctx.storage.putJson(ctx.bucket, k.clusterMembers(c), {
      cluster: c,
      size: members.length,
      members,
    });
  }
  await ctx.storage.put(
    ctx.bucket,
    k.report,
    Buffer.from('<html><body><img src="clusters/000-samples.png"></body></html>'),
    'text/html',
  );
  await ctx.storage.putJson(ctx.bucket, k.spec, spec);
  await ctx.storage.putJson(ctx.bucket, k.manifest, { runId: id, k: 2 });

  await ctx.store.create(id, spec, new Date(), { tenant });
  await ctx.store.setState(id, 'succeeded');
  return { id, spec, keys };
}
