/**
 * Mini-batch k-means against scikit-learn on the same data, in the same run.
 *
 *   npm run bench:kmeans                                  # 200,000 × 2,888 synthetic, k = 25
 *   npm run bench:kmeans -- --n 20000 --dim 512 --no-lloyd
 *   npm run bench:kmeans -- --codes DIR --k 10 --seeds 10  # codes from npm run export:codes
 *
 * Synthetic data: n non-negative codes (the shape of the encoder's ReLU outputs) around k
 * centres, drawn with a seeded generator. With --codes, the codes.f32 / truth.i32 /
 * codes.json that `npm run export:codes` writes. The codes are written to a temporary file;
 * our mini-batch k-means fits them in this process, then /usr/bin/python3 fits scikit-learn's
 * MiniBatchKMeans and (unless --no-lloyd) full Lloyd KMeans on the very same file, once per
 * seed. Prints each side's seconds, steps, inertia over all points and NMI against the true
 * classes, the time ratio ours / MiniBatchKMeans (goal <= 0.5) and the inertia ratio ours /
 * Lloyd (goal <= 1.01). Then, with --kernels (default on synthetic data), the assignment
 * pass timed with every kernel that could do it, and the memory floor.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allocPoints, defaultThreads, fit, kernel, Rng, type FitResult } from '@imgcluster/kmeans';
import { nmi } from '@imgcluster/metrics';
import { timeKernels } from './bench/kmeans-kernels.js';

const USAGE = `usage: npm run bench:kmeans -- [--n N] [--dim D] [--k K] [--batch B] [--seed S]
  [--seeds COUNT] [--codes DIR] [--python PATH] [--no-lloyd] [--kernels|--no-kernels]
  [--kernel-rows R]   (see README, Benchmarks)`;
const OPTIONS = {
  n: { type: 'string', default: '200000' },
  dim: { type: 'string', default: '2888' },
  k: { type: 'string', default: '25' },
  batch: { type: 'string', default: '1024' },
  seed: { type: 'string', default: '0' },
  seeds: { type: 'string', default: '1' },
  codes: { type: 'string' },
  python: { type: 'string', default: '/usr/bin/python3' },
  'no-lloyd': { type: 'boolean', default: false },
  kernels: { type: 'boolean' },
  'no-kernels': { type: 'boolean', default: false },
  'kernel-rows': { type: 'string', default: '20000' },
  help: { type: 'boolean', default: false },
} as const;
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
type NumArg = 'n' | 'dim' | 'k' | 'batch' | 'seed' | 'seeds' | 'kernel-rows';
const num = (name: NumArg, min: number) => {
  const v = Number(args[name]);
  if (!/^\d+$/.test(args[name] ?? '') || !Number.isSafeInteger(v) || v < min) {
    console.error(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
  return v;
};
const k = num('k', 1);
const batch = num('batch', 1);
const seed0 = num('seed', 0);
const seedCount = num('seeds', 1);
const seeds = Array.from({ length: seedCount }, (_, i) => seed0 + i);

/**
 * n × dim codes around k centres: each centre is a ReLU of a Gaussian (about half its
 * entries zero), each point its centre plus Gaussian noise of a third of the centres'
 * spread, again through a ReLU. Returns the points and which centre each was drawn from.
 */
function syntheticCodes(n: number, dim: number) {
  const rng = new Rng(seed0 + 12345);
  const centres = new Float32Array(k * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = Math.max(0, rng.gaussian());
  const points = allocPoints(n, dim);
  const truth = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const c = rng.nextInt(k);
    truth[p] = c;
    const row = p * dim;
    const from = c * dim;
    for (let d = 0; d < dim; d++) {
      points[row + d] = Math.max(0, centres[from + d] + 0.35 * rng.gaussian());
    }
  }
  return { n, dim, points, truth, name: `synthetic ${n} × ${dim} around ${k} centres` };
}

/** The codes an export wrote (codes.json, codes.f32, truth.i32 in one folder). */
function exportedCodes(dir: string) {
  const metaFile = join(dir, 'codes.json');
  if (!existsSync(metaFile)) {
    console.error(`--codes ${dir}: no codes.json there (write one with npm run export:codes)`);
    process.exit(2);
  }
  let meta: { n: number; dim: number };
  let points: Float32Array;
  let truth: Int32Array;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { n: number; dim: number };
    if (!Number.isInteger(meta.n) || meta.n < 1 || !Number.isInteger(meta.dim) || meta.dim < 1) {
      throw new Error('codes.json needs whole numbers n >= 1 and dim >= 1');
    }
    points = allocPoints(meta.n, meta.dim);
    readInto(join(dir, 'codes.f32'), points);
    truth = readInt32(join(dir, 'truth.i32'));
  } catch (err) {
    console.error(`--codes ${dir}: ${(err as Error).message}`);
    process.exit(2);
  }
  if (truth.length !== meta.n) {
    console.error(`--codes ${dir}: truth.i32 holds ${truth.length} labels for ${meta.n} codes`);
    process.exit(2);
  }
  return { ...meta, points, truth, name: `${meta.n} × ${meta.dim} codes from ${dir}` };
}

/** A file of little-endian int32 values (a copy: small files share Node's buffer pool). */
function readInt32(file: string): Int32Array {
  const b = readFileSync(file);
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function readInto(file: string, out: Float32Array) {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  const fd = openSync(file, 'r');
  let at = 0;
  while (at < bytes.length) {
    const got = readSync(fd, bytes, at, Math.min(2 ** 28, bytes.length - at), at);
    if (got === 0) throw new Error(`${file} ends after ${at} of ${bytes.length} bytes`);
    at += got;
  }
  closeSync(fd);
}

function writeFrom(file: string, data: Float32Array) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const fd = openSync(file, 'w');
  for (let at = 0; at < bytes.length; at += 2 ** 28) {
    writeSync(fd, bytes, at, Math.min(2 ** 28, bytes.length - at));
  }
  closeSync(fd);
}

interface Side {
  seed: number;
  seconds: number;
  steps: number;
  inertia: number;
  nmi?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => {
  const m = mean(xs);
  return xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
};
const summary = (sides: Side[], field: 'seconds' | 'inertia' | 'nmi') => {
  const xs = sides.map((s) => s[field] ?? NaN);
  const f = (v: number) =>
    field === 'inertia' ? v.toExponential(6) : v.toFixed(field === 'nmi' ? 4 : 2);
  return xs.length > 1 ? `${f(mean(xs))} ± ${f(spread(xs))}` : f(xs[0]);
};

const t0 = Date.now();
const data = args.codes ? exportedCodes(args.codes) : syntheticCodes(num('n', 1), num('dim', 1));
const { n, dim, points, truth } = data;
if (k > n) {
  console.error(`--k ${k} exceeds the ${n} codes`);
  process.exit(2);
}
console.log(
  `${data.name}: ${(points.byteLength / 2 ** 30).toFixed(2)} GiB as float32, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);

const started = performance.now();
kernel()
  .workers()
  .split('stream_sum', defaultThreads(), () => [points.byteOffset, 16]);
console.log(
  `load average ${loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')} (other work skews the times)`,
);
console.log(
  `kernel start-up (once per process, like Python's imports): ${((performance.now() - started) / 1000).toFixed(3)} s, ${defaultThreads()} threads`,
);

const work = mkdtempSync(join(tmpdir(), 'imgcluster-bench-kmeans-'));
try {
  const file = join(work, 'codes.f32');
  writeFrom(file, points);

  const ours: Side[] = [];
  let last: FitResult | null = null;
  for (const seed of seeds) {
    const t = process.hrtime.bigint();
    let r: FitResult;
    try {
      r = fit(points, n, dim, { k, batchSize: batch, seed });
    } catch (err) {
      console.error(`our k-means failed: ${(err as Error).message}`);
      process.exit(1);
    }
    const side = {
      seed,
      seconds: Number(process.hrtime.bigint() - t) / 1e9,
      steps: r.steps,
      inertia: r.inertia,
      nmi: nmi(truth, r.labels),
    };
    ours.push(side);
    last = r;
    const s = r.seconds;
    console.log(
      `ours     mini-batch, seed ${seed}: ${side.seconds.toFixed(2)} s (seeding ${s.seed.toFixed(2)}, steps ${s.steps.toFixed(2)}, labelling all ${s.assign.toFixed(2)}), ${r.steps} steps (${r.stopReason}), inertia ${r.inertia.toExponential(6)}, NMI ${side.nmi.toFixed(4)}`,
    );
  }

  const script = join(dirname(fileURLToPath(import.meta.url)), 'bench', 'kmeans_sklearn.py');
  const labelsPrefix = join(work, 'sklearn-labels');
  const res = spawnSync(
    args.python!,
    [script, file, '--n', String(n), '--dim', String(dim), '--k', String(k)]
      .concat(['--batch', String(batch), '--seeds', seeds.join(','), '--labels-out', labelsPrefix])
      .concat(args['no-lloyd'] ? ['--no-lloyd'] : []),
    { encoding: 'utf8', maxBuffer: 2 ** 22 },
  );
  if (res.status !== 0) {
    const why = res.error?.message ?? res.stderr.trim().split('\n').at(-1);
    console.log(
      `scikit-learn: not run (${why}); install it with apt-get install -y python3-sklearn`,
    );
    process.exitCode = 1;
  } else {
    const sk = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as {
      sklearn: string;
      minibatch: Side[];
      lloyd: Side[];
    };
    const labelled = (method: string, s: Side) => {
      const file = `${labelsPrefix}.${method}.${s.seed}`;
      s.nmi = nmi(truth, readInt32(file));
    };
    sk.minibatch.forEach((s) => labelled('minibatch', s));
    sk.lloyd.forEach((s) => labelled('lloyd', s));
    for (const s of sk.minibatch) {
      console.log(
        `sklearn  MiniBatchKMeans ${sk.sklearn}, seed ${s.seed}: ${s.seconds.toFixed(2)} s, ${s.steps} steps, inertia ${s.inertia.toExponential(6)}, NMI ${s.nmi!.toFixed(4)}`,
      );
    }
    for (const s of sk.lloyd) {
      console.log(
        `sklearn  KMeans (Lloyd), seed ${s.seed}: ${s.seconds.toFixed(2)} s, ${s.steps} iterations, inertia ${s.inertia.toExponential(6)}, NMI ${s.nmi!.toFixed(4)}`,
      );
    }

    const over = seeds.length > 1 ? ` (mean ± sd over ${seeds.length} seeds)` : '';
    console.log('');
    console.log(`summary${over}:`);
    console.log(
      `  seconds  ours ${summary(ours, 'seconds')}, sklearn MiniBatchKMeans ${summary(sk.minibatch, 'seconds')}`,
    );
    console.log(
      `  NMI      ours ${summary(ours, 'nmi')}, sklearn MiniBatchKMeans ${summary(sk.minibatch, 'nmi')}${sk.lloyd.length ? `, sklearn Lloyd ${summary(sk.lloyd, 'nmi')}` : ''}`,
    );
    const timeRatio = mean(ours.map((s) => s.seconds)) / mean(sk.minibatch.map((s) => s.seconds));
    console.log(
      `time ratio, ours / sklearn MiniBatchKMeans: ${timeRatio.toFixed(3)} (goal <= 0.5)`,
    );
    const ref = sk.lloyd.length ? sk.lloyd : sk.minibatch;
    const refName = sk.lloyd.length ? 'sklearn Lloyd' : 'sklearn MiniBatchKMeans (no Lloyd run)';
    const inertiaRatio = mean(ours.map((s) => s.inertia)) / mean(ref.map((s) => s.inertia));
    console.log(
      `inertia ratio, ours / ${refName}: ${inertiaRatio.toFixed(4)}${sk.lloyd.length ? ' (goal <= 1.01)' : ''}`,
    );
    if (sk.lloyd.length) {
      const r = mean(sk.minibatch.map((s) => s.inertia)) / mean(sk.lloyd.map((s) => s.inertia));
      console.log(`inertia ratio, sklearn MiniBatchKMeans / Lloyd: ${r.toFixed(4)}`);
    }
    const nmiGap = mean(ours.map((s) => s.nmi!)) - mean(sk.minibatch.map((s) => s.nmi!));
    console.log(
      `NMI, ours - sklearn MiniBatchKMeans: ${nmiGap >= 0 ? '+' : ''}${nmiGap.toFixed(4)}`,
    );
  }

  if (last && !args['no-kernels'] && (args.kernels ?? !args.codes)) {
    const rows = num('kernel-rows', 1);
    console.log('');
    console.log(
      `assignment pass over all ${n.toLocaleString('en-US')} codes, k = ${k}, at the fitted centroids:`,
    );
    const timings = await timeKernels(points, n, dim, last.centroids, k, rows);
    const base = timings[0].seconds;
    for (const t of timings) {
      const scaled = t.rows < n ? ` (measured on ${t.rows.toLocaleString('en-US')})` : '';
      const wrong = t.mismatches === undefined ? '' : `, ${t.mismatches} labels differ`;
      console.log(
        `  ${t.name}: ${t.seconds.toFixed(3)} s${scaled}, ${(t.distancesPerSecond / 1e6).toFixed(0)} M distances/s, ${(t.seconds / base).toFixed(2)}x the pruned kernel's time${wrong}`,
      );
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
