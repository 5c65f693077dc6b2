/**
 * BatchMatMul for the wasm backend when an operand is transposed. The stock kernel hands the
 * transpose flags to XNNPACK, whose transposed paths run about ten times slower than the plain
 * product (measured on 256×2000 by 2000×500: 1.8 against 19.5 GFLOP/s), and the wasm Transpose
 * kernel is no quicker. Dense layers meet both cases in every backward step (dx = dy·Wᵀ,
 * dW = xᵀ·dy), so a dense autoencoder trained at a tenth of the speed the products allow. This
 * kernel copies each transposed operand into a fresh buffer in the order the plain product
 * wants (a cache-blocked loop over wasm memory), then runs the stock kernel without flags.
 */
import { tf } from './tf.js';
import { isHeapBackend } from './unfolded-filter-grad.js';

/** Kernel this module replaces, and where. */
export const TRANSPOSED_MATMUL_KERNEL = { kernelName: 'BatchMatMul', backendName: 'wasm' };

/** Side of the square tiles the transpose walks, in floats. */
const TILE = 32;

/**
 * Writes the transpose of each of `batch` row-major `rows × cols` matrices in `src` to `dst`
 * (each becomes `cols × rows`).
 */
export function transposeBatchInto(
  dst: Float32Array,
  src: Float32Array,
  batch: number,
  rows: number,
  cols: number,
): void {
  const size = rows * cols;
  for (let b = 0; b < batch; b++) {
    const base = b * size;
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c0 = 0; c0 < cols; c0 += TILE) {
        const c1 = Math.min(cols, c0 + TILE);
        for (let r = r0; r < r1; r++) {
          const from = base + r * cols;
          for (let c = c0; c < c1; c++) dst[base + c * rows + r] = src[from + c];
        }
      }
    }
  }
}

/** The replacement: plain products go straight to `stock`. */
export function makeTransposedMatMulKernel(stock: tf.KernelConfig): tf.KernelConfig {
  const config: tf.KernelConfig = {
    ...TRANSPOSED_MATMUL_KERNEL,
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      const backend: unknown = args.backend;
      const plain = !transposeA && !transposeB;
      const float = a.dtype === 'float32' && b.dtype === 'float32';
      if (plain || !float || !isHeapBackend(backend) || a.shape.length < 2 || b.shape.length < 2) {
        return stock.kernelFunc(args);
      }
      const made: tf.TensorInfo[] = [];
      /** `x` with its last two axes swapped, in a new buffer. */
      const swapped = (x: tf.TensorInfo): tf.TensorInfo => {
        const shape = [...x.shape];
        const rows = shape[shape.length - 2];
        const cols = shape[shape.length - 1];
        const batch = shape.slice(0, -2).reduce((p, d) => p * d, 1);
        shape[shape.length - 2] = cols;
        shape[shape.length - 1] = rows;
        const out = backend.makeOutput(shape, 'float32');
        made.push(out);
        const src = backend.typedArrayFromHeap(x) as Float32Array;
        transposeBatchInto(backend.typedArrayFromHeap(out) as Float32Array, src, batch, rows, cols);
        return out;
      };
      try {
        const inputs = { a: transposeA ? swapped(a) : a, b: transposeB ? swapped(b) : b };
        const attrs = { ...args.attrs, transposeA: false, transposeB: false };
        return stock.kernelFunc({ ...args, inputs, attrs });
      } finally {
        for (const t of made) (args.backend as tf.KernelBackend).disposeData(t.dataId);
      }
    },
  };
  if (stock.setupFunc) config.setupFunc = stock.setupFunc;
  if (stock.disposeFunc) config.disposeFunc = stock.disposeFunc;
  return config;
}
