/**
 * Runs the PyTorch twin of the autoencoder (scripts/bench/torch_autoencoder.py) with a
 * Python that can import torch.
 */
import {
  spawn,
  spawnSync,
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
} from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TORCH_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_autoencoder.py');

/** A Python interpreter with PyTorch, or why none was found. */
export type TorchPython =
  { ok: true; python: string; torchVersion: string } | { ok: false; message: string };

/**
 * The first of `candidates` that imports torch. `python3` first; Debian's python3-torch
 * lives in /usr/bin/python3's packages, which another python3 earlier on PATH may not see.
 */
export function findTorchPython(candidates: string[]): TorchPython {
  const tried: string[] = [];
  for (const python of candidates) {
    const res = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (res.status === 0) return { ok: true, python, torchVersion: res.stdout.trim() };
    const why = res.error ? res.error.message : (res.stderr.trim().split('\n').at(-1) ?? '');
    tried.push(`${python}: ${why}`);
  }
  return {
    ok: false,
    message: `PyTorch is not installed (apt-get install -y python3-torch); ${tried.join('; ')}`,
  };
}

/** Children still running, so an interrupted benchmark can stop them. */
export const runningChildren = new Set<ChildProcess>();

/** Runs the twin with `args` (then `extra`) and parses the JSON it prints; fails after `timeoutMs`. */
export function runTorchTwin<T>(
  python: string,
  args: string[],
  timeoutMs: number,
  extra: string[] = [],
): Promise<T> {
  return new Promise((resolve, reject) => {
    const argv = [TORCH_SCRIPT, ...args, ...extra];
    const child = spawn(python, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    runningChildren.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      runningChildren.delete(child);
      if (code !== 0) {
        reject(new Error(`${TORCH_SCRIPT} exited ${code ?? signal}: ${err.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as T);
      } catch {
        reject(new Error(`${TORCH_SCRIPT} printed no JSON: ${out.slice(0, 500)}`));
      }
    });
  });
}

/** The twin in --serve mode: one Python process answering measurement requests in turn. */
export class TorchTwinServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  private constructor(python: string, args: string[]) {
    this.child = spawn(python, [TORCH_SCRIPT, ...args, '--serve'], { stdio: 'pipe' });
    runningChildren.add(this.child);
    this.child.once('exit', () => runningChildren.delete(this.child));
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** Starts the twin and waits for its ready line. */
  static async start(python: string, args: string[]): Promise<TorchTwinServer> {
    const server = new TorchTwinServer(python, args);
    await server.next(120_000);
    return server;
  }

  private async next(timeoutMs: number): Promise<Record<string, unknown>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const { value, done } = await Promise.race([this.lines.next(), timeout]);
      if (done) throw new Error(`${TORCH_SCRIPT} ended: ${this.stderr.trim()}`);
      return JSON.parse(value) as Record<string, unknown>;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Images per second of `op` at `threads` threads, repeated for at least `seconds`. */
  async rate(op: 'train' | 'encode', threads: number, seconds: number): Promise<number> {
    this.child.stdin.write(JSON.stringify({ op, threads, seconds }) + '\n');
    const answer = await this.next(seconds * 1000 + 120_000);
    return Number(answer.imgPerSec);
  }

  /** Ends the twin (closing its stdin) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
