import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  buildAutoencoder,
  gradientFixesApply,
  gradientFixesRegistered,
  initBackend,
  registerGradientFixes,
  restoreStockGradients,
  tf,
} from '../src/index.js';
import {
  analyticGrads,
  distinct,
  fdTolerance,
  maxAbs,
  maxAbsDiff,
  numericGrad,
  size,
  uniform,
  type LossFn,
} from './helpers.js';

const BACKENDS = ['cpu', 'wasm'] as const;

/** A gradient check of loss = Σ w ⊙ op(inputs) with a fixed random w. */
interface Case {
  name: string;
  shapes: number[][];
  values: Float32Array[];
  op: (inputs: tf.Tensor[]) => tf.Tensor;
  /** Central-difference step. */
  eps: number;
}

/** The case's scalar loss Σ w ⊙ op(inputs); its gradient w.r.t. op's output is w. */
function lossOf(c: Case): LossFn {
  return (inputs) => {
    const y = c.op(inputs);
    const w = tf.tensor(uniform(size(y.shape), 99), y.shape, 'float32');
    return tf.sum(tf.mul(w, y));
  };
}

function convCase(
  name: string,
  xShape: number[],
  fShape: number[],
  pad: 'same' | 'valid',
  strides = 1,
): Case {
  return {
    name,
    shapes: [xShape, fShape],
    values: [uniform(size(xShape), 11), uniform(size(fShape), 12)],
    eps: 0.25,
    op: ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, strides, pad),
  };
}

function fusedCase(name: string, xShape: number[], fShape: number[]): Case {
  const bShape = [fShape[3]];
  return {
    name,
    shapes: [xShape, fShape, bShape],
    values: [uniform(size(xShape), 14), uniform(size(fShape), 15), uniform(bShape[0], 16)],
    eps: 0.25,
    op: ([x, f, bias]) => {
      const filter = f as tf.Tensor4D;
      return tf.fused.conv2d({ x: x as tf.Tensor4D, filter, strides: 1, pad: 'same', bias });
    },
  };
}

function poolCase(name: string, xShape: number[], pad: 'same' | 'valid'): Case {
  return {
    name,
    shapes: [xShape],
    values: [distinct(size(xShape), 21)],
    eps: 0.02,
    op: ([x]) => tf.maxPool(x as tf.Tensor4D, 2, 2, pad),
  };
}

function resizeCase(name: string, xShape: number[], out: [number, number]): Case {
  return {
    name,
    shapes: [xShape],
    values: [uniform(size(xShape), 31)],
    eps: 0.25,
    op: ([x]) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, out),
  };
}

/** Cases the fixes cover; every one has batch ≥ 2 and channels ≥ 2. */
const FIXED_CASES: Case[] = [
  convCase('conv2d 3×3 same', [2, 5, 5, 2], [3, 3, 2, 3], 'same'),
  convCase('conv2d 3×2 valid', [2, 6, 5, 3], [3, 2, 3, 2], 'valid'),
  convCase('conv2d 2×2 same (asymmetric pad)', [3, 4, 4, 2], [2, 2, 2, 2], 'same'),
  fusedCase('fused conv2d + bias, linear (the sigmoid-layer path)', [2, 4, 4, 3], [3, 3, 3, 2]),
  poolCase('maxPool 2×2/2 valid', [2, 4, 6, 3], 'valid'),
  poolCase('maxPool 2×2/2 same', [2, 6, 4, 2], 'same'),
  resizeCase('resizeNearestNeighbor ×2', [2, 3, 3, 2], [6, 6]),
  resizeCase('resizeNearestNeighbor ×2/×3', [3, 2, 3, 2], [4, 9]),
];

function caseNamed(name: string): Case {
  const c = FIXED_CASES.find((k) => k.name === name);
  if (c == null) throw new Error(`no case ${name}`);
  return c;
}

/** Σ|w ⊙ op| and the number of loss terms, for the float32 round-off bound. */
function lossMagnitude(c: Case): { mag: number; terms: number } {
  return tf.tidy(() => {
    const xs = c.values.map((v, i) => tf.tensor(v, c.shapes[i], 'float32'));
    const y = c.op(xs);
    const w = tf.tensor(uniform(size(y.shape), 99), y.shape, 'float32');
    return { mag: tf.sum(tf.abs(tf.mul(w, y))).dataSync()[0], terms: size(y.shape) };
  });
}

/** Asserts analytic gradients of case c match central differences on the active backend. */
function checkAgainstNumeric(c: Case): void {
  const loss = lossOf(c);
  const analytic = analyticGrads(loss, c.values, c.shapes);
  const { mag, terms } = lossMagnitude(c);
  const tol = fdTolerance(mag, terms, c.eps);
  analytic.forEach((g, which) => {
    const fd = numericGrad(loss, c.values, c.shapes, which, c.eps);
    const diff = maxAbsDiff(g, fd);
    assert.ok(maxAbs(fd) > 0.1, `${c.name}: degenerate numeric gradient`);
    assert.ok(
      diff <= tol + 1e-4 * maxAbs(fd),
      `${c.name} input ${which} on ${tf.getBackend()}: max |analytic−numeric| ${diff} > ${tol}`,
    );
  });
}

before(async () => {
  await initBackend('wasm', { strict: true });
  registerGradientFixes();
});

describe('registerGradientFixes', () => {
  it('is idempotent and keeps the same configs on a second call', () => {
    const grad = tf.getGradient('MaxPool');
    const kernel = tf.getKernel('Conv2DBackpropFilter', 'wasm');
    registerGradientFixes();
    assert.equal(tf.getGradient('MaxPool'), grad);
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), kernel);
    assert.ok(gradientFixesRegistered());
  });

  it('applies on the JS backends and not on native TensorFlow', () => {
    assert.equal(gradientFixesApply('wasm'), true);
    assert.equal(gradientFixesApply('cpu'), true);
    assert.equal(gradientFixesApply('tensorflow'), false);
  });
});

for (const backend of BACKENDS) {
  describe(`corrected gradients on ${backend} match central differences`, () => {
    before(async () => {
      await tf.setBackend(backend);
      await tf.ready();
    });
    for (const c of FIXED_CASES) {
      it(c.name, () => {
        assert.equal(tf.getBackend(), backend);
        checkAgainstNumeric(c);
      });
    }

    it('maxPool routes ties to the first maximum of each window', () => {
      // Channel 0: all four equal → first (0,0); channel 1: (0,1) and (1,0) tie → (0,1).
      const x = tf.tensor4d([5, 1, 5, 7, 5, 7, 5, 2], [1, 2, 2, 2]);
      const pool = (t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid');
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t), 3)))(x);
      assert.deepEqual(Array.from(g.dataSync()), [3, 0, 0, 3, 0, 0, 0, 0]);
      tf.dispose([x, g]);
    });

    it('upsampling gradient is the block sum (known answer, batch 2)', () => {
      const x = tf.zeros([2, 1, 1, 2]);
      const dy = tf.tensor4d(
        Array.from({ length: 16 }, (_, i) => i),
        [2, 2, 2, 2],
      );
      const g = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [2, 2]), dy)),
      )(x);
      // Sums of dy over each image's 2×2 block, per channel.
      assert.deepEqual(Array.from(g.dataSync()), [12, 16, 44, 48]);
      tf.dispose([x, dy, g]);
    });
  });
}

describe('cases the fixes delegate to the stock gradient (cpu)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  const delegated: Case[] = [
    convCase('conv2d stride 2', [2, 5, 5, 2], [3, 3, 2, 2], 'same', 2),
    {
      name: 'maxPool 3×3 stride 1',
      shapes: [[2, 4, 4, 2]],
      values: [distinct(64, 41)],
      eps: 0.02,
      op: ([x]) => tf.maxPool(x as tf.Tensor4D, 3, 1, 'valid'),
    },
    {
      name: 'resizeNearestNeighbor alignCorners (batch 1)',
      shapes: [[1, 3, 3, 2]],
      values: [uniform(18, 43)],
      eps: 0.25,
      op: ([x]) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [5, 5], true),
    },
  ];
  for (const c of delegated) it(c.name, () => checkAgainstNumeric(c));

  it('wasm refuses strided filter gradients with a clear error', async () => {
    await tf.setBackend('wasm');
    assert.throws(() => checkAgainstNumeric(delegated[0]), /supports stride 1 NHWC only/);
    await tf.setBackend('cpu');
  });
});

describe('the stock gradients really are wrong (the checks can fail)', () => {
  it('stock cpu upsampling (batch 2) and stock wasm maxPool (2 channels) fail', async () => {
    restoreStockGradients();
    try {
      await tf.setBackend('cpu');
      const wrong = /analytic−numeric/;
      assert.throws(() => checkAgainstNumeric(caseNamed('resizeNearestNeighbor ×2')), wrong);
      await tf.setBackend('wasm');
      assert.throws(() => checkAgainstNumeric(caseNamed('maxPool 2×2/2 valid')), wrong);
      assert.throws(() => checkAgainstNumeric(FIXED_CASES[0]), /not registered/);
    } finally {
      registerGradientFixes();
    }
    assert.ok(gradientFixesRegistered());
  });
});

/** Analytic gradients of case c on `backend`. */
async function gradsOn(backend: string, c: Case): Promise<Float64Array[]> {
  await tf.setBackend(backend);
  return analyticGrads(lossOf(c), c.values, c.shapes);
}

describe('cpu and wasm gradients agree', () => {
  for (const c of FIXED_CASES) {
    it(c.name, async () => {
      const a = await gradsOn('cpu', c);
      const b = await gradsOn('wasm', c);
      a.forEach((g, i) => {
        const rel = maxAbsDiff(g, b[i]) / Math.max(maxAbs(g), 1e-12);
        assert.ok(rel < 1e-5, `${c.name} input ${i}: relative difference ${rel}`);
      });
    });
  }

  it('for every weight of the autoencoder (16×16×1, batch 4)', async () => {
    await tf.setBackend('cpu');
    const { autoencoder } = buildAutoencoder({ imageSize: 16, channels: 1, seed: 5 });
    const x = tf.tensor4d(uniform(4 * 16 * 16, 51, 0, 1), [4, 16, 16, 1]);
    const weightGrads = async (backend: string) => {
      await tf.setBackend(backend);
      const vars = autoencoder.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(
        () => tf.losses.meanSquaredError(x, autoencoder.apply(x) as tf.Tensor) as tf.Scalar,
        vars,
      );
      const out = vars.map((v) => Float64Array.from(grads[v.name].dataSync()));
      tf.dispose(Object.values(grads));
      return out;
    };
    const a = await weightGrads('cpu');
    const b = await weightGrads('wasm');
    assert.equal(a.length, 14);
    a.forEach((g, i) => {
      const rel = maxAbsDiff(g, b[i]) / Math.max(maxAbs(g), 1e-12);
      assert.ok(rel < 1e-4, `weight ${i}: relative difference ${rel}`);
    });
    x.dispose();
    autoencoder.dispose();
  });
});
