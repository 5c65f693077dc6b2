/**
 * Throughput of the imgcluster autoencoder on the wasm and cpu backends.
 * Run: node --import tsx packages/model/bench.ts [imageSize=32] [channels=1] [batch=64]
 */
import {
  buildAutoencoder,
  encodeBatch,
  initBackend,
  pixelsToFloat32,
  tf,
  trainStep,
  type AutoencoderParts,
} from './src/index.js';

/** Measured throughputs on one backend, in images per second. */
interface Rates {
  backend: string;
  trainImgPerSec: number;
  encodeImgPerSec: number;
}

const [size = 32, channels = 1, batch = 64] = process.argv.slice(2).map(Number);
const MIN_SECONDS = 3;

/** Deterministic pixel batch with some structure (blobs on noise). */
function pixels(n: number): Uint8Array {
  const out = new Uint8Array(n * size * size * channels);
  let seed = 12345;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const p = Math.floor(i / channels) % (size * size);
    const blob = Math.abs((p % size) - size / 2) + Math.abs(Math.floor(p / size) - size / 2);
    out[i] = blob < size / 4 ? 200 + (seed % 50) : seed % 60;
  }
  return out;
}

/** Repeats fn (which processes `batch` images) for at least MIN_SECONDS; returns img/s. */
async function rate(fn: () => Promise<unknown> | unknown, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < MIN_SECONDS * 1000) {
    await fn();
    n++;
  }
  return (n * batch) / ((performance.now() - t0) / 1000);
}

/** Trains and encodes on `backend`, checking for leaked tensors. */
async function measure(backend: 'wasm' | 'cpu'): Promise<Rates> {
  const info = await initBackend(backend, { strict: true });
  const cfg = { imageSize: size, channels: channels as 1 | 3 };
  const parts: AutoencoderParts = buildAutoencoder(cfg);
  const px = pixels(batch);
  const x = tf.tensor4d(pixelsToFloat32(px), [batch, size, size, channels]);
  await trainStep(parts.autoencoder, x); // creates the Adam state
  const before = tf.memory().numTensors;
  const trainImgPerSec = await rate(() => trainStep(parts.autoencoder, x), 2);
  const encodeImgPerSec = await rate(
    () => encodeBatch(parts.encoder, px, batch, size, channels),
    2,
  );
  const leaked = tf.memory().numTensors - before;
  x.dispose();
  parts.autoencoder.dispose();
  console.log(`${info.backend} (${info.source}): leaked tensors ${leaked}`);
  return { backend: info.backend, trainImgPerSec, encodeImgPerSec };
}

const results: Rates[] = [];
for (const b of ['wasm', 'cpu'] as const) results.push(await measure(b));
const [w, c] = results;
console.log(`input ${size}×${size}×${channels}, batch ${batch}, Adam, filters 16/8/8`);
for (const r of results) {
  const t = r.trainImgPerSec.toFixed(1);
  const e = r.encodeImgPerSec.toFixed(0);
  console.log(`${r.backend.padEnd(5)} train ${t} img/s, encode ${e} img/s`);
}
const trainRatio = (w.trainImgPerSec / c.trainImgPerSec).toFixed(1);
const encodeRatio = (w.encodeImgPerSec / c.encodeImgPerSec).toFixed(1);
console.log(`wasm/cpu ratio: train ${trainRatio}×, encode ${encodeRatio}×`);
