/**
 * The Kubernetes manifests in k8s/, rendered per overlay with test/lib/kustomize.ts, are
 * valid objects and agree with the code: every service runs its entry point with variables
 * the config schema knows, the autoscalers watch real BullMQ wait lists, Services, PDBs and
 * autoscalers point at workloads that exist, and every service's probes and Prometheus
 * annotations name the port its HTTP server listens on.
 *
 * Schema checks: every document is built as its kubernetes-models (or
 * @kubernetes-models/keda) class and validated: types, enums, required fields. Those
 * validators accept unknown fields, so unknownFields() walks each document along the
 * models' TypeScript declarations (the .d.ts files the packages ship, generated from the
 * same OpenAPI schemas) and reports every key the declared type does not have, at any
 * depth. (The packages' `_schemas` hold compiled validators, not JSON schemas, so ajv
 * cannot be pointed at them.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { QueueKeys } from 'bullmq';
import { envSchema, loadEnv, type Env } from '@imgcluster/config';
import { REPO_ROOT } from '@imgcluster/devstack';
import { ASSIGN_QUEUE, QUEUES } from '@imgcluster/queues';
import {
  applyOperation,
  KustomizeError,
  podSpecOf,
  renderKustomization,
  type Resource,
} from './lib/kustomize.js';

type Doc = Resource & Record<string, any> & { metadata: Record<string, any> };

/** The pod spec of a workload, untyped like the rest of the manifest. */
const podOf = (d: Doc): any => podSpecOf(d);

const K8S = join(REPO_ROOT, 'k8s');
const OVERLAYS = ['local', 'gpu-cloud'] as const;
const SERVICES = readdirSync(join(REPO_ROOT, 'services')).sort();
const KNOWN_ENV = new Set(Object.keys(envSchema.shape));
const KEYS = new QueueKeys();

/** The queues each autoscaled service consumes (see services/<name>/src/main.ts). */
const CONSUMED: Record<string, string[]> = {
  preprocess: [QUEUES.plan, QUEUES.preprocess],
  encoder: [QUEUES.encode, ASSIGN_QUEUE],
};
const WAIT_LISTS = new Set(
  [...Object.values(QUEUES), ASSIGN_QUEUE].flatMap((q) => [
    KEYS.toKey(q, 'wait'),
    KEYS.toKey(q, 'active'),
  ]),
);

function render(overlay: string): Doc[] {
  return renderKustomization(join(K8S, 'overlays', overlay)) as Doc[];
}

const rendered = new Map(OVERLAYS.map((o) => [o, render(o)]));

function find(docs: Doc[], kind: string, name: string): Doc | undefined {
  return docs.find((d) => d.kind === kind && d.metadata.name === name);
}

function get(docs: Doc[], kind: string, name: string): Doc {
  const d = find(docs, kind, name);
  assert.ok(d, `no ${kind} ${name}`);
  return d;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);

/** Workloads with their pod template's labels and pod spec. */
function pods(docs: Doc[]): { doc: Doc; labels: Record<string, string>; spec: any }[] {
  return docs
    .filter((d) => WORKLOADS.has(d.kind))
    .map((doc) => {
      const template =
        doc.kind === 'CronJob' ? doc.spec.jobTemplate.spec.template : doc.spec.template;
      return { doc, labels: template.metadata?.labels ?? {}, spec: podSpecOf(doc) };
    });
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

function entryPoint(service: string): string[] {
  return ['node', '--import', 'tsx', `services/${service}/src/main.ts`];
}

/** The imgcluster service a Deployment runs, from its entry point; undefined otherwise. */
function serviceOf(d: Doc): string | undefined {
  const command: string[] = podOf(d).containers?.[0]?.command ?? [];
  return command.join(' ').match(/^node --import tsx services\/([\w-]+)\/src\/main\.ts$/)?.[1];
}

/** The environment a container sees from env and envFrom, as far as the manifests say. */
function containerEnv(docs: Doc[], namespace: string | undefined, c: any) {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const source of c.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const d = docs.find(
      (x) => x.kind === kind && x.metadata.name === ref.name && x.metadata.namespace === namespace,
    );
    if (!d) {
      if (!ref.optional) problems.push(`envFrom ${kind} ${ref.name} does not exist`);
      continue;
    }
    const data = { ...(d.stringData ?? {}) };
    for (const [k, v] of Object.entries(d.data ?? {})) {
      data[k] = kind === 'Secret' ? Buffer.from(v as string, 'base64').toString() : v;
    }
    Object.assign(env, data);
  }
  for (const e of c.env ?? []) env[e.name] = e.value ?? `<from ${Object.keys(e.valueFrom)}>`;
  return { env, problems };
}

// ---------------------------------------------------------------------------------------
// Unknown fields, checked along the models' TypeScript declarations.

type Shape =
  | { type: 'leaf' }
  | { type: 'array' | 'map'; of: Shape }
  | { type: 'object'; file: string; declared: Declaration };

interface Declaration {
  fields: Map<string, string>;
  imports: Map<string, string>;
}

const declarations = new Map<string, Declaration | null>();

/** Where an import specifier of a .d.ts file lies (relative, or a package under node_modules). */
function resolveDeclaration(specifier: string, from: string): string {
  if (specifier.startsWith('.')) return resolve(dirname(from), specifier.replace(/\.js$/, '.d.ts'));
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    for (const candidate of [`${specifier}.d.ts`, join(specifier, 'index.d.ts')]) {
      const path = join(dir, 'node_modules', candidate);
      if (existsSync(path)) return path;
    }
    if (dir === dirname(dir)) throw new Error(`cannot resolve ${specifier} from ${from}`);
  }
}

/** The fields of the interface a model .d.ts file declares; null for a plain type alias. */
function declaration(file: string): Declaration | null {
  if (declarations.has(file)) return declarations.get(file) ?? null;
  const text = readFileSync(file, 'utf8').replace(/\/\*\*[\s\S]*?\*\//g, '');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g)) {
    for (const name of m[1].split(',')) imports.set(name.trim(), m[2]);
  }
  const body = text.match(/export interface \w+( extends TypeMeta)? \{\n([\s\S]*?)\n\}/);
  if (!body) {
    declarations.set(file, null);
    return null;
  }

  const fields = new Map<string, string>();
  if (body[1]) fields.set('apiVersion', 'string').set('kind', 'string');
  let current: string | undefined;
  for (const line of body[2].split('\n')) {
    const m = line.match(/^ {4}"([^"]+)"\??: (.*)$/);
    if (m) {
      current = m[1];
      fields.set(current, m[2]);
    } else if (current && line.trim()) {
      fields.set(current, `${fields.get(current)} ${line.trim()}`);
    }
  }
  const d = { fields, imports };
  declarations.set(file, d);
  return d;
}

/** The fields of an inline object type: `"name"?: type;` entries, split at nesting depth 0. */
function inlineFields(body: string): Map<string, string> {
  const fields = new Map<string, string>();
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '{' || ch === '<') depth++;
    else if (ch === '}' || ch === '>') depth--;
    else if (ch === ';' && depth === 0) {
      const m = body
        .slice(start, i)
        .trim()
        .match(/^"([^"]+)"\??: (.*)$/);
      if (m) fields.set(m[1], m[2]);
      start = i + 1;
    }
  }
  return fields;
}

/** The shape of one field type as written in a declaration file. */
function shapeOf(typeText: string, file: string, imports: Map<string, string>): Shape {
  const t = typeText.replace(/;$/, '').replace(/\s+/g, ' ').trim();
  const array = t.match(/^Array<(.*)>$/);
  if (array) return { type: 'array', of: shapeOf(array[1], file, imports) };
  const map = t.match(/^\{ \[key: string\]: (.*?);? \}$/);
  if (map) return { type: 'map', of: shapeOf(map[1], file, imports) };
  if (t.startsWith('{ "')) {
    return { type: 'object', file, declared: { fields: inlineFields(t.slice(1, -1)), imports } };
  }
  if (imports.has(t)) {
    const target = resolveDeclaration(imports.get(t) as string, file);
    const declared = declaration(target);
    return declared ? { type: 'object', file: target, declared } : { type: 'leaf' };
  }
  const withoutStrings = t.replace(/"[^"]*"/g, '');
  if (/[{<]/.test(withoutStrings) || [...imports.keys()].some((i) => withoutStrings.includes(i))) {
    throw new Error(`${file}: cannot read the type ${t}`);
  }
  return { type: 'leaf' };
}

/** Paths of every key in `value` that its declared type does not have. */
function unknownFields(value: unknown, shape: Shape, path: string, out: string[]): string[] {
  if (value === null || typeof value !== 'object' || shape.type === 'leaf') return out;
  if (shape.type === 'array' || shape.type === 'map') {
    for (const [k, v] of Object.entries(value)) unknownFields(v, shape.of, `${path}.${k}`, out);
    return out;
  }
  if (shape.type !== 'object') return out;
  const d = shape.declared;
  for (const [k, v] of Object.entries(value)) {
    const typeText = d.fields.get(k);
    if (typeText === undefined) out.push(`${path}.${k}`);
    else unknownFields(v, shapeOf(typeText, shape.file, d.imports), `${path}.${k}`, out);
  }
  return out;
}

/** The package holding the model of an apiVersion: KEDA's or the Kubernetes one. */
function modelPackage(apiVersion: string): string {
  return apiVersion.startsWith('keda.sh/')
    ? `@kubernetes-models/keda/${apiVersion}`
    : `kubernetes-models/${apiVersion}`;
}

const modelModules = new Map<string, Record<string, any> | null>();

async function modelModule(apiVersion: string): Promise<Record<string, any> | null> {
  if (!modelModules.has(apiVersion)) {
    const mod = await import(modelPackage(apiVersion)).catch(() => null);
    modelModules.set(apiVersion, mod);
  }
  return modelModules.get(apiVersion) ?? null;
}

/** Schema problems of one document: unknown kind, model validation, unknown fields. */
async function schemaProblems(d: Doc): Promise<string[]> {
  const where = `${d.kind} ${d.metadata?.name}`;
  const Model = (await modelModule(d.apiVersion))?.[d.kind];
  if (typeof Model !== 'function' || Model.kind !== d.kind) {
    return [`${where}: no model for ${d.apiVersion} ${d.kind}`];
  }
  const problems: string[] = [];
  try {
    new Model(structuredClone(d)).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  const file = resolveDeclaration(`${modelPackage(d.apiVersion)}/${d.kind}`, join(REPO_ROOT, 'x'));
  const declared = declaration(file) as Declaration;
  for (const path of unknownFields(d, { type: 'object', file, declared }, '', [])) {
    problems.push(`${where}: unknown field ${path.slice(1)}`);
  }
  return problems;
}

/**
 * Problems of a service's HTTP server as its pod declares it: probes over HTTP (/readyz,
 * /healthz) on a named container port where the service listens (the API on API_PORT, a
 * worker on METRICS_PORT, beyond loopback), and Prometheus annotations naming that port.
 */
function metricsProblems(d: Doc, env: Env): string[] {
  const problems: string[] = [];
  const service = serviceOf(d);
  const c = podOf(d).containers[0];
  const port = service === 'api' ? env.API_PORT : env.METRICS_PORT;
  const host = service === 'api' ? env.API_HOST : env.METRICS_HOST;
  if (/^(127\.|localhost|::1)/.test(host)) problems.push(`listens on loopback (${host})`);
  const declared = (c.ports ?? []).find((p: any) => p.containerPort === port);
  if (!declared?.name) problems.push(`no named container port ${port}`);
  for (const [probe, path] of [
    ['readinessProbe', '/readyz'],
    ['livenessProbe', '/healthz'],
  ] as const) {
    const get = c[probe]?.httpGet;
    if (get?.path !== path || get?.port !== declared?.name) {
      problems.push(`${probe} is not GET ${path} on port ${declared?.name ?? port}`);
    }
  }
  const notes = d.spec.template.metadata?.annotations ?? {};
  if (
    notes['prometheus.io/scrape'] !== 'true' ||
    Number(notes['prometheus.io/port']) !== port ||
    notes['prometheus.io/path'] !== '/metrics'
  ) {
    problems.push(`Prometheus annotations do not name port ${port} and /metrics`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Cross-references between the documents of one overlay.

/** Problems of references between documents: what each object names must exist and match. */
function referenceProblems(docs: Doc[]): string[] {
  const problems: string[] = [];
  const workloads = pods(docs);

  for (const { doc, labels, spec } of workloads) {
    const where = `${doc.kind} ${doc.metadata.name}`;
    const ns = doc.metadata.namespace;
    if (doc.spec.selector && !selects(doc.spec.selector.matchLabels, labels)) {
      problems.push(`${where}: selector does not match its pod template`);
    }
    const account = spec.serviceAccountName;
    if (account && !find(docs, 'ServiceAccount', account)) {
      problems.push(`${where}: no ServiceAccount ${account}`);
    }
    for (const v of spec.volumes ?? []) {
      if (v.configMap && !find(docs, 'ConfigMap', v.configMap.name)) {
        problems.push(`${where}: volume ${v.name}: no ConfigMap ${v.configMap.name}`);
      }
    }
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      problems.push(...containerEnv(docs, ns, c).problems.map((p) => `${where}: ${p}`));
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (!ref) continue;
        const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
        const source = find(docs, kind, ref.name);
        const keys = { ...source?.data, ...source?.stringData };
        if (!(ref.key in keys)) problems.push(`${where}: env ${e.name}: no ${ref.name}.${ref.key}`);
      }
      const volumes = new Set((spec.volumes ?? []).map((v: any) => v.name));
      for (const m of c.volumeMounts ?? []) {
        const claims = (doc.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name);
        if (!volumes.has(m.name) && !claims.includes(m.name)) {
          problems.push(`${where}: mounts unknown volume ${m.name}`);
        }
      }
    }
  }

  for (const s of docs.filter((d) => d.kind === 'Service')) {
    const matched = workloads.filter(
      (w) =>
        w.doc.metadata.namespace === s.metadata.namespace && selects(s.spec.selector, w.labels),
    );
    if (matched.length === 0) problems.push(`Service ${s.metadata.name}: selects no pods`);
    for (const port of s.spec.ports ?? []) {
      const target = port.targetPort ?? port.port;
      for (const w of matched) {
        const ports = w.spec.containers.flatMap((c: any) => c.ports ?? []);
        const found = ports.some((p: any) =>
          typeof target === 'string' ? p.name === target : p.containerPort === target,
        );
        if (!found) {
          problems.push(
            `Service ${s.metadata.name}: port ${port.name ?? port.port} → ${target} is not a ` +
              `container port of ${w.doc.kind} ${w.doc.metadata.name}`,
          );
        }
      }
    }
  }

  for (const p of docs.filter((d) => d.kind === 'PodDisruptionBudget')) {
    const matched = workloads.filter((w) => selects(p.spec.selector?.matchLabels, w.labels));
    if (matched.length === 0) problems.push(`PodDisruptionBudget ${p.metadata.name}: no pods`);
  }

  const hpaTargets = new Set<string>();
  for (const h of docs.filter((d) => d.kind === 'HorizontalPodAutoscaler')) {
    const ref = h.spec.scaleTargetRef;
    hpaTargets.add(ref.name);
    if (!find(docs, ref.kind, ref.name)) {
      problems.push(`HorizontalPodAutoscaler ${h.metadata.name}: no ${ref.kind} ${ref.name}`);
    }
  }

  for (const so of docs.filter((d) => d.kind === 'ScaledObject')) {
    const where = `ScaledObject ${so.metadata.name}`;
    const name = so.spec.scaleTargetRef.name;
    const target = find(docs, so.spec.scaleTargetRef.kind ?? 'Deployment', name);
    if (!target) {
      problems.push(`${where}: no Deployment ${name}`);
      continue;
    }
    if (hpaTargets.has(name)) problems.push(`${where}: ${name} also has a plain HPA`);
    const container = podOf(target).containers?.[0];
    const redisUrl = containerEnv(docs, target.metadata.namespace, container).env.REDIS_URL;
    if (!URL.canParse(redisUrl)) {
      problems.push(`${where}: ${name} has no valid REDIS_URL to compare the triggers with`);
      continue;
    }
    const redis = new URL(redisUrl);
    const address = `${redis.hostname}:${redis.port || 6379}`;
    for (const [i, t] of so.spec.triggers.entries()) {
      const m = t.metadata;
      if (t.type !== 'redis') problems.push(`${where}: trigger ${i} is not a redis trigger`);
      if (!WAIT_LISTS.has(m.listName)) {
        problems.push(
          `${where}: trigger ${i} watches ${m.listName}, not a BullMQ wait or active list`,
        );
      }
      if (m.address !== address) {
        problems.push(`${where}: trigger ${i} reads ${m.address}, the services use ${address}`);
      }
      if ((m.enableTLS === 'true') !== (redis.protocol === 'rediss:')) {
        problems.push(`${where}: trigger ${i} enableTLS does not match ${redis.protocol}`);
      }
    }
  }
  return problems;
}

/**
 * Problems of the services' environment: a variable envSchema does not declare (set
 * directly, or by a ConfigMap or Secret a service reads), or a value loadEnv refuses.
 */
function envProblems(docs: Doc[]): string[] {
  const problems: string[] = [];
  for (const d of docs.filter((x) => x.kind === 'Deployment' && serviceOf(x))) {
    const c = podOf(d).containers[0];
    for (const e of c.env ?? []) {
      if (!KNOWN_ENV.has(e.name)) problems.push(`${d.metadata.name}: unknown variable ${e.name}`);
    }
    for (const source of c.envFrom ?? []) {
      const ref = source.configMapRef ?? source.secretRef;
      const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
      const from = find(docs, kind, ref.name);
      for (const k of Object.keys({ ...from?.data, ...from?.stringData })) {
        if (!KNOWN_ENV.has(k)) problems.push(`${kind} ${ref.name}: unknown variable ${k}`);
      }
    }
    try {
      loadEnv(containerEnv(docs, d.metadata.namespace, c).env);
    } catch (err) {
      problems.push(`${d.metadata.name}: ${(err as Error).message}`);
    }
  }
  return [...new Set(problems)];
}

async function allProblems(docs: Doc[]): Promise<string[]> {
  const schema = await Promise.all(docs.map(schemaProblems));
  return [...schema.flat(), ...referenceProblems(docs), ...envProblems(docs)];
}

// ---------------------------------------------------------------------------------------

for (const overlay of OVERLAYS) {
  const docs = rendered.get(overlay) as Doc[];

  test(`${overlay}: every document is a valid object with no unknown fields`, async () => {
    assert.deepEqual(await allProblems(docs), []);
    for (const d of docs) {
      if (d.kind !== 'Namespace') assert.equal(d.metadata.namespace, 'imgcluster', d.kind);
    }
  });

  test(`${overlay}: a Deployment per service runs its entry point`, () => {
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    for (const service of SERVICES) {
      const d = deployments.find((x) => serviceOf(x) === service);
      assert.ok(d, `no Deployment runs services/${service}`);
      assert.equal(d.metadata.name, service);
      assert.deepEqual(podOf(d).containers[0].command, entryPoint(service));
    }
  });

  test(`${overlay}: services set only variables envSchema knows, with valid values`, () => {
    assert.deepEqual(envProblems(docs), []);
  });

  test(`${overlay}: services have resources, probes, security and time to stop`, () => {
    for (const d of docs.filter((x) => x.kind === 'Deployment' && serviceOf(x))) {
      const name = d.metadata.name;
      const pod = podOf(d);
      const c = pod.containers[0];
      for (const part of ['requests', 'limits']) {
        assert.ok(c.resources[part]?.cpu && c.resources[part]?.memory, `${name} ${part}`);
      }
      assert.ok(c.readinessProbe && c.livenessProbe, `${name} probes`);
      assert.equal(pod.securityContext.runAsNonRoot, true, name);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, name);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, name);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], name);

      const env = loadEnv(containerEnv(docs, d.metadata.namespace, c).env);
      const preStop = c.lifecycle?.preStop?.exec?.command;
      const preStopSeconds = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
      assert.ok(
        pod.terminationGracePeriodSeconds >= preStopSeconds + env.SHUTDOWN_GRACE_MS / 1000 + 10,
        `${name}: grace period shorter than preStop + SHUTDOWN_GRACE_MS + 10 s`,
      );
      assert.deepEqual(metricsProblems(d, env), [], name);
    }
  });

  test(`${overlay}: probes and Prometheus reach every service's HTTP server`, () => {
    for (const d of docs.filter((x) => x.kind === 'Deployment' && serviceOf(x))) {
      const c = podOf(d).containers[0];
      const env = loadEnv(containerEnv(docs, d.metadata.namespace, c).env);
      const port = serviceOf(d) === 'api' ? env.API_PORT : env.METRICS_PORT;
      const named = (c.ports ?? []).find((p: any) => p.containerPort === port)?.name;
      assert.ok(named, `${d.metadata.name}: no named container port ${port}`);
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: named });
      assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: named });
      // A liveness probe that waits out a Redis failover: only a stuck loop restarts a pod.
      const live = c.livenessProbe;
      assert.ok(live.periodSeconds * live.failureThreshold >= 60, `${d.metadata.name} liveness`);
    }
  });

  test(`${overlay}: KEDA scales preprocess and encoder on every queue they consume`, () => {
    for (const [service, queues] of Object.entries(CONSUMED)) {
      const so = get(docs, 'ScaledObject', service);
      assert.equal(so.spec.scaleTargetRef.name, service);
      assert.ok(so.spec.minReplicaCount >= 1 && so.spec.maxReplicaCount > so.spec.minReplicaCount);
      const lists = so.spec.triggers.map((t: any) => t.metadata.listName).sort();
      const want = queues.flatMap((q) => [`bull:${q}:wait`, `bull:${q}:active`]);
      assert.deepEqual(lists, want.sort());
      assert.equal(get(docs, 'Deployment', service).spec.replicas, undefined, 'KEDA sets it');
    }
  });

  test(`${overlay}: the API scales on CPU; api, preprocess and encoder have PDBs`, () => {
    const hpa = get(docs, 'HorizontalPodAutoscaler', 'api');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'api',
    });
    assert.equal(hpa.spec.metrics[0].resource.name, 'cpu');
    assert.equal(get(docs, 'Deployment', 'api').spec.replicas, undefined, 'the HPA sets it');
    for (const name of ['api', 'preprocess', 'encoder']) {
      const pdb = get(docs, 'PodDisruptionBudget', name);
      const labels = get(docs, 'Deployment', name).spec.template.metadata.labels;
      assert.ok(selects(pdb.spec.selector.matchLabels, labels), `PDB ${name}`);
    }
  });
}

test('local: Redis with AOF and noeviction, MinIO with its buckets, the trainer on CPU', () => {
  const docs = rendered.get('local') as Doc[];
  const redis = get(docs, 'StatefulSet', 'redis');
  const command = podOf(redis).containers[0].command.join(' ');
  assert.match(command, /--appendonly yes/);
  assert.match(command, /--maxmemory-policy noeviction/);
  assert.equal(redis.spec.volumeClaimTemplates[0].metadata.name, 'data');
  get(docs, 'Service', 'redis');
  get(docs, 'StatefulSet', 'minio');
  get(docs, 'Service', 'minio');
  const job = get(docs, 'Job', 'minio-buckets');
  assert.match(podOf(job).containers[0].command.join(' '), /mb --ignore-existing/);

  const config = get(docs, 'ConfigMap', 'imgcluster-config').data;
  assert.equal(config.REDIS_URL, 'redis://redis.imgcluster.svc.cluster.local:6379');
  assert.equal(config.S3_ENDPOINT, 'http://minio:9000');

  const trainer = get(docs, 'Deployment', 'trainer');
  const pod = podOf(trainer);
  assert.equal(pod.containers[0].resources.limits['nvidia.com/gpu'], undefined);
  assert.equal(pod.nodeSelector, undefined);
  assert.equal(trainer.spec.replicas, 1);
  assert.equal(trainer.spec.strategy.type, 'Recreate');
});

test('gpu-cloud: the trainer alone on the GPU pool, one replica, Recreate, CUDA image', () => {
  const docs = rendered.get('gpu-cloud') as Doc[];
  const trainer = get(docs, 'Deployment', 'trainer');
  const pod = podOf(trainer);
  const c = pod.containers[0];
  assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
  assert.equal(trainer.spec.replicas, 1);
  assert.equal(trainer.spec.strategy.type, 'Recreate');
  assert.deepEqual(pod.nodeSelector, { 'imgcluster/pool': 'gpu' });
  assert.deepEqual(pod.tolerations, [
    { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
  ]);
  assert.match(c.image, /\/imgcluster-gpu:[\w.-]+$/);
  for (const d of docs.filter((x) => x.kind === 'Deployment' && x.metadata.name !== 'trainer')) {
    const other = podOf(d);
    assert.equal(other.containers[0].resources.limits['nvidia.com/gpu'], undefined);
    assert.doesNotMatch(other.containers[0].image, /imgcluster-gpu/);
  }
});

test('gpu-cloud: AWS S3 through an IAM role, no static keys; managed Redis', () => {
  const docs = rendered.get('gpu-cloud') as Doc[];
  const account = get(docs, 'ServiceAccount', 'imgcluster');
  assert.match(
    account.metadata.annotations['eks.amazonaws.com/role-arn'],
    /^arn:aws:iam::\d{12}:role\//,
  );
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    const c = podOf(d).containers[0];
    assert.equal(podOf(d).serviceAccountName, 'imgcluster', d.metadata.name);
    const env = loadEnv(containerEnv(docs, d.metadata.namespace, c).env);
    assert.equal(env.S3_ENDPOINT, undefined, 'unset S3_ENDPOINT means AWS');
    assert.equal(env.S3_ACCESS_KEY_ID, undefined, 'no static keys');
    assert.equal(env.S3_SECRET_ACCESS_KEY, undefined, 'no static keys');
    assert.equal(env.S3_FORCE_PATH_STYLE, false);
    assert.notEqual(new URL(env.REDIS_URL).hostname, 'redis', 'managed Redis, not in-cluster');
  }
  assert.equal(find(docs, 'StatefulSet', 'redis'), undefined);
  assert.equal(find(docs, 'StatefulSet', 'minio'), undefined);
});

test('the validation refuses broken manifests', async () => {
  const broken = async (change: (docs: Doc[]) => void): Promise<string> => {
    const docs = structuredClone(rendered.get('local') as Doc[]);
    change(docs);
    return (await allProblems(docs)).join('\n');
  };
  const container = (docs: Doc[], name: string) =>
    podOf(get(docs, 'Deployment', name)).containers[0];

  assert.match(
    await broken((docs) => (container(docs, 'api').readinesProbe = { periodSeconds: 5 })),
    /Deployment api: unknown field spec\.template\.spec\.containers\.0\.readinesProbe/,
  );
  assert.match(
    await broken((docs) => (podOf(get(docs, 'Deployment', 'encoder')).nodeSelectr = {})),
    /unknown field spec\.template\.spec\.nodeSelectr/,
  );
  assert.match(
    await broken((docs) => (get(docs, 'Deployment', 'trainer').spec.replicas = 'one')),
    /Deployment trainer: .*replicas must be integer/,
  );
  assert.match(
    await broken(
      (docs) =>
        (get(docs, 'ScaledObject', 'encoder').spec.triggers[0].metadata.listName =
          'bull:imgcluster-encoder:wait'),
    ),
    /not a BullMQ wait or active list/,
  );
  assert.match(
    await broken((docs) =>
      docs.push({ apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'x' } }),
    ),
    /Gadget x: no model for v1 Gadget/,
  );
  assert.match(
    await broken((docs) => (get(docs, 'Service', 'api').spec.ports[0].targetPort = 'web')),
    /Service api: port http → web is not a container port/,
  );
  assert.match(
    await broken(
      (docs) =>
        (get(docs, 'PodDisruptionBudget', 'encoder').spec.selector.matchLabels[
          'app.kubernetes.io/component'
        ] = 'encode'),
    ),
    /PodDisruptionBudget encoder: no pods/,
  );
  assert.match(
    await broken(
      (docs) => (get(docs, 'ScaledObject', 'preprocess').spec.scaleTargetRef.name = 'preprocessor'),
    ),
    /ScaledObject preprocess: no Deployment preprocessor/,
  );
  assert.match(
    await broken((docs) => (get(docs, 'ConfigMap', 'imgcluster-config').data.S3_TIMEOUT = '5')),
    /ConfigMap imgcluster-config: unknown variable S3_TIMEOUT/,
  );
  assert.match(
    await broken((docs) => (get(docs, 'ConfigMap', 'imgcluster-config').data.REDIS_URL = 'redis')),
    /invalid environment: REDIS_URL/,
  );

  const docs = structuredClone(rendered.get('local') as Doc[]);
  const encoder = get(docs, 'Deployment', 'encoder');
  const c = podOf(encoder).containers[0];
  c.livenessProbe = { exec: { command: ['node', 'packages/runtime/heartbeat-check.mjs'] } };
  c.readinessProbe.httpGet.path = '/healthz';
  encoder.spec.template.metadata.annotations['prometheus.io/port'] = '8080';
  const env = loadEnv({ ...containerEnv(docs, 'imgcluster', c).env, METRICS_HOST: '127.0.0.1' });
  assert.deepEqual(metricsProblems(encoder, env), [
    'listens on loopback (127.0.0.1)',
    'readinessProbe is not GET /readyz on port metrics',
    'livenessProbe is not GET /healthz on port metrics',
    'Prometheus annotations do not name port 9464 and /metrics',
  ]);
  c.ports = [];
  assert.ok(metricsProblems(encoder, env).includes('no named container port 9464'));
});

test('the renderer refuses kustomization fields it does not implement', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-'));
  const write = (text: string) => writeFileSync(join(dir, 'kustomization.yaml'), text);
  const head = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';
  try {
    write(`${head}commonLabels: { a: b }\n`);
    assert.throws(() => renderKustomization(dir), /unsupported kustomization field commonLabels/);
    write(`${head}patches:\n  - path: p.yaml\n    target: { kind: A, name: b }\n`);
    assert.throws(
      () => renderKustomization(dir),
      /unsupported kustomization field patches\[0\]\.path/,
    );
    write(`${head}patches:\n  - patch: "[]"\n    target: { kind: A, name: b, labelSelector: x }\n`);
    assert.throws(() => renderKustomization(dir), /patches\[0\]\.target\.labelSelector/);
    write(`${head}images:\n  - { name: a, digest: "sha256:0" }\n`);
    assert.throws(() => renderKustomization(dir), /images\[0\]\.digest/);
    write(`${head}resources: [https://example.com/x.yaml]\n`);
    assert.throws(() => renderKustomization(dir), KustomizeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the renderer applies JSON6902 operations, escapes, namespace and images', () => {
  const doc: any = { a: { 'x/y': 1, list: [1, 2] } };
  applyOperation(doc, { op: 'add', path: '/a/b~1c', value: 2 });
  applyOperation(doc, { op: 'replace', path: '/a/x~1y', value: 3 });
  applyOperation(doc, { op: 'add', path: '/a/list/-', value: 4 });
  applyOperation(doc, { op: 'add', path: '/a/list/0', value: 0 });
  applyOperation(doc, { op: 'remove', path: '/a/list/1' });
  assert.deepEqual(doc, { a: { 'x/y': 3, 'b/c': 2, list: [0, 2, 4] } });
  assert.throws(() => applyOperation(doc, { op: 'replace', path: '/a/none', value: 1 }));
  assert.throws(() => applyOperation(doc, { op: 'add', path: '/none/x', value: 1 }));
  assert.throws(() => applyOperation(doc, { op: 'move', path: '/a' }), /unsupported patch op move/);

  const gpu = rendered.get('gpu-cloud') as Doc[];
  assert.equal(
    podOf(get(gpu, 'Deployment', 'api')).containers[0].image,
    'registry.example.com/imgcluster:0.1.0',
  );
  assert.equal(get(gpu, 'Namespace', 'imgcluster').metadata.namespace, undefined);
});
