/**
 * Pipeline benchmark: three throughput ratios, each measured against its baseline in the
 * same run, because absolute timings on a shared machine say little.
 *
 *   node --import tsx scripts/bench-pipeline.ts [--only encoder|preprocess|torch] [--out FILE]
 *
 * 1. encoder: encode images/s of the encoder pool with 2 processes vs 1, same input images.
 * 2. preprocess: one preprocess process's images/s (pulled from S3, shards written) vs the
 *    project's preprocessImage in a bare loop over the same files on local disk.
 * 3. torch: our autoencoder's train and encode images/s vs a PyTorch twin of the same
 *    architecture at 1 and 2 threads (skipped when PyTorch is not installed).
 *
 * Stage throughput is taken from the BullMQ jobs' own timestamps (processedOn, finishedOn:
 * ms, set by the worker): images of all jobs over the time from the first job's start to
 * the last job's end. The API's stage seconds (kept in the JSON too) run from the moment a
 * stage is queued to the moment the next stage's job starts, so they add queue hand-offs
 * and have 0.1 s resolution. CPU use of every process of the stack and of the whole
 * machine is sampled from /proc, so each figure says who had the cores meanwhile.
 *
 * The stack (Redis, S3 server, services) runs as child processes on 127.0.0.1; everything it
 * writes lies in one temporary folder, removed at the end. Ctrl-C stops all of it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ImgclusterClient } from '@imgcluster/client';
import { startStack, type LocalStack } from '@imgcluster/devstack';
import { createRedis, type RunStatus } from '@imgcluster/queues';
import { CpuSampler, type CpuWindow } from './bench/cpu-sampler.js';
import {
  measureRun,
  prepareImages,
  stackProcesses,
  StackQueues,
  waitForWorkerReady,
  type BenchImages,
  type RunMeasurement,
} from './bench/pipeline.js';
import {
  fromDisk,
  PREPROCESS_IN_FLIGHT,
  preprocessLoop,
  readLoop,
  type ImageSource,
  type LoopRate,
} from './bench/preprocess-loop.js';
import { formatTable, row, skippedRow, type ResultRow } from './bench/report.js';
import {
  findTorchPython,
  runningChildren,
  TorchTwinServer,
  type TorchPython,
} from './bench/torch.js';

const HELP = `Usage: node --import tsx scripts/bench-pipeline.ts [options]

Prints three throughput ratios, each against a baseline measured in the same run:
  encoder     encode img/s with 2 encoder processes vs 1 (goal >= 1.8x)
  preprocess  one preprocess process vs a bare preprocessImage loop on local files (>= 0.8x)
  torch       our model's train / encode img/s vs PyTorch at 1 and 2 threads (>= 0.7x / 1.0x)

Options:
  --only PARTS          comma-separated parts to run (default: encoder,preprocess,torch)
  --images N            input images for encoder and preprocess (default 4000)
  --size N              image side for encoder and preprocess, multiple of 8 (default 152)
  --channels 1|3        image channels for encoder and preprocess (default 3)
  --shard-size N        images per shard (default 250)
  --train-images N      images the trainer fits on, one epoch (default 256)
  --torch-size N        image side of the model comparison (default 32)
  --torch-channels 1|3  channels of the model comparison (default 1)
  --batch N             batch of the model comparison (default 64)
  --seconds S           minimum seconds per model measurement (default 3)
  --rounds N            rounds of the model comparison, ours and torch taking turns (default 3)
  --python PATH         Python with PyTorch (default: python3, then /usr/bin/python3)
  --out FILE            write all figures as JSON to FILE
  --timeout-min M       stop everything after M minutes (default 45)
  --keep                keep the temporary folder (service logs, S3 data) for inspection
  --help                this text`;

const PARTS = ['encoder', 'preprocess', 'torch'] as const;
type Part = (typeof PARTS)[number];

/** Checked command-line options. */
interface Options {
  parts: Set<Part>;
  images: number;
  size: number;
  channels: 1 | 3;
  shardSize: number;
  trainImages: number;
  torchSize: number;
  torchChannels: 1 | 3;
  batch: number;
  seconds: number;
  rounds: number;
  python?: string;
  out?: string;
  timeoutMin: number;
  keep: boolean;
}

/** Parses and checks the options; exits with status 2 and a message on a bad one. */
function parseOptions(): Options {
  const fail = (msg: string): never => {
    console.error(`bench-pipeline: ${msg}\n\n${HELP}`);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        only: { type: 'string' },
        images: { type: 'string', default: '4000' },
        size: { type: 'string', default: '152' },
        channels: { type: 'string', default: '3' },
        'shard-size': { type: 'string', default: '250' },
        'train-images': { type: 'string', default: '256' },
        'torch-size': { type: 'string', default: '32' },
        'torch-channels': { type: 'string', default: '1' },
        batch: { type: 'string', default: '64' },
        seconds: { type: 'string', default: '3' },
        rounds: { type: 'string', default: '3' },
        python: { type: 'string' },
        out: { type: 'string' },
        'timeout-min': { type: 'string', default: '45' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail((err as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }

  const int = (name: string, min: number, max: number) => {
    const raw = String(values[name]);
    const v = Number(raw);
    if (!/^\d+$/.test(raw) || v < min || v > max)
      fail(`--${name} must be a whole number in ${min}..${max}, got ${raw}`);
    return v;
  };
  const side = (name: string) => {
    const v = int(name, 16, 512);
    if (v % 8 !== 0) fail(`--${name} must be a multiple of 8, got ${v}`);
    return v;
  };
  const channels = (name: string) => {
    const v = int(name, 1, 3);
    if (v === 2) fail(`--${name} must be 1 or 3`);
    return v as 1 | 3;
  };

  const parts = new Set<Part>();
  for (const p of String(values.only ?? PARTS.join(',')).split(',')) {
    const name = p.trim();
    if (!(PARTS as readonly string[]).includes(name))
      fail(`--only takes ${PARTS.join(', ')}; got '${name}'`);
    parts.add(name as Part);
  }
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 60)) fail(`--seconds must be a number in (0, 60]`);

  const o: Options = {
    parts,
    images: int('images', 20, 70_000),
    size: side('size'),
    channels: channels('channels'),
    shardSize: int('shard-size', 1, 20_000),
    trainImages: int('train-images', 1, 70_000),
    torchSize: side('torch-size'),
    torchChannels: channels('torch-channels'),
    batch: int('batch', 1, 4096),
    seconds,
    rounds: int('rounds', 1, 20),
    python: values.python as string | undefined,
    out: values.out === undefined ? undefined : resolve(String(values.out)),
    timeoutMin: int('timeout-min', 1, 600),
    keep: Boolean(values.keep),
  };
  if (o.trainImages > o.images)
    fail(`--train-images (${o.trainImages}) exceeds --images (${o.images})`);
  const shards = Math.ceil(o.images / o.shardSize);
  if (parts.has('encoder') && shards < 2)
    fail(`encoder needs at least 2 shards, --images/--shard-size gives ${shards}`);
  if (
    (parts.has('encoder') || parts.has('preprocess')) &&
    spawnSync('redis-server', ['--version']).error
  ) {
    fail('redis-server is not installed: apt-get install -y redis-server');
  }
  if (o.out) {
    try {
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileSync(o.out, '');
    } catch (err) {
      fail(`cannot write --out ${o.out}: ${(err as Error).message}`);
    }
  }
  return o;
}

const opts = parseOptions();
const t0 = Date.now();
const say = (msg: string) =>
  console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}`);
const load = () => loadavg().map((v) => Number(v.toFixed(2)));
const cores = cpus().length;

const loadAtStart = load();
console.log(`load average at start (1, 5, 15 min): ${loadAtStart.join(' ')} on ${cores} cores`);
if (loadAtStart[0] > 0.5) {
  console.log('  note: something else is using the CPU; ratios that share the cores are skewed');
}
const shardCount = Math.ceil(opts.images / opts.shardSize);
if (opts.parts.has('encoder') && shardCount < 8) {
  console.log(`  note: only ${shardCount} shards; two encoders may not both stay busy`);
}

let torchPython: TorchPython | undefined;
if (opts.parts.has('torch')) {
  torchPython = findTorchPython(opts.python ? [opts.python] : ['python3', '/usr/bin/python3']);
  if (torchPython.ok) say(`PyTorch ${torchPython.torchVersion} via ${torchPython.python}`);
  else say(`torch part skipped: ${torchPython.message}`);
}

// Everything started is stopped by stopAll, on success, failure, Ctrl-C or the time limit.
const work = mkdtempSync(join(tmpdir(), 'imgcluster-bench-'));
let stack: LocalStack | undefined;
/** Set while the stack starts, so an interrupt then still stops what was started. */
let stackStarting: Promise<LocalStack> | undefined;
let sampler: CpuSampler | undefined;
let queues: StackQueues | undefined;
let queueRedis: ReturnType<typeof createRedis> | undefined;
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const child of runningChildren) child.kill('SIGKILL');
    sampler?.stop();
    await queues?.close().catch(() => undefined);
    await queueRedis?.quit().catch(() => undefined);
    const running = stack ?? (await stackStarting?.catch(() => undefined));
    await running?.stop().catch((err) => console.error('stopping the stack:', err));
    if (opts.keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  })();
  return stopping;
}

const onSignal = (signal: string) => {
  say(`${signal}: stopping everything this benchmark started`);
  void stopAll().finally(() => process.exit(130));
};
process.once('SIGINT', () => onSignal('SIGINT'));
process.once('SIGTERM', () => onSignal('SIGTERM'));
const deadline = setTimeout(() => {
  say(`time limit of ${opts.timeoutMin} min reached: stopping`);
  void stopAll().finally(() => process.exit(124));
}, opts.timeoutMin * 60_000);

const rows: ResultRow[] = [];
const report: Record<string, unknown> = {
  startedAt: new Date(t0).toISOString(),
  cores,
  loadAverageAtStart: loadAtStart,
  options: { ...opts, parts: [...opts.parts] },
};
const RUN_TIMEOUT_MS = 20 * 60_000;

/** Prints a line whenever a stage changes state. */
function stageLogger(label: string) {
  let last = '';
  return (s: RunStatus) => {
    const line = Object.entries(s.stages)
      .map(([name, st]) => `${name} ${st.state}`)
      .join(', ');
    if (line !== last) say(`${label}: ${line}`);
    last = line;
  };
}

function describeCpu(w: CpuWindow | undefined): string {
  if (!w) return 'no CPU samples';
  const procs = Object.entries(w.processes)
    .filter(([, c]) => c >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([n, c]) => `${n} ${c.toFixed(2)}`)
    .join(', ');
  return `cores busy ${w.machineCores.toFixed(2)} of ${cores}: ${procs}; other programs ${w.otherCores.toFixed(2)}`;
}

async function startBenchStack(): Promise<{ client: ImgclusterClient; images: BenchImages }> {
  say(`starting redis, s3 and the services (logs in ${join(work, 'stack', 'logs')})`);
  stackStarting = startStack(
    join(work, 'stack'),
    { preprocess: 1, encoder: 1 },
    { LOG_LEVEL: 'info' },
  );
  const s = (stack = await stackStarting);
  for (const svc of s.services.filter((x) => x.name !== 'api'))
    await waitForWorkerReady(svc.logFile);
  queueRedis = createRedis(s.redis.url);
  queueRedis.on('error', () => undefined);
  queues = new StackQueues(queueRedis);
  sampler = new CpuSampler(() => new Map([...stackProcesses(s), ['bench', process.pid]]));
  sampler.start();
  say(`writing ${opts.images} PNG images to s3 and to local disk`);
  const images = await prepareImages(
    s.storage,
    join(work, 'images'),
    opts.images,
    'datasets',
    'bench/',
  );
  say(
    `input: ${images.keys.length} ${images.source} images, ${shardCount} shards of ${opts.shardSize}`,
  );
  return { client: new ImgclusterClient(s.apiUrl), images };
}

function runOptions(images: BenchImages, name: string, until: 'preprocess' | 'end') {
  return {
    images,
    size: opts.size,
    channels: opts.channels,
    shardSize: opts.shardSize,
    trainImages: opts.trainImages,
    until,
    timeoutMs: RUN_TIMEOUT_MS,
    name,
    onStatus: stageLogger(name),
  };
}

async function preprocessPart(client: ImgclusterClient, images: BenchImages) {
  const inFlight = PREPROCESS_IN_FLIGHT * Number(process.env.WORKER_CONCURRENCY || 1);
  const n = images.files.length;
  const disk = fromDisk(images.files);
  const loop = () => preprocessLoop(disk, n, opts.size, opts.channels, inFlight);
  const shape = `${opts.size}x${opts.size}x${opts.channels}`;
  say(`preprocess: bare preprocessImage loop on local files, ${inFlight} in flight, ${shape}`);
  const before: LoopRate = await loop();
  say(`preprocess: loop ${before.imagesPerSec.toFixed(0)} img/s; now one preprocess process`);
  const loadAtPart = load();
  const run = await measureRun(
    client,
    queues!,
    runOptions(images, 'bench preprocess', 'preprocess'),
  );
  const cpu = sampler!.window(run.preprocess.firstStart, run.preprocess.lastEnd);
  const after: LoopRate = await loop();
  const baseline = (before.imagesPerSec + after.imagesPerSec) / 2;
  say(
    `preprocess: pipeline ${run.preprocess.imagesPerSec.toFixed(0)} img/s, ` +
      `loop again ${after.imagesPerSec.toFixed(0)} img/s`,
  );
  say(`preprocess: during the stage, ${describeCpu(cpu)}`);

  // Where the difference goes: the same loops reading from S3 through the project's client.
  const s3: ImageSource = (i) => stack!.storage.get(images.bucket, images.keys[i]);
  const s3Read = await readLoop(s3, n, inFlight);
  const s3Decode = await preprocessLoop(s3, n, opts.size, opts.channels, inFlight);
  const readCpu = sampler!.window(s3Read.startedAt, s3Read.endedAt);
  const perGet = (name: string) =>
    readCpu ? (((readCpu.processes[name] ?? 0) * s3Read.seconds) / n) * 1000 : NaN;
  say(
    `preprocess: in this process, S3 GET only ${s3Read.imagesPerSec.toFixed(0)} img/s ` +
      `(CPU per GET: client ${perGet('bench').toFixed(2)} ms, S3 server ${perGet('s3').toFixed(2)} ms), ` +
      `S3 GET + preprocessImage ${s3Decode.imagesPerSec.toFixed(0)} img/s (${inFlight} in flight)`,
  );
  const shardIo = await shardRoundTrip(stack!.storage, run.preprocess.images / run.preprocess.jobs);
  say(
    `preprocess: one image shard (${(shardIo.bytes / 1e6).toFixed(1)} MB) PUT ${shardIo.putMs.toFixed(0)} ms, ` +
      `GET ${shardIo.getMs.toFixed(0)} ms; ${run.preprocess.jobs} shards → ` +
      `${((shardIo.putMs * run.preprocess.jobs) / 1000).toFixed(1)} s of PUTs in a ` +
      `${run.preprocess.spanSeconds.toFixed(1)} s stage`,
  );
  rows.push(row('preprocess: 1 process vs bare loop', run.preprocess.imagesPerSec, baseline, 0.8));
  report.preprocess = {
    loadAverage: loadAtPart,
    inFlight,
    loopBefore: before,
    loopAfter: after,
    run,
    cpu,
    diagnostics: { s3Read, s3ReadCpu: readCpu, s3Decode, shardIo },
  };
}

/** Median times of writing and reading one image-shard-sized object (3 tries each). */
async function shardRoundTrip(storage: LocalStack['storage'], imagesPerShard: number) {
  const bytes = Math.round(imagesPerShard) * opts.size * opts.size * opts.channels;
  const body = new Uint8Array(bytes).map((_, i) => i & 0xff);
  const put: number[] = [];
  const get: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    await storage.put(stack!.env.S3_BUCKET, `bench/probe-${i}.bin`, body);
    put.push(performance.now() - t);
    t = performance.now();
    await storage.get(stack!.env.S3_BUCKET, `bench/probe-${i}.bin`);
    get.push(performance.now() - t);
  }
  return { bytes, putMs: median(put), getMs: median(get) };
}

async function encoderPart(client: ImgclusterClient, images: BenchImages) {
  const s = stack!;
  const runs: { processes: number; run: RunMeasurement; cpu?: CpuWindow; loadAverage: number[] }[] =
    [];
  for (const processes of [1, 2]) {
    if (processes === 2) {
      s.addService('encoder');
      await waitForWorkerReady(s.services.at(-1)!.logFile);
    }
    const loadAverage = load();
    say(`encoder: run with ${processes} encoder process${processes > 1 ? 'es' : ''}`);
    const run = await measureRun(
      client,
      queues!,
      runOptions(images, `bench encode x${processes}`, 'end'),
    );
    const enc = run.encode!;
    const cpu = sampler!.window(enc.firstStart, enc.lastEnd);
    say(
      `encoder x${processes}: ${enc.images} images in ${enc.spanSeconds.toFixed(1)} s = ${enc.imagesPerSec.toFixed(0)} img/s ` +
        `(jobs busy ${enc.busySeconds.toFixed(1)} s; API encode stage ${run.apiStageSeconds.encode} s)`,
    );
    say(`encoder x${processes}: during the stage, ${describeCpu(cpu)}`);
    runs.push({ processes, run, cpu, loadAverage });
  }
  const [one, two] = runs;
  rows.push(
    row(
      'encode: 2 encoder processes vs 1',
      two.run.encode!.imagesPerSec,
      one.run.encode!.imagesPerSec,
      1.8,
    ),
  );
  // CPU the encoders actually got: if other programs take cores, the wall-clock ratio drops
  // while images per encoder CPU-second stay put; a drop there is the pool's own cost.
  const perCpuSecond = runs.map(({ run, cpu }) => {
    const cores = Object.entries(cpu?.processes ?? {})
      .filter(([name]) => name.startsWith('encoder-'))
      .reduce((sum, [, c]) => sum + c, 0);
    return run.encode!.images / (cores * (cpu?.seconds ?? NaN));
  });
  say(
    `encoder: images per encoder CPU-second ${perCpuSecond.map((v) => v.toFixed(0)).join(' (x1), ')} (x2): ` +
      `efficiency of 2 vs 1 ${(perCpuSecond[1] / perCpuSecond[0]).toFixed(2)}`,
  );
  report.encoder = { runs, imagesPerEncoderCpuSecond: perCpuSecond };
}

/** PyTorch thread counts compared against (our wasm backend runs one thread). */
const TORCH_THREADS = [1, 2];

/** One measurement of one side of the model comparison. */
interface Turn {
  name: string;
  measure: () => Promise<number>;
}

async function torchPart(py: Extract<TorchPython, { ok: true }>) {
  // Loaded here so the other parts do not load TensorFlow.js.
  const m = await import('./bench/model-rates.js');
  const { checkTwin } = await import('./bench/twin-check.js');
  const cfg = {
    size: opts.torchSize,
    channels: opts.torchChannels,
    batch: opts.batch,
    seconds: opts.seconds,
  };
  const shape = `${cfg.size}x${cfg.size}x${cfg.channels}`;
  const backend = await m.startModelBackend();
  say(`torch: our model on ${backend.backend}, ${shape}, batch ${cfg.batch}`);

  // The twin must be the same network: same weights and batch give the same codes and losses.
  const dir = join(work, 'torch');
  mkdirSync(dir, { recursive: true });
  const pixels = m.benchPixels(cfg);
  const twinArgs = [
    '--size',
    `${cfg.size}`,
    '--channels',
    `${cfg.channels}`,
    '--batch',
    `${cfg.batch}`,
  ];
  const check = await checkTwin(py.python, cfg, pixels, twinArgs, dir);
  say(
    `torch: twin check ${check.passed ? 'passed' : 'FAILED'}: params ${check.params} vs ${check.twinParams}, ` +
      `max code difference ${check.codeDiff.toExponential(1)}, ` +
      `loss difference over ${check.losses.length} steps ${check.lossDiff.toExponential(1)}`,
  );
  const model = m.benchModel(cfg);

  // Ours and the twin take turns, several rounds, in alternating order, so a change of load
  // on the machine hits both; each figure is the median over the rounds.
  const bench = new m.ModelBench(model, pixels, cfg);
  const twin = await TorchTwinServer.start(py.python, [
    ...twinArgs,
    '--pixels',
    join(dir, 'pixels.bin'),
  ]);
  const series: Record<string, number[]> = {};
  const turns = (op: 'train' | 'encode'): Turn[] => [
    { name: `ours ${op}`, measure: () => bench[op]() },
    ...TORCH_THREADS.map((t) => ({
      name: `torch${t} ${op}`,
      measure: () => twin.rate(op, t, cfg.seconds),
    })),
  ];
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const done: string[] = [];
      for (const op of ['train', 'encode'] as const) {
        const order = round % 2 === 0 ? turns(op) : turns(op).reverse();
        for (const turn of order) {
          const v = await turn.measure();
          (series[turn.name] ??= []).push(v);
          done.push(`${turn.name} ${v.toFixed(0)}`);
        }
      }
      say(`torch: round ${round + 1}/${opts.rounds} (img/s): ${done.join(', ')}`);
    }
  } finally {
    await twin.close();
    bench.dispose();
  }

  const medians = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, median(v)]));
  for (const op of ['train', 'encode'] as const) {
    if (medians[`torch2 ${op}`] < medians[`torch1 ${op}`]) {
      say(
        `torch: note: ${op} with 2 threads is slower than with 1: the cores are taken by other ` +
          'work and its threads wait on each other; the 2-thread figure is not meaningful now',
      );
    }
  }
  for (const op of ['train', 'encode'] as const) {
    for (const t of TORCH_THREADS) {
      const figure = `${op} ${shape}: ours (${backend.backend}) vs torch ${t} thread${t > 1 ? 's' : ''}`;
      rows.push(
        row(figure, medians[`ours ${op}`], medians[`torch${t} ${op}`], op === 'train' ? 0.7 : 1.0),
      );
    }
  }
  report.torch = {
    loadAverage: load(),
    python: py.python,
    torchVersion: py.torchVersion,
    backend,
    check,
    rounds: series,
    medians,
  };
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

let exitCode = 0;
try {
  if (opts.parts.has('encoder') || opts.parts.has('preprocess')) {
    const { client, images } = await startBenchStack();
    if (opts.parts.has('preprocess')) await preprocessPart(client, images);
    if (opts.parts.has('encoder')) await encoderPart(client, images);
    say('stopping the stack');
    await queues?.close();
    await queueRedis?.quit();
    queues = undefined;
    queueRedis = undefined;
    sampler?.stop();
    await stack!.stop();
    stack = undefined;
    stackStarting = undefined;
  }
  if (opts.parts.has('torch')) {
    if (torchPython?.ok) await torchPart(torchPython);
    else {
      const why = 'PyTorch not installed';
      rows.push(
        skippedRow('train: ours vs torch', 0.7, why),
        skippedRow('encode: ours vs torch', 1.0, why),
      );
      report.torch = { skipped: torchPython?.ok === false ? torchPython.message : why };
    }
  }
} catch (err) {
  console.error('benchmark failed:', err);
  for (const svc of stack?.services ?? []) {
    const tail = readFileSync(svc.logFile, 'utf8').trim().split('\n').slice(-3).join('\n  ');
    console.error(`last lines of ${svc.logFile}:\n  ${tail}`);
  }
  exitCode = 1;
} finally {
  clearTimeout(deadline);
  await stopAll();
}

const loadAtEnd = load();
console.log(
  `\nload average at start: ${loadAtStart.join(' ')}, at end: ${loadAtEnd.join(' ')} (${cores} cores)`,
);
if (rows.length) console.log(formatTable(rows));
report.loadAverageAtEnd = loadAtEnd;
report.finishedAt = new Date().toISOString();
report.rows = rows;
if (opts.out) {
  writeFileSync(opts.out, JSON.stringify(report, null, 2) + '\n');
  console.log(`figures written to ${opts.out}`);
}
process.exit(exitCode);
