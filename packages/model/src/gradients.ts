/**
 * Corrected gradients for the autoencoder's ops on the JS backends (wasm, cpu).
 *
 * TensorFlow.js 4.22's stock gradients are missing or wrong there: wasm has no
 * Conv2DBackpropFilter kernel and its MaxPoolGrad is wrong with more than one channel; cpu
 * ResizeNearestNeighborGrad is wrong for batch > 1 and cpu Conv2DBackpropFilter is very slow.
 * These overrides replace the gradient configs of Conv2D, MaxPool and ResizeNearestNeighbor
 * with formulations built from forward ops the backends get right, and delegate to the stock
 * gradient for every case they do not cover and whenever the native backend is active.
 *
 * Known limit: a Conv2D layer with 'linear' activation takes tfjs's fused-conv path, whose
 * gradient calls Conv2DBackpropFilter directly; on wasm such a layer cannot be trained. The
 * imgcluster autoencoder uses relu and sigmoid convolutions only.
 */
import { tf } from './tf.js';

type GradMap = Record<string, () => tf.Tensor>;
type Pad = 'same' | 'valid' | number | number[][];

/** Backends whose stock gradients are used unchanged. */
const NATIVE_BACKENDS = new Set(['tensorflow']);

/** Kernel names whose gradient configs registerGradientFixes() replaces. */
export const FIXED_KERNELS = ['Conv2D', 'MaxPool', 'ResizeNearestNeighbor'] as const;

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

/** Whether a scalar-or-pair attribute is [1, 1]. */
function isOnes(v: unknown): boolean {
  const [a, b] = pair(v, 1);
  return a === 1 && b === 1;
}

/** [top, bottom, left, right] input padding of a stride-1 conv, or null if unsupported. */
export function stride1Padding(pad: Pad, kh: number, kw: number): number[] | null {
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') {
    const th = kh - 1;
    const tw = kw - 1;
    return [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (Array.isArray(pad) && pad.length === 4) {
    return [pad[1][0], pad[1][1], pad[2][0], pad[2][1]];
  }
  return null;
}

/**
 * Filter gradient of a stride-1, dilation-1 NHWC conv2d as one forward conv:
 * dW[i,j,ci,co] = Σ_{b,h,w} xpad[b,h+i,w+j,ci]·dy[b,h,w,co], i.e. a 'valid' conv of xpad
 * viewed as [Cin,Hp,Wp,B] with dy viewed as a [Ho,Wo,B,Cout] filter.
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  padding: number[],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [t, b, l, r] = padding;
    const xp = t + b + l + r > 0 ? tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]) : x;
    const xt = tf.transpose(xp, [3, 1, 2, 0]);
    const dyt = tf.transpose(dy, [1, 2, 0, 3]);
    const out = tf.conv2d(xt as tf.Tensor4D, dyt as tf.Tensor4D, 1, 'valid');
    const dw = tf.transpose(out, [1, 2, 0, 3]);
    if (!tf.util.arraysEqual(dw.shape, filterShape)) {
      throw new Error(`filter gradient shape ${dw.shape} differs from ${filterShape}`);
    }
    return dw as tf.Tensor4D;
  });
}

/**
 * Input gradient of a 2×2, stride-2 max pool over even H and W: the whole upstream gradient
 * goes to the first maximum of each window in row-major order (TensorFlow's semantics).
 */
export function maxPool2x2Grad(x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D {
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
 * halfPixelCenters false): each input pixel receives the sum of its output block.
 */
export function upsampleNearestGrad(images: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = images.shape;
    const [, oh, ow] = dy.shape;
    const s = oh / h;
    const t = ow / w;
    const rows = tf.sum(tf.reshape(dy, [b * h, s, ow * c]), 1);
    const cols = tf.sum(tf.reshape(rows, [b * h * w, t, c]), 1);
    return tf.reshape(cols, [b, h, w, c]);
  });
}

/** Conv2D gradient: stock input gradient, filter gradient via conv2dFilterGrad when covered. */
function fixConv2D(orig: tf.GradConfig): tf.GradConfig {
  return {
    ...orig,
    gradFunc: (dy, saved, attrs) => {
      const base = orig.gradFunc(dy, saved, attrs) as GradMap;
      if (!gradientFixesApply(tf.getBackend())) return base;
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const fs = filter.shape as [number, number, number, number];
      const padding = stride1Padding(attrs.pad as Pad, fs[0], fs[1]);
      const covered =
        padding != null &&
        isOnes(attrs.strides) &&
        isOnes(attrs.dilations) &&
        (attrs.dataFormat ?? 'NHWC') === 'NHWC';
      if (!covered) return base;
      return { ...base, filter: () => conv2dFilterGrad(x, dy as tf.Tensor4D, fs, padding) };
    },
  };
}

/** Whether a MaxPool call is the 2×2 stride-2 even-size case maxPool2x2Grad handles. */
function isMaxPool2x2(x: tf.Tensor4D, attrs: tf.NamedAttrMap): boolean {
  const [fh, fw] = pair(attrs.filterSize, 1);
  const [sh, sw] = pair(attrs.strides, 1);
  const pad = attrs.pad;
  const noPad = pad === 'valid' || pad === 'same' || pad === 0;
  return (
    x.rank === 4 && fh === 2 && fw === 2 && sh === 2 && sw === 2 && noPad &&
    x.shape[1] % 2 === 0 && x.shape[2] % 2 === 0
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

const FIXERS: Record<(typeof FIXED_KERNELS)[number], (orig: tf.GradConfig) => tf.GradConfig> = {
  Conv2D: fixConv2D,
  MaxPool: fixMaxPool,
  ResizeNearestNeighbor: fixResizeNearest,
};

const ours = new WeakSet<tf.GradConfig>();
const stock = new Map<string, tf.GradConfig>();

/**
 * Replaces the Conv2D, MaxPool and ResizeNearestNeighbor gradient configs with the corrected
 * ones (idempotent; the stock configs are kept and delegated to).
 */
export function registerGradientFixes(): void {
  for (const name of FIXED_KERNELS) {
    const current = tf.getGradient(name);
    if (current == null) throw new Error(`tfjs has no gradient registered for ${name}`);
    if (ours.has(current)) continue;
    stock.set(name, current);
    const fixed = FIXERS[name](current);
    ours.add(fixed);
    tf.registerGradient(fixed);
  }
}

/** Puts tfjs's stock gradient configs back (used to compare against them); idempotent. */
export function restoreStockGradients(): void {
  for (const [name, cfg] of stock) tf.registerGradient(cfg);
  stock.clear();
}

/** Whether the corrected gradient configs are currently registered. */
export function gradientFixesRegistered(): boolean {
  return FIXED_KERNELS.every((name) => {
    const g = tf.getGradient(name);
    return g != null && ours.has(g);
  });
}
