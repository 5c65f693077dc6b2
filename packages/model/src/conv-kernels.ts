/**
 * Conv2D backprop kernels for the JS backends. Both tfjs conv paths call these kernels
 * directly: the Conv2D gradient and the fused-conv2d gradient (which layers use for linear
 * and sigmoid convolutions and which never consults the gradient registry).
 *
 * Filter gradient, stride 1, NHWC: dW[i,j,ci,co] = Σ_{b,h,w} xpad[b,h+i,w+j,ci]·dy[b,h,w,co].
 * - wasm ships no such kernel; it gets an unfolding followed by matrix products over chunks
 *   of the batch (unfolded-filter-grad.ts): over the autoencoder's seven convs, about 2.2×
 *   (32×32×1) to 2.6× (152×152×3) faster than the conv form below.
 * - cpu's stock kernel is correct but about 10× slower than the conv form: a 'valid' forward
 *   conv of xpad viewed as [Cin,Hp,Wp,B] with dy viewed as a [Ho,Wo,B,Cout] filter, whose
 *   [Cin,kh,kw,Cout] result transposed is dW. wasm falls back to it for non-float32 tensors.
 *
 * Input gradient, stride 1, NHWC: dx = forward conv of dy, zero-padded by (k−1−pad) on each
 * side, with the filter flipped in space and its in/out channels swapped. wasm's stock kernel
 * is correct but about 5× slower than its forward conv, so wasm gets this one; cpu keeps its
 * own.
 */
import { KernelRunner } from './kernel-runner.js';
import { tf } from './tf.js';
import { isHeapBackend, unfoldedFilterGrad } from './unfolded-filter-grad.js';

/** Kernel name of the filter gradient in tfjs's kernel registry. */
export const CONV2D_BACKPROP_FILTER = 'Conv2DBackpropFilter';
/** Kernel name of the input gradient in tfjs's kernel registry. */
export const CONV2D_BACKPROP_INPUT = 'Conv2DBackpropInput';

/** Which backends get which replacement kernel (native TensorFlow keeps its own). */
export const CONV_KERNEL_TARGETS: ReadonlyArray<{ kernelName: string; backendName: string }> = [
  { kernelName: CONV2D_BACKPROP_FILTER, backendName: 'cpu' },
  { kernelName: CONV2D_BACKPROP_FILTER, backendName: 'wasm' },
  { kernelName: CONV2D_BACKPROP_INPUT, backendName: 'wasm' },
];

type Pad = 'same' | 'valid' | number | number[][];
type KernelArgs = Parameters<tf.KernelFunc>[0];
type MaybeKernel = (backendName: string, args: KernelArgs) => tf.TensorInfo | null;

/** Reads a scalar-or-pair attribute as [a, b]. */
function pair(v: unknown, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
}

/** [top, bottom, left, right] input padding of a stride-1 conv, or null if unsupported. */
export function stride1Padding(pad: Pad, kh: number, kw: number): number[] | null {
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') {
    const th = kh - 1;
    const tw = kw - 1;
    const top = Math.floor(th / 2);
    const left = Math.floor(tw / 2);
    return [top, th - top, left, tw - left];
  }
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (Array.isArray(pad) && pad.length === 4) return [pad[1][0], pad[1][1], pad[2][0], pad[2][1]];
  return null;
}

/** Padding when the replacement kernels cover the call (stride 1, NHWC), else null. */
function coveredPadding(attrs: tf.NamedAttrMap, filterShape: number[]): number[] | null {
  const [sh, sw] = pair(attrs.strides, 1);
  const format = attrs.dataFormat ?? 'NHWC';
  if (sh !== 1 || sw !== 1 || format !== 'NHWC') return null;
  return stride1Padding(attrs.pad as Pad, filterShape[0], filterShape[1]);
}

/** Filter gradient dW [kh,kw,Cin,Cout] from x [B,H,W,Cin] and dy [B,Ho,Wo,Cout] as a conv. */
function convFilterGrad(k: KernelRunner, x: tf.TensorInfo, dy: tf.TensorInfo, padding: number[]) {
  const xt = k.run('Transpose', { x: k.padSpatial(x, padding) }, { perm: [3, 1, 2, 0] });
  const dyt = k.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  return k.run('Transpose', { x: k.conv(xt, dyt) }, { perm: [1, 2, 0, 3] });
}

/** Input gradient dx [B,H,W,Cin] from dy [B,Ho,Wo,Cout] and filter [kh,kw,Cin,Cout]. */
function inputGrad(k: KernelRunner, dy: tf.TensorInfo, filter: tf.TensorInfo, padding: number[]) {
  const [kh, kw] = filter.shape;
  const [t, b, l, r] = padding;
  const back = [kh - 1 - t, kh - 1 - b, kw - 1 - l, kw - 1 - r];
  if (back.some((p) => p < 0)) return null;
  const flipped = k.run('Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = k.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  return k.conv(dy, swapped, back);
}

/** Filter gradient: unfolded on wasm (float32), the conv form elsewhere. */
function filterGrad(
  k: KernelRunner,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: number[],
  padding: number[],
): tf.TensorInfo {
  const float = x.dtype === 'float32' && dy.dtype === 'float32';
  if (k.backendName === 'wasm' && float && isHeapBackend(k.backend)) {
    return unfoldedFilterGrad(k, k.backend, x, dy, filterShape, padding);
  }
  return convFilterGrad(k, x, dy, padding);
}

/** Runs `body` with a KernelRunner, checks the result's shape, frees intermediates. */
function runChecked(
  backendName: string,
  args: KernelArgs,
  expected: number[],
  body: (k: KernelRunner) => tf.TensorInfo | null,
): tf.TensorInfo | null {
  const k = new KernelRunner(backendName, args.backend as tf.KernelBackend);
  try {
    const out = body(k);
    if (out != null && !tf.util.arraysEqual(out.shape, expected)) {
      throw new Error(`conv gradient shape ${out.shape} differs from ${expected}`);
    }
    k.dispose(out ?? undefined);
    return out;
  } catch (err) {
    k.dispose();
    throw err;
  }
}

/** Kernel function of the replacement for `kernelName`, or null for an unknown name. */
function kernelFuncFor(kernelName: string): MaybeKernel | null {
  if (kernelName === CONV2D_BACKPROP_FILTER) {
    return (backendName, args) => {
      const attrs = args.attrs ?? {};
      const fs = attrs.filterShape as number[];
      const padding = coveredPadding(attrs, fs);
      if (padding == null) return null;
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      return runChecked(backendName, args, fs, (k) => filterGrad(k, x, dy, fs, padding));
    };
  }
  if (kernelName === CONV2D_BACKPROP_INPUT) {
    return (backendName, args) => {
      const attrs = args.attrs ?? {};
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const padding = coveredPadding(attrs, filter.shape);
      if (padding == null) return null;
      const expected = attrs.inputShape as number[];
      return runChecked(backendName, args, expected, (k) => inputGrad(k, dy, filter, padding));
    };
  }
  return null;
}

/**
 * The replacement kernel `kernelName` for `backendName`; calls it does not cover (strides
 * other than 1, NCHW, oversized explicit padding) go to `stock`, or throw when there is none.
 */
export function makeConvKernel(
  kernelName: string,
  backendName: string,
  stock: tf.KernelConfig | null,
): tf.KernelConfig {
  const fast = kernelFuncFor(kernelName);
  if (fast == null) throw new Error(`no replacement kernel for ${kernelName}`);
  const config: tf.KernelConfig = {
    kernelName,
    backendName,
    kernelFunc: (args) => {
      const out = fast(backendName, args);
      if (out != null) return out;
      if (stock != null) return stock.kernelFunc(args);
      throw new Error(`${kernelName} on ${backendName} supports stride 1 NHWC only`);
    },
  };
  // The stock kernel's setup (e.g. wasm function bindings) must still run at backend start.
  if (stock?.setupFunc) config.setupFunc = stock.setupFunc;
  if (stock?.disposeFunc) config.disposeFunc = stock.disposeFunc;
  return config;
}
