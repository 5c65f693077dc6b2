import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  buildAutoencoder,
  encodeBatch,
  initBackend,
  loadAutoencoder,
  loadModel,
  ModelFormatError,
  saveAutoencoder,
  saveModel,
  tf,
  trainStep,
  WEIGHTS_FILE,
  type AutoencoderParts,
} from '../src/index.js';
import { maxAbsDiff, uniform } from './helpers.js';

const S = 16;

/** Prediction of `model` on `x` as a plain array (the result tensor is disposed). */
function predictArray(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  const y = model.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  y.dispose();
  return Float32Array.from(out);
}

/** All weights of a model as arrays, in order. */
function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => Float32Array.from(w.dataSync()));
}

before(async () => {
  await initBackend('wasm', { strict: true });
});

describe('saveModel', () => {
  it('writes a layers-format model.json whose manifest points to weights.bin', async () => {
    const { encoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: 1 });
    const files = await saveModel(encoder);
    const json = JSON.parse(files.modelJson.toString('utf8'));
    assert.equal(json.format, 'layers-model');
    assert.equal(json.modelTopology.config.name, 'encoder');
    const paths = json.weightsManifest.map((g: { paths: string[] }) => g.paths);
    assert.deepEqual(paths, [[WEIGHTS_FILE]]);
    const specs = json.weightsManifest[0].weights as { shape: number[] }[];
    assert.equal(specs.length, 6);
    const floats = specs.reduce((a, s) => a + s.shape.reduce((p, d) => p * d, 1), 0);
    assert.equal(files.weights.length, 4 * floats);
    assert.equal(floats, encoder.countParams());
    autoencoder.dispose();
  });
});

describe('loadModel', () => {
  it('round-trips encoder and decoder from wasm to cpu and back', async () => {
    await tf.setBackend('wasm');
    const { encoder, decoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: 3 });
    const x = tf.tensor4d(uniform(3 * S * S * 3, 1, 0, 1), [3, S, S, 3]);
    const z = tf.tensor4d(uniform(3 * 2 * 2 * 8, 2, 0, 2), [3, 2, 2, 8]);
    const want = [predictArray(encoder, x), predictArray(decoder, z)];
    const files = [await saveModel(encoder), await saveModel(decoder)];
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const enc = await loadModel(files[0].modelJson, files[0].weights);
      const dec = await loadModel(files[1].modelJson, files[1].weights);
      const got = [predictArray(enc, x), predictArray(dec, z)];
      assert.ok(maxAbsDiff(got[0], want[0]) < 1e-6, `encoder on ${backend}`);
      assert.ok(maxAbsDiff(got[1], want[1]) < 1e-6, `decoder on ${backend}`);
      enc.dispose();
      dec.dispose();
    }
    await tf.setBackend('wasm');
    tf.dispose([x, z]);
    autoencoder.dispose();
  });

  it('rejects malformed files with MODEL_FORMAT_INVALID', async () => {
    const { encoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: 1 });
    const files = await saveModel(encoder);
    const isFormatError = (err: unknown) => {
      assert.ok(err instanceof ModelFormatError);
      assert.equal(err.code, 'MODEL_FORMAT_INVALID');
      return true;
    };
    await assert.rejects(loadModel(Buffer.from('{not json'), files.weights), isFormatError);
    await assert.rejects(loadModel(Buffer.from('{}'), files.weights), isFormatError);
    await assert.rejects(loadModel(files.modelJson, files.weights.subarray(8)), isFormatError);
    const json = JSON.parse(files.modelJson.toString('utf8'));
    json.weightsManifest[0].paths = ['other.bin'];
    const renamed = Buffer.from(JSON.stringify(json));
    await assert.rejects(loadModel(renamed, files.weights), isFormatError);
    autoencoder.dispose();
  });

  it('leaves no tensors behind once a loaded model is disposed', async () => {
    const { encoder, autoencoder } = buildAutoencoder({ imageSize: S, channels: 1 });
    const files = await saveModel(encoder);
    const before = tf.memory().numTensors;
    const loaded = await loadModel(files.modelJson, files.weights);
    loaded.dispose();
    assert.equal(tf.memory().numTensors, before);
    autoencoder.dispose();
  });
});

describe('saveAutoencoder / loadAutoencoder', () => {
  const data = uniform(8 * S * S, 7, 0, 1);

  /** Trains `parts` for `steps` steps on the shared batch; returns the losses. */
  async function train(parts: AutoencoderParts, steps: number): Promise<number[]> {
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push(await trainStep(parts.autoencoder, data));
    return losses;
  }

  it('restores encoder, decoder and config from the two model files', async () => {
    const parts = buildAutoencoder({ imageSize: S, channels: 1, filters: [8, 6, 4], seed: 2 });
    await train(parts, 2);
    const files = await saveAutoencoder(parts);
    assert.equal(files.autoencoder, undefined);
    const loaded = await loadAutoencoder(files, { learningRate: 5e-4 });
    assert.deepEqual(loaded.config, {
      architecture: 'conv',
      imageSize: S,
      channels: 1,
      filters: [8, 6, 4],
      codeChannels: 4,
      hidden: [],
      learningRate: 5e-4,
    });
    const x = tf.tensor4d(data, [8, S, S, 1]);
    const want = predictArray(parts.autoencoder, x);
    assert.ok(maxAbsDiff(predictArray(loaded.autoencoder, x), want) < 1e-6);
    assert.ok(Number.isFinite(await trainStep(loaded.autoencoder, data)));
    x.dispose();
    parts.autoencoder.dispose();
    loaded.autoencoder.dispose();
  });

  it('a checkpoint resumes training exactly (weights and Adam state)', async () => {
    const parts = buildAutoencoder({ imageSize: S, channels: 1, seed: 3, learningRate: 3e-3 });
    await train(parts, 3);
    const files = await saveAutoencoder(parts, { checkpoint: true });
    assert.ok(files.autoencoder != null);
    const continued = await train(parts, 3);
    const resumed = await loadAutoencoder(files);
    assert.equal(resumed.config.learningRate, 3e-3);
    const again = await train(resumed, 3);
    assert.ok(maxAbsDiff(continued, again) < 1e-6, `${continued} vs ${again}`);
    const wa = weightsOf(parts.autoencoder);
    const wb = weightsOf(resumed.autoencoder);
    wa.forEach((w, i) => assert.ok(maxAbsDiff(w, wb[i]) < 1e-5, `weight ${i}`));

    // The halves of a restored checkpoint work on their own and can be saved again.
    const px = new Uint8Array(2 * S * S).fill(128);
    const a = encodeBatch(parts.encoder, px, 2, S, 1).codes;
    const b = encodeBatch(resumed.encoder, px, 2, S, 1).codes;
    assert.ok(maxAbsDiff(a, b) < 1e-5);
    const resaved = await saveAutoencoder(resumed, { checkpoint: true });
    const reloadedEncoder = await loadModel(resaved.encoder.modelJson, resaved.encoder.weights);
    assert.ok(maxAbsDiff(encodeBatch(reloadedEncoder, px, 2, S, 1).codes, b) < 1e-6);
    reloadedEncoder.dispose();

    // Without the optimiser state, a fresh Adam takes visibly different steps.
    const weightsOnly = await loadAutoencoder(
      { encoder: files.encoder, decoder: files.decoder },
      {
        learningRate: 3e-3,
      },
    );
    const fresh = await train(weightsOnly, 3);
    assert.ok(Math.abs(fresh[2] - continued[2]) > 1e-5, `${fresh} vs ${continued}`);
    for (const p of [parts, resumed, weightsOnly]) p.autoencoder.dispose();
  });

  it('refuses a checkpoint that is not an imgcluster autoencoder', async () => {
    const input = tf.input({ shape: [4] });
    const output = tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor;
    const other = tf.model({ inputs: input, outputs: output });
    const files = await saveModel(other);
    await assert.rejects(loadAutoencoder({ encoder: files, decoder: files, autoencoder: files }), {
      code: 'MODEL_FORMAT_INVALID',
    });
    other.dispose();
  });
});
