/** Shared helpers for the model package's tests. */
import { tf } from '../src/index.js';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** n distinct values spaced `step` apart, shuffled (max-pool windows then have no ties). */
export function distinct(n: number, seed: number, step = 0.1): Float32Array {
  const r = rng(seed);
  const vals = Array.from({ length: n }, (_, i) => (i - n / 2) * step);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [vals[i], vals[j]] = [vals[j], vals[i]];
  }
  return Float32Array.from(vals);
}

/** Product of a shape's dimensions. */
export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A scalar loss of some input tensors. */
export type LossFn = (inputs: tf.Tensor[]) => tf.Scalar;

/** Analytic gradients of `loss` w.r.t. every input, via tf.grads. */
export function analyticGrads(loss: LossFn, values: Float32Array[], shapes: number[][]) {
  const raw = tf.tidy(() => {
    const xs = values.map((v, i) => tf.tensor(v, shapes[i], 'float32'));
    const gs = tf.grads((...ins: tf.Tensor[]) => loss(ins))(xs);
    return gs.map((g) => g.dataSync() as Float32Array);
  });
  return raw.map((g) => Float64Array.from(g));
}

/** Value of `loss` at `values`. */
function evalLoss(loss: LossFn, values: Float32Array[], shapes: number[][]): number {
  return tf.tidy(() => {
    const xs = values.map((v, i) => tf.tensor(v, shapes[i], 'float32'));
    return loss(xs).dataSync()[0];
  });
}

/** Central finite-difference gradient of `loss` w.r.t. input `which`, step eps. */
export function numericGrad(
  loss: LossFn,
  values: Float32Array[],
  shapes: number[][],
  which: number,
  eps: number,
): Float64Array {
  const v = values.map((a) => a.slice());
  const target = v[which];
  const out = new Float64Array(target.length);
  for (let i = 0; i < target.length; i++) {
    const orig = target[i];
    target[i] = orig + eps;
    const up = evalLoss(loss, v, shapes);
    target[i] = orig - eps;
    const down = evalLoss(loss, v, shapes);
    target[i] = orig;
    out[i] = (up - down) / (2 * eps);
  }
  return out;
}

/** Largest |a_i − b_i|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Largest |a_i|. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Tolerance for comparing an analytic gradient with a float32 central difference: the loss
 * is a float32 sum of `terms` values of total magnitude `mag`, so each evaluation carries
 * about sqrt(terms)·mag·2⁻²⁴ rounding error, divided by the step in the quotient.
 */
export function fdTolerance(mag: number, terms: number, eps: number): number {
  const roundoff = 4 * Math.sqrt(terms) * mag * 2 ** -24;
  return roundoff / eps + 1e-6;
}
