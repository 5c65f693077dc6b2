/**
 * What k-means sees, measured on fixed codes: the same exported codes clustered after each
 * preparation (raw, L2-normalised, L2 with the best of 5 fits by inertia, square roots, both,
 * standardised per dimension, PCA-whitened on 32 axes), several seeds each, scored against
 * the true classes.
 *
 *   npm run export:codes -- --out demo-output/codes      # once
 *   npm run bench:levers -- --codes demo-output/codes --k 10 --seeds 8
 *
 * Prints, per preparation, NMI, ARI and accuracy (mean, min and max over the seeds) and the
 * seconds of all its fits; the raw codes are the baseline of the same run. The attention map
 * alone (each code position's largest channel) is one of the preparations.
 *
 * With `--umap`, also the manifold step of the pipeline (kmeans.manifold "umap": a layout of
 * `--umap-sample` codes, every code placed through its `--umap-neighbors` (15) nearest of
 * them, 10 dims) on the raw codes, the L2-normalised codes and the attention map (`--umap-of`,
 * default all three), a layout per seed (`--umap-seeds`, default 3; each layout takes tens of
 * seconds). `--mixture` adds a row per layout kind: the same layouts, k-means refined by a
 * diagonal Gaussian mixture (kmeans.mixture "gaussian").
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DENSE_DEFAULTS } from '@imgcluster/config';
import {
  fit,
  fitMixture,
  mixtureAssign,
  normalizeRows,
  permutation,
  Rng,
  symmetricEigen,
} from '@imgcluster/kmeans';
import { embed, fitManifold } from '@imgcluster/manifold';
import { ari, clusterAccuracy, nmi } from '@imgcluster/metrics';

const USAGE =
  'usage: npm run bench:levers -- --codes DIR [--k K] [--seeds N] [--umap] [--umap-seeds N]\n' +
  '       [--umap-sample N] [--umap-neighbors N] [--umap-of raw,l2,attention] [--mixture]';
let args;
try {
  args = parseArgs({
    options: {
      codes: { type: 'string', default: 'demo-output/codes' },
      k: { type: 'string', default: '10' },
      seeds: { type: 'string', default: '8' },
      umap: { type: 'boolean', default: false },
      'umap-seeds': { type: 'string', default: '3' },
      'umap-sample': { type: 'string', default: '5000' },
      'umap-of': { type: 'string', default: 'raw,l2,attention' },
      'umap-neighbors': { type: 'string', default: '15' },
      mixture: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const k = Number(args.k);
const seeds = Number(args.seeds);
const umapSeeds = Number(args['umap-seeds']);
const umapSample = Number(args['umap-sample']);
const umapNeighbors = Number(args['umap-neighbors']);
const whole = (v: number, min: number) => Number.isInteger(v) && v >= min;
if (
  !whole(k, 2) ||
  !whole(seeds, 1) ||
  !whole(umapSeeds, 1) ||
  !whole(umapSample, 10) ||
  !whole(umapNeighbors, 2) ||
  umapNeighbors > 1000
) {
  console.error(
    '--k must be a whole number >= 2, --seeds and --umap-seeds >= 1, --umap-sample >= 10, ' +
      `--umap-neighbors 2..1000\n${USAGE}`,
  );
  process.exit(2);
}
const UMAP_OF = ['raw', 'l2', 'attention'];
const umapOfWanted = args['umap-of']!.split(',');
const unknownUmapOf = umapOfWanted.filter((v) => !UMAP_OF.includes(v));
if (unknownUmapOf.length > 0) {
  console.error(`--umap-of takes ${UMAP_OF.join(', ')}; not ${unknownUmapOf.join(', ')}\n${USAGE}`);
  process.exit(2);
}
if (args.mixture && !args.umap) {
  console.error(`--mixture refines the --umap rows: give --umap as well\n${USAGE}`);
  process.exit(2);
}
const dir = args.codes!;
if (!existsSync(join(dir, 'codes.json'))) {
  console.error(`--codes ${dir}: no codes.json there (write one with npm run export:codes)`);
  process.exit(2);
}

const { n, dim, spec } = JSON.parse(readFileSync(join(dir, 'codes.json'), 'utf8')) as {
  n: number;
  dim: number;
  spec?: { model?: { architecture?: string; filters?: number[]; codeSize?: number } };
};
/**
 * Channels per code position, for the attention map: the last encoder filter count, or the
 * whole code for a dense autoencoder (one position).
 */
const depth =
  spec?.model?.architecture === 'dense'
    ? (spec.model.codeSize ?? DENSE_DEFAULTS.codeSize)
    : (spec?.model?.filters?.[2] ?? 8);
if (dim % depth !== 0) {
  console.error(`--codes ${dir}: ${dim} floats are not positions of ${depth} channels`);
  process.exit(2);
}
const copy = (file: string) => {
  const b = readFileSync(join(dir, file));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const raw = new Float32Array(copy('codes.f32'));
const truth = Array.from(new Int32Array(copy('truth.i32')));
if (k > n) {
  console.error(`--k ${k} is more than the ${n} codes in ${dir}`);
  process.exit(2);
}
if (raw.length !== n * dim || truth.length !== n) {
  console.error(`--codes ${dir}: the files do not hold ${n} × ${dim} codes and ${n} labels`);
  process.exit(2);
}

/** Each dimension shifted and scaled to mean 0 and standard deviation 1. */
function standardised(x: Float32Array): Float32Array {
  const y = x.slice();
  for (let d = 0; d < dim; d++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += y[i * dim + d] / n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (y[i * dim + d] - mean) ** 2 / n;
    const sd = Math.sqrt(variance) || 1;
    for (let i = 0; i < n; i++) y[i * dim + d] = (y[i * dim + d] - mean) / sd;
  }
  return y;
}

/**
 * The codes projected on their `m` principal axes, each scaled to unit variance (PCA
 * whitening), as an n x m matrix.
 */
function whitened(x: Float32Array, m: number): { data: Float32Array; dim: number } {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d] / n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) row[d] = x[i * dim + d] - mean[d];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      for (let b = a; b < dim; b++) cov[a * dim + b] += (ra * row[b]) / n;
    }
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a];
  const { values, vectors } = symmetricEigen(cov, dim);
  const axes = Array.from(values.keys())
    .sort((a, b) => values[b] - values[a])
    .slice(0, m);
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    axes.forEach((e, j) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += (x[i * dim + d] - mean[d]) * vectors[d * dim + e];
      out[i * m + j] = s / Math.sqrt(Math.max(values[e], 1e-12));
    });
  }
  return { data: out, dim: m };
}

/** Each code position's largest channel: the attention map the pipeline draws. */
function attentionMap(x: Float32Array): Float32Array {
  const cells = dim / depth;
  const out = new Float32Array(n * cells);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < cells; c++) {
      let best = -Infinity;
      for (let d = 0; d < depth; d++) best = Math.max(best, x[i * dim + c * depth + d]);
      out[i * cells + c] = best;
    }
  }
  return out;
}

const roots = raw.map((v) => Math.sqrt(Math.max(0, v)));
const attention = attentionMap(raw);
const pca = whitened(raw, Math.min(32, dim));
/** A preparation: its codes, their width, and how many fits (lowest inertia kept) per seed. */
type Preparation = [name: string, codes: Float32Array, width: number, restarts: number];
const l2 = normalizeRows(raw.slice(), n, dim);
const preparations: Preparation[] = [
  ['raw codes (baseline)', raw, dim, 1],
  ['L2-normalised', l2, dim, 1],
  ['L2, best of 5 fits', l2, dim, 5],
  ['square roots', roots, dim, 1],
  ['square roots, L2-normalised', normalizeRows(roots.slice(), n, dim), dim, 1],
  ['standardised per dimension', standardised(raw), dim, 1],
  [`PCA-whitened, ${pca.dim} axes`, pca.data, pca.dim, 1],
  // Codes of one position (a dense autoencoder's) have an attention map of one value.
  ['attention map alone', attention, dim / depth, 1],
];
if (dim === depth) console.log('one code position: the attention rows see one value per image');

const stats = (xs: number[]) =>
  `${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3)} (${Math.min(...xs).toFixed(3)}..${Math.max(...xs).toFixed(3)})`;

console.log(`${n} codes of ${dim} floats from ${dir}, k = ${k}, seeds 0..${seeds - 1}`);
console.log(`${'preparation'.padEnd(38)}${'NMI'.padEnd(21)}${'ARI'.padEnd(21)}accuracy`);
/** Labels after a diagonal Gaussian mixture is fitted by EM from the k-means labels. */
async function mixtureLabels(x: Float32Array, width: number, start: Int32Array) {
  async function* all() {
    yield { x, n, labels: start };
  }
  const { mixture } = await fitMixture(k, width, all);
  return Array.from(mixtureAssign(mixture, x, n).labels);
}

/**
 * Clusters what `codesFor(seed)` gives for every seed (k-means, then with `mixture` the
 * Gaussian mixture started from it); prints the scores and seconds.
 */
async function measure(
  name: string,
  runs: number,
  restarts: number,
  codesFor: (seed: number) => Promise<{ x: Float32Array; width: number }>,
  mixture = false,
) {
  const scores = { nmi: [] as number[], ari: [] as number[], acc: [] as number[] };
  const started = performance.now();
  for (let seed = 0; seed < runs; seed++) {
    const { x, width } = await codesFor(seed);
    let best = fit(x, n, width, { k, seed: seed * restarts });
    for (let r = 1; r < restarts; r++) {
      const other = fit(x, n, width, { k, seed: seed * restarts + r });
      if (other.inertia < best.inertia) best = other;
    }
    const labels = mixture ? await mixtureLabels(x, width, best.labels) : Array.from(best.labels);
    scores.nmi.push(nmi(truth, labels));
    scores.ari.push(ari(truth, labels));
    scores.acc.push(clusterAccuracy(truth, labels));
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `${name.padEnd(38)}${stats(scores.nmi).padEnd(21)}${stats(scores.ari).padEnd(21)}${stats(scores.acc)}  ${seconds} s`,
  );
}

for (const [name, x, width, restarts] of preparations) {
  await measure(name, seeds, restarts, async () => ({ x, width }));
}

const layouts = new Map<string, { x: Float32Array; width: number }>();

/**
 * The pipeline's manifold step on `x`: a layout of a seeded sample, every row placed in it
 * (kept, so that the mixture row clusters the same layouts).
 */
async function placed(x: Float32Array, width: number, seed: number, key: string) {
  const id = `${key}/${seed}`;
  const known = layouts.get(id);
  if (known) return known;
  const m = Math.min(n, umapSample);
  const rows = permutation(n, new Rng(seed + 7)).slice(0, m);
  const sample = new Float32Array(m * width);
  rows.forEach((r, i) => sample.set(x.subarray(r * width, (r + 1) * width), i * width));
  const layout = await fitManifold(sample, m, width, { dims: 10, neighbors: umapNeighbors, seed });
  const out = { x: embed(layout, x, n), width: 10 };
  layouts.set(id, out);
  return out;
}

if (args.umap) {
  console.log(
    `UMAP (${Math.min(n, umapSample)}-code layout, 10 dims, ` +
      `${Math.min(umapNeighbors, Math.min(n, umapSample) - 1)} neighbours), ` +
      `seeds 0..${umapSeeds - 1}`,
  );
  const umapOf: [string, string, Float32Array, number][] = [
    ['raw', 'UMAP of the raw codes', raw, dim],
    ['l2', 'UMAP of the L2 codes', l2, dim],
    ['attention', 'UMAP of the attention map', attention, dim / depth],
  ];
  const wanted = new Set(umapOfWanted);
  for (const [key, name, x, width] of umapOf) {
    if (!wanted.has(key)) continue;
    await measure(name, umapSeeds, 1, (seed) => placed(x, width, seed, key));
    if (args.mixture) {
      await measure(`${name}, mixture`, umapSeeds, 1, (s) => placed(x, width, s, key), true);
    }
  }
}
