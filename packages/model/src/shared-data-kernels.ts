/**
 * Identity and same-dtype Cast for the wasm backend that share the input's buffer (one more
 * reference to it) instead of copying it, as the cpu backend's Identity does. tfjs tensors are
 * immutable, so sharing is safe; the stock wasm kernels copy, and training calls them for
 * every tensor the tape saves for backprop (the engine clones saved tensors) and for tfjs's
 * own casts of float32 gradients to float32: about 50 full-size copies per step of the
 * autoencoder, ~5% of a step at 152×152×3.
 */
import { tf } from './tf.js';

/** Kernels this module replaces on wasm. */
export const SHARED_DATA_KERNELS = ['Identity', 'Cast'] as const;

/** Backend that gets them. */
export const SHARED_DATA_BACKEND = 'wasm';

/** The refcount hook of the wasm backend. */
interface RefCounted {
  incRef(dataId: object): void;
}

/** A new reference to `x`'s buffer, or null when `backend` cannot count references. */
function shareData(x: tf.TensorInfo, backend: unknown): tf.TensorInfo | null {
  const b = backend as Partial<RefCounted> | null;
  if (x.dtype === 'string' || typeof b?.incRef !== 'function') return null;
  b.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/**
 * The replacement for `kernelName` ('Identity' or 'Cast'); calls it does not cover (strings,
 * casts that change the dtype) go to `stock`.
 */
export function makeSharedDataKernel(kernelName: string, stock: tf.KernelConfig): tf.KernelConfig {
  if (!(SHARED_DATA_KERNELS as readonly string[]).includes(kernelName)) {
    throw new Error(`no shared-data kernel for ${kernelName}`);
  }
  const config: tf.KernelConfig = {
    kernelName,
    backendName: SHARED_DATA_BACKEND,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const sameType = kernelName === 'Identity' || args.attrs?.dtype === x.dtype;
      const shared = sameType ? shareData(x, args.backend) : null;
      return shared ?? stock.kernelFunc(args);
    },
  };
  if (stock.setupFunc) config.setupFunc = stock.setupFunc;
  if (stock.disposeFunc) config.disposeFunc = stock.disposeFunc;
  return config;
}
