/**
 * Benchmark of @imgcluster/kmeans on synthetic non-negative codes (ReLU-like autoencoder
 * output) scattered around k centres.
 *
 *   node --import tsx packages/kmeans/bench.ts [n] [dim] [k] [lloydIters] [noise]
 *
 * Defaults: n = 20000, dim = 128, k = 10, lloydIters = 100 (0 skips the Lloyd references),
 * noise = 0.5 (standard deviation of the Gaussian noise before clipping at 0).
 * Prints data generation, seeding, fit and full-assignment times, assignment GFLOP/s
 * (2 x n x k x dim flops per pass), ARI / NMI against the generating centres, peak RSS, and
 * the inertia ratio mini-batch / Lloyd for two Lloyd references: from the same k-means++
 * seeds, and polishing the mini-batch centroids (at most lloydIters passes each).
 */
import { ari, nmi } from '@imgcluster/metrics';
import { MiniBatchKMeans, Rng, assign, fit, lloyd } from './src/index.js';

/** Positive integer from argv position `i`, or the default. */
function arg(i: number, fallback: number): number {
  const raw = process.argv[2 + i];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`argument ${i + 1} must be an integer`);
  return v;
}

/**
 * Codes max(0, centre + noise x g): each centre coordinate is 0 w.p. 1/2, else uniform in
 * [0, 2). g comes from a table of 2^20 standard normals read from a random offset per row, which
 * keeps generating gigabytes of codes fast.
 */
function synthesize(n: number, dim: number, k: number, noise: number, rng: Rng) {
  const centres = new Float32Array(k * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.next() < 0.5 ? 0 : 2 * rng.next();
  const mask = (1 << 20) - 1;
  const normals = new Float32Array(mask + 1);
  for (let i = 0; i <= mask; i++) normals[i] = rng.gaussian();
  const points = new Float32Array(n * dim);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = rng.nextInt(k);
    truth[i] = j;
    const o = i * dim;
    const c = j * dim;
    const base = rng.nextInt(mask + 1);
    for (let d = 0; d < dim; d++) {
      points[o + d] = Math.max(0, centres[c + d] + noise * normals[(base + d) & mask]);
    }
  }
  return { points, truth };
}

/** Milliseconds taken by `f`, with its result. */
function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

const n = arg(0, 20000);
const dim = arg(1, 128);
const k = arg(2, 10);
const lloydIters = arg(3, 100);
const noise = Number(process.argv[6] ?? 0.5);
const gb = (n * dim * 4) / 2 ** 30;
console.log(`n=${n} dim=${dim} k=${k} noise=${noise}: codes take ${gb.toFixed(2)} GiB as float32`);

const [{ points, truth }, genMs] = timed(() => synthesize(n, dim, k, noise, new Rng(1)));
console.log(`generate       ${(genMs / 1000).toFixed(1)} s`);

const [seeds, seedMs] = timed(() => seedLike(points, n, dim, k, 0));
console.log(`seed           ${(seedMs / 1000).toFixed(2)} s (best of 3 k-means++ on 3072 rows)`);
const [res, fitMs] = timed(() => fit(points, n, dim, { k, seed: 0, initialCentroids: seeds }));
console.log(
  `fit            ${(fitMs / 1000).toFixed(2)} s (${res.steps} steps of 1024, ${res.stopReason}, ` +
    `${(fitMs / res.steps).toFixed(1)} ms/step, final labelling of all points included; ` +
    `with seeding ${((seedMs + fitMs) / 1000).toFixed(2)} s)`,
);

let full = assign(points, n, dim, res.centroids, k);
let assignMs = Infinity;
for (let r = 0, spent = 0; r < 3 && spent < 2000; r++) {
  const [a, ms] = timed(() => assign(points, n, dim, res.centroids, k));
  full = a;
  spent += ms;
  assignMs = Math.min(assignMs, ms);
}
const gflops = (2 * n * k * dim) / (assignMs * 1e6);
console.log(`assign (all)   ${(assignMs / 1000).toFixed(2)} s = ${gflops.toFixed(2)} GFLOP/s`);
console.log(
  `mini-batch     inertia/point ${(full.inertia / n).toFixed(4)}, ` +
    `ARI ${ari(truth, full.labels).toFixed(4)}, NMI ${nmi(truth, full.labels).toFixed(4)}`,
);

if (lloydIters > 0) {
  // Reference 1: Lloyd from the same seeds as the mini-batch run.
  const [own, ownMs] = timed(() => lloyd(points, n, dim, seeds, lloydIters));
  report('lloyd (seeds)', own, ownMs, full.inertia);
  // Reference 2: Lloyd polishing the mini-batch centroids to the nearest fixed point.
  const [polish, polishMs] = timed(() => lloyd(points, n, dim, res.centroids, lloydIters));
  report('lloyd (polish)', polish, polishMs, full.inertia);
}

/** k-means++ seeds as fit picks them, on a random sample of up to 3072 rows. */
function seedLike(points: Float32Array, n: number, dim: number, k: number, seed: number) {
  const rng = new Rng(seed);
  const m = Math.min(n, 3072);
  const sample = new Float32Array(m * dim);
  for (let r = 0; r < m; r++) {
    const i = rng.nextInt(n);
    sample.set(points.subarray(i * dim, (i + 1) * dim), r * dim);
  }
  const model = new MiniBatchKMeans({ k, dim, seed });
  model.init(sample, m);
  return model.centroids;
}

/** Prints one Lloyd reference run and the mini-batch / Lloyd inertia ratio. */
function report(name: string, r: ReturnType<typeof lloyd>, ms: number, mbInertia: number) {
  const state = r.converged ? 'converged' : 'stopped at maxIter';
  console.log(
    `${name.padEnd(15)}${(ms / 1000).toFixed(2)} s (${r.iterations} passes, ${state}), ` +
      `ARI ${ari(truth, r.labels).toFixed(4)}, NMI ${nmi(truth, r.labels).toFixed(4)}, ` +
      `inertia ratio mini-batch / Lloyd = ${(mbInertia / r.inertia).toFixed(5)}`,
  );
}

console.log(`peak RSS       ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
