import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  buildAutoencoder,
  codeShape,
  codeSize,
  initBackend,
  ModelConfigError,
  pixelsToFloat32,
  pixelsToTensor,
  resolveModelConfig,
  tf,
  trainStep,
  type ModelConfig,
} from '../src/index.js';
import { maxAbsDiff, uniform } from './helpers.js';

/** n grey S×S images of a bright disc at varying places on a dark background, in [0,1]. */
function discs(n: number, s: number): Float32Array {
  const out = new Float32Array(n * s * s);
  for (let i = 0; i < n; i++) {
    const cx = s / 4 + (i % 4) * (s / 8);
    const cy = s / 4 + Math.floor(i / 4) * (s / 8);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < (s * s) / 20;
        out[i * s * s + y * s + x] = inside ? 0.9 : 0.1;
      }
    }
  }
  return out;
}

before(async () => {
  await initBackend('wasm', { strict: true });
});

describe('buildAutoencoder', () => {
  it('has the seed architecture: 152×152×3 → code 19×19×8 → 152×152×3', () => {
    const { autoencoder, encoder, decoder, config } = buildAutoencoder({
      imageSize: 152,
      channels: 3,
    });
    assert.deepEqual(encoder.inputs[0].shape, [null, 152, 152, 3]);
    assert.deepEqual(encoder.outputs[0].shape, [null, 19, 19, 8]);
    assert.deepEqual(decoder.inputs[0].shape, [null, 19, 19, 8]);
    assert.deepEqual(decoder.outputs[0].shape, [null, 152, 152, 3]);
    assert.deepEqual(autoencoder.outputs[0].shape, [null, 152, 152, 3]);
    assert.deepEqual(config.filters, [16, 8, 8]);
    assert.equal(config.learningRate, 1e-3);
    assert.deepEqual(
      encoder.layers.map((l) => l.getClassName()),
      ['InputLayer', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D'],
    );
    const decoderKinds = decoder.layers.map((l) => l.getClassName());
    assert.deepEqual(decoderKinds.slice(1), [
      'Conv2D',
      'UpSampling2D',
      'Conv2D',
      'UpSampling2D',
      'Conv2D',
      'UpSampling2D',
      'Conv2D',
    ]);
    // 3×3 convs with bias: encoder 3→16→8→8, decoder 8→8→8→16→3.
    assert.equal(encoder.countParams(), 448 + 1160 + 584);
    assert.equal(decoder.countParams(), 584 + 584 + 1168 + 435);
    assert.equal(autoencoder.countParams(), encoder.countParams() + decoder.countParams());
    autoencoder.dispose();
  });

  it('honours filters and codeChannels', () => {
    const cfg: ModelConfig = { imageSize: 32, channels: 1, filters: [8, 6, 5], codeChannels: 3 };
    const { encoder, decoder, autoencoder } = buildAutoencoder(cfg);
    assert.deepEqual(encoder.outputs[0].shape, [null, 4, 4, 3]);
    assert.deepEqual(codeShape(cfg), [4, 4, 3]);
    assert.equal(codeSize(cfg), 48);
    assert.equal(decoder.getLayer('dec_conv1').getConfig().filters, 5);
    assert.equal(decoder.getLayer('dec_out').getConfig().activation, 'sigmoid');
    autoencoder.dispose();
  });

  it('rejects invalid configs with MODEL_CONFIG_INVALID', () => {
    const bad: ModelConfig[] = [
      { imageSize: 30, channels: 1 },
      { imageSize: 0, channels: 1 },
      { imageSize: 32, channels: 2 as 1 },
      { imageSize: 32, channels: 1, filters: [16, 8] as unknown as [number, number, number] },
      { imageSize: 32, channels: 1, filters: [16, 0, 8] },
      { imageSize: 32, channels: 1, learningRate: -1 },
    ];
    for (const cfg of bad) {
      assert.throws(
        () => resolveModelConfig(cfg),
        (err: unknown) => {
          assert.ok(err instanceof ModelConfigError);
          assert.equal(err.code, 'MODEL_CONFIG_INVALID');
          return true;
        },
      );
    }
  });

  it('encoder and decoder share the autoencoder weights', async () => {
    const { autoencoder, encoder, decoder } = buildAutoencoder({ imageSize: 16, channels: 1 });
    const x = tf.tensor4d(discs(4, 16), [4, 16, 16, 1]);
    await trainStep(autoencoder, x);
    const whole = autoencoder.predict(x) as tf.Tensor;
    const code = encoder.predict(x) as tf.Tensor;
    const parts = decoder.predict(code) as tf.Tensor;
    assert.ok(maxAbsDiff(whole.dataSync(), parts.dataSync()) < 1e-6);
    tf.dispose([x, whole, code, parts]);
    autoencoder.dispose();
  });

  it('a seed makes the initial weights reproducible', () => {
    const a = buildAutoencoder({ imageSize: 16, channels: 1, seed: 3 });
    const b = buildAutoencoder({ imageSize: 16, channels: 1, seed: 3 });
    const wa = a.autoencoder.getWeights().map((w) => w.dataSync());
    const wb = b.autoencoder.getWeights().map((w) => w.dataSync());
    wa.forEach((w, i) => assert.equal(maxAbsDiff(w, wb[i]), 0));
    a.autoencoder.dispose();
    b.autoencoder.dispose();
  });
});

describe('pixel conversion', () => {
  it('scales bytes to [0, 1]', () => {
    const f = pixelsToFloat32(new Uint8Array([0, 51, 255]));
    assert.deepEqual(Array.from(f), [0, Math.fround(0.2), 1]);
    const t = pixelsToTensor(new Uint8Array(2 * 8 * 8 * 3).fill(255), 2, 8, 3);
    assert.deepEqual(t.shape, [2, 8, 8, 3]);
    assert.equal(t.max().dataSync()[0], 1);
    assert.throws(() => pixelsToTensor(new Uint8Array(10), 1, 8, 3), {
      code: 'MODEL_INPUT_INVALID',
    });
    t.dispose();
  });
});

describe('trainStep', () => {
  it('a few steps on wasm reduce the loss', async () => {
    assert.equal(tf.getBackend(), 'wasm');
    const cfg: ModelConfig = { imageSize: 16, channels: 1, seed: 7, learningRate: 1e-2 };
    const { autoencoder } = buildAutoencoder(cfg);
    const data = discs(16, 16);
    const losses: number[] = [];
    for (let s = 0; s < 20; s++) losses.push(await trainStep(autoencoder, data));
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[19] < 0.5 * losses[0], `loss ${losses[0]} → ${losses[19]}`);
    autoencoder.dispose();
  });

  it('takes a Float32Array or a tensor alike and returns the MSE before the update', async () => {
    const cfg: ModelConfig = { imageSize: 16, channels: 1, seed: 9 };
    const a = buildAutoencoder(cfg);
    const b = buildAutoencoder(cfg);
    const data = discs(4, 16);
    const x = tf.tensor4d(data, [4, 16, 16, 1]);
    const y = a.autoencoder.predict(x) as tf.Tensor;
    const mse = tf.losses.meanSquaredError(x, y).dataSync()[0];
    const la = await trainStep(a.autoencoder, data);
    const lb = await trainStep(b.autoencoder, x);
    assert.ok(Math.abs(la - mse) < 1e-6 && Math.abs(lb - mse) < 1e-6, `${la} ${lb} ${mse}`);
    assert.equal(x.isDisposed, false);
    await assert.rejects(trainStep(a.autoencoder, new Float32Array(100)), {
      code: 'MODEL_INPUT_INVALID',
    });
    tf.dispose([x, y]);
    a.autoencoder.dispose();
    b.autoencoder.dispose();
  });

  it('leaks no tensors once the optimiser state exists', async () => {
    const { autoencoder } = buildAutoencoder({ imageSize: 16, channels: 1 });
    const data = uniform(8 * 16 * 16, 5, 0, 1);
    await trainStep(autoencoder, data);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await trainStep(autoencoder, data);
    assert.equal(tf.memory().numTensors, before);
    autoencoder.dispose();
  });
});
