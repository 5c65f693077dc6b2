/**
 * API load test: requests/s and p99 latency of the REST API under autocannon, with the
 * workers of the local stack running, each as a ratio to a bare Fastify route measured in
 * the same run (absolute figures on a shared machine say little).
 *
 *   node --import tsx scripts/bench-api-load.ts [--seconds 5] [--connections 10] [--submits 200]
 *
 * Phases, one after the other, each bounded:
 * 1. baseline: GET of a route returning a small JSON object, on a bare Fastify server in its
 *    own process (as the API is), for --seconds;
 * 2. poll: GET /v1/runs/:id of a real run that the workers are processing meanwhile;
 * 3. submit: POST /v1/runs of a tiny input (16 images of 16×16), --submits requests in all;
 *    every run is queued and the workers take them on while the phase lasts;
 * 4. baseline again: the baseline of the ratios is the mean of 1 and 4, so a machine that
 *    got busier or quieter meanwhile shows as a difference between the two.
 *
 * Everything listens on 127.0.0.1; the stack's data lies in one temporary folder, removed
 * at the end. The whole script stops itself after --timeout-min minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { startStack, type LocalStack } from '@imgcluster/devstack';
import { encodePng } from '@imgcluster/images';

const HELP = `Usage: node --import tsx scripts/bench-api-load.ts [options]

Measures the API's requests/s and p99 latency with the pipeline's workers running, against a
bare Fastify route in the same run:
  baseline  GET of a bare Fastify route (small JSON), its own process
  poll      GET /v1/runs/:id of a run the workers are processing
  submit    POST /v1/runs of a tiny input, a fixed number of requests

Options:
  --seconds S        seconds of each timed phase (default 5)
  --connections N    concurrent connections of every phase (default 10)
  --submits N        POST /v1/runs requests of the submit phase (default 200)
  --timeout-min M    stop everything after M minutes (default 10)
  --help             this text`;

const BASELINE_FLAG = '--serve-baseline';
const INPUT = { bucket: 'bench-load', prefix: 'tiny/' };
const INPUT_IMAGES = 16;
/** The body of every submitted run: a tiny input, one short epoch. */
const RUN_BODY = {
  name: 'load-test',
  input: INPUT,
  image: { size: 16, channels: 1 },
  training: { epochs: 1, batchSize: 16 },
  kmeans: { k: 2 },
  shardSize: 8,
};

interface Options {
  seconds: number;
  connections: number;
  submits: number;
  timeoutMin: number;
}

/** One phase's figures. */
interface Phase {
  name: string;
  requests: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

function options(): Options | undefined {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '10' },
      submits: { type: 'string', default: '200' },
      'timeout-min': { type: 'string', default: '10' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return undefined;
  }
  const int = (name: keyof typeof values, min: number, max: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) {
      console.error(`--${name} must be an integer in ${min}..${max}\n\n${HELP}`);
      process.exit(2);
    }
    return n;
  };
  return {
    seconds: int('seconds', 1, 60),
    connections: int('connections', 1, 256),
    submits: int('submits', 1, 10_000),
    timeoutMin: int('timeout-min', 1, 60),
  };
}

/** The baseline server: a bare Fastify app with one route; prints its port and waits. */
async function serveBaseline(): Promise<void> {
  const app = Fastify({ logger: false });
  app.get('/ping', async () => ({ ok: true, service: 'baseline', time: Date.now() }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : 0}`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

/** Starts the baseline server in a child process; its URL and the child. */
async function startBaseline(): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', script, BASELINE_FLAG], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /listening (\d+)/.exec(seen);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/ping`, child };
}

async function measure(
  name: string,
  opts: autocannon.Options,
  say: (line: string) => void,
): Promise<Phase> {
  say(`${name}: ${opts.amount ? `${opts.amount} requests` : `${opts.duration} s`}…`);
  const r = await autocannon({ ...opts, timeout: 30 });
  return {
    name,
    requests: r.requests.total,
    seconds: r.duration,
    perSecond: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

async function uploadTinyInput(stack: LocalStack): Promise<void> {
  await stack.storage.ensureBucket(INPUT.bucket);
  for (let i = 0; i < INPUT_IMAGES; i++) {
    const pixels = new Uint8Array(16 * 16);
    for (let p = 0; p < pixels.length; p++) pixels[p] = (p * (i + 1) * 7) % 256;
    const png = await encodePng(pixels, 16, 16, 1);
    await stack.storage.put(INPUT.bucket, `${INPUT.prefix}${String(i).padStart(3, '0')}.png`, png);
  }
}

/** Waits until every worker's /readyz answers 200 (its workers took up their queues). */
async function waitForWorkers(stack: LocalStack, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const service of stack.services.filter((s) => s.name !== 'api')) {
    const url = await stack.metricsUrl(service, timeoutMs);
    for (;;) {
      const res = await fetch(`${url}/readyz`).catch(() => undefined);
      if (res?.ok) break;
      if (Date.now() > deadline) throw new Error(`${service.name} not ready: ${url}/readyz`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function table(phases: Phase[], baseline: { perSecond: number; p99: number }): string {
  const head = ['phase', 'requests', 'seconds', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'];
  const rows = phases.map((p) => [
    p.name,
    String(p.requests),
    p.seconds.toFixed(1),
    p.perSecond.toFixed(0),
    p.p50.toFixed(0),
    p.p99.toFixed(0),
    String(p.non2xx),
    String(p.errors),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const lines = [line(head), ...rows.map(line), ''];
  for (const p of phases.filter((x) => !x.name.startsWith('baseline'))) {
    const rate = p.perSecond / baseline.perSecond;
    const p99 = p.p99 / Math.max(baseline.p99, 1);
    lines.push(`${p.name}: ${rate.toFixed(3)}x the baseline's req/s, p99 ${p99.toFixed(1)}x`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = options();
  if (!opts) return;
  const say = (line: string) => console.error(`[bench:api] ${line}`);
  const work = mkdtempSync(join(tmpdir(), 'imgcluster-bench-api-'));
  let stack: LocalStack | undefined;
  let baselineServer: ChildProcess | undefined;
  const cleanup = async () => {
    baselineServer?.kill('SIGTERM');
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  const guard = setTimeout(() => {
    say(`still running after ${opts.timeoutMin} min: stopping`);
    void cleanup().then(() => process.exit(1));
  }, opts.timeoutMin * 60_000);
  guard.unref();
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const baseline = await startBaseline();
    baselineServer = baseline.child;
    say('starting the local stack (api, 2 preprocess, trainer, 2 encoder, cluster)…');
    // No API keys and no rate limit, whatever this shell's environment says: the point is
    // the API's own throughput.
    stack = await startStack(
      work,
      { preprocess: 2, encoder: 2 },
      { API_KEYS: '', API_KEYS_FILE: '', RATE_LIMIT_MAX: '0' },
    );
    await waitForWorkers(stack);
    await uploadTinyInput(stack);

    const submitted = await fetch(`${stack.apiUrl}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(RUN_BODY),
    });
    if (submitted.status !== 202) throw new Error(`submit: ${await submitted.text()}`);
    const runId = ((await submitted.json()) as { id: string }).id;
    say(`polling run ${runId} while the workers process it`);

    const timed = { connections: opts.connections, duration: opts.seconds };
    const phases: Phase[] = [];
    phases.push(await measure('baseline', { ...timed, url: baseline.url }, say));
    phases.push(await measure('poll', { ...timed, url: `${stack.apiUrl}/v1/runs/${runId}` }, say));
    phases.push(
      await measure(
        'submit',
        {
          url: `${stack.apiUrl}/v1/runs`,
          connections: opts.connections,
          amount: opts.submits,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(RUN_BODY),
        },
        say,
      ),
    );
    phases.push(await measure('baseline again', { ...timed, url: baseline.url }, say));

    const bases = phases.filter((p) => p.name.startsWith('baseline'));
    const mean = (f: (p: Phase) => number) => bases.reduce((a, p) => a + f(p), 0) / bases.length;
    const run = (await (await fetch(`${stack.apiUrl}/v1/runs/${runId}`)).json()) as {
      state: string;
      stages: Record<string, { state: string; done: number; total: number }>;
    };
    const queues = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    const waiting = [
      ...queues.matchAll(/^imgcluster_queue_jobs\{[^}]*state="waiting"[^}]*\} (\d+)/gm),
    ]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);

    console.log(
      `API load test: ${opts.connections} connections, ${opts.seconds} s per timed phase, ` +
        `${opts.submits} submits; ${cpus().length} cores, load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    console.log(table(phases, { perSecond: mean((p) => p.perSecond), p99: mean((p) => p.p99) }));
    const stages = Object.entries(run.stages)
      .map(([name, s]) => `${name} ${s.state} ${s.done}/${s.total}`)
      .join(', ');
    console.log(`\nthe polled run meanwhile: ${run.state} (${stages}); jobs waiting: ${waiting}`);
    const failed = phases.filter((p) => p.non2xx > 0 || p.errors > 0);
    if (failed.length > 0) {
      process.exitCode = 1;
      say(`non-2xx answers or errors in: ${failed.map((p) => p.name).join(', ')}`);
    }
  } finally {
    clearTimeout(guard);
    await cleanup();
  }
}

if (process.argv.includes(BASELINE_FLAG)) await serveBaseline();
else await main();
