/**
 * The demo: real Fashion-MNIST images through the whole pipeline on this machine.
 *
 *   npm run demo                      # 20,000 images, 32×32, k = 10
 *   npm run demo -- --all             # all 70,000 images
 *   npm run demo -- --images 5000 --epochs 3 --k 10 --out demo-output
 *   npm run demo -- --all --preset quality  # a named preset (see PRESETS in @imgcluster/config)
 *   npm run bench:quality -- --preset quality   # the same, on all 70,000 images
 *
 * Settings not given on the command line are the preset's, else the run spec's defaults.
 * The last lines compare the run's NMI, ARI and accuracy against the true classes with
 * mini-batch k-means on the raw pixels of the same images (the in-run baseline), with the
 * run's time.
 *
 * It starts a private Redis and a local S3-compatible server on loopback, the five
 * services as separate processes, uploads the images as PNG objects with a labels file,
 * submits the run through the REST API, shows live progress, prints the clusters and
 * scores, and downloads the pictures, metrics and report into the output folder.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiRequestError, ImgclusterClient, formatProgress } from '@imgcluster/client';
import { PRESET_NAMES, type RunSpecInput } from '@imgcluster/config';
import { balancedSubset, readFashionMnist } from '@imgcluster/datasets';
import { startStack, uploadFashionMnist } from '@imgcluster/devstack';
import { rawPixelBaseline } from './lib/baseline.js';

const DEMO_USAGE = `usage: npm run demo -- [--images N | --all] [--preset ${PRESET_NAMES.join('|')}]
       [--epochs N] [--k N] [--normalize none|l2] [--manifold none|umap]
       [--mixture none|gaussian] [--neighbors N] [--size N] [--out DIR] [--no-baseline] [--keep]`;

const DEMO_OPTIONS = {
  images: { type: 'string', default: '20000' },
  all: { type: 'boolean', default: false },
  k: { type: 'string', default: '10' },
  preset: { type: 'string' },
  normalize: { type: 'string' },
  manifold: { type: 'string' },
  mixture: { type: 'string' },
  neighbors: { type: 'string' },
  epochs: { type: 'string' },
  size: { type: 'string', default: '32' },
  out: { type: 'string', default: 'demo-output' },
  'no-baseline': { type: 'boolean', default: false },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/** The command-line options; a bad one prints the usage and exits with 2. */
function parseDemoArgs() {
  try {
    return parseArgs({ options: DEMO_OPTIONS }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${DEMO_USAGE}`);
    process.exit(2);
  }
}

const args = parseDemoArgs();
if (args.help) {
  console.log(DEMO_USAGE);
  process.exit(0);
}

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
const say = (msg: string) => console.log(`[demo ${elapsed()}] ${msg}`);

for (const name of ['images', 'k', 'epochs', 'size', 'neighbors'] as const) {
  if (args[name] !== undefined && !/^\d+$/.test(args[name])) {
    console.error(`--${name} must be a whole number, got ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
}

const oneOf = (name: string, value: string | undefined, allowed: readonly string[]) => {
  if (value !== undefined && !allowed.includes(value)) {
    console.error(`--${name} must be ${allowed.join(' or ')}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
};
oneOf('normalize', args.normalize, ['none', 'l2']);
oneOf('manifold', args.manifold, ['none', 'umap']);
oneOf('mixture', args.mixture, ['none', 'gaussian']);
oneOf('preset', args.preset, PRESET_NAMES);

const data = await readFashionMnist({ split: 'all' });
const count = args.all ? data.n : Math.min(Number(args.images), data.n);
const indices =
  count === data.n ? [...Array(data.n).keys()] : balancedSubset(data.labels, count, 0);
say(`Fashion-MNIST: using ${indices.length} of ${data.n} images`);

const work = mkdtempSync(join(tmpdir(), 'imgcluster-demo-'));
const stack = await startStack(work, { preprocess: 2, encoder: 2 });
say(
  `redis ${stack.redis.url}, s3 ${stack.s3.endpoint}, api ${stack.apiUrl}; logs in ${stack.logDir}`,
);

let stopping = false;
const stopOnSignal = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping the services and servers`);
  await stack.stop();
  rmSync(work, { recursive: true, force: true });
  process.exit(130);
};
process.once('SIGINT', () => void stopOnSignal('SIGINT'));
process.once('SIGTERM', () => void stopOnSignal('SIGTERM'));

let exitCode = 0;
try {
  const upload = await uploadFashionMnist(
    stack.storage,
    data,
    indices,
    { bucket: 'datasets', prefix: 'fashion-mnist/' },
    (done) => process.stdout.write(`\r[demo ${elapsed()}] uploaded ${done}/${indices.length} PNGs`),
  );
  process.stdout.write('\n');

  const client = new ImgclusterClient(stack.apiUrl);
  const kmeans: NonNullable<RunSpecInput['kmeans']> = { k: Number(args.k) };
  if (args.normalize) kmeans.normalize = args.normalize as 'none' | 'l2';
  if (args.manifold) kmeans.manifold = { method: args.manifold as 'none' | 'umap' };
  if (args.neighbors) kmeans.manifold = { ...kmeans.manifold, neighbors: Number(args.neighbors) };
  if (args.mixture) kmeans.mixture = args.mixture as 'none' | 'gaussian';
  const submitted = await client.submit({
    name: `fashion-mnist ${indices.length}`,
    ...(args.preset ? { preset: args.preset as (typeof PRESET_NAMES)[number] } : {}),
    input: { bucket: upload.bucket, prefix: upload.prefix },
    labels: { key: upload.labelsKey },
    image: { size: Number(args.size), channels: 1 },
    ...(args.epochs ? { training: { epochs: Number(args.epochs) } } : {}),
    kmeans,
  });
  say(`submitted run ${submitted.id}: POST ${stack.apiUrl}/v1/runs → 202`);

  let last = '';
  const final = await client.wait(
    submitted.id,
    (s) => {
      const line = formatProgress(s);
      if (line !== last) console.log(`[demo ${elapsed()}] ${line}`);
      last = line;
    },
    2000,
  );
  if (final.state !== 'succeeded') {
    say(`run ${final.state}: ${final.error ?? ''}`);
    exitCode = 1;
  } else {
    const scores = await report(client, submitted.id, stack.apiUrl);
    const preset = args.preset ?? 'default';
    const runSeconds =
      (Date.parse(final.finishedAt ?? final.updatedAt) - Date.parse(final.createdAt)) / 1000;
    if (scores) {
      say(
        `preset ${preset}: NMI ${scores.nmi.toFixed(3)}  ARI ${scores.ari.toFixed(3)}  ` +
          `accuracy ${scores.accuracy.toFixed(3)}  (${runSeconds.toFixed(0)} s from submit ` +
          `to done, ${indices.length} images)`,
      );
    }
    if (!args['no-baseline']) {
      say('reference: mini-batch k-means on the raw pixels of the same images');
      const b = rawPixelBaseline(data, indices, Number(args.k));
      say(
        `raw pixels: NMI ${b.nmi.toFixed(3)}  ARI ${b.ari.toFixed(3)}  accuracy ${b.accuracy.toFixed(3)}  (${b.seconds.toFixed(1)} s)`,
      );
      if (scores) {
        say(
          `preset ${preset} against raw pixels: NMI ${(scores.nmi - b.nmi).toFixed(3)}, ` +
            `accuracy ${(scores.accuracy - b.accuracy).toFixed(3)} (differences)`,
        );
      }
    }
  }
} catch (err) {
  if (err instanceof ApiRequestError) {
    console.error(`the API refused the run: ${JSON.stringify(err.body, null, 2)}`);
  } else {
    console.error(err);
  }
  exitCode = 1;
} finally {
  if (args.keep) {
    const pids = [
      `redis ${stack.redis.child.pid}`,
      `s3 ${stack.s3.child.pid}`,
      ...stack.services.map((s) => `${s.name} ${s.process.child.pid}`),
    ];
    say(`servers left running (--keep); data in ${work}`);
    say(`process ids (stop them with kill): ${pids.join(', ')}`);
  } else {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
process.exit(exitCode);

async function report(client: ImgclusterClient, runId: string, apiUrl: string) {
  const metrics = await client.artifactJson<Record<string, any>>(runId, 'metrics.json');
  const clusters = await client.artifactJson<any[]>(runId, 'clusters.json');

  console.log('\ncluster   size  top labels');
  for (const c of clusters) {
    const top = Object.entries((c.labels ?? {}) as Record<string, number>)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([l, n]) => `${l} ${((100 * n) / c.size).toFixed(0)}%`)
      .join(', ');
    console.log(`${String(c.cluster).padStart(7)} ${String(c.size).padStart(6)}  ${top}`);
  }
  const s = metrics.scores;
  console.log(`\nimages ${metrics.images}, rejected ${metrics.rejected}, k ${metrics.k}`);
  if (s)
    console.log(
      `scores: NMI ${s.nmi.toFixed(3)}  ARI ${s.ari.toFixed(3)}  accuracy ${s.accuracy.toFixed(3)}`,
    );
  console.log(
    'seconds per stage:',
    Object.entries(metrics.stageSeconds)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  );
  if (metrics.training)
    console.log(
      `training backend ${metrics.training.backend}, losses ${metrics.training.losses.map((l: number) => l.toFixed(4)).join(' ')}`,
    );

  const out = resolve(args.out!, runId);
  mkdirSync(join(out, 'clusters'), { recursive: true });
  const { artifacts } = await client.artifacts(runId);
  // Pictures, metrics, labels, the report and the model (not the image/code shards).
  const wanted = artifacts.filter(
    (a) =>
      /\.(png|json|html|csv|bin)$/.test(a.path) &&
      !/^(images|codes|checkpoint)\//.test(a.path) &&
      a.path !== 'plan.json',
  );
  for (const a of wanted) {
    mkdirSync(join(out, a.path, '..'), { recursive: true });
    writeFileSync(join(out, a.path), await client.download(runId, a.path));
  }
  console.log(`\nartifacts: ${apiUrl}/v1/runs/${runId}/artifacts (s3://imgcluster/runs/${runId}/)`);
  console.log(`downloaded ${wanted.length} files to ${out} (report: ${join(out, 'report.html')})`);
  return s as { nmi: number; ari: number; accuracy: number } | undefined;
}
