/**
 * How well new images are assigned: a run over Fashion-MNIST training images, then
 * Fashion-MNIST test images (never seen by the run) sent to POST /v1/runs/:id/assign.
 * Prints the fraction of test images assigned to a cluster whose majority label (among
 * the run's own images) is their label, beside the run's own accuracy as the baseline.
 *
 *   npm run assign:heldout
 *   npm run assign:heldout -- --images 10000 --test-images 2000 --epochs 5 --k 10
 *   npm run assign:heldout -- --save-dir ./heldout --keep   # keep the stack for the CLI
 *
 * It starts a private Redis, a local S3-compatible server and the five services on
 * loopback, like `npm run demo`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ImgclusterClient,
  formatProgress,
  type AssignmentStatus,
  type AssignResults,
} from '@imgcluster/client';
import { balancedSubset, FASHION_MNIST_CLASSES, readFashionMnist } from '@imgcluster/datasets';
import { uploadFashionMnist } from '@imgcluster/devstack';
import { startScriptStack } from './lib/local-stack.js';
import { encodePng } from '@imgcluster/images';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '10000' },
    'test-images': { type: 'string', default: '2000' },
    k: { type: 'string', default: '10' },
    epochs: { type: 'string', default: '5' },
    batch: { type: 'string', default: '64' },
    'save-dir': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
for (const name of ['images', 'test-images', 'k', 'epochs', 'batch'] as const) {
  if (!/^[1-9]\d*$/.test(args[name]!)) {
    console.error(`--${name} must be a positive whole number, got ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
}

const t0 = Date.now();
const say = (msg: string) =>
  console.log(`[heldout ${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}`);

const train = await readFashionMnist({ split: 'train' });
const test = await readFashionMnist({ split: 'test' });
const trainIndices = balancedSubset(train.labels, Math.min(Number(args.images), train.n), 0);
const testIndices = balancedSubset(test.labels, Math.min(Number(args['test-images']), test.n), 1);

const { stack, close } = await startScriptStack('heldout', say);
let exitCode = 0;
try {
  const upload = await uploadFashionMnist(stack.storage, train, trainIndices, {
    bucket: 'datasets',
    prefix: 'fashion-mnist-train/',
  });
  say(`uploaded ${upload.keys.length} training images`);
  const client = new ImgclusterClient(stack.apiUrl);
  const { id } = await client.submit({
    name: `fashion-mnist train ${trainIndices.length}`,
    input: { bucket: upload.bucket, prefix: upload.prefix },
    labels: { key: upload.labelsKey },
    training: { epochs: Number(args.epochs) },
    kmeans: { k: Number(args.k) },
  });
  let last = '';
  const final = await client.wait(id, (s) => {
    const line = formatProgress(s);
    if (line !== last) say(line);
    last = line;
  });
  if (final.state !== 'succeeded') throw new Error(`run ${id} ${final.state}: ${final.error}`);

  // Each cluster's majority label among the run's own (training) images.
  const { clusters } = await client.clusters(id);
  const majority = clusters.map((c) => {
    const top = Object.entries(c.labels ?? {}).sort((a, b) => b[1] - a[1])[0];
    return top ? top[0] : undefined;
  });
  const metrics = await client.artifactJson<{ scores: { accuracy: number; nmi: number } }>(
    id,
    'metrics.json',
  );

  // The test images, as PNG files the way a person would send them.
  const files = await Promise.all(
    testIndices.map(async (i) => ({
      name: `test-${String(i).padStart(5, '0')}.png`,
      label: FASHION_MNIST_CLASSES[test.labels[i]],
      bytes: new Uint8Array(
        await encodePng(test.images.subarray(i * 784, (i + 1) * 784), 28, 28, 1),
      ),
    })),
  );
  if (args['save-dir']) {
    const dir = resolve(args['save-dir']);
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
    writeFileSync(
      join(dir, 'labels.json'),
      JSON.stringify(Object.fromEntries(files.map((f) => [f.name, f.label])), null, 1),
    );
    say(`wrote ${files.length} test images and labels.json to ${dir}`);
  }

  const batch = Number(args.batch);
  const started = Date.now();
  let matched = 0;
  let assigned = 0;
  let rejected = 0;
  const confusion = new Map<string, number>();
  for (let start = 0; start < files.length; start += batch) {
    const chunk = files.slice(start, start + batch);
    let answer = await client.assign(id, { files: chunk });
    if ('assignment' in answer) answer = await client.waitForAssignment(answer as AssignmentStatus);
    const results = (answer as AssignResults).results;
    results.forEach((r, i) => {
      if ('rejected' in r) {
        rejected++;
        return;
      }
      assigned++;
      const want = chunk[i].label;
      const got = majority[r.cluster];
      if (got === want) matched++;
      else confusion.set(`${want} → ${got}`, (confusion.get(`${want} → ${got}`) ?? 0) + 1);
    });
    process.stdout.write(`\r[heldout] assigned ${start + chunk.length}/${files.length}`);
  }
  process.stdout.write('\n');
  const seconds = (Date.now() - started) / 1000;

  console.log(`\nrun ${id}: ${trainIndices.length} training images, k = ${args.k}`);
  console.log(
    `held-out test images: ${files.length} sent, ${assigned} assigned, ${rejected} rejected ` +
      `(${(files.length / seconds).toFixed(0)} images/s through the API, ${batch} per request)`,
  );
  console.log(
    `assigned to a cluster whose majority label is theirs: ${(matched / Math.max(1, assigned)).toFixed(3)} ` +
      `(${matched}/${assigned})`,
  );
  console.log(
    `baseline, the run's own images (cluster accuracy): ${metrics.scores.accuracy.toFixed(3)}; ` +
      `NMI ${metrics.scores.nmi.toFixed(3)}`,
  );
  const worst = [...confusion].sort((a, b) => b[1] - a[1]).slice(0, 5);
  console.log(`most common mismatches: ${worst.map(([p, n]) => `${p} (${n})`).join(', ')}`);
  if (args.keep) {
    console.log(
      `\nthe stack keeps running until Ctrl-C (--keep): export IMGCLUSTER_API=${stack.apiUrl}`,
    );
    console.log(`  npx imgcluster clusters ${id}`);
    if (args['save-dir']) console.log(`  npx imgcluster assign ${id} ${args['save-dir']}`);
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  if (!args.keep) {
    await close();
  }
}
if (!args.keep) process.exit(exitCode);
