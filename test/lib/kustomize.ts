/**
 * A renderer for the subset of kustomize that k8s/ uses, so the tests can check the very
 * documents `kubectl apply -k` would send, without kubectl.
 *
 * Supported kustomization fields:
 * - `resources`: YAML files (every document) and directories with their own kustomization.yaml;
 * - `namespace`: set on every namespaced resource (cluster-scoped kinds are left alone);
 * - `patches`: entries `{ target: { kind, name }, patch }` where `patch` is an inline list of
 *   JSON6902 operations `add`, `replace` and `remove` (paths use `~1` for `/`, `~0` for `~`);
 * - `images`: entries `{ name, newName?, newTag? }`, applied to every container and init
 *   container of a pod template.
 *
 * They run in kustomize's order: resources (each directory rendered first), patches,
 * namespace, images. Any other field, patch option or operation throws a KustomizeError
 * naming it, so the files cannot use a feature this renderer would silently ignore.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** One rendered Kubernetes object. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** A kustomization this renderer cannot render the way kustomize would. */
export class KustomizeError extends Error {
  override readonly name = 'KustomizeError';
}

const FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'patches', 'images']);
const PATCH_FIELDS = new Set(['target', 'patch']);
const TARGET_FIELDS = new Set(['kind', 'name']);
const IMAGE_FIELDS = new Set(['name', 'newName', 'newTag']);
const OPS = new Set(['add', 'replace', 'remove']);

/** Kinds without a namespace; `namespace:` does not touch them. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'RuntimeClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'ClusterTriggerAuthentication',
]);

interface Kustomization {
  resources?: string[];
  namespace?: string;
  patches?: { target: { kind: string; name: string }; patch: string }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

/** Renders the kustomization in `dir` (a folder holding kustomization.yaml). */
export function renderKustomization(dir: string): Resource[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new KustomizeError(`${dir}: no kustomization.yaml`);
  const k = readKustomization(file);

  let out: Resource[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (/^[a-z]+:\/\//i.test(entry) || !existsSync(path)) {
      throw new KustomizeError(`${file}: resources: ${entry} is not a local file or folder`);
    }
    const found = statSync(path).isDirectory() ? renderKustomization(path) : readResources(path);
    out = addAll(out, found, file);
  }

  for (const [i, p] of (k.patches ?? []).entries()) applyPatch(out, p, `${file}: patches[${i}]`);
  if (k.namespace !== undefined) {
    for (const r of out) if (!CLUSTER_SCOPED.has(r.kind)) r.metadata.namespace = k.namespace;
  }
  for (const image of k.images ?? []) setImage(out, image);
  return out;
}

/** Reads and checks a kustomization.yaml: every field, patch and image entry must be known. */
function readKustomization(file: string): Kustomization {
  const k = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  refuseUnknown(k, FIELDS, file, '');
  if (k.kind !== 'Kustomization') throw new KustomizeError(`${file}: kind must be Kustomization`);

  const patches = (k.patches ?? []) as Record<string, unknown>[];
  patches.forEach((p, i) => {
    refuseUnknown(p, PATCH_FIELDS, file, `patches[${i}].`);
    if (typeof p.patch !== 'string') {
      throw new KustomizeError(`${file}: patches[${i}].patch must be an inline JSON6902 patch`);
    }
    const target = p.target as Record<string, unknown> | undefined;
    if (!target?.kind || !target.name) {
      throw new KustomizeError(`${file}: patches[${i}].target needs kind and name`);
    }
    refuseUnknown(target, TARGET_FIELDS, file, `patches[${i}].target.`);
  });

  const images = (k.images ?? []) as Record<string, unknown>[];
  images.forEach((image, i) => refuseUnknown(image, IMAGE_FIELDS, file, `images[${i}].`));
  return k as Kustomization;
}

function refuseUnknown(
  object: Record<string, unknown>,
  known: Set<string>,
  file: string,
  where: string,
): void {
  for (const key of Object.keys(object ?? {})) {
    if (!known.has(key)) {
      throw new KustomizeError(`${file}: unsupported kustomization field ${where}${key}`);
    }
  }
}

/** Every non-empty YAML document of a file. */
function readResources(path: string): Resource[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new KustomizeError(`${path}: ${doc.errors[0].message}`);
      return doc.toJS() as Resource | null;
    })
    .filter((r): r is Resource => r !== null)
    .map((r) => {
      if (!r.apiVersion || !r.kind || !r.metadata?.name) {
        throw new KustomizeError(`${path}: a document lacks apiVersion, kind or metadata.name`);
      }
      return r;
    });
}

function id(r: Resource): string {
  return `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
}

/** Adds resources, refusing a second object with the same kind, namespace and name. */
function addAll(into: Resource[], more: Resource[], file: string): Resource[] {
  const seen = new Set(into.map(id));
  for (const r of more) {
    if (seen.has(id(r))) throw new KustomizeError(`${file}: ${id(r)} is defined twice`);
    seen.add(id(r));
  }
  return [...into, ...more];
}

interface Operation {
  op: string;
  path: string;
  value?: unknown;
}

/** Applies one `patches` entry to the resource it targets (exactly one must match). */
function applyPatch(
  resources: Resource[],
  entry: { target: { kind: string; name: string }; patch: string },
  where: string,
): void {
  const { kind, name } = entry.target;
  const matches = resources.filter((r) => r.kind === kind && r.metadata.name === name);
  if (matches.length === 0) throw new KustomizeError(`${where}: no ${kind} ${name} to patch`);

  const ops = parse(entry.patch) as Operation[];
  if (!Array.isArray(ops)) throw new KustomizeError(`${where}: patch must be a list of ops`);
  for (const r of matches) for (const op of ops) applyOperation(r, op, where);
}

/** Splits a JSON pointer into its unescaped tokens. */
export function pointerTokens(path: string): string[] {
  if (!path.startsWith('/')) throw new KustomizeError(`bad JSON pointer ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** One JSON6902 operation (add, replace or remove), in place. */
export function applyOperation(target: object, operation: Operation, where = 'patch'): void {
  const { op, path } = operation;
  if (!OPS.has(op)) throw new KustomizeError(`${where}: unsupported patch op ${op}`);
  for (const key of Object.keys(operation)) {
    if (!['op', 'path', 'value'].includes(key)) {
      throw new KustomizeError(`${where}: unsupported patch operation field ${key}`);
    }
  }
  if (op !== 'remove' && !('value' in operation)) {
    throw new KustomizeError(`${where}: ${op} ${path} needs a value`);
  }

  const tokens = pointerTokens(path);
  const last = tokens.pop() as string;
  let parent: unknown = target;
  for (const t of tokens) {
    parent = (parent as Record<string, unknown> | undefined)?.[t];
    if (parent === null || typeof parent !== 'object') {
      throw new KustomizeError(`${where}: ${op} ${path}: ${t} does not exist`);
    }
  }
  const value = structuredClone(operation.value);

  if (Array.isArray(parent)) {
    const index = last === '-' && op === 'add' ? parent.length : Number(last);
    const limit = op === 'add' ? parent.length : parent.length - 1;
    if (!/^\d+$|^-$/.test(last) || index > limit) {
      throw new KustomizeError(`${where}: ${op} ${path}: index ${last} is out of range`);
    }
    if (op === 'add') parent.splice(index, 0, value);
    else if (op === 'replace') parent[index] = value;
    else parent.splice(index, 1);
    return;
  }

  const object = parent as Record<string, unknown>;
  if (op !== 'add' && !(last in object)) {
    throw new KustomizeError(`${where}: ${op} ${path}: ${last} does not exist`);
  }
  if (op === 'remove') delete object[last];
  else object[last] = value;
}

/** The pod spec of a workload, if it has one. */
export function podSpecOf(r: Resource): Record<string, unknown> | undefined {
  const spec = r.spec as Record<string, any> | undefined;
  if (r.kind === 'Pod') return spec;
  if (r.kind === 'CronJob') return spec?.jobTemplate?.spec?.template?.spec;
  return spec?.template?.spec;
}

/** Splits `repo/name:tag` into name and tag (a digest or a missing tag gives no tag). */
function splitImage(image: string): { name: string; tag?: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { name: image.slice(0, at) };
  const colon = image.lastIndexOf(':');
  if (colon > image.lastIndexOf('/'))
    return { name: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { name: image };
}

function setImage(
  resources: Resource[],
  entry: { name: string; newName?: string; newTag?: string },
): void {
  for (const r of resources) {
    const pod = podSpecOf(r);
    const containers = [
      ...((pod?.containers as { image?: string }[]) ?? []),
      ...((pod?.initContainers as { image?: string }[]) ?? []),
    ];
    for (const c of containers) {
      if (!c.image) continue;
      const { name, tag } = splitImage(c.image);
      if (name !== entry.name) continue;
      const newTag = entry.newTag ?? tag;
      c.image = `${entry.newName ?? name}${newTag ? `:${newTag}` : ''}`;
    }
  }
}
