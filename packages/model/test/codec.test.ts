import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  buildAutoencoder,
  decodeCodes,
  encodeBatch,
  initBackend,
  pixelsToFloat32,
  tf,
} from '../src/index.js';
import { maxAbsDiff, rng } from './helpers.js';

const S = 16;
const C = 3;

/** n random RGB images as bytes. */
function randomPixels(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n * S * S * C }, () => Math.floor(r() * 256));
}

before(async () => {
  await initBackend('wasm', { strict: true });
});

describe('encodeBatch', () => {
  it('returns the encoder output and its channel-wise maximum', () => {
    const { encoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: C, seed: 1 });
    const n = 5;
    const px = randomPixels(n, 2);
    const { codes, attention } = encodeBatch(encoder, px, n, S, C);
    const [h, w, k] = [S / 8, S / 8, 8];
    assert.equal(codes.length, n * h * w * k);
    assert.equal(attention.length, n * h * w);

    const x = tf.tensor4d(pixelsToFloat32(px), [n, S, S, C]);
    const y = encoder.predict(x) as tf.Tensor;
    assert.ok(maxAbsDiff(codes, y.dataSync()) < 1e-6);
    for (let cell = 0; cell < n * h * w; cell++) {
      const slice = codes.subarray(cell * k, (cell + 1) * k);
      assert.equal(attention[cell], Math.max(...slice));
    }
    assert.ok(
      codes.some((v) => v > 0),
      'codes are not all zero',
    );
    tf.dispose([x, y]);
    autoencoder.dispose();
  });

  it('splits large inputs into predict batches with the same result', () => {
    const { encoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: C, seed: 1 });
    const px = randomPixels(10, 3);
    const whole = encodeBatch(encoder, px, 10, S, C, 64);
    const split = encodeBatch(encoder, px, 10, S, C, 3);
    assert.ok(maxAbsDiff(whole.codes, split.codes) < 1e-6);
    autoencoder.dispose();
  });

  it('rejects pixels that do not fit the encoder', () => {
    const { encoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: C });
    assert.throws(() => encodeBatch(encoder, randomPixels(2, 4), 2, S, 1), {
      code: 'MODEL_INPUT_INVALID',
    });
    assert.throws(() => encodeBatch(encoder, randomPixels(2, 4), 3, S, C), {
      code: 'MODEL_INPUT_INVALID',
    });
    autoencoder.dispose();
  });
});

describe('decodeCodes', () => {
  it('returns decoder outputs as bytes 0..255', () => {
    const { encoder, decoder, autoencoder } = buildAutoencoder({
      imageSize: S,
      channels: C,
      seed: 4,
    });
    const n = 3;
    const { codes } = encodeBatch(encoder, randomPixels(n, 5), n, S, C);
    const images = decodeCodes(decoder, codes, n);
    assert.equal(images.length, n * S * S * C);
    const z = tf.tensor4d(codes, [n, S / 8, S / 8, 8]);
    const y = decoder.predict(z) as tf.Tensor;
    const expected = y.dataSync();
    for (let i = 0; i < images.length; i++) {
      assert.ok(Math.abs(images[i] - expected[i] * 255) <= 0.5 + 1e-3, `pixel ${i}`);
    }
    assert.throws(() => decodeCodes(decoder, codes, n + 1), { code: 'MODEL_INPUT_INVALID' });
    tf.dispose([z, y]);
    autoencoder.dispose();
  });
});

describe('no tensor leaks', () => {
  for (const backend of ['wasm', 'cpu']) {
    it(`encodeBatch and decodeCodes leave numTensors unchanged on ${backend}`, async () => {
      await tf.setBackend(backend);
      const { encoder, decoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: C });
      const px = randomPixels(4, 6);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const { codes } = encodeBatch(encoder, px, 4, S, C, 3);
        decodeCodes(decoder, codes, 4, 3);
      }
      assert.equal(tf.memory().numTensors, before);
      autoencoder.dispose();
      await tf.setBackend('wasm');
    });
  }
});
