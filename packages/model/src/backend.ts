/**
 * Compute backend selection: native TensorFlow (GPU, then CPU) when its binding is installed,
 * else WebAssembly, else the pure-JS cpu backend.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { BackendUnavailableError } from './errors.js';
import { registerGradientFixes } from './gradients.js';
import { tf } from './tf.js';

/** A backend the caller may ask for; 'auto' tries them all in order. */
export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** One entry of the ordered list of backends to try. */
export interface BackendCandidate {
  /** The choice this candidate satisfies. */
  choice: Exclude<BackendChoice, 'auto'>;
  /** tfjs backend name passed to tf.setBackend(). */
  backend: 'tensorflow' | 'wasm' | 'cpu';
  /** npm package that provides the backend. */
  pkg: string;
  /** Path of the native binding for native candidates. */
  binding?: string;
}

/** Says where a native package's binding file is, or null when package or binding is absent. */
export type NativeProbe = (pkg: string) => string | null;

/** Imports a package by name; injectable so tests can fake native packages. */
export type PackageImporter = (pkg: string) => Promise<unknown>;

/** Options of initBackend(). */
export interface InitBackendOptions {
  /** Native package detector (default: findNativeBinding resolved from this package). */
  probe?: NativeProbe;
  /** Package importer (default: dynamic import()). */
  importer?: PackageImporter;
  /** When true, fail instead of falling back to a later backend (default false). */
  strict?: boolean;
}

/** What initBackend() settled on, for the caller to log. */
export interface BackendInfo {
  /** Active tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  backend: string;
  /** Package (and binding or wasm folder) the backend came from. */
  source: string;
  /** One line per candidate that was tried or skipped before the chosen one, with the reason. */
  skipped: string[];
}

/** npm package of each native choice, in preference order. */
export const NATIVE_PACKAGES = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

const ORDER: Exclude<BackendChoice, 'auto'>[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
const WASM_PKG = '@tensorflow/tfjs-backend-wasm';
const CPU_PKG = '@tensorflow/tfjs-backend-cpu';
const MAX_BINDING_DEPTH = 4;

/** Kind of a filesystem entry, or null when it cannot be read (e.g. a dangling link). */
function kindOf(path: string): 'file' | 'dir' | null {
  try {
    const st = statSync(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : null;
  } catch {
    return null;
  }
}

/** Finds the first `.node` file under `dir`, searching at most `depth` folder levels. */
function findDotNode(dir: string, depth: number): string | null {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return null;
  }
  for (const name of entries) {
    const full = join(dir, name);
    if (name.endsWith('.node') && kindOf(full) === 'file') return full;
  }
  if (depth <= 0) return null;
  for (const name of entries) {
    const full = join(dir, name);
    if (kindOf(full) !== 'dir') continue;
    const found = findDotNode(full, depth - 1);
    if (found) return found;
  }
  return null;
}

/**
 * Path of the native binding (`lib/**\/*.node`) of package `pkg` as resolved from `fromUrl`
 * (default: this module), or null when the package or its binding is missing.
 */
export function findNativeBinding(pkg: string, fromUrl: string = import.meta.url): string | null {
  let pkgJson: string;
  try {
    pkgJson = createRequire(fromUrl).resolve(`${pkg}/package.json`);
  } catch {
    return null;
  }
  const lib = join(dirname(pkgJson), 'lib');
  if (!existsSync(lib)) return null;
  return findDotNode(lib, MAX_BINDING_DEPTH);
}

/** Folder (ending in '/') that holds the wasm backend's `.wasm` binaries. */
export function wasmBinaryDir(fromUrl: string = import.meta.url): string {
  const pkgJson = createRequire(fromUrl).resolve(`${WASM_PKG}/package.json`);
  return join(dirname(pkgJson), 'dist') + '/';
}

/**
 * Ordered candidates for `choice`: the choice itself, then (unless strict) every later backend
 * of tensorflow-gpu → tensorflow → wasm → cpu. Natives whose binding the probe does not find
 * are dropped, and at most one native candidate is kept (loading two native packages clashes).
 */
export function planBackends(
  choice: BackendChoice,
  probe: NativeProbe,
  strict = false,
): { candidates: BackendCandidate[]; skipped: string[] } {
  const start = choice === 'auto' ? 0 : ORDER.indexOf(choice);
  const wanted = strict && choice !== 'auto' ? [ORDER[start]] : ORDER.slice(start);
  const candidates: BackendCandidate[] = [];
  const skipped: string[] = [];
  let nativeTaken = false;
  for (const c of wanted) {
    if (c === 'wasm') candidates.push({ choice: c, backend: 'wasm', pkg: WASM_PKG });
    else if (c === 'cpu') candidates.push({ choice: c, backend: 'cpu', pkg: CPU_PKG });
    else {
      const pkg = NATIVE_PACKAGES[c];
      const binding = probe(pkg);
      if (binding == null) skipped.push(`${c}: ${pkg} or its native binding is not installed`);
      else if (nativeTaken) skipped.push(`${c}: another native package was already chosen`);
      else {
        nativeTaken = true;
        candidates.push({ choice: c, backend: 'tensorflow', pkg, binding });
      }
    }
  }
  return { candidates, skipped };
}

let wasmPathsSet = false;

/** Points the wasm backend at its binaries once per process. */
function prepareWasm(): string {
  const dir = wasmBinaryDir();
  if (!wasmPathsSet) {
    setWasmPaths(dir);
    wasmPathsSet = true;
  }
  return dir;
}

/**
 * The cpu backend prints a multi-line "install the node backend" notice on first use in
 * Node; initBackend already reports the choice, so the notice is switched off.
 */
function silenceCpuNotice(): void {
  const backend = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (backend != null && 'firstUse' in backend) backend.firstUse = false;
}

/** Activates one candidate; returns its source description or throws why it failed. */
async function activate(c: BackendCandidate, importer: PackageImporter): Promise<string> {
  let source = c.pkg;
  if (c.backend === 'tensorflow') {
    await importer(c.pkg);
    source = `${c.pkg} (${c.binding})`;
  } else if (c.backend === 'wasm') {
    source = `${c.pkg} (${prepareWasm()})`;
  }
  const ok = await tf.setBackend(c.backend);
  if (!ok) throw new Error(`tf.setBackend('${c.backend}') returned false`);
  await tf.ready();
  if (c.backend === 'cpu') silenceCpuNotice();
  if (tf.getBackend() !== c.backend) throw new Error(`active backend is ${tf.getBackend()}`);
  return source;
}

/**
 * Selects and initialises the compute backend (default 'auto': tensorflow-gpu → tensorflow →
 * wasm → cpu) and registers imgcluster's gradient fixes. Returns what was chosen and why
 * earlier candidates were skipped; throws BackendUnavailableError when nothing could start.
 */
export async function initBackend(
  choice: BackendChoice = 'auto',
  options: InitBackendOptions = {},
): Promise<BackendInfo> {
  if (choice !== 'auto' && !ORDER.includes(choice)) {
    throw new BackendUnavailableError(`unknown backend choice '${String(choice)}'`);
  }
  const probe = options.probe ?? ((pkg: string) => findNativeBinding(pkg));
  const importer = options.importer ?? ((pkg: string) => import(pkg));
  const { candidates, skipped } = planBackends(choice, probe, options.strict ?? false);
  registerGradientFixes();
  for (const c of candidates) {
    try {
      const source = await activate(c, importer);
      return { backend: c.backend, source, skipped };
    } catch (err) {
      skipped.push(`${c.choice}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const reasons = skipped.join('; ');
  throw new BackendUnavailableError(`no backend could start for '${choice}': ${reasons}`);
}
