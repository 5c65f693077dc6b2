import { Rng } from '../src/index.js';

/** Gaussian blobs: `k` centres spread `spread` apart per axis, isotropic noise `sigma`. */
export function blobs(
  n: number,
  dim: number,
  k: number,
  seed: number,
  sigma = 0.1,
  spread = 10,
): { points: Float32Array; truth: Int32Array; centres: Float32Array } {
  const rng = new Rng(seed);
  const centres = new Float32Array(k * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.next() * spread;
  const points = new Float32Array(n * dim);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = i % k;
    truth[i] = j;
    for (let d = 0; d < dim; d++) {
      points[i * dim + d] = centres[j * dim + d] + sigma * rng.gaussian();
    }
  }
  return { points, truth, centres };
}

/** Whether `pred` equals `truth` up to a renaming of labels (a bijection). */
export function samePartition(truth: ArrayLike<number>, pred: ArrayLike<number>): boolean {
  const fwd = new Map<number, number>();
  const back = new Map<number, number>();
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i];
    const p = pred[i];
    if ((fwd.get(t) ?? p) !== p || (back.get(p) ?? t) !== t) return false;
    fwd.set(t, p);
    back.set(p, t);
  }
  return true;
}

/** Straightforward nearest-centroid search: sum of squared differences, first minimum wins. */
export function naiveAssign(
  points: Float32Array,
  n: number,
  dim: number,
  c: Float32Array,
  k: number,
): { labels: Int32Array; distances: Float64Array } {
  const labels = new Int32Array(n);
  const distances = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const diff = points[i * dim + d] - c[j * dim + d];
        s += diff * diff;
      }
      if (s < bestD) {
        bestD = s;
        best = j;
      }
    }
    labels[i] = best;
    distances[i] = bestD;
  }
  return { labels, distances };
}

/** Whether every value is a finite number. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
