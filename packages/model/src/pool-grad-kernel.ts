/**
 * Input gradient of a 2×2, stride-2 max pool as one pass over wasm memory. The tensor-op
 * formulation in gradients.ts needs two rank-5 transposes, an argMax and a one-hot mask, which
 * on wasm take about twice as long as this loop; other backends keep using it.
 */
import { tf } from './tf.js';
import { isHeapBackend } from './unfolded-filter-grad.js';

/** Kernel name of the 2×2 stride-2 max-pool input gradient (inputs x and dy, no attrs). */
export const MAX_POOL_2X2_GRAD = 'ImgclusterMaxPool2x2Grad';

/** Backend that gets the kernel. */
export const MAX_POOL_2X2_GRAD_BACKEND = 'wasm';

/**
 * dx [B,H,W,C] (H and W even) from x and dy [B,H/2,W/2,C]: each dy value goes to the first
 * maximum, in row-major order, of its window; every other cell is 0.
 */
export function maxPool2x2GradInto(
  dx: Float32Array,
  x: Float32Array,
  dy: Float32Array,
  shape: number[],
): void {
  const [b, h, w, c] = shape;
  const row = w * c;
  dx.fill(0);
  let o = 0;
  for (let r = 0; r < (b * h) / 2; r++) {
    const top = 2 * r * row;
    for (let j = 0; j < w / 2; j++) {
      const p00 = top + 2 * j * c;
      for (let k = 0; k < c; k++, o++) {
        const at = p00 + k;
        let best = at;
        let max = x[at];
        if (x[at + c] > max) {
          best = at + c;
          max = x[best];
        }
        if (x[at + row] > max) {
          best = at + row;
          max = x[best];
        }
        if (x[at + row + c] > max) best = at + row + c;
        dx[best] = dy[o];
      }
    }
  }
}

/** The kernel's config for the wasm backend. */
export function maxPool2x2GradKernel(): tf.KernelConfig {
  return {
    kernelName: MAX_POOL_2X2_GRAD,
    backendName: MAX_POOL_2X2_GRAD_BACKEND,
    kernelFunc: ({ inputs, backend }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      if (!isHeapBackend(backend)) throw new Error(`${MAX_POOL_2X2_GRAD} needs the wasm backend`);
      if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
        throw new Error(`${MAX_POOL_2X2_GRAD} takes float32 tensors`);
      }
      const out = backend.makeOutput(x.shape, 'float32');
      const view = (info: tf.TensorInfo) => backend.typedArrayFromHeap(info);
      maxPool2x2GradInto(view(out), view(x), view(dy), x.shape);
      return out;
    },
  };
}
