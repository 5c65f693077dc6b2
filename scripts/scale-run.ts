/**
 * The scale run: a synthetic collection at the reference size through the whole pipeline
 * on this machine, with the seconds of every stage and the peak memory of every process.
 *
 *   npm run scale                                   # 200,000 images, 152×152 RGB, k = 25
 *   npm run scale -- --images 3000 --size 32 --channels 1 --k 10
 *   npm run scale -- --images 20000 --train-images 2000 --epochs 2 --out /tmp/scale-20k
 *
 * It starts a private Redis, a local S3-compatible server and the services (several
 * preprocess and encoder processes) on loopback, draws and uploads the synthetic images
 * (ten pattern families; the family is the label), submits one run through the REST API
 * with the reference model (filters 16/8/8, so codes of S/8 × S/8 × 8), shows live
 * progress, then prints the seconds of every stage, the peak resident memory of every
 * process, the scores against the families and the image accounting, and writes the same
 * as JSON to <out>/summary.json. Ctrl-C stops every process it started. `--help` lists
 * the options.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiRequestError, ImgclusterClient, formatProgress } from '@imgcluster/client';
import type { RunSpecInput } from '@imgcluster/config';
import {
  startStack,
  uploadSynthetic,
  SYNTHETIC_MAX_IMAGES,
  type LocalStack,
  type ServiceName,
  type SyntheticSet,
} from '@imgcluster/devstack';
import type { RunStatus } from '@imgcluster/queues';
import { CAN_SAMPLE_MEMORY, MemorySampler } from './lib/process-memory.js';

const USAGE = `Usage: npm run scale -- [options]

Draws a synthetic image collection, runs it through the whole pipeline on local servers
and reports the seconds per stage, the peak memory per process and the scores.

  --images N          images in the collection (default 200000)
  --size N            side every image is resized to: 16..512, a multiple of 8 (default 152)
  --channels 1|3      1 = greyscale, 3 = RGB (default 3)
  --k N               clusters, 2..1000 (default 25)
  --train-images N    images the autoencoder trains on, a seeded sample (default 4000)
  --epochs N          training epochs, 1..500 (default 3)
  --batch-size N      training images per step, 1..4096 (default 64, the API's default)
  --preprocessors N   preprocess processes, 1..32 (default 2)
  --encoders N        encoder processes, 1..32 (default 2)
  --seed N            seed of the collection, the sample and k-means (default 0)
  --timeout MIN       cancel the run and stop after this many minutes (default 240)
  --out DIR           logs, summary.json, the run's metrics and report, and the servers'
                      data while running (default ${join(tmpdir(), 'imgcluster-scale')})
  --keep-input        keep the drawn collection in DIR, so the next run with the same
                      settings reuses it instead of drawing it again
  --keep              leave the servers running and keep all their data
  --help              show this text
`;

/** Peak resident memory each process should stay under, in bytes. */
const MEMORY_LIMIT = { cluster: 3e9, other: 2e9 };
/** Side of the drawn images; the run resizes them to --size. */
const SOURCE_SIDE = 160;
/** The marker of an output folder made by this script (it may hold kept servers' pids). */
const MARKER = '.imgcluster-scale.json';
const INPUT_BUCKET = 'datasets';

const options = checkOptions();
const t0 = Date.now();
const elapsed = () => formatSeconds((Date.now() - t0) / 1000);
const say = (msg: string) => console.log(`[scale ${elapsed()}] ${msg}`);

const out = options.out;
prepareOutput(out);
say(
  `${options.images} images, ${options.size}×${options.size}×${options.channels}, k ${options.k}, ` +
    `training on ${options.trainImages} × ${options.epochs} epochs; output in ${out}`,
);

const memory = new MemorySampler();
let stack: LocalStack | undefined;
let runId: string | undefined;
let stopping = false;
const exits: { name: string; code: number | null; signal: string | null; at: string }[] = [];

process.once('SIGINT', () => void stopOnSignal('SIGINT'));
process.once('SIGTERM', () => void stopOnSignal('SIGTERM'));

const starting = startStack(out, { preprocess: options.preprocessors, encoder: options.encoders });
stack = await starting;
if (stopping) await new Promise(() => undefined); // the signal handler stops it and exits
say(
  `redis ${stack.redis.url}, s3 ${stack.s3.endpoint}, api ${stack.apiUrl}; logs in ${stack.logDir}`,
);
watchProcesses(stack);

let exitCode = 0;
let collection: SyntheticSet | undefined;
let final: RunStatus | undefined;
let runSeconds: number | undefined;
let results: Awaited<ReturnType<typeof fetchResults>> | undefined;
let failure: string | undefined;
try {
  collection = await generate(stack);
  const client = new ImgclusterClient(stack.apiUrl);
  const spec: RunSpecInput = {
    name: `scale ${options.images} × ${options.size}²×${options.channels}`,
    input: { bucket: collection.bucket, prefix: collection.prefix },
    labels: { key: collection.labelsKey },
    image: { size: options.size, channels: options.channels },
    model: { filters: [16, 8, 8] },
    training: {
      epochs: options.epochs,
      batchSize: options.batchSize,
      maxImages: options.trainImages,
      seed: options.seed,
    },
    kmeans: { k: options.k, seed: options.seed },
  };
  const submittedAt = Date.now();
  const submitted = await client.submit(spec);
  runId = submitted.id;
  say(`submitted run ${runId}: POST ${stack.apiUrl}/v1/runs → 202`);

  final = await follow(client, runId, submittedAt);
  runSeconds = (Date.now() - submittedAt) / 1000;
  memory.sample();
  if (final.state === 'succeeded') {
    results = await fetchResults(client, runId);
  } else {
    failure = `run ${final.state}: ${final.error ?? ''}`;
    exitCode = 1;
  }
} catch (err) {
  failure =
    err instanceof ApiRequestError
      ? `the API refused the run: ${JSON.stringify(err.body)}`
      : String((err as Error)?.stack ?? err);
  exitCode = 1;
}
// After Ctrl-C the signal handler stops everything and exits; what failed meanwhile is moot.
if (stopping) await new Promise(() => undefined);

memory.sample();
memory.stop();
const summary = buildSummary();
printSummary(summary);
writeFileSync(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
say(`summary written to ${join(out, 'summary.json')}`);
if (failure) printServiceErrors(stack.logDir);

if (options.keep) {
  const pids = [stack.redis, stack.s3, ...stack.services.map((s) => s.process)]
    .map((m) => m.child.pid)
    .filter((p): p is number => p !== undefined);
  writeMarker(out, pids);
  say(`servers left running (--keep): api ${stack.apiUrl}; stop them with: kill ${pids.join(' ')}`);
} else {
  stopping = true;
  await stack.stop();
  removeServerData(out, options.keepInput);
}
process.exit(exitCode);

// ---------------------------------------------------------------------------------------

interface Options {
  images: number;
  size: number;
  channels: 1 | 3;
  k: number;
  trainImages: number;
  epochs: number;
  batchSize: number;
  preprocessors: number;
  encoders: number;
  seed: number;
  timeoutMinutes: number;
  out: string;
  keep: boolean;
  keepInput: boolean;
}

/** Parses and checks every option before anything starts; exits 2 with all problems. */
function checkOptions(): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        images: { type: 'string', default: '200000' },
        size: { type: 'string', default: '152' },
        channels: { type: 'string', default: '3' },
        k: { type: 'string', default: '25' },
        'train-images': { type: 'string', default: '4000' },
        epochs: { type: 'string', default: '3' },
        'batch-size': { type: 'string', default: '64' },
        preprocessors: { type: 'string', default: '2' },
        encoders: { type: 'string', default: '2' },
        seed: { type: 'string', default: '0' },
        timeout: { type: 'string', default: '240' },
        out: { type: 'string', default: join(tmpdir(), 'imgcluster-scale') },
        'keep-input': { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }

  const problems: string[] = [];
  const whole = (name: string, min: number, max: number): number => {
    const raw = String(values[name]);
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(
        `--${name} must be a whole number in ${min}..${max}, got ${JSON.stringify(raw)}`,
      );
      return NaN;
    }
    return n;
  };
  const images = whole('images', 1, SYNTHETIC_MAX_IMAGES);
  const size = whole('size', 16, 512);
  if (size % 8 !== 0)
    problems.push(`--size must be a multiple of 8 (three 2× poolings), got ${size}`);
  const channels = whole('channels', 1, 3);
  if (channels === 2) problems.push('--channels must be 1 (greyscale) or 3 (RGB), got 2');
  const k = whole('k', 2, 1000);
  if (k > images) problems.push(`--k ${k} needs at least as many images, got --images ${images}`);
  const trainImages = whole('train-images', 1, SYNTHETIC_MAX_IMAGES);
  const epochs = whole('epochs', 1, 500);
  const batchSize = whole('batch-size', 1, 4096);
  const preprocessors = whole('preprocessors', 1, 32);
  const encoders = whole('encoders', 1, 32);
  const seed = whole('seed', 0, 2 ** 31 - 1);
  const timeoutMinutes = whole('timeout', 1, 7 * 24 * 60);
  const out = resolve(String(values.out));
  if (values.keep && values['keep-input']) {
    problems.push('--keep already keeps everything; give --keep or --keep-input, not both');
  }
  if (spawnSync('redis-server', ['--version']).error) {
    problems.push('redis-server is not installed: apt-get install -y redis-server');
  }
  if (problems.length === 0) problems.push(...checkOutput(out, images, size, channels));

  if (problems.length > 0) {
    for (const p of problems) console.error(`error: ${p}`);
    console.error('\nnpm run scale -- --help lists the options');
    process.exit(2);
  }
  return {
    images,
    size,
    channels: channels as 1 | 3,
    k,
    trainImages,
    epochs,
    batchSize,
    preprocessors,
    encoders,
    seed,
    timeoutMinutes,
    out,
    keep: Boolean(values.keep),
    keepInput: Boolean(values['keep-input']),
  };
}

/** Problems with the output folder: made by something else, in use, or too little disk. */
function checkOutput(dir: string, images: number, size: number, channels: number): string[] {
  if (existsSync(dir)) {
    const marker = join(dir, MARKER);
    if (!existsSync(marker) && readdirSync(dir).length > 0) {
      return [`--out ${dir} is not empty and was not made by this script; choose another folder`];
    }
    const alive = existsSync(marker) ? keptPids(marker).filter(isAlive) : [];
    if (alive.length > 0) {
      return [
        `servers kept by an earlier run still use ${dir} (stop them: kill ${alive.join(' ')})`,
      ];
    }
  }

  // Input objects, image shards, codes and attention maps, and a margin for the rest.
  const drawn = 16_500 * (SOURCE_SIDE / 160) ** 2;
  const side = size / 8;
  const perImage = drawn + size * size * channels + side * side * (8 + 1) * 4;
  const needed = images * perImage * 1.1 + 1e9;
  let parent = dir;
  while (!existsSync(parent)) parent = dirname(parent);
  const fs = statfsSync(parent);
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    return [
      `about ${gb(needed)} of disk needed under ${parent}, ${gb(free)} free; ` +
        'choose --out elsewhere or fewer --images',
    ];
  }
  return [];
}

function keptPids(marker: string): number[] {
  try {
    const parsed = JSON.parse(readFileSync(marker, 'utf8')) as { keptPids?: number[] };
    return parsed.keptPids ?? [];
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeMarker(dir: string, pids: number[] = []) {
  writeFileSync(join(dir, MARKER), JSON.stringify({ madeBy: 'scale-run', keptPids: pids }) + '\n');
}

/**
 * Makes the output folder ready: the previous run's logs, summary, artifacts, Redis data
 * and run data go; a drawn collection (kept with --keep-input) stays for reuse.
 */
function prepareOutput(dir: string) {
  mkdirSync(dir, { recursive: true });
  for (const name of ['logs', 'artifacts', 'redis', 'summary.json']) {
    rmSync(join(dir, name), { recursive: true, force: true });
  }
  removeRunData(dir);
  writeMarker(dir);
}

/** The local S3 server keeps one folder per bucket; every bucket but the input is run data. */
function removeRunData(dir: string) {
  const s3 = join(dir, 's3');
  if (!existsSync(s3)) return;
  for (const bucket of readdirSync(s3)) {
    if (bucket !== INPUT_BUCKET) rmSync(join(s3, bucket), { recursive: true, force: true });
  }
}

/** After the servers stopped: all their data goes, but the collection with --keep-input. */
function removeServerData(dir: string, keepInput: boolean) {
  rmSync(join(dir, 'redis'), { recursive: true, force: true });
  if (keepInput) removeRunData(dir);
  else rmSync(join(dir, 's3'), { recursive: true, force: true });
}

/** Watches the memory of every process and reports services that exit on their own. */
function watchProcesses(s: LocalStack) {
  memory.watch('scale-run', process.pid);
  for (const service of s.services) {
    const name = basename(service.logFile, '.log');
    memory.watch(name, service.process.child.pid);
    service.process.child.once('exit', (code, signal) => {
      if (stopping) return;
      memory.sample();
      exits.push({ name, code, signal, at: new Date().toISOString() });
      say(`${name} exited on its own (code ${code}, signal ${signal}); see ${service.logFile}`);
    });
  }
  memory.watch('s3-server', s.s3.child.pid);
  memory.watch('redis-server', s.redis.child.pid);
  memory.start(2000);
}

/** A service with no process left: the run cannot finish. */
function serviceGone(s: LocalStack): ServiceName | undefined {
  const names = [...new Set(s.services.map((x) => x.name))];
  return names.find((name) =>
    s.services
      .filter((x) => x.name === name)
      .every((x) => x.process.child.exitCode !== null || x.process.child.signalCode !== null),
  );
}

/** Draws and uploads the collection (or reuses a complete one), showing progress. */
async function generate(s: LocalStack): Promise<SyntheticSet> {
  const { images, seed } = options;
  const tty = process.stdout.isTTY;
  let lastLine = 0;
  say(`drawing and uploading ${images} images (${SOURCE_SIDE}×${SOURCE_SIDE}, PNG and JPEG)`);
  const set = await uploadSynthetic(
    s.storage,
    {
      bucket: INPUT_BUCKET,
      root: `synthetic/seed${seed}-n${images}-px${SOURCE_SIDE}/`,
      count: images,
      seed,
      side: SOURCE_SIDE,
    },
    (p) => {
      if (!tty && p.done < p.total && Date.now() - lastLine < 10_000) return;
      lastLine = Date.now();
      const rate = p.done / Math.max(p.seconds, 1e-3);
      // The rate settles after a few seconds; no estimate before that.
      const left = p.seconds >= 5 ? `, ${formatSeconds((p.total - p.done) / rate)} left` : '';
      const line =
        `[scale ${elapsed()}] images ${p.done}/${p.total} (${Math.floor((100 * p.done) / p.total)}%), ` +
        `${rate.toFixed(0)}/s, ${mb(p.bytes)}${left}`;
      if (tty) process.stdout.write(`\r${line}   `);
      else console.log(line);
    },
  );
  if (tty) process.stdout.write('\n');
  say(
    set.reused
      ? `reused the complete collection in ${set.prefix} (checked in ${set.seconds.toFixed(1)} s)`
      : `${set.count} images (png ${set.formats.png}, jpeg ${set.formats.jpeg}, ${gb(set.bytes)}) ` +
          `in ${set.seconds.toFixed(1)} s: ${(set.count / set.seconds).toFixed(0)} images/s`,
  );
  return set;
}

/** Polls the run until it ends, printing progress; cancels it when the time is up. */
async function follow(client: ImgclusterClient, id: string, since: number): Promise<RunStatus> {
  let printed = '';
  let lastStates = '';
  let printedAt = 0;
  let memoryAt = Date.now();
  const deadline = since + options.timeoutMinutes * 60_000;
  return client.wait(
    id,
    (s) => {
      const line = formatProgress(s);
      const states = Object.values(s.stages)
        .map((st) => st.state)
        .join();
      // Every change of a stage's state at once, other news at most every 10 s.
      if (line !== printed && (states !== lastStates || Date.now() - printedAt >= 10_000)) {
        say(line);
        printed = line;
        printedAt = Date.now();
      }
      lastStates = states;
      if (Date.now() - memoryAt >= 60_000) {
        memoryAt = Date.now();
        const now = memory.figures().filter((f) => !f.exited);
        say(`memory now: ${now.map((f) => `${f.name} ${mb(f.lastBytes)}`).join(', ')}`);
      }
      const gone = stack && serviceGone(stack);
      if (gone) throw new Error(`no ${gone} process is left: the run cannot finish`);
      if (Date.now() > deadline) {
        void client.cancel(id).catch(() => undefined);
        throw new Error(
          `the run did not finish within --timeout ${options.timeoutMinutes} minutes`,
        );
      }
    },
    2000,
  );
}

/** The run's metrics, clusters and training record; saves them and the report under artifacts/. */
async function fetchResults(client: ImgclusterClient, id: string) {
  const metrics = await client.artifactJson<Metrics>(id, 'metrics.json');
  const clusters = await client.artifactJson<ClusterSummary[]>(id, 'clusters.json');
  const dir = join(out, 'artifacts');
  mkdirSync(dir, { recursive: true });
  for (const path of ['metrics.json', 'clusters.json', 'model/training.json', 'report.html']) {
    writeFileSync(join(dir, basename(path)), await client.download(id, path));
  }
  return { metrics, clusters };
}

interface Metrics {
  images: number;
  rejected: number;
  k: number;
  inertia: number;
  kmeans: { fitSeconds: number; steps: number; stopReason: string | null };
  training?: { backend: string; trainImages: number; losses: number[] };
  scores?: { labelled: number; nmi: number; ari: number; accuracy: number };
  stageSeconds: Record<string, number | undefined>;
}

interface ClusterSummary {
  cluster: number;
  size: number;
  labels?: Record<string, number>;
}

function buildSummary() {
  const stages = final
    ? Object.fromEntries(
        Object.entries(final.stages).map(([name, st]) => [
          name,
          { state: st.state, seconds: st.seconds ?? null, done: st.done, total: st.total },
        ]),
      )
    : {};
  const detail = (final?.stages.preprocess.detail ?? {}) as Record<string, unknown>;
  const input = Number(final?.stages.plan.detail.images ?? NaN);
  const accepted = Number(detail.accepted ?? NaN);
  const rejected = Number(detail.rejected ?? NaN);
  const clustered = results?.metrics.images;
  const memoryFigures = memory.figures().map((f) => {
    const limit = f.name.startsWith('cluster') ? MEMORY_LIMIT.cluster : MEMORY_LIMIT.other;
    return { ...f, limitBytes: limit, withinLimit: f.peakBytes < limit };
  });
  return {
    runId: runId ?? null,
    state: final?.state ?? 'not finished',
    error: failure ?? null,
    settings: {
      images: options.images,
      sourceSide: SOURCE_SIDE,
      size: options.size,
      channels: options.channels,
      filters: [16, 8, 8],
      code: `${options.size / 8}×${options.size / 8}×8`,
      k: options.k,
      trainImages: options.trainImages,
      epochs: options.epochs,
      batchSize: options.batchSize,
      preprocessors: options.preprocessors,
      encoders: options.encoders,
      seed: options.seed,
    },
    generation: collection
      ? {
          images: collection.count,
          bytes: collection.bytes,
          formats: collection.formats,
          reused: collection.reused,
          seconds: collection.seconds,
          imagesPerSecond: collection.reused ? null : collection.count / collection.seconds,
        }
      : null,
    stages,
    runSeconds: runSeconds ?? null,
    totalSeconds: (Date.now() - t0) / 1000,
    memorySampled: CAN_SAMPLE_MEMORY,
    memory: memoryFigures,
    exitedOnTheirOwn: exits,
    scores: results?.metrics.scores ?? null,
    accounting: {
      input,
      accepted,
      rejected,
      reasons: detail.reasons ?? {},
      clustered: clustered ?? null,
      balanced: accepted + rejected === input && input === options.images,
      allAcceptedClustered: clustered === accepted,
    },
    training: results?.metrics.training ?? null,
    kmeans: results?.metrics.kmeans ?? null,
    clusters: (results?.clusters ?? []).map((c) => ({
      cluster: c.cluster,
      size: c.size,
      families: c.labels ?? {},
    })),
  };
}

type Summary = ReturnType<typeof buildSummary>;

function printSummary(s: Summary) {
  console.log(`\n── scale run ${s.runId ?? '(not submitted)'}: ${s.state} ──`);
  if (s.error) console.log(`error: ${s.error}`);
  if (s.clusters.length > 0) {
    console.log('\ncluster   size  top families');
    for (const c of s.clusters) {
      const top = Object.entries(c.families)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([l, n]) => `${l} ${((100 * n) / c.size).toFixed(0)}%`)
        .join(', ');
      console.log(`${String(c.cluster).padStart(7)} ${String(c.size).padStart(6)}  ${top}`);
    }
    console.log('');
  }

  const g = s.generation;
  if (g) {
    console.log(
      g.reused
        ? `collection: ${g.images} images reused (checked in ${g.seconds.toFixed(1)} s)`
        : `collection: ${g.images} images ${SOURCE_SIDE}×${SOURCE_SIDE} (png ${g.formats.png}, ` +
            `jpeg ${g.formats.jpeg}, ${gb(g.bytes)}) drawn and uploaded in ` +
            `${g.seconds.toFixed(1)} s (${g.imagesPerSecond?.toFixed(0)} images/s)`,
    );
  }
  const st = s.settings;
  console.log(
    `run: ${st.size}×${st.size}×${st.channels}, filters 16/8/8 (codes ${st.code}), k ${st.k}, ` +
      `training ${st.trainImages} images × ${st.epochs} epochs in batches of ${st.batchSize}` +
      (s.training ? ` on ${s.training.backend}` : '') +
      `, ${st.preprocessors} preprocess and ${st.encoders} encoder processes`,
  );
  const stages = Object.entries(s.stages);
  if (stages.length > 0) {
    console.log(
      'seconds per stage: ' +
        stages
          .map(
            ([name, v]) =>
              `${name} ${v.seconds ?? '-'}${v.state === 'succeeded' ? '' : ` (${v.state})`}`,
          )
          .join(', '),
    );
  }
  if (s.runSeconds !== null) {
    console.log(`run wall time (submit → finished): ${s.runSeconds.toFixed(1)} s`);
  }
  console.log(`total wall time (start → summary): ${s.totalSeconds.toFixed(1)} s`);
  if (s.training) {
    console.log(`training losses: ${s.training.losses.map((l) => l.toFixed(4)).join(' ')}`);
  }
  if (s.kmeans) {
    console.log(
      `k-means: ${s.kmeans.steps} steps (${s.kmeans.stopReason ?? 'step cap'}), ` +
        `fit ${s.kmeans.fitSeconds.toFixed(1)} s`,
    );
  }

  if (!s.memorySampled) {
    console.log('peak memory: not measured (needs /proc)');
  } else {
    console.log("memory (peak RSS: the kernel's VmHWM; max seen: largest VmRSS in 2 s samples):");
    console.log(
      `${'process'.padEnd(14)} ${'peak RSS'.padStart(9)}  ${'max seen'.padStart(9)}  limit`,
    );
    for (const m of s.memory) console.log(memoryLine(m));
  }
  for (const e of s.exitedOnTheirOwn) {
    console.log(`  ${e.name} exited on its own at ${e.at} (code ${e.code}, signal ${e.signal})`);
  }

  if (s.scores) {
    const sc = s.scores;
    console.log(
      `scores against the families: NMI ${sc.nmi.toFixed(3)}  ARI ${sc.ari.toFixed(3)}  ` +
        `accuracy ${sc.accuracy.toFixed(3)} (${sc.labelled} labelled)`,
    );
  }
  const a = s.accounting;
  if (Number.isFinite(a.input)) {
    const reasons = Object.entries(a.reasons as Record<string, number>)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ');
    console.log(
      `images: input ${a.input} = accepted ${a.accepted} + rejected ${a.rejected}` +
        `${reasons ? ` (${reasons})` : ''}: ${a.balanced ? 'all accounted for' : 'MISMATCH'}` +
        (a.clustered !== null
          ? `; clustered ${a.clustered}${a.allAcceptedClustered ? '' : ' (MISMATCH)'}`
          : ''),
    );
  }
  if (s.runId) console.log(`metrics, clusters and report: ${join(out, 'artifacts')}`);
}

function memoryLine(m: Summary['memory'][number]): string {
  const verdict = m.withinLimit ? 'ok' : 'OVER';
  const gone = m.exited ? ' (exited before the end)' : '';
  return (
    `${m.name.padEnd(14)} ${mb(m.peakBytes).padStart(9)}  ${mb(m.sampledMaxBytes).padStart(9)}` +
    `  < ${mb(m.limitBytes)} ${verdict}${gone}`
  );
}

/** The last error lines (pino level 50 and up) of every service log. */
function printServiceErrors(logDir: string) {
  if (!existsSync(logDir)) return;
  for (const file of readdirSync(logDir).sort()) {
    const lines = readFileSync(join(logDir, file), 'utf8').split('\n');
    const errors = lines.filter((l) => /"level":(50|60)/.test(l)).slice(-3);
    if (errors.length === 0) continue;
    console.log(`\nlast errors in ${join(logDir, file)}:`);
    for (const e of errors) console.log(`  ${e.length > 600 ? `${e.slice(0, 600)}…` : e}`);
  }
}

async function stopOnSignal(signal: string) {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping the services and servers`);
  memory.stop();
  // While the stack is still starting, wait for it: then everything it started is known.
  const started = stack ?? (await starting.catch(() => undefined));
  await started?.stop();
  if (options.keep) writeMarker(out);
  else removeServerData(out, options.keepInput);
  process.exit(130);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
