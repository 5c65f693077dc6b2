import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  buildAutoencoder,
  initBackend,
  maxPool2x2Grad,
  registerGradientFixes,
  restoreStockGradients,
  tf,
  trainStep,
} from '../src/index.js';
import { KernelRunner } from '../src/kernel-runner.js';
import { MAX_POOL_2X2_GRAD } from '../src/pool-grad-kernel.js';
import { isHeapBackend, unfoldedFilterGrad } from '../src/unfolded-filter-grad.js';
import { maxAbs, maxAbsDiff, rng, size, uniform } from './helpers.js';

type Pad = 'same' | 'valid' | number[][];

/** One filter-gradient call: x [B,H,W,Cin], filter [kh,kw,Cin,Cout], padding. */
interface FilterCase {
  name: string;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  pad: Pad;
}

/** Output [B,Ho,Wo,Cout] of a stride-1 conv of the case. */
function dyShape(c: FilterCase): number[] {
  const [b, h, w] = c.xShape;
  const [kh, kw, , cout] = c.filterShape;
  if (c.pad === 'same') return [b, h, w, cout];
  if (c.pad === 'valid') return [b, h - kh + 1, w - kw + 1, cout];
  const [, [t, bo], [l, r]] = c.pad;
  return [b, h + t + bo - kh + 1, w + l + r - kw + 1, cout];
}

const conv3 = (cin: number, cout: number): FilterCase['filterShape'] => [3, 3, cin, cout];

/** The autoencoder's conv shapes (grey and RGB); the 32×32 ones at batch 8 span two chunks. */
const MODEL_CASES: FilterCase[] = [
  {
    name: 'enc_conv1 32×32×1 → 16',
    xShape: [8, 32, 32, 1],
    filterShape: conv3(1, 16),
    pad: 'same',
  },
  {
    name: 'enc_conv2 16×16×16 → 8',
    xShape: [4, 16, 16, 16],
    filterShape: conv3(16, 8),
    pad: 'same',
  },
  { name: 'enc_conv3 8×8×8 → 8', xShape: [4, 8, 8, 8], filterShape: conv3(8, 8), pad: 'same' },
  { name: 'dec_conv1 4×4×8 → 8', xShape: [4, 4, 4, 8], filterShape: conv3(8, 8), pad: 'same' },
  {
    name: 'dec_conv3 16×16×8 → 16',
    xShape: [4, 16, 16, 8],
    filterShape: conv3(8, 16),
    pad: 'same',
  },
  { name: 'dec_out 32×32×16 → 1', xShape: [8, 32, 32, 16], filterShape: conv3(16, 1), pad: 'same' },
  {
    name: 'enc_conv1 24×24×3 → 16',
    xShape: [3, 24, 24, 3],
    filterShape: conv3(3, 16),
    pad: 'same',
  },
  { name: 'dec_out 24×24×16 → 3', xShape: [3, 24, 24, 16], filterShape: conv3(16, 3), pad: 'same' },
];

/** Other stride-1 geometries the kernel covers. */
const OTHER_CASES: FilterCase[] = [
  { name: '3×2 valid', xShape: [2, 7, 6, 3], filterShape: [3, 2, 3, 4], pad: 'valid' },
  { name: '5×5 same', xShape: [2, 9, 9, 2], filterShape: [5, 5, 2, 3], pad: 'same' },
  { name: '2×2 same (asymmetric)', xShape: [3, 6, 5, 2], filterShape: [2, 2, 2, 2], pad: 'same' },
  { name: '1×1', xShape: [2, 5, 5, 4], filterShape: [1, 1, 4, 3], pad: 'valid' },
  {
    name: '3×3 explicit [3,2]×[1,3], Cin > Cout',
    xShape: [2, 5, 4, 4],
    filterShape: [3, 3, 4, 2],
    pad: [
      [0, 0],
      [3, 2],
      [1, 3],
      [0, 0],
    ],
  },
  {
    name: '3×3 explicit [3,2]×[1,3], Cin < Cout',
    xShape: [2, 5, 4, 2],
    filterShape: [3, 3, 2, 4],
    pad: [
      [0, 0],
      [3, 2],
      [1, 3],
      [0, 0],
    ],
  },
  {
    name: '3×3 explicit [2,0]×[0,1]',
    xShape: [2, 6, 7, 3],
    filterShape: [3, 3, 3, 5],
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  },
];

const ALL_CASES = [...MODEL_CASES, ...OTHER_CASES];

function caseInputs(c: FilterCase, seed: number): { x: Float32Array; dy: Float32Array } {
  return { x: uniform(size(c.xShape), seed), dy: uniform(size(dyShape(c)), seed + 1) };
}

/** Conv2DBackpropFilter of the case on the active backend, as float64. */
function filterGradOnActive(c: FilterCase, x: Float32Array, dy: Float32Array): Float64Array {
  const xt = tf.tensor(x, c.xShape, 'float32');
  const dyt = tf.tensor(dy, dyShape(c), 'float32');
  const attrs = { strides: [1, 1], pad: c.pad, dataFormat: 'NHWC', filterShape: c.filterShape };
  const g = tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, attrs) as tf.Tensor;
  assert.deepEqual(g.shape, c.filterShape);
  const out = Float64Array.from(g.dataSync());
  tf.dispose([xt, dyt, g]);
  return out;
}

function relativeDiff(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  return maxAbsDiff(a, ref) / Math.max(maxAbs(ref), 1e-12);
}

/** Stock cpu Conv2DBackpropFilter (correct, slow) of every case. */
const reference = new Map<string, Float64Array>();

before(async () => {
  await initBackend('wasm', { strict: true });
  restoreStockGradients();
  try {
    await tf.setBackend('cpu');
    ALL_CASES.forEach((c, i) => {
      const { x, dy } = caseInputs(c, 100 + 2 * i);
      reference.set(c.name, filterGradOnActive(c, x, dy));
    });
  } finally {
    registerGradientFixes();
    await tf.setBackend('wasm');
  }
});

describe('wasm Conv2DBackpropFilter (unfolded) matches the stock cpu kernel', () => {
  ALL_CASES.forEach((c, i) => {
    it(c.name, () => {
      assert.equal(tf.getBackend(), 'wasm');
      const { x, dy } = caseInputs(c, 100 + 2 * i);
      const rel = relativeDiff(filterGradOnActive(c, x, dy), reference.get(c.name)!);
      assert.ok(rel < 1e-4, `${c.name}: relative difference ${rel}`);
    });
  });

  it('gives the same sums for any chunk size', () => {
    const c = MODEL_CASES[5];
    const { x, dy } = caseInputs(c, 100 + 2 * 5);
    const xt = tf.tensor(x, c.xShape, 'float32');
    const dyt = tf.tensor(dy, dyShape(c), 'float32');
    const backend = tf.backend();
    assert.ok(isHeapBackend(backend));
    for (const chunk of [97, 1000, 4096, 1 << 20]) {
      const k = new KernelRunner('wasm', backend);
      const out = unfoldedFilterGrad(k, backend, xt, dyt, c.filterShape, [1, 1, 1, 1], chunk);
      k.dispose(out);
      const g = tf.engine().makeTensorFromTensorInfo(out);
      const rel = relativeDiff(g.dataSync(), reference.get(c.name)!);
      g.dispose();
      assert.ok(rel < 1e-4, `chunks of ${chunk} cells: relative difference ${rel}`);
    }
    tf.dispose([xt, dyt]);
  });

  it('frees every intermediate', () => {
    const c = MODEL_CASES[0];
    const { x, dy } = caseInputs(c, 7);
    filterGradOnActive(c, x, dy);
    const start = tf.memory();
    filterGradOnActive(c, x, dy);
    const end = tf.memory();
    assert.equal(end.numTensors, start.numTensors);
    assert.equal(end.numDataBuffers, start.numDataBuffers);
  });
});

describe('wasm max-pool gradient kernel', () => {
  /** Values on a coarse grid, so that windows often hold tied maxima. */
  function coarse(n: number, seed: number): Float32Array {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => Math.floor(r() * 4) - 1);
  }

  it('is registered for wasm only', () => {
    assert.ok(tf.getKernel(MAX_POOL_2X2_GRAD, 'wasm') != null);
    assert.equal(tf.getKernel(MAX_POOL_2X2_GRAD, 'cpu'), undefined);
  });

  for (const shape of [
    [2, 8, 6, 3],
    [3, 4, 4, 1],
    [1, 16, 16, 16],
  ]) {
    it(`equals the tensor-op formulation on cpu, ties included (${shape})`, async () => {
      const n = size(shape);
      const xs = coarse(n, n);
      const dys = uniform(n / 4, n + 1);
      const dyShape4 = [shape[0], shape[1] / 2, shape[2] / 2, shape[3]];
      const gradOn = async (backend: string) => {
        await tf.setBackend(backend);
        const x = tf.tensor4d(xs, shape as [number, number, number, number]);
        const dy = tf.tensor4d(dys, dyShape4 as [number, number, number, number]);
        const g = maxPool2x2Grad(x, dy);
        // The mask product of the tensor-op form leaves −0 where dy < 0; +0 is the same value.
        const out = Array.from(g.dataSync(), (v) => v + 0);
        tf.dispose([x, dy, g]);
        return out;
      };
      const cpu = await gradOn('cpu');
      const wasm = await gradOn('wasm');
      assert.deepEqual(wasm, cpu);
    });
  }
});

describe('wasm FusedConv2D with one output channel', () => {
  const cases = [
    { name: 'grey output layer, sigmoid', x: [4, 16, 16, 16], cout: 1, activation: 'sigmoid' },
    { name: 'relu, valid', x: [2, 9, 7, 5], cout: 1, activation: 'relu', pad: 'valid' },
    { name: 'linear, no bias', x: [2, 8, 8, 3], cout: 1, activation: 'linear', bias: false },
    { name: 'three channels (stock kernel)', x: [2, 8, 8, 16], cout: 3, activation: 'sigmoid' },
  ] as const;
  for (const c of cases) {
    it(`matches the cpu kernel: ${c.name}`, async () => {
      const xs = uniform(size([...c.x]), 71);
      const fs = uniform(9 * c.x[3] * c.cout, 72);
      const bs = uniform(c.cout, 73);
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const x = tf.tensor4d(xs, [...c.x] as [number, number, number, number]);
        const filter = tf.tensor4d(fs, [3, 3, c.x[3], c.cout]);
        const bias = 'bias' in c ? undefined : tf.tensor1d(bs);
        const pad = 'pad' in c ? c.pad : 'same';
        const y = tf.fused.conv2d({ x, filter, bias, strides: 1, pad, activation: c.activation });
        const out = Float64Array.from(y.dataSync());
        tf.dispose([x, filter, y, ...(bias ? [bias] : [])]);
        return out;
      };
      const cpu = await run('cpu');
      const wasm = await run('wasm');
      const rel = relativeDiff(wasm, cpu);
      assert.ok(rel < 1e-5, `relative difference ${rel}`);
    });
  }
});

describe('wasm Identity and Cast share buffers', () => {
  it('a clone outlives its source and keeps its values', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor1d([1.5, -2, 3]);
    const before = tf.memory().numDataBuffers;
    const b = tf.clone(a);
    const c = tf.cast(a, 'float32');
    assert.equal(tf.memory().numDataBuffers, before, 'no new buffers');
    a.dispose();
    assert.deepEqual(Array.from(b.dataSync()), [1.5, -2, 3]);
    assert.deepEqual(Array.from(c.dataSync()), [1.5, -2, 3]);
    b.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1.5, -2, 3]);
    c.dispose();
    assert.equal(tf.memory().numDataBuffers, before - 1);
  });

  it('casts that change the dtype still convert', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor1d([1.7, -2.2, 3]);
    const i = tf.cast(a, 'int32');
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(Array.from(i.dataSync()), [1, -2, 3]);
    tf.dispose([a, i]);
  });
});

describe('training on wasm', () => {
  after(async () => {
    await tf.setBackend('wasm');
  });

  it('leaves no tensors or wasm buffers behind after a step', async () => {
    await tf.setBackend('wasm');
    const { autoencoder } = buildAutoencoder({ imageSize: 32, channels: 1, seed: 3 });
    const x = tf.tensor4d(uniform(8 * 32 * 32, 61, 0, 1), [8, 32, 32, 1]);
    await trainStep(autoencoder, x);
    const start = tf.memory();
    await trainStep(autoencoder, x);
    await trainStep(autoencoder, x);
    const end = tf.memory();
    assert.equal(end.numTensors, start.numTensors);
    assert.equal(end.numDataBuffers, start.numDataBuffers);
    x.dispose();
    autoencoder.dispose();
  });
});
