import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  buildAutoencoder,
  codeShape,
  codeSize,
  decodeCodes,
  encodeBatch,
  initBackend,
  loadAutoencoder,
  ModelConfigError,
  registerGradientFixes,
  resolveModelConfig,
  restoreStockGradients,
  saveAutoencoder,
  tf,
  trainStep,
  type ModelConfig,
} from '../src/index.js';
import { transposeBatchInto } from '../src/transposed-matmul-kernel.js';
import { maxAbs, maxAbsDiff, uniform } from './helpers.js';

const DENSE: ModelConfig = {
  architecture: 'dense',
  imageSize: 16,
  channels: 1,
  hidden: [32, 16],
  codeChannels: 4,
  seed: 3,
  learningRate: 1e-2,
};

/** n grey 16×16 images: a bright bar at one of four heights on a dark background. */
function bars(n: number): Float32Array {
  const out = new Float32Array(n * 256).fill(0.1);
  for (let i = 0; i < n; i++) {
    const row = 2 + (i % 4) * 3;
    for (let x = 2; x < 14; x++) out[i * 256 + row * 16 + x] = 0.9;
  }
  return out;
}

before(async () => {
  await initBackend('wasm', { strict: true });
});

describe('dense autoencoder', () => {
  it('defaults to N2D widths and a 10-float code shaped [1, 1, 10]', () => {
    const r = resolveModelConfig({ architecture: 'dense', imageSize: 32, channels: 1 });
    assert.deepEqual(r.hidden, [500, 500, 2000]);
    assert.equal(r.codeChannels, 10);
    assert.deepEqual(codeShape({ architecture: 'dense', imageSize: 32, channels: 1 }), [1, 1, 10]);
    assert.equal(codeSize(DENSE), 4);
    assert.deepEqual(resolveModelConfig({ imageSize: 32, channels: 1 }).hidden, []);
  });

  it('maps images to [n, 1, 1, k] codes and back to [n, S, S, C]', () => {
    const { encoder, decoder, autoencoder } = buildAutoencoder(DENSE);
    assert.deepEqual(encoder.outputs[0].shape, [null, 1, 1, 4]);
    assert.deepEqual(decoder.outputs[0].shape, [null, 16, 16, 1]);
    assert.deepEqual(autoencoder.outputs[0].shape, [null, 16, 16, 1]);
    const names = encoder.layers.map((l) => l.name);
    assert.deepEqual(names.slice(1), [
      'enc_flatten',
      'enc_dense1',
      'enc_dense2',
      'enc_code',
      'enc_shape',
    ]);
    autoencoder.dispose();
  });

  it('learns: the loss of a few steps falls by half', async () => {
    const { autoencoder } = buildAutoencoder(DENSE);
    const data = bars(16);
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) losses.push(await trainStep(autoencoder, data));
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[29] < 0.5 * losses[0], `loss ${losses[0]} → ${losses[29]}`);
    autoencoder.dispose();
  });

  it('saves and loads back as a dense model with the same codes', async () => {
    const parts = buildAutoencoder(DENSE);
    const pixels = Uint8Array.from(bars(4), (v) => Math.round(v * 255));
    const before = encodeBatch(parts.encoder, pixels, 4, 16, 1);
    const files = await saveAutoencoder(parts, { checkpoint: true });
    const loaded = await loadAutoencoder(files);
    assert.equal(loaded.config.architecture, 'dense');
    assert.deepEqual(loaded.config.hidden, [32, 16]);
    assert.equal(loaded.config.codeChannels, 4);
    const after = encodeBatch(loaded.encoder, pixels, 4, 16, 1);
    assert.ok(maxAbsDiff(before.codes, after.codes) < 1e-6);
    // A code has one position, so its attention map is one value: its largest float.
    assert.equal(after.attention.length, 4);
    assert.equal(after.attention[0], Math.max(...after.codes.subarray(0, 4)));
    // Decoded pictures are clamped bytes even though the dense decoder's output is linear.
    const images = decodeCodes(loaded.decoder, after.codes, 4);
    assert.equal(images.length, 4 * 256);
    parts.autoencoder.dispose();
    loaded.autoencoder.dispose();
  });

  it('refuses empty or fractional hidden widths', () => {
    for (const hidden of [[], [10, 0], [2.5]]) {
      assert.throws(
        () => resolveModelConfig({ ...DENSE, hidden }),
        (e: unknown) => e instanceof ModelConfigError && /hidden/.test(e.message),
      );
    }
    assert.throws(
      () => resolveModelConfig({ ...DENSE, architecture: 'mlp' as 'dense' }),
      /architecture must be 'conv' or 'dense'/,
    );
  });
});

describe('transposed matrix products on wasm', () => {
  it('transposeBatchInto swaps the last two axes of every matrix in a batch', () => {
    const src = Float32Array.from({ length: 2 * 3 * 37 }, (_, i) => i);
    const dst = new Float32Array(src.length);
    transposeBatchInto(dst, src, 2, 3, 37);
    for (let b = 0; b < 2; b++) {
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 37; c++) {
          assert.equal(dst[b * 111 + c * 3 + r], src[b * 111 + r * 37 + c]);
        }
      }
    }
  });

  it('gives the stock kernel results for every transpose flag and batch shape', () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[70, 33], [70, 45], true, false],
      [[33, 70], [45, 70], false, true],
      [[70, 33], [45, 70], true, true],
      [[3, 40, 9], [3, 40, 11], true, false],
      [[3, 9, 40], [3, 11, 40], false, true],
      [[17, 5], [5, 8], false, false],
    ];
    const products = (fixed: boolean) => {
      if (fixed) registerGradientFixes();
      else restoreStockGradients();
      return cases.map(([sa, sb, ta, tb], i) =>
        tf.tidy(() => {
          const a = tf.tensor(
            uniform(
              sa.reduce((p, d) => p * d, 1),
              10 + i,
            ),
            sa,
          );
          const b = tf.tensor(
            uniform(
              sb.reduce((p, d) => p * d, 1),
              20 + i,
            ),
            sb,
          );
          return Float32Array.from(tf.matMul(a, b, ta, tb).dataSync());
        }),
      );
    };
    try {
      const stock = products(false);
      const ours = products(true);
      stock.forEach((s, i) => {
        assert.equal(ours[i].length, s.length);
        assert.ok(maxAbsDiff(ours[i], s) <= 1e-5 * Math.max(1, maxAbs(s)), `case ${i}`);
      });
    } finally {
      registerGradientFixes();
    }
  });
});
