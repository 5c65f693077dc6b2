/**
 * The assignment pass of the k-means benchmark, timed with each kernel that could do it on
 * this machine: the pruned WebAssembly kernel the package uses (all threads and one), the same
 * kernel measuring every distance, a register-blocked plain-JS kernel and a tfjs matMul (wasm
 * backend), both with ||x||^2 - 2 x.c + ||c||^2. A pass that only reads the codes is the
 * memory floor. The slow kernels run on a slice of the codes and are scaled to all of them.
 */
import { assign, defaultThreads, kernel } from '@imgcluster/kmeans';
import { initBackend, tf } from '@imgcluster/model';
import { assignPlainJs } from './kmeans-js-kernel.js';

/** One kernel's figures for a pass over all n codes. */
export interface KernelTiming {
  name: string;
  /** Seconds for all n codes (scaled from `rows` when fewer were measured). */
  seconds: number;
  /** Rows actually measured. */
  rows: number;
  /** Point-centroid distances per second that a full search needs (n x k per pass). */
  distancesPerSecond: number;
  /** Labels that differ from the pruned kernel's on the rows measured. */
  mismatches?: number;
}

/** Nearest centroid by a tfjs matMul against the materialised transposed centroids. */
function tfjsMatMul(x: Float32Array, rows: number, dim: number, c: Float32Array, k: number) {
  const labels = new Int32Array(rows);
  const block = 4096;
  const ct = tf.tidy(() => tf.tensor2d(c, [k, dim]).transpose().clone());
  const cn = tf.tidy(() => tf.sum(tf.square(tf.tensor2d(c, [k, dim])), 1));
  for (let r0 = 0; r0 < rows; r0 += block) {
    const m = Math.min(block, rows - r0);
    const out = tf.tidy(() => {
      const xs = tf.tensor2d(x.subarray(r0 * dim, (r0 + m) * dim), [m, dim]);
      return tf.argMin(tf.sub(cn, tf.mul(2, tf.matMul(xs, ct))), 1);
    });
    labels.set(out.dataSync() as Int32Array, r0);
    out.dispose();
  }
  ct.dispose();
  cn.dispose();
  return labels;
}

/** Seconds of `run()`. */
function timed<T>(run: () => T): [T, number] {
  const t = performance.now();
  const v = run();
  return [v, (performance.now() - t) / 1000];
}

function mismatches(a: Int32Array, b: Int32Array, rows: number): number {
  let m = 0;
  for (let i = 0; i < rows; i++) if (a[i] !== b[i]) m++;
  return m;
}

/**
 * Times every kernel on `points` (n x dim, in kernel memory) against `centroids` (k x dim).
 * The plain-JS and tfjs kernels see the first `sliceRows` codes.
 */
export async function timeKernels(
  points: Float32Array,
  n: number,
  dim: number,
  centroids: Float32Array,
  k: number,
  sliceRows: number,
): Promise<KernelTiming[]> {
  const out: KernelTiming[] = [];
  const add = (name: string, seconds: number, rows: number, wrong?: number) => {
    const all = (seconds * n) / rows;
    out.push({ name, seconds: all, rows, distancesPerSecond: (n * k) / all, mismatches: wrong });
  };
  const threads = defaultThreads();

  const [ref, tPruned] = timed(() => assign(points, n, dim, centroids, k, { threads }));
  add(`wasm, pruned, ${threads} threads (used)`, tPruned, n);
  const [one, tOne] = timed(() => assign(points, n, dim, centroids, k, { threads: 1 }));
  add('wasm, pruned, 1 thread', tOne, n, mismatches(ref.labels, one.labels, n));
  const [all, tAll] = timed(() => assign(points, n, dim, centroids, k, { threads, prune: false }));
  add(`wasm, every distance, ${threads} threads`, tAll, n, mismatches(ref.labels, all.labels, n));

  const rows = Math.min(n, sliceRows);
  // A plain (not shared) copy: V8 reads shared typed arrays more slowly.
  const slice = points.slice(0, rows * dim);
  const [js, tJs] = timed(() => assignPlainJs(slice, rows, dim, centroids, k));
  add(
    'plain JS, blocked norm expansion (earlier kernel), 1 thread',
    tJs,
    rows,
    mismatches(ref.labels, js, rows),
  );
  const info = await initBackend('wasm');
  tfjsMatMul(slice, Math.min(rows, 64), dim, centroids, k);
  const [tfl, tTf] = timed(() => tfjsMatMul(slice, rows, dim, centroids, k));
  add(
    `tfjs matMul (${info.backend} backend), 1 thread`,
    tTf,
    rows,
    mismatches(ref.labels, tfl, rows),
  );

  const kern = kernel();
  const [, tFloor] = timed(() =>
    kern.workers().split('stream_sum', threads, (p) => {
      const lo = Math.floor((p * n) / threads);
      const hi = Math.floor(((p + 1) * n) / threads);
      return [points.byteOffset + lo * dim * 4, (hi - lo) * dim];
    }),
  );
  add(`memory floor: read every code once, ${threads} threads`, tFloor, n);
  return out;
}
