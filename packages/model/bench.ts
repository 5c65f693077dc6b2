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
import { benchPixels } from './bench-pixels.js';

/** Measured throughputs on one backend, in images per second. */
interface Rates {
  backend: string;
  trainImgPerSec: number;
  encodeImgPerSec: number;
}

const [size = 32, channels = 1, batch = 64] = process.argv.slice(2).map(Number);
const MIN_SECONDS = 3;

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
  const px = benchPixels(batch, size, channels);
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
