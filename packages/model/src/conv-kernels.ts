/**
 * A Conv2DBackpropFilter kernel for the JS backends built from each backend's own fast kernels
 * (PadV2, Transpose, Conv2D). wasm ships no such kernel and cpu's is correct but slow.
 *
 * For stride 1, NHWC: dW[i,j,ci,co] = Σ_{b,h,w} xpad[b,h+i,w+j,ci]·dy[b,h,w,co], which is a
 * 'valid' forward conv of xpad viewed as [Cin,Hp,Wp,B] with dy viewed as a [Ho,Wo,B,Cout]
 * filter; its [Cin,kh,kw,Cout] result transposed is the [kh,kw,Cin,Cout] filter gradient.
 * This kernel serves both conv paths of tfjs: the Conv2D gradient and the fused conv2d
 * gradient (which layers use for linear and sigmoid convolutions) call it directly.
 */
import { tf } from './tf.js';

/** Backends that get this kernel (native TensorFlow keeps its own). */
export const FILTER_KERNEL_BACKENDS = ['cpu', 'wasm'] as const;

/** Kernel name in tfjs's kernel registry. */
export const CONV2D_BACKPROP_FILTER = 'Conv2DBackpropFilter';

type Pad = 'same' | 'valid' | number | number[][];

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

/** Padding when this kernel covers the call (stride 1, NHWC), else null. */
function coveredPadding(attrs: tf.NamedAttrMap): number[] | null {
  const [sh, sw] = pair(attrs.strides, 1);
  const format = attrs.dataFormat ?? 'NHWC';
  if (sh !== 1 || sw !== 1 || format !== 'NHWC') return null;
  const fs = attrs.filterShape as number[];
  return stride1Padding(attrs.pad as Pad, fs[0], fs[1]);
}

/** Runs backend kernel `name` of `backendName` directly on tensor infos. */
function runKernel(
  backendName: string,
  backend: tf.KernelBackend,
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const kernel = tf.getKernel(name, backendName);
  if (kernel == null) throw new Error(`kernel ${name} is not registered for ${backendName}`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** dW from x [B,H,W,Cin] and dy [B,Ho,Wo,Cout] with the given stride-1 padding. */
function filterGradInfo(
  backendName: string,
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  padding: number[],
): tf.TensorInfo {
  const run = (name: string, ins: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap) =>
    runKernel(backendName, backend, name, ins, attrs);
  const temps: tf.TensorInfo[] = [];
  try {
    const [t, b, l, r] = padding;
    let xp = x;
    if (t + b + l + r > 0) {
      const paddings = [[0, 0], [t, b], [l, r], [0, 0]];
      xp = run('PadV2', { x }, { paddings, constantValue: 0 });
      temps.push(xp);
    }
    const xt = run('Transpose', { x: xp }, { perm: [3, 1, 2, 0] });
    temps.push(xt);
    const dyt = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
    temps.push(dyt);
    const convAttrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] };
    const out = run('Conv2D', { x: xt, filter: dyt }, convAttrs);
    temps.push(out);
    return run('Transpose', { x: out }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const info of temps) backend.disposeData(info.dataId);
  }
}

/** The replacement kernel for one backend; `stock` handles calls it does not cover. */
export function makeFilterKernel(backendName: string, stock: tf.KernelConfig | null) {
  const config: tf.KernelConfig = {
    kernelName: CONV2D_BACKPROP_FILTER,
    backendName,
    kernelFunc: (args) => {
      const attrs = args.attrs ?? {};
      const padding = coveredPadding(attrs);
      if (padding == null) {
        if (stock != null) return stock.kernelFunc(args);
        throw new Error(`${CONV2D_BACKPROP_FILTER} on ${backendName} supports stride 1 NHWC only`);
      }
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const dw = filterGradInfo(backendName, args.backend as tf.KernelBackend, x, dy, padding);
      const expected = attrs.filterShape as number[];
      if (!tf.util.arraysEqual(dw.shape, expected)) {
        (args.backend as tf.KernelBackend).disposeData(dw.dataId);
        throw new Error(`filter gradient shape ${dw.shape} differs from ${expected}`);
      }
      return dw;
    },
  };
  return config;
}
