/**
 * Corrected gradients for the autoencoder's ops on the JS backends (wasm, cpu).
 *
 * TensorFlow.js 4.22's stock gradients are missing or wrong there: wasm has no
 * Conv2DBackpropFilter kernel and its MaxPoolGrad is wrong with more than one channel; cpu
 * ResizeNearestNeighborGrad is wrong for batch > 1 and cpu Conv2DBackpropFilter is very slow.
 *
 * - MaxPool and ResizeNearestNeighbor: their gradient configs are replaced (gradient
 *   registry) by formulations built from forward ops the backends get right; uncovered cases
 *   and the native backend delegate to the stock config.
 * - Conv2D: its gradients are the Conv2DBackpropFilter/Input kernels, which both tfjs conv
 *   paths call directly (the fused-conv gradient that layers use for linear and sigmoid convs
 *   never consults the gradient registry), so they are replaced in the kernel registry for
 *   cpu and wasm instead (see conv-kernels.ts). Native TensorFlow keeps its own kernels.
 * - Speed on wasm: the 2×2 max-pool gradient runs as one kernel (pool-grad-kernel.ts),
 *   Identity and same-dtype Cast share buffers instead of copying them
 *   (shared-data-kernels.ts), and one-output-channel fused convs run as depthwise convs
 *   (single-channel-conv-kernel.ts), and matrix products with a transposed operand transpose it
 *   first (transposed-matmul-kernel.ts).
 */
import { CONV_KERNEL_TARGETS, makeConvKernel } from './conv-kernels.js';
import {
  MAX_POOL_2X2_GRAD,
  MAX_POOL_2X2_GRAD_BACKEND,
  maxPool2x2GradKernel,
} from './pool-grad-kernel.js';
import {
  SINGLE_CHANNEL_CONV_KERNEL,
  makeSingleChannelConvKernel,
} from './single-channel-conv-kernel.js';
import {
  SHARED_DATA_BACKEND,
  SHARED_DATA_KERNELS,
  makeSharedDataKernel,
} from './shared-data-kernels.js';
import {
  TRANSPOSED_MATMUL_KERNEL,
  makeTransposedMatMulKernel,
} from './transposed-matmul-kernel.js';
import { tf } from './tf.js';

/** Backends whose stock gradients are used unchanged. */
const NATIVE_BACKENDS = new Set(['tensorflow']);

/** Kernel names whose gradient configs registerGradientFixes() replaces. */
export const FIXED_GRADIENTS = ['MaxPool', 'ResizeNearestNeighbor'] as const;

/** Whether the corrected gradients apply on backend `name` (false for native TensorFlow). */
export function gradientFixesApply(name: string): boolean {
  return !NATIVE_BACKENDS.has(name);
}

/** Reads a scalar-or-pair attribute as [a, b]. */
function pair(v: unknown, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
}

/**
 * Input gradient of a 2×2, stride-2 max pool over even H and W: the whole upstream gradient
 * goes to the first maximum of each window in row-major order (TensorFlow's semantics). On
 * wasm a single-pass kernel (pool-grad-kernel.ts) computes it; elsewhere tensor ops do.
 */
export function maxPool2x2Grad(x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D {
  const kernelReady = tf.getKernel(MAX_POOL_2X2_GRAD, tf.getBackend()) != null;
  if (kernelReady && x.dtype === 'float32' && dy.dtype === 'float32') {
    return tf.engine().runKernel(MAX_POOL_2X2_GRAD, { x, dy }, {}) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const ho = h / 2;
    const wo = w / 2;
    const cells = b * ho * wo * c;
    const windows = tf.transpose(tf.reshape(x, [b * ho, 2, wo, 2, c]), [0, 2, 4, 1, 3]);
    const first = tf.argMax(tf.reshape(windows, [cells, 4]), 1);
    // wasm's OneHot writes integer bits when asked for float32 output: cast instead.
    const mask = tf.cast(tf.oneHot(first, 4), 'float32');
    const routed = tf.mul(mask, tf.reshape(tf.cast(dy, 'float32'), [cells, 1]));
    const back = tf.transpose(tf.reshape(routed, [b * ho, wo, c, 2, 2]), [0, 3, 1, 4, 2]);
    return tf.reshape(back, [b, h, w, c]);
  });
}

/**
 * Input gradient of nearest-neighbour upsampling by integer factors (alignCorners and
 * halfPixelCenters false): each input pixel receives the sum of its output block, taken as
 * an s×t average pool times s·t (one pooling kernel instead of sums over inner axes, which
 * wasm runs as transposes plus reductions).
 */
export function upsampleNearestGrad(images: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = images.shape;
    const [, oh, ow] = dy.shape;
    const s = oh / h;
    const t = ow / w;
    if (s * t === 1) return tf.clone(dy);
    return tf.mul(tf.avgPool(dy, [s, t], [s, t], 'valid'), s * t);
  });
}

/** Whether a MaxPool call is the 2×2 stride-2 even-size case maxPool2x2Grad handles. */
function isMaxPool2x2(x: tf.Tensor4D, attrs: tf.NamedAttrMap): boolean {
  const [fh, fw] = pair(attrs.filterSize, 1);
  const [sh, sw] = pair(attrs.strides, 1);
  const pad = attrs.pad;
  const noPad = pad === 'valid' || pad === 'same' || pad === 0;
  return (
    x.rank === 4 &&
    fh === 2 &&
    fw === 2 &&
    sh === 2 &&
    sw === 2 &&
    noPad &&
    x.shape[1] % 2 === 0 &&
    x.shape[2] % 2 === 0
  );
}

/** MaxPool gradient: exact first-argmax routing for 2×2 stride-2 windows. */
function fixMaxPool(orig: tf.GradConfig): tf.GradConfig {
  return {
    ...orig,
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0] as tf.Tensor4D;
      if (!gradientFixesApply(tf.getBackend()) || !isMaxPool2x2(x, attrs)) {
        return orig.gradFunc(dy, saved, attrs);
      }
      return { x: () => maxPool2x2Grad(x, dy as tf.Tensor4D) };
    },
  };
}

/** Whether a ResizeNearestNeighbor call is plain integer-factor upsampling. */
function isIntegerUpsample(images: tf.Tensor4D, dy: tf.Tensor4D, attrs: tf.NamedAttrMap): boolean {
  if (attrs.alignCorners === true || attrs.halfPixelCenters === true) return false;
  if (images.rank !== 4 || dy.rank !== 4) return false;
  return dy.shape[1] % images.shape[1] === 0 && dy.shape[2] % images.shape[2] === 0;
}

/** ResizeNearestNeighbor gradient: block sums for integer-factor upsampling. */
function fixResizeNearest(orig: tf.GradConfig): tf.GradConfig {
  return {
    ...orig,
    gradFunc: (dy, saved, attrs) => {
      const images = saved[0] as tf.Tensor4D;
      const g = dy as tf.Tensor4D;
      if (!gradientFixesApply(tf.getBackend()) || !isIntegerUpsample(images, g, attrs)) {
        return orig.gradFunc(dy, saved, attrs);
      }
      return { images: () => upsampleNearestGrad(images, g) };
    },
  };
}

type Fixer = (orig: tf.GradConfig) => tf.GradConfig;
const FIXERS: Record<(typeof FIXED_GRADIENTS)[number], Fixer> = {
  MaxPool: fixMaxPool,
  ResizeNearestNeighbor: fixResizeNearest,
};

const oursGrad = new WeakSet<tf.GradConfig>();
const oursKernel = new WeakSet<tf.KernelConfig>();
const stockGrads = new Map<string, tf.GradConfig>();

/** A replaced kernel and the stock config it replaced (null when there was none). */
interface StockKernel {
  kernelName: string;
  backendName: string;
  stock: tf.KernelConfig | null;
}
const stockKernels = new Map<string, StockKernel>();

/** Replaces the MaxPool and ResizeNearestNeighbor gradient configs (idempotent). */
function registerGradientConfigs(): void {
  for (const name of FIXED_GRADIENTS) {
    const current = tf.getGradient(name);
    if (current == null) throw new Error(`tfjs has no gradient registered for ${name}`);
    if (oursGrad.has(current)) continue;
    stockGrads.set(name, current);
    const fixed = FIXERS[name](current);
    oursGrad.add(fixed);
    tf.registerGradient(fixed);
  }
}

/** A kernel that registerGradientFixes() replaces, and how to build the replacement. */
interface KernelReplacement {
  kernelName: string;
  backendName: string;
  make: (stock: tf.KernelConfig | null) => tf.KernelConfig | null;
}

/** The conv backprop kernels of CONV_KERNEL_TARGETS and the wasm speed-ups. */
const KERNEL_REPLACEMENTS: KernelReplacement[] = [
  ...CONV_KERNEL_TARGETS.map(({ kernelName, backendName }) => ({
    kernelName,
    backendName,
    make: (stock: tf.KernelConfig | null) => makeConvKernel(kernelName, backendName, stock),
  })),
  ...SHARED_DATA_KERNELS.map((kernelName) => ({
    kernelName,
    backendName: SHARED_DATA_BACKEND,
    make: (stock: tf.KernelConfig | null) =>
      stock == null ? null : makeSharedDataKernel(kernelName, stock),
  })),
  {
    ...SINGLE_CHANNEL_CONV_KERNEL,
    make: (stock: tf.KernelConfig | null) =>
      stock == null ? null : makeSingleChannelConvKernel(stock),
  },
  {
    ...TRANSPOSED_MATMUL_KERNEL,
    make: (stock: tf.KernelConfig | null) =>
      stock == null ? null : makeTransposedMatMulKernel(stock),
  },
];

/** Installs KERNEL_REPLACEMENTS (idempotent). */
function registerKernelReplacements(): void {
  for (const { kernelName, backendName, make } of KERNEL_REPLACEMENTS) {
    const current = tf.getKernel(kernelName, backendName) ?? null;
    if (current != null && oursKernel.has(current)) continue;
    const fixed = make(current);
    if (fixed == null) continue;
    stockKernels.set(`${kernelName}/${backendName}`, { kernelName, backendName, stock: current });
    if (current != null) tf.unregisterKernel(kernelName, backendName);
    oursKernel.add(fixed);
    tf.registerKernel(fixed);
  }
}

/** Adds the wasm max-pool gradient kernel that maxPool2x2Grad uses (idempotent). */
function registerPoolKernel(): void {
  if (tf.getKernel(MAX_POOL_2X2_GRAD, MAX_POOL_2X2_GRAD_BACKEND) != null) return;
  tf.registerKernel(maxPool2x2GradKernel());
}

/**
 * Installs imgcluster's corrected gradients: MaxPool and ResizeNearestNeighbor gradient
 * configs, the cpu/wasm Conv2DBackpropFilter kernels, the wasm Conv2DBackpropInput kernel and
 * the wasm max-pool gradient kernel; and the wasm speed-ups (Identity/Cast that share
 * buffers, one-output-channel FusedConv2D). Idempotent.
 */
export function registerGradientFixes(): void {
  registerGradientConfigs();
  registerKernelReplacements();
  registerPoolKernel();
}

/** Puts tfjs's stock gradients and kernels back (to compare against them); idempotent. */
export function restoreStockGradients(): void {
  for (const cfg of stockGrads.values()) tf.registerGradient(cfg);
  stockGrads.clear();
  for (const { kernelName, backendName, stock } of stockKernels.values()) {
    tf.unregisterKernel(kernelName, backendName);
    if (stock != null) tf.registerKernel(stock);
  }
  stockKernels.clear();
}

/** Whether the corrected gradient configs and kernels are currently registered. */
export function gradientFixesRegistered(): boolean {
  const grads = FIXED_GRADIENTS.every((name) => {
    const g = tf.getGradient(name);
    return g != null && oursGrad.has(g);
  });
  const kernels = KERNEL_REPLACEMENTS.every(({ kernelName, backendName }) => {
    const k = tf.getKernel(kernelName, backendName);
    return k != null && oursKernel.has(k);
  });
  return grads && kernels;
}
