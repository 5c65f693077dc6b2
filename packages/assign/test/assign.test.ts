import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { runSpecSchema } from '@imgcluster/config';
import { preprocessImage } from '@imgcluster/images';
import { buildAutoencoder, encodeBatch, initBackend } from '@imgcluster/model';
import {
  assignImages,
  RunModelCache,
  type Assigned,
  type AssignRejected,
  type RunModel,
} from '../src/index.js';

before(async () => {
  await initBackend('wasm', { strict: true });
});

/** A 40×40 PNG: a bright square at (x, y) on black. */
function squareAt(x: number, y: number): Promise<Buffer> {
  const px = Buffer.alloc(40 * 40);
  for (let r = y; r < y + 12; r++) for (let c = x; c < x + 12; c++) px[r * 40 + c] = 255;
  return sharp(px, { raw: { width: 40, height: 40, channels: 1 } })
    .png()
    .toBuffer();
}

test('assigns each image to the centroid of its own code, keeps order, reports bad files', async () => {
  // Centroids are raw codes here: no normalisation, no manifold.
  const spec = runSpecSchema.parse({
    input: { bucket: 'data' },
    kmeans: { k: 3, normalize: 'none', manifold: { method: 'none' } },
  });
  const { size, channels } = spec.image;
  const { encoder } = buildAutoencoder({ imageSize: size, channels, seed: 7 });
  const files = await Promise.all([squareAt(2, 2), squareAt(26, 2), squareAt(14, 26)]);

  // The centroids are the codes of the three images themselves, so image i must land in
  // cluster i at distance 0, whatever the (untrained) weights are.
  const pixels = new Uint8Array(3 * size * size);
  for (const [i, f] of files.entries()) {
    const d = await preprocessImage(f, { size, channels });
    assert.ok(d.ok);
    pixels.set(d.pixels, i * size * size);
  }
  const { codes } = encodeBatch(encoder, pixels, 3, size, channels);
  const side = size / 8;
  const model: RunModel = {
    runId: 'run_test00',
    spec,
    encoder,
    centroids: codes,
    k: 3,
    dim: codes.length / 3,
    side,
  };

  const progress: number[] = [];
  const out = await assignImages(
    model,
    [
      { name: 'c.png', bytes: files[2] },
      { name: 'broken.png', bytes: Buffer.from('not an image at all') },
      { name: 'a.png', bytes: files[0] },
      { name: 'b.png', bytes: files[1] },
    ],
    (done) => void progress.push(done),
  );
  assert.deepEqual(
    out.map((o) => o.name),
    ['c.png', 'broken.png', 'a.png', 'b.png'],
  );
  const [c, broken, a, b] = out;
  assert.deepEqual(
    [c, a, b].map((o) => (o as Assigned).cluster),
    [2, 0, 1],
  );
  for (const o of [c, a, b] as Assigned[]) {
    assert.ok(o.distance < 1e-6, `distance ${o.distance}`);
    assert.equal(o.attention.values.length, side * side);
    assert.equal(o.attention.height, side);
  }
  assert.equal((broken as AssignRejected).rejected.reason, 'not_an_image');
  assert.deepEqual(progress, [4]);
  encoder.dispose();
});

test('a cached model pushed out while in use is disposed only when its last user is done', async () => {
  const spec = runSpecSchema.parse({ input: { bucket: 'data' } });
  const disposed: string[] = [];
  const loads: string[] = [];
  const fake = (runId: string) =>
    ({ runId, encoder: { dispose: () => void disposed.push(runId) } }) as unknown as RunModel;
  const cache = new RunModelCache(undefined as never, 'unused', 1, async (runId) => {
    loads.push(runId);
    return fake(runId);
  });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const slow = cache.use('run_a', spec, async (m) => {
    await held;
    return m.runId;
  });
  await new Promise((r) => setImmediate(r));
  // run_b pushes run_a out of a cache of one while run_a is still in use.
  assert.equal(await cache.use('run_b', spec, async (m) => m.runId), 'run_b');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(disposed, []);
  release();
  assert.equal(await slow, 'run_a');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(disposed, ['run_a']);
  // run_b stays cached: used again without loading it again.
  await cache.use('run_b', spec, async () => undefined);
  assert.deepEqual(loads, ['run_a', 'run_b']);
});
