/**
 * The docker compose deployment agrees with the Compose Specification and with the code:
 * every compose file validates against the specification's JSON schema (from the dclint
 * package); every service runs its entry point with only the variables envSchema declares;
 * `.env.example` holds exactly those variables and MinIO's root credentials; the published
 * API port is the one the API listens on; every service's metrics port (the API's own, a
 * worker's METRICS_PORT) is exposed beyond loopback and named by Prometheus scrape labels;
 * images are built here or pinned; the Dockerfile's final stages run as a user other than
 * root with a health check, and that health check tells a live worker or API from a failed
 * one. A last test shows the checks fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { envSchema } from '@imgcluster/config';
import { freePort, REPO_ROOT } from '@imgcluster/devstack';

// Compose documents are free-form YAML: read loosely, checked field by field below.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

const BASE_FILE = 'docker-compose.yml';
const CPU_FILE = 'docker-compose.cpu.yml';
/** Variables only compose reads: MinIO's root user (documented in .env.example). */
const COMPOSE_ONLY = ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD'];
/** Seconds the services' stop_grace_period must exceed SHUTDOWN_GRACE_MS by. */
const STOP_MARGIN_S = 10;

const serviceDirs = readdirSync(join(REPO_ROOT, 'services')).sort();
const known = new Set(Object.keys(envSchema.shape));
const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

function entry(name: string) {
  return ['node', '--import', 'tsx', `services/${name}/src/main.ts`];
}

/** A `!reset` node of an override file: the key is removed from the merged model. */
class Reset {}

/** Parses a compose file as compose does: YAML merge keys, `!reset` tags. */
function readCompose(text: string): Doc {
  const reset = () => new Reset();
  const customTags = [
    { tag: '!reset', collection: 'seq' as const, resolve: reset },
    { tag: '!reset', collection: 'map' as const, resolve: reset },
    { tag: '!reset', resolve: reset },
  ];
  return parse(text, { merge: true, customTags: customTags as never });
}

/** The document without its `!reset` keys (what is left to validate). */
function withoutResets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutResets);
  if (value === null || typeof value !== 'object') return value;
  const out: Doc = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(v instanceof Reset)) out[key] = withoutResets(v);
  }
  return out;
}

const schema = JSON.parse(read('node_modules/dclint/schemas/compose.schema.json'));
// The schema names its draft as "https://json-schema.org/draft-07/schema", an alias Ajv does
// not know; Ajv's default dialect is draft-07, so the name is dropped, not the dialect.
delete schema.$schema;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

/** Every way the document breaks the Compose Specification, as "path: message". */
function schemaErrors(doc: unknown): string[] {
  if (validate(withoutResets(doc))) return [];
  return (validate.errors ?? []).map((e) => {
    const path = e.instancePath.slice(1).replaceAll('/', '.') || '(top)';
    const extra = 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : '';
    return `${path}: ${e.message}${extra}`;
  });
}

/** Merges an override file into a model as compose does (mappings deep, lists appended). */
function mergeCompose(base: unknown, over: unknown, key = ''): unknown {
  if (over instanceof Reset) return undefined;
  if (Array.isArray(base) && Array.isArray(over)) {
    return ['command', 'entrypoint', 'test'].includes(key) ? over : [...base, ...over];
  }
  const isMap = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(base) || !isMap(over)) return over;
  const out: Doc = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const merged = mergeCompose(base[k], v, k);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  return out;
}

const VARIABLE =
  /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Every variable a compose file interpolates. */
function referencedVariables(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('#')) continue;
    for (const m of line.matchAll(VARIABLE)) if (m[0] !== '$$') names.add(m[1] ?? m[4]);
  }
  return names;
}

/**
 * Compose's interpolation: `${V}`, `${V:-default}`, `${V-default}`, `${V:?error}`,
 * `${V?error}` and `$$`. Unset required variables are collected in `missing`.
 */
function interpolate(value: unknown, vars: Record<string, string>, missing: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars, missing));
  if (value !== null && typeof value === 'object') {
    const out: Doc = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, vars, missing);
    return out;
  }
  if (typeof value !== 'string') return value;
  return value.replace(VARIABLE, (all, braced, op, arg, bare) => {
    if (all === '$$') return '$';
    const name = braced ?? bare;
    const set = name in vars;
    const empty = !set || vars[name] === '';
    if (op === ':-') return empty ? arg : vars[name];
    if (op === '-') return set ? vars[name] : arg;
    if ((op === ':?' && empty) || (op === '?' && !set)) missing.push(name);
    return vars[name] ?? '';
  });
}

/** `.env` syntax as compose reads it here: NAME=value lines, comments, blank lines. */
function readEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `.env.example line ${i + 1} is not NAME=value: ${line}`);
    assert.ok(!(m[1] in vars), `.env.example sets ${m[1]} twice`);
    vars[m[1]] = m[2];
  }
  return vars;
}

const envExample = readEnvFile(read('.env.example'));

/** The model compose runs with the given variables; throws when a required one is unset. */
function model(files: string[], vars: Record<string, string> = envExample): Doc {
  const docs: unknown[] = files.map((f) => readCompose(read(f)));
  const merged = docs.reduce((a, b) => mergeCompose(a, b));
  const missing: string[] = [];
  const doc = interpolate(merged, vars, missing) as Doc;
  if (missing.length > 0) throw new Error(`unset: ${[...new Set(missing)].join(', ')}`);
  return doc;
}

/** A compose duration ("90s", "1m30s", "500ms") in seconds. */
function seconds(duration: string): number {
  let total = 0;
  for (const [, n, unit] of String(duration).matchAll(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g)) {
    const scale: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
    total += Number(n) * scale[unit];
  }
  return total;
}

/** Container ports a service publishes, from the short or the long syntax. */
function containerPorts(svc: Doc): number[] {
  return (svc.ports ?? []).map((p: string | Doc) =>
    typeof p === 'object' ? Number(p.target) : Number(String(p).split('/')[0].split(':').pop()),
  );
}

/** Stage name → its instructions (continuation lines joined, heredoc bodies kept aside). */
interface Stage {
  name: string;
  from: string;
  lines: string[];
  heredocs: Map<string, string>;
}

function readDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i];
    const stage = stages.at(-1);
    const heredoc = /<<-?'?"?(\w+)'?"?\s+(\S+)$/.exec(line);
    if (heredoc && stage) {
      const body: string[] = [];
      while (++i < lines.length && lines[i] !== heredoc[1]) body.push(lines[i]);
      stage.heredocs.set(heredoc[2], body.join('\n') + '\n');
    }
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    const arg = /^ARG\s+(\w+)=(\S+)/i.exec(line);
    if (from) {
      const image = from[1].replace(/\$\{(\w+)\}/g, (_, n) => args[n] ?? '');
      stages.push({ name: from[2] ?? '', from: image, lines: [], heredocs: new Map() });
    } else if (arg && !stage) args[arg[1]] = arg[2];
    else stage?.lines.push(line);
  }
  return { args, stages };
}

/** Why an image reference is not pinned: no tag, or `latest`. */
function unpinned(image: string): string | undefined {
  if (image.includes('@sha256:')) return undefined;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  if (!tag) return 'has no tag';
  if (tag === 'latest') return 'is tagged latest';
  return undefined;
}

/** What is wrong with the Dockerfile's final stages (the targets compose builds). */
function dockerfileProblems(text: string, targets: string[]): string[] {
  const problems: string[] = [];
  const { stages } = readDockerfile(text);
  const names = new Set(stages.map((s) => s.name));
  if (stages.at(-1)?.name !== 'runtime') problems.push('the last (default) stage is not runtime');
  for (const s of stages) {
    const base = s.from;
    const why = names.has(base) || base === 'scratch' ? undefined : unpinned(base);
    if (why) problems.push(`stage ${s.name} starts from ${base}, which ${why}`);
  }
  for (const target of new Set(['runtime', ...targets])) {
    const stage = stages.find((s) => s.name === target);
    if (!stage) {
      problems.push(`no stage ${target}`);
      continue;
    }
    const user = stage.lines.filter((l) => /^USER\s/i.test(l)).at(-1);
    const who = user?.split(/\s+/)[1].split(':')[0];
    if (!who || who === 'root' || who === '0') problems.push(`${target} runs as root`);
    const check = stage.lines.find((l) => /^HEALTHCHECK\s/i.test(l));
    if (!check || /HEALTHCHECK\s+NONE/i.test(check)) problems.push(`${target} has no HEALTHCHECK`);
    const script = check && /"(\/app\/[^"]+)"/.exec(check)?.[1];
    const copied = stage.lines.some((l) => /^COPY\s/i.test(l) && script && l.endsWith(script));
    if (check && !copied) problems.push(`${target}'s HEALTHCHECK runs a file the stage lacks`);
  }
  return problems;
}

/** The port a service serves /metrics on: the API's own port, a worker's METRICS_PORT. */
function metricsPort(name: string, svc: Doc): number {
  const env = svc.environment ?? {};
  return name === 'api'
    ? Number(envSchema.shape.API_PORT.parse(env.API_PORT || undefined))
    : Number(envSchema.shape.METRICS_PORT.parse(env.METRICS_PORT || undefined));
}

/**
 * A service's metrics and probes are reachable inside the compose network: a worker's
 * server listens beyond loopback, the port is exposed, and the Prometheus labels name it.
 */
function metricsProblems(name: string, svc: Doc): string[] {
  const problems: string[] = [];
  const port = metricsPort(name, svc);
  if (name !== 'api' && /^(127\.|localhost|::1)/.test(svc.environment?.METRICS_HOST ?? '127.')) {
    problems.push(`${name} serves metrics on loopback inside its container`);
  }
  if (!(svc.expose ?? []).map(Number).includes(port)) {
    problems.push(`${name} does not expose its metrics port ${port}`);
  }
  const labels: Doc = svc.labels ?? {};
  const scraped =
    labels['prometheus.io/scrape'] === 'true' &&
    Number(labels['prometheus.io/port']) === port &&
    labels['prometheus.io/path'] === '/metrics';
  if (!scraped) problems.push(`${name}'s scrape labels do not name port ${port} and /metrics`);
  return problems;
}

/** Everything the deployment promises, checked on a compose model; empty when all hold. */
function composeProblems(doc: Doc, vars: Record<string, string>, stages: string[]): string[] {
  const problems: string[] = [];
  const svcs: Doc = doc.services ?? {};
  const graceS =
    Number(envSchema.shape.SHUTDOWN_GRACE_MS.parse(vars.SHUTDOWN_GRACE_MS || undefined)) / 1000;

  for (const name of serviceDirs) {
    const svc = svcs[name];
    if (!svc) {
      problems.push(`no compose service ${name}`);
      continue;
    }
    if (JSON.stringify(svc.command) !== JSON.stringify(entry(name))) {
      problems.push(`${name} runs ${JSON.stringify(svc.command)}, not its entry point`);
    }
    const env = Object.keys(svc.environment ?? {});
    for (const v of env)
      if (!known.has(v)) problems.push(`${name} sets ${v}, unknown to envSchema`);
    for (const v of known) if (!env.includes(v)) problems.push(`${name} does not pass ${v}`);
    if (!svc.build) problems.push(`${name} is not built from this repository`);
    if (name !== 'api' && !svc.environment?.HEARTBEAT_FILE) {
      problems.push(`${name} has no HEARTBEAT_FILE for its health check`);
    }
    problems.push(...metricsProblems(name, svc));
    if (svc.depends_on?.redis?.condition !== 'service_healthy') {
      problems.push(`${name} does not wait for a healthy redis`);
    }
    if (svc.depends_on?.['minio-setup']?.condition !== 'service_completed_successfully') {
      problems.push(`${name} does not wait for minio-setup to complete`);
    }
    const stop = seconds(svc.stop_grace_period ?? '10s');
    if (stop < graceS + STOP_MARGIN_S) {
      problems.push(
        `${name}'s stop_grace_period ${stop}s is not ${STOP_MARGIN_S}s over ${graceS}s`,
      );
    }
  }

  for (const [name, svc] of Object.entries(svcs)) {
    if (serviceDirs.includes(name)) continue;
    for (const v of Object.keys(svc.environment ?? {})) {
      if (!known.has(v) && !COMPOSE_ONLY.includes(v)) problems.push(`${name} sets unknown ${v}`);
    }
  }

  for (const [name, svc] of Object.entries(svcs)) {
    if (svc.build) {
      const context = typeof svc.build === 'string' ? svc.build : svc.build.context;
      const target = svc.build.target ?? 'runtime';
      if (context !== '.') problems.push(`${name} is built from ${context}, not this repository`);
      if (!stages.includes(target)) problems.push(`${name} builds unknown stage ${target}`);
    } else {
      const why = svc.image ? unpinned(svc.image) : 'is missing';
      if (why) problems.push(`${name}'s image ${svc.image ?? ''} ${why}`);
    }
    for (const [dep, cond] of Object.entries<Doc>(svc.depends_on ?? {})) {
      if (!svcs[dep]) problems.push(`${name} depends on missing ${dep}`);
      else if (!cond?.condition) problems.push(`${name} depends on ${dep} with no condition`);
      else if (cond.condition === 'service_healthy' && !svcs[dep].healthcheck && !svcs[dep].build) {
        problems.push(`${name} waits for ${dep} to be healthy, which has no health check`);
      }
    }
  }

  const redis = svcs.redis;
  const flags = (redis?.command ?? []).join(' ');
  if (!/--appendonly yes/.test(flags)) problems.push('redis runs without AOF');
  if (!/--maxmemory-policy noeviction/.test(flags)) problems.push('redis may evict keys');
  if (!redis?.healthcheck || !(redis?.volumes ?? []).some((v: string) => v.endsWith(':/data'))) {
    problems.push('redis lacks a health check or a data volume');
  }
  if (!svcs.minio?.healthcheck) problems.push('minio has no health check');

  const api = svcs.api;
  const apiPort = Number(envSchema.shape.API_PORT.parse(api?.environment?.API_PORT || undefined));
  const configured = Number(envSchema.shape.API_PORT.parse(vars.API_PORT || undefined));
  if (apiPort !== configured)
    problems.push(`the API listens on ${apiPort}, .env says ${configured}`);
  if (JSON.stringify(containerPorts(api ?? {})) !== JSON.stringify([apiPort])) {
    problems.push(`api publishes ${JSON.stringify(containerPorts(api ?? {}))}, not ${apiPort}`);
  }
  if (/^(127\.|localhost|::1)/.test(api?.environment?.API_HOST ?? '127.')) {
    problems.push('the API listens on loopback inside its container');
  }

  const replicas = (name: string) => svcs[name]?.deploy?.replicas ?? 1;
  if (replicas('preprocess') !== 2) problems.push('preprocess does not run 2 replicas');
  if (replicas('encoder') !== 3) problems.push('encoder does not run 3 replicas');
  if (replicas('trainer') !== 1 || replicas('cluster') !== 1) {
    problems.push('trainer and cluster must run once');
  }
  return problems;
}

const dockerfile = read('Dockerfile');
const stageNames = readDockerfile(dockerfile).stages.map((s) => s.name);
const gpuDevices = (doc: Doc) => doc.services.trainer.deploy?.resources?.reservations?.devices;

test('every compose file validates against the Compose Specification', () => {
  for (const file of [BASE_FILE, CPU_FILE]) {
    assert.deepEqual(schemaErrors(readCompose(read(file))), [], `${file} breaks the schema`);
  }
  assert.deepEqual(schemaErrors(model([BASE_FILE])), [], 'the interpolated model');
  assert.deepEqual(schemaErrors(model([BASE_FILE, CPU_FILE])), [], 'the CPU model');
});

test('docker-compose.yml runs every service as promised, the trainer on a GPU', () => {
  const doc = model([BASE_FILE]);
  assert.deepEqual(composeProblems(doc, envExample, stageNames), []);
  assert.deepEqual(gpuDevices(doc), [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
  assert.equal(doc.services.trainer.build.target, 'trainer-gpu');
});

test('with docker-compose.cpu.yml the trainer runs the CPU image and reserves no GPU', () => {
  const doc = model([BASE_FILE, CPU_FILE]);
  assert.deepEqual(composeProblems(doc, envExample, stageNames), []);
  assert.equal(gpuDevices(doc), undefined);
  assert.equal(doc.services.trainer.build.target, 'runtime');
  assert.equal(doc.services.trainer.image, doc.services.encoder.image);
});

test('.env.example is the one configuration: envSchema names and MinIO root, valid values', () => {
  const expected = [...known, ...COMPOSE_ONLY].sort();
  assert.deepEqual(Object.keys(envExample).sort(), expected);
  const parsed = envSchema.safeParse(
    Object.fromEntries(Object.entries(envExample).filter(([k, v]) => known.has(k) && v !== '')),
  );
  assert.ok(parsed.success, `.env.example: ${JSON.stringify(parsed.error?.issues)}`);
  const text = read('.env.example');
  for (const name of COMPOSE_ONLY) {
    const heading = text.indexOf('\n# Compose only');
    assert.ok(heading >= 0 && text.indexOf(`\n${name}=`) > heading, `${name} is not under it`);
  }

  for (const file of [BASE_FILE, CPU_FILE]) {
    for (const name of referencedVariables(read(file))) {
      assert.ok(name in envExample, `${file} reads ${name}, which .env.example does not list`);
    }
  }
  // Without a .env, compose stops and names what is missing instead of starting half set up.
  assert.throws(() => model([BASE_FILE], {}), /unset: REDIS_URL, S3_ENDPOINT/);
});

test('the published API port follows API_PORT and its envSchema default', () => {
  for (const value of ['8080', '9090', '']) {
    const vars = { ...envExample, API_PORT: value };
    const expected = value === '' ? envSchema.shape.API_PORT.parse(undefined) : Number(value);
    const api = model([BASE_FILE], vars).services.api;
    assert.deepEqual(containerPorts(api), [expected], `API_PORT=${value}`);
    assert.equal(api.ports[0], `127.0.0.1:${expected}:${expected}`);
    assert.deepEqual(composeProblems(model([BASE_FILE], vars), vars, stageNames), []);
  }
});

test('the workers expose the metrics port METRICS_PORT names, or its default', () => {
  for (const value of ['9464', '9100', '']) {
    const vars = { ...envExample, METRICS_PORT: value };
    const expected = value === '' ? envSchema.shape.METRICS_PORT.parse(undefined) : Number(value);
    const doc = model([BASE_FILE], vars);
    for (const name of serviceDirs.filter((n) => n !== 'api')) {
      assert.equal(
        metricsPort(name, doc.services[name]),
        expected,
        `${name} METRICS_PORT=${value}`,
      );
    }
    assert.deepEqual(composeProblems(doc, vars, stageNames), []);
  }
});

test('the Dockerfile: pinned bases, final stages as non-root with a health check', () => {
  const targets = Object.values(model([BASE_FILE]).services)
    .map((s) => (s as Doc).build?.target)
    .filter(Boolean);
  assert.deepEqual(dockerfileProblems(dockerfile, targets), []);
  const ignored = read('.dockerignore').split('\n');
  for (const path of [
    '**/node_modules',
    '.git',
    'test-output',
    'demo-output',
    '.data',
    '.scratch',
  ]) {
    assert.ok(ignored.includes(path), `.dockerignore does not keep out ${path}`);
  }
});

/**
 * Runs the image's health check script here, as Docker would in a container (not blocking:
 * the API the check calls may be served by this process).
 */
function runHealthcheck(script: string, service: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, service], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise<{ status: number | null; stderr: string }>((resolve) => {
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

test('the image health check tells a beating worker and a ready API from failed ones', async () => {
  const body = readDockerfile(dockerfile).stages.find((s) => s.name === 'healthcheck');
  const source = body?.heredocs.get('/healthcheck.mjs');
  assert.ok(source, 'the Dockerfile has no healthcheck script');
  // Placed inside the repository so that it resolves the packages as in /app.
  const dir = join(REPO_ROOT, 'test-output', 'compose');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, 'healthcheck.mjs');
  writeFileSync(script, source);

  const heartbeat = join(dir, 'heartbeat');
  rmSync(heartbeat, { force: true });
  const env = { HEARTBEAT_FILE: heartbeat };
  const missing = await runHealthcheck(script, 'encoder', env);
  assert.equal(missing.status, 1, 'no heartbeat yet');
  assert.match(missing.stderr, /unhealthy/);
  writeFileSync(heartbeat, '');
  assert.equal((await runHealthcheck(script, 'encoder', env)).status, 0, 'a fresh heartbeat');
  const old = new Date(Date.now() - 120_000);
  utimesSync(heartbeat, old, old);
  assert.equal((await runHealthcheck(script, 'trainer', env)).status, 1, 'a stale heartbeat');

  let ready = 200;
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/readyz' ? ready : 404;
    res.end('{}');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    const apiEnv = { API_PORT: String(port) };
    assert.equal((await runHealthcheck(script, 'api', apiEnv)).status, 0);
    ready = 503;
    assert.equal((await runHealthcheck(script, 'api', apiEnv)).status, 1);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('the checks fail on broken files', () => {
  const broken = readCompose(
    ['servces: {}', 'services:', '  api:', '    ports: 8080', '    deploy: {replica: 2}'].join(
      '\n',
    ),
  );
  assert.deepEqual(schemaErrors(broken).sort(), [
    '(top): must NOT have additional properties (servces)',
    'services.api.deploy: must NOT have additional properties (replica)',
    'services.api.ports: must be array',
  ]);

  const doc = structuredClone(model([BASE_FILE]));
  doc.services.api.environment.API_PROT = '8081';
  doc.services.api.ports = ['127.0.0.1:9090:9090'];
  doc.services.redis.image = 'redis:latest';
  doc.services.redis.command = ['redis-server'];
  doc.services.cluster.stop_grace_period = '30s';
  doc.services.encoder.deploy.replicas = 1;
  delete doc.services.preprocess.depends_on;
  delete doc.services.trainer;
  delete doc.services.cluster.environment.HEARTBEAT_FILE;
  doc.services.encoder.environment.METRICS_HOST = '127.0.0.1';
  doc.services.cluster.labels['prometheus.io/port'] = '9000';
  doc.services.preprocess.expose = [];
  assert.deepEqual(composeProblems(doc, envExample, stageNames).sort(), [
    'api publishes [9090], not 8080',
    'api sets API_PROT, unknown to envSchema',
    'cluster does not pass HEARTBEAT_FILE',
    'cluster has no HEARTBEAT_FILE for its health check',
    "cluster's scrape labels do not name port 9464 and /metrics",
    "cluster's stop_grace_period 30s is not 10s over 60s",
    'encoder does not run 3 replicas',
    'encoder serves metrics on loopback inside its container',
    'no compose service trainer',
    'preprocess does not expose its metrics port 9464',
    'preprocess does not wait for a healthy redis',
    'preprocess does not wait for minio-setup to complete',
    'redis may evict keys',
    'redis runs without AOF',
    "redis's image redis:latest is tagged latest",
  ]);

  const rootImage = dockerfile
    .replace(/^USER 10001:10001$/gm, 'USER root')
    .replace('FROM ${NODE_IMAGE} AS node-base', 'FROM node AS node-base')
    .replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, '');
  assert.deepEqual(dockerfileProblems(rootImage, ['trainer-gpu']), [
    'stage node-base starts from node, which has no tag',
    'runtime runs as root',
    'trainer-gpu runs as root',
    'trainer-gpu has no HEALTHCHECK',
  ]);
});

const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });

test(
  'docker-compose (Debian) accepts docker-compose.yml',
  {
    skip: dockerCompose.error
      ? 'docker-compose is not installed: apt-get install -y --no-install-recommends docker-compose'
      : false,
  },
  () => {
    const res = spawnSync(
      'docker-compose',
      ['--env-file', '.env.example', '-f', BASE_FILE, 'config', '--quiet'],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    assert.equal(res.status, 0, res.stderr);
  },
);
