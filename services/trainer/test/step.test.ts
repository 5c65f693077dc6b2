import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildAutoencoder,
  initBackend,
  loadAutoencoder,
  saveModel,
  tf,
  trainStep,
} from '@imgcluster/model';
import { trainBatch } from '../src/step.js';

const SIDE = 16;

function images(n: number, seed: number): Float32Array {
  const out = new Float32Array(n * SIDE * SIDE);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s >>> 8) / 2 ** 24;
  }
  return out;
}

async function twin() {
  const model = buildAutoencoder({ imageSize: SIDE, channels: 1, filters: [4, 4, 2], seed: 3 });
  const files = await saveModel(model.autoencoder, { includeOptimizer: true });
  const copy = await loadAutoencoder({ autoencoder: files, encoder: files, decoder: files });
  return [model, copy];
}

test('a batch split into passes takes the same Adam steps as one pass', async () => {
  await initBackend('wasm');
  const [whole, split] = await twin();
  let before = 0;
  for (let step = 0; step < 3; step++) {
    // Adam makes its moment variables on the first step; count tensors after it.
    if (step === 1) before = tf.memory().numTensors;
    const batch = images(10, step + 1);
    const a = await trainStep(whole.autoencoder, batch);
    // Passes of 3 images: 3 + 3 + 3 + 1.
    const b = await trainBatch(split.autoencoder, batch, 10, SIDE, 1, 3 * SIDE * SIDE);
    assert.ok(Math.abs(a - b) <= 1e-5 * a, `step ${step}: loss ${a} vs ${b}`);
  }
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  const wa = whole.autoencoder.getWeights();
  const wb = split.autoencoder.getWeights();
  for (let i = 0; i < wa.length; i++) {
    const x = wa[i].dataSync();
    const y = wb[i].dataSync();
    for (let j = 0; j < x.length; j++) {
      assert.ok(Math.abs(x[j] - y[j]) <= 1e-4 * (Math.abs(x[j]) + 1e-3), `weight ${i}[${j}]`);
    }
  }
});

test('a batch that fits in one pass is exactly trainStep', async () => {
  await initBackend('wasm');
  const [a, b] = await twin();
  const batch = images(4, 9);
  assert.equal(
    await trainStep(a.autoencoder, batch),
    await trainBatch(b.autoencoder, batch, 4, SIDE, 1),
  );
});
