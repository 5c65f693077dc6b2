/**
 * Real codes for k-means work: runs the whole pipeline on Fashion-MNIST images, then writes
 * the run's codes and the images' true classes as flat files.
 *
 *   npm run export:codes                                  # 10,000 images → demo-output/codes
 *   npm run export:codes -- --n 20000 --epochs 5 --seed 0 --dtype float32 --out /tmp/codes
 *   npm run export:codes -- --spec '{"model":{"filters":[32,16,8]}}'   # more run settings, merged in
 *
 * Files written to the output folder:
 *   codes.f32   n × dim little-endian float32, row-major (the run's codes, widened if float16)
 *   truth.i32   n little-endian int32 class labels 0..9, in the same row order
 *   codes.json  { n, dim, runId, spec, labelsOrder, shards, classes, dtype }
 *
 * Rows are in the order of the run's code shards (shard 0 first), each shard's rows in order.
 *
 * After a float32 run it also measures what the float16 code format would change: mini-batch
 * k-means (the run's k, batch size, step cap and seed) on the codes and on the same codes
 * rounded through float16, then the inertia ratio, NMI of each against the true classes and
 * the fraction of images whose cluster changes (clusters matched one-to-one first); a fit of
 * the float32 codes with the next seed shows how much a seed alone changes. `--no-compare`
 * skips it.
 *
 * Like `npm run demo`, it starts a private Redis, a local S3-compatible server and the five
 * services on loopback, and stops them at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ImgclusterClient, formatProgress } from '@imgcluster/client';
import { runSpecSchema, type RunSpec } from '@imgcluster/config';
import { balancedSubset, FASHION_MNIST_CLASSES, readFashionMnist } from '@imgcluster/datasets';
import { uploadFashionMnist } from '@imgcluster/devstack';
import { startScriptStack } from './lib/local-stack.js';
import { assign, fit } from '@imgcluster/kmeans';
import { matchClusters, nmi } from '@imgcluster/metrics';
import { decodeShard, encodeShard, float16ToFloat32, float32ToFloat16 } from '@imgcluster/shard';

const USAGE = `usage: npm run export:codes -- [--n 10000] [--out DIR] [--epochs 5] [--seed 0]
       [--k 10] [--dtype float32|float16] [--no-compare] [--spec JSON]`;

const OPTIONS = {
  n: { type: 'string', default: '10000' },
  out: { type: 'string', default: 'demo-output/codes' },
  epochs: { type: 'string', default: '5' },
  seed: { type: 'string', default: '0' },
  k: { type: 'string', default: '10' },
  dtype: { type: 'string', default: 'float32' },
  'no-compare': { type: 'boolean', default: false },
  spec: { type: 'string', default: '{}' },
  help: { type: 'boolean', default: false },
} as const;

/** The command-line options; a bad one prints the usage and exits with 2. */
function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const args = parseOptions();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const bad = (msg: string) => {
  console.error(`${msg}\n${USAGE}`);
  process.exit(2);
};
for (const name of ['n', 'epochs', 'k'] as const) {
  if (!/^[1-9]\d*$/.test(args[name]!)) bad(`--${name} must be a positive whole number`);
}
if (!/^\d+$/.test(args.seed!)) bad('--seed must be a whole number');
if (Number(args.k) < 2 || Number(args.k) > 1000) bad('--k must be from 2 to 1000');
if (args.dtype !== 'float32' && args.dtype !== 'float16') bad('--dtype must be float32 or float16');
const dtype = args.dtype as RunSpec['codes']['dtype'];
let extra: Record<string, Record<string, unknown>> = {};
try {
  extra = JSON.parse(args.spec!) as typeof extra;
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error();
} catch {
  bad('--spec must be a JSON object of run settings, such as {"model":{"filters":[32,16,16]}}');
}
{
  // The settings are checked here, before any server starts, as the API would check them.
  const checked = runSpecSchema.safeParse({ ...extra, input: { bucket: 'datasets' } });
  if (!checked.success) {
    const issues = checked.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    bad(`--spec is not valid run settings:\n${issues.join('\n')}`);
  }
}
const seed = Number(args.seed);
const k = Number(args.k);

const t0 = Date.now();
const say = (msg: string) =>
  console.log(`[export ${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}`);

const data = await readFashionMnist({ split: 'all' });
const count = Math.min(Number(args.n), data.n);
const indices =
  count === data.n ? [...Array(data.n).keys()] : balancedSubset(data.labels, count, seed);
say(`Fashion-MNIST: ${indices.length} of ${data.n} images (balanced sample, seed ${seed})`);

const { stack, close } = await startScriptStack('export', say);

let exitCode = 0;
try {
  const upload = await uploadFashionMnist(
    stack.storage,
    data,
    indices,
    { bucket: 'datasets', prefix: 'fashion-mnist/' },
    (done) => say(`uploaded ${done}/${indices.length} PNGs`),
  );
  const classOf = new Map(upload.keys.map((key, j) => [key, data.labels[indices[j]]]));

  const client = new ImgclusterClient(stack.apiUrl);
  const { id } = await client.submit({
    name: `fashion-mnist codes ${indices.length}`,
    input: { bucket: upload.bucket, prefix: upload.prefix },
    labels: { key: upload.labelsKey },
    ...extra,
    training: { epochs: Number(args.epochs), seed, ...extra.training },
    kmeans: { k, seed, ...extra.kmeans },
    codes: { dtype, ...extra.codes },
  });
  say(`submitted run ${id} (codes ${dtype})`);
  let last = '';
  const final = await client.wait(
    id,
    (s) => {
      const line = formatProgress(s);
      if (line !== last) say(line);
      last = line;
    },
    2000,
  );
  if (final.state !== 'succeeded') throw new Error(`run ${id} ${final.state}: ${final.error}`);

  const metrics = await client.artifactJson<{ scores?: { nmi: number; accuracy: number } }>(
    id,
    'metrics.json',
  );
  if (metrics.scores) {
    const { nmi: runNmi, accuracy } = metrics.scores;
    say(`the run's own clustering: NMI ${runNmi.toFixed(4)}, accuracy ${accuracy.toFixed(4)}`);
  }
  const exported = await readCodes(client, id, classOf);
  const out = resolve(args.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'codes.f32'), littleEndian(exported.codes));
  writeFileSync(join(out, 'truth.i32'), littleEndian(exported.truth));
  const meta = {
    n: exported.n,
    dim: exported.dim,
    runId: id,
    spec: final.spec,
    labelsOrder: 'row order of codes.f32',
    dtype,
    shards: exported.shards,
    classes: FASHION_MNIST_CLASSES,
  };
  writeFileSync(join(out, 'codes.json'), `${JSON.stringify(meta, null, 2)}\n`);
  say(`wrote ${exported.n} × ${exported.dim} codes to ${join(out, 'codes.f32')}`);
  say(`true classes in ${join(out, 'truth.i32')}, description in ${join(out, 'codes.json')}`);

  if (args['no-compare']) {
    // Nothing more asked for.
  } else if (dtype === 'float16') {
    say('the run stored float16 codes: the float16 comparison needs a float32 run');
  } else {
    const kmeans = final.spec.kmeans;
    compareFloat16(exported.codes, exported.truth, exported.n, exported.dim, {
      k,
      seed,
      batchSize: kmeans.batchSize,
      maxSteps: kmeans.maxSteps,
    });
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await close();
}
process.exit(exitCode);

/** Every code shard of a run, concatenated in shard order, with each row's true class. */
async function readCodes(
  api: ImgclusterClient,
  runId: string,
  classOf: Map<string, number>,
): Promise<{ codes: Float32Array; truth: Int32Array; n: number; dim: number; shards: number }> {
  const { artifacts } = await api.artifacts(runId);
  const paths = artifacts
    .map((a) => a.path)
    .filter((p) => /^codes\/codes-\d+\.bin$/.test(p))
    .sort((a, b) => shardNumber(a) - shardNumber(b));
  if (paths.length === 0) throw new Error(`run ${runId} has no code shards`);

  const parts: Float32Array[] = [];
  const truth: number[] = [];
  let dim = 0;
  const bytes = { stored: 0, float32: 0, float16: 0 };
  for (const path of paths) {
    const stored = await api.download(runId, path);
    const shard = decodeShard(stored);
    bytes.stored += stored.length;
    for (const dtype of ['float32', 'float16'] as const) {
      bytes[dtype] += encodeShard({ ...shard.header, dtype }, shard.data).length;
    }
    const { shape, keys } = shard.header;
    const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
    if (dim !== 0 && rowSize !== dim) throw new Error(`${path}: rows of ${rowSize}, not ${dim}`);
    dim = rowSize;
    parts.push(shard.data as Float32Array);
    for (const key of keys) {
      const label = classOf.get(key);
      if (label === undefined) throw new Error(`${path}: ${key} is not an uploaded image`);
      truth.push(label);
    }
    say(`read ${path} (${shard.header.dtype}, ${keys.length} rows)`);
  }
  const codes = new Float32Array(truth.length * dim);
  let at = 0;
  for (const part of parts) {
    codes.set(part, at);
    at += part.length;
  }
  say(
    `code shards: ${bytes.stored} bytes stored; as float32 ${bytes.float32}, as float16 ` +
      `${bytes.float16} (${((100 * bytes.float16) / bytes.float32).toFixed(1)}%, keys included)`,
  );
  return { codes, truth: Int32Array.from(truth), n: truth.length, dim, shards: paths.length };
}

function shardNumber(path: string): number {
  return Number(/(\d+)\.bin$/.exec(path)![1]);
}

/** The bytes of a typed array, little-endian whatever the machine's byte order. */
function littleEndian(values: Float32Array | Int32Array): Buffer {
  const out = Buffer.alloc(values.length * 4);
  if (values instanceof Float32Array) values.forEach((v, i) => out.writeFloatLE(v, i * 4));
  else values.forEach((v, i) => out.writeInt32LE(v, i * 4));
  return out;
}

/**
 * What storing the codes as float16 changes in the clustering: the same k-means (options and
 * seed) on the codes and on the codes rounded through float16; both labelings are scored
 * against the true classes, and the float16 centroids' inertia is taken on the float32 codes.
 */
function compareFloat16(
  codes: Float32Array,
  truth: Int32Array,
  n: number,
  dim: number,
  options: { k: number; seed: number; batchSize: number; maxSteps: number },
) {
  const rounded = float16ToFloat32(float32ToFloat16(codes));
  // Normal halves keep 11 significant bits (relative error at most 2^-11); below 2^-14 they
  // are subnormal, with a fixed step of 2^-24 instead.
  let maxRelative = 0;
  let subnormal = 0;
  for (let i = 0; i < codes.length; i++) {
    const x = Math.abs(codes[i]);
    if (x >= 2 ** -14) maxRelative = Math.max(maxRelative, Math.abs(rounded[i] - codes[i]) / x);
    else if (x !== 0) subnormal++;
  }
  say(`float16 comparison: k-means ${JSON.stringify(options)} on ${n} × ${dim} codes`);

  const full = fit(codes, n, dim, options);
  const half = fit(rounded, n, dim, options);
  const otherSeed = fit(codes, n, dim, { ...options, seed: options.seed + 1 });
  const halfOnFull = assign(codes, n, dim, half.centroids, options.k);

  const row = (name: string, labels: Int32Array, inertia: number) =>
    `  ${name.padEnd(34)} inertia ${inertia.toExponential(6)}  NMI ${nmi(truth, labels).toFixed(4)}`;
  const changed = (other: Int32Array) => {
    const fraction = changedFraction(full.labels, other);
    return `${fraction.toFixed(4)} (${Math.round(fraction * n)} of ${n})`;
  };
  console.log(`\ncodes rounded through float16:`);
  console.log(`  largest relative change ${maxRelative.toExponential(2)} (values from 2^-14 up)`);
  console.log(`  nonzero values below 2^-14 (float16 subnormals): ${subnormal} of ${codes.length}`);
  console.log(row('float32 codes', full.labels, full.inertia));
  console.log(row('float16 codes (inertia on float32)', half.labels, halfOnFull.inertia));
  console.log(row(`float32 codes, seed ${options.seed + 1}`, otherSeed.labels, otherSeed.inertia));
  console.log(
    `  inertia ratio float16 / float32: ${(halfOnFull.inertia / full.inertia).toFixed(7)}`,
  );
  console.log(`  images whose cluster changes, float16: ${changed(half.labels)}`);
  console.log(
    `  images whose cluster changes, seed ${options.seed + 1}: ${changed(otherSeed.labels)}`,
  );
  console.log(
    `  (clusters matched one-to-one; without matching ${differingLabels(full.labels, half.labels)}` +
      ` float16 labels differ; mini-batch steps float32 ${full.steps}, float16 ${half.steps})`,
  );
}

/** Fraction of items whose cluster in `b` is not the one matched to their cluster in `a`. */
function changedFraction(a: Int32Array, b: Int32Array): number {
  return 1 - matchClusters(a, b).accuracy;
}

/** Items with a different cluster number in `a` and `b`. */
function differingLabels(a: Int32Array, b: Int32Array): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}
