/**
 * Conv2D filter gradient (stride 1, NHWC) for the wasm backend: one unfolding ("im2col") and
 * matrix products over it, written straight into wasm memory.
 *
 * dW[i,j,ci,co] = Σ_{b,h,w} xpad[b,h+i,w+j,ci]·dy[b,h,w,co]. Both tensors are placed on one flat
 * grid in which every image has a block of R × G cells (R = max(H+top, H+bottom, Ho), G =
 * max(W+left, W+right, Wo)), x at (top, left) and dy at (0, 0) of its block. xpad[b,h+i,w+j]
 * then sits i·G + j cells after dy[b,h,w], so a filter position (i, j) is one shift of the
 * whole flattened batch. Rows and blocks share their zero margins, which are just wide enough
 * that a shift running off a row or block lands on zeros of the next one (or off the grid,
 * read as zeros). The side with fewer channels is unfolded channel-major (one row of cells
 * per filter position and channel); the other side stays channels-last on the grid, and dW is
 * the product of the two over the grid cells:
 *
 *   Cin ≤ Cout: unfolded x [kh·kw·Cin, cells] × dy on the grid [cells, Cout] = dW
 *   Cin > Cout: unfolded dy (shifted back) [kh·kw·Cout, cells] × x on the grid [cells, Cin]
 *               = dW with its two channel axes swapped
 *
 * Costs: wasm's matMul (XNNPACK) repacks its second operand on every call, about 2 ns per
 * cell × channel (channels rounded up to 8), and is quickest when its first operand has a few
 * dozen rows; unfolding the narrower side keeps both small. The product is taken over chunks
 * of CHUNK_CELLS cells, whose operands stay in the CPU caches, and the chunk sums add up in
 * float64. Intermediate memory is the unfolded side's grid plus one chunk (≈ 5 MB at 16
 * channels).
 */
import type { KernelRunner } from './kernel-runner.js';
import { tf } from './tf.js';

/** Grid cells per matrix product. */
export const CHUNK_CELLS = 8192;

/** The wasm backend methods used to allocate tensors and fill them in place. */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** Whether `backend` exposes its tensors as views of its memory (the wasm backend does). */
export function isHeapBackend(backend: unknown): backend is HeapBackend {
  const b = backend as Partial<HeapBackend> | null;
  return typeof b?.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function';
}

/** Layout of the flat grid shared by both operands. */
interface Grid {
  /** Images in the batch. */
  batch: number;
  /** Rows of one image's block. */
  rows: number;
  /** Cells per grid row. */
  width: number;
  /** Grid cells summed over: up to the last cell of the channels-last side. */
  cells: number;
  /** Cell offset of the unfolded side for each filter position (i, j), row-major. */
  offsets: number[];
}

/** A channels-last tensor as it sits in each block: its top-left cell and its size. */
interface Placed {
  info: tf.TensorInfo;
  top: number;
  left: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Filter gradient [kh,kw,Cin,Cout] from x [B,H,W,Cin], dy [B,Ho,Wo,Cout] and the stride-1
 * input padding [top, bottom, left, right], summed over chunks of `chunkCells` grid cells;
 * intermediates are tracked by `k`.
 */
export function unfoldedFilterGrad(
  k: KernelRunner,
  heap: HeapBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: number[],
  padding: number[],
  chunkCells: number = CHUNK_CELLS,
): tf.TensorInfo {
  const [kh, kw, cin, cout] = filterShape;
  const [batch, h, w] = x.shape;
  const [, ho, wo] = dy.shape;
  const [top, bottom, left, right] = padding;
  if (ho !== h + top + bottom - kh + 1 || wo !== w + left + right - kw + 1) {
    throw new Error(`dy ${dy.shape} does not fit x ${x.shape} and filter ${filterShape}`);
  }
  const rows = Math.max(h + top, h + bottom, ho);
  const width = Math.max(w + left, w + right, wo);
  const xs: Placed = { info: x, top, left, height: h, width: w, channels: cin };
  const dys: Placed = { info: dy, top: 0, left: 0, height: ho, width: wo, channels: cout };
  const unfoldInput = cin <= cout;
  const [unfolded, dense] = unfoldInput ? [xs, dys] : [dys, xs];
  const sign = unfoldInput ? 1 : -1;
  const offsets = shifts(kh, kw, (i, j) => sign * (i * width + j));
  const lastCell = (dense.top + dense.height - 1) * width + dense.left + dense.width;
  const grid: Grid = { batch, rows, width, cells: (batch - 1) * rows * width + lastCell, offsets };

  const channelMajor = k.run('Transpose', { x: unfolded.info }, { perm: [3, 0, 1, 2] });
  const unfoldedGrid = k.pad(channelMajor, [
    [0, 0],
    [0, 0],
    [unfolded.top, rows - unfolded.top - unfolded.height],
    [unfolded.left, width - unfolded.left - unfolded.width],
  ]);
  const sums = sumOfProducts(k, heap, grid, unfoldedGrid, unfolded.channels, dense, chunkCells);

  const out = k.track(heap.makeOutput([kh, kw, cin, cout], 'float32'));
  const values = heap.typedArrayFromHeap(out);
  if (unfoldInput) {
    values.set(sums);
  } else {
    for (let s = 0; s < kh * kw; s++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let co = 0; co < cout; co++) {
          values[(s * cin + ci) * cout + co] = sums[(s * cout + co) * cin + ci];
        }
      }
    }
  }
  return out;
}

/** Offsets of the kh × kw filter positions in row-major order. */
function shifts(kh: number, kw: number, offset: (i: number, j: number) => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) out.push(offset(i, j));
  return out;
}

/**
 * Σ over grid cells of unfolded rows × dense channels: [offsets × unfoldedChannels,
 * dense.channels] in float64, one matrix product per chunk of cells.
 */
function sumOfProducts(
  k: KernelRunner,
  heap: HeapBackend,
  grid: Grid,
  unfolded: tf.TensorInfo,
  unfoldedChannels: number,
  dense: Placed,
  chunkCells: number,
): Float64Array {
  const m = grid.offsets.length * unfoldedChannels;
  const sums = new Float64Array(m * dense.channels);
  for (let start = 0; start < grid.cells; start += chunkCells) {
    const n = Math.min(chunkCells, grid.cells - start);
    const a = k.track(heap.makeOutput([m, n], 'float32'));
    const b = k.track(heap.makeOutput([n, dense.channels], 'float32'));
    // Views are taken after the allocations, which may move wasm memory.
    const src = heap.typedArrayFromHeap(unfolded);
    fillUnfolded(heap.typedArrayFromHeap(a), src, grid, unfoldedChannels, start, n);
    fillDense(heap.typedArrayFromHeap(b), heap.typedArrayFromHeap(dense.info), grid, dense, start);
    const product = k.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
    const part = heap.typedArrayFromHeap(product);
    for (let q = 0; q < part.length; q++) sums[q] += part[q];
    k.release(product);
    k.release(a);
    k.release(b);
  }
  return sums;
}

/**
 * Rows (offset, channel) of `dst` [m, n]: cells start + offset … of each channel of `src`
 * [channels, grid cells], zeros where that runs off the channel's grid.
 */
function fillUnfolded(
  dst: Float32Array,
  src: Float32Array,
  grid: Grid,
  channels: number,
  start: number,
  n: number,
): void {
  const perChannel = grid.batch * grid.rows * grid.width;
  let at = 0;
  for (const offset of grid.offsets) {
    for (let c = 0; c < channels; c++) {
      const from = start + offset;
      const lo = Math.max(from, 0);
      const hi = Math.min(from + n, perChannel);
      if (hi <= lo) {
        dst.fill(0, at, at + n);
      } else {
        if (lo > from) dst.fill(0, at, at + lo - from);
        dst.set(src.subarray(c * perChannel + lo, c * perChannel + hi), at + lo - from);
        if (hi < from + n) dst.fill(0, at + hi - from, at + n);
      }
      at += n;
    }
  }
}

/** `dst` [n, channels]: grid cells start … start+n−1 of the placed channels-last tensor. */
function fillDense(
  dst: Float32Array,
  src: Float32Array,
  grid: Grid,
  placed: Placed,
  start: number,
): void {
  const c = placed.channels;
  const end = start + dst.length / c;
  dst.fill(0);
  const lastRow = Math.floor((end - 1) / grid.width);
  for (let row = Math.floor(start / grid.width); row <= lastRow; row++) {
    const image = Math.floor(row / grid.rows);
    const y = row - image * grid.rows - placed.top;
    if (y < 0 || y >= placed.height) continue;
    const first = row * grid.width + placed.left;
    const lo = Math.max(first, start);
    const hi = Math.min(first + placed.width, end);
    if (lo >= hi) continue;
    const from = ((image * placed.height + y) * placed.width + lo - first) * c;
    dst.set(src.subarray(from, from + (hi - lo) * c), (lo - start) * c);
  }
}
