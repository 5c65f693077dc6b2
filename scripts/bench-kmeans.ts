/**
 * Mini-batch k-means against scikit-learn on the same data, in the same run.
 *
 *   npm run bench:kmeans                                   # 200,000 × 2,888, k = 25
 *   npm run bench:kmeans -- --n 20000 --dim 512 --no-lloyd
 *
 * Draws n non-negative codes (the shape of the encoder's ReLU outputs) around k centres
 * with a seeded generator, writes them to a temporary file, fits our mini-batch k-means on
 * them, then has /usr/bin/python3 fit scikit-learn's MiniBatchKMeans and (unless
 * --no-lloyd) full Lloyd KMeans on the very same file. Prints each one's seconds, steps,
 * inertia over all points and NMI against the centres the points were drawn from, and the
 * two ratios: our time / MiniBatchKMeans's, and our inertia / Lloyd's.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fit, Rng } from '@imgcluster/kmeans';
import { nmi } from '@imgcluster/metrics';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200000' },
    dim: { type: 'string', default: '2888' },
    k: { type: 'string', default: '25' },
    batch: { type: 'string', default: '1024' },
    seed: { type: 'string', default: '0' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'no-lloyd': { type: 'boolean', default: false },
  },
});
const num = (name: 'n' | 'dim' | 'k' | 'batch' | 'seed', min: number) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
  return v;
};
const n = num('n', 1);
const dim = num('dim', 1);
const k = num('k', 1);
const batch = num('batch', 1);
const seed = num('seed', 0);

/**
 * n × dim codes around k centres: each centre is a ReLU of a Gaussian (about half its
 * entries zero), each point its centre plus Gaussian noise of a third of the centres'
 * spread, again through a ReLU. Returns the points and which centre each was drawn from.
 */
function syntheticCodes(): { points: Float32Array; truth: Int32Array } {
  const rng = new Rng(seed + 12345);
  const centres = new Float32Array(k * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = Math.max(0, rng.gaussian());
  const points = new Float32Array(n * dim);
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
  return { points, truth };
}

interface Side {
  seconds: number;
  steps: number;
  inertia: number;
  nmi?: number;
}

const t0 = Date.now();
console.log(`drawing ${n.toLocaleString('en-US')} × ${dim} codes around ${k} centres…`);
const { points, truth } = syntheticCodes();
console.log(
  `  ${(points.byteLength / 2 ** 30).toFixed(2)} GiB as float32, drawn in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);

const work = mkdtempSync(join(tmpdir(), 'imgcluster-bench-kmeans-'));
try {
  const file = join(work, 'codes.f32');
  const fd = openSync(file, 'w');
  const bytes = new Uint8Array(points.buffer, points.byteOffset, points.byteLength);
  for (let at = 0; at < bytes.length; at += 2 ** 28) {
    writeSync(fd, bytes, at, Math.min(2 ** 28, bytes.length - at));
  }
  closeSync(fd);

  const started = process.hrtime.bigint();
  const ours = fit(points, n, dim, { k, batchSize: batch, seed });
  const oursSide: Side = {
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    steps: ours.steps,
    inertia: ours.inertia,
    nmi: nmi(truth, ours.labels),
  };
  console.log(
    `ours     mini-batch: ${oursSide.seconds.toFixed(2)} s, ${ours.steps} steps (${ours.stopReason}), inertia ${ours.inertia.toExponential(6)}, NMI ${oursSide.nmi!.toFixed(4)}`,
  );

  const script = join(dirname(fileURLToPath(import.meta.url)), 'bench', 'kmeans_sklearn.py');
  const labelsFile = join(work, 'sklearn-labels.i32');
  const res = spawnSync(
    args.python!,
    [
      script,
      file,
      '--n',
      String(n),
      '--dim',
      String(dim),
      '--k',
      String(k),
      '--batch',
      String(batch),
      '--seed',
      String(seed),
      '--labels-out',
      labelsFile,
      ...(args['no-lloyd'] ? ['--no-lloyd'] : []),
    ],
    { encoding: 'utf8', maxBuffer: 2 ** 20 },
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
      minibatch: Side;
      lloyd?: Side;
    };
    const skLabels = new Int32Array(readFileSync(labelsFile).buffer.slice(0));
    sk.minibatch.nmi = nmi(truth, skLabels);
    const mb = sk.minibatch;
    console.log(
      `sklearn  MiniBatchKMeans ${sk.sklearn}: ${mb.seconds.toFixed(2)} s, ${mb.steps} steps, inertia ${mb.inertia.toExponential(6)}, NMI ${mb.nmi!.toFixed(4)}`,
    );
    if (sk.lloyd) {
      console.log(
        `sklearn  KMeans (Lloyd): ${sk.lloyd.seconds.toFixed(2)} s, ${sk.lloyd.steps} iterations, inertia ${sk.lloyd.inertia.toExponential(6)}`,
      );
    }
    console.log('');
    console.log(
      `time ratio, ours / sklearn MiniBatchKMeans: ${(oursSide.seconds / mb.seconds).toFixed(3)} (goal <= 0.5)`,
    );
    const ref = sk.lloyd ?? mb;
    const refName = sk.lloyd ? 'sklearn Lloyd' : 'sklearn MiniBatchKMeans (no Lloyd run)';
    console.log(
      `inertia ratio, ours / ${refName}: ${(oursSide.inertia / ref.inertia).toFixed(4)}${sk.lloyd ? ' (goal <= 1.01)' : ''}`,
    );
    if (sk.lloyd) {
      console.log(
        `inertia ratio, sklearn MiniBatchKMeans / Lloyd: ${(mb.inertia / sk.lloyd.inertia).toFixed(4)}`,
      );
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
