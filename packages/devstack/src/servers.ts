import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Local servers for the demo and the tests, all on 127.0.0.1: a private redis-server and
 * an S3-compatible server (s3rver), plus the five services as child processes.
 */

// The SDK's notice about future Node versions is noise in local runs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (this file is packages/devstack/src/servers.ts). */
export const REPO_ROOT = join(here, '..', '..', '..');

/** The local S3 server's credentials (it checks signatures against these). */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Thrown when a required program is not installed. */
export class MissingProgramError extends Error {
  readonly code = 'PROGRAM_MISSING';
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A running child process with a way to stop it. */
export interface Managed {
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once. */
  kill(): Promise<void>;
}

function manage(child: ChildProcess): Managed {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A private Redis server. */
export interface LocalRedis extends Managed {
  url: string;
  port: number;
  /** Starts it again on the same port and data directory (AOF keeps the data). */
  restart(): Promise<void>;
}

/** Starts redis-server on a free loopback port with AOF on, data in `dir`. */
export async function startRedis(dir: string): Promise<LocalRedis> {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new MissingProgramError('redis-server is not installed: apt-get install -y redis-server');
  }
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const launch = async () => {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--dir',
        dir,
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await waitForLine(child, /Ready to accept connections/, 'redis-server');
    return child;
  };
  const handle = manage(await launch()) as LocalRedis;
  handle.url = `redis://127.0.0.1:${port}`;
  handle.port = port;
  handle.restart = async () => {
    const next = manage(await launch());
    handle.child = next.child;
    handle.stop = next.stop;
    handle.kill = next.kill;
  };
  return handle;
}

/** A local S3-compatible server. */
export interface LocalS3 extends Managed {
  endpoint: string;
  port: number;
}

/** Starts the S3-compatible server on a free loopback port, storing objects in `dir`. */
export async function startS3(dir: string, port?: number): Promise<LocalS3> {
  mkdirSync(dir, { recursive: true });
  const bound = port ?? (await freePort());
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', join(here, 's3-server.mjs'), String(bound), dir],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT },
  );
  await waitForLine(child, /^listening/m, 's3 server');
  const handle = manage(child) as LocalS3;
  handle.endpoint = `http://127.0.0.1:${bound}`;
  handle.port = bound;
  return handle;
}

/** The services of the pipeline, one deployable each. */
export const SERVICES = ['api', 'preprocess', 'trainer', 'encoder', 'cluster'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Starts one service as a child process; its JSON log lines go to `logFile`. */
export function startService(
  name: ServiceName,
  env: Record<string, string>,
  logFile: string,
): Managed {
  const entry = join(REPO_ROOT, 'services', name, 'src', 'main.ts');
  if (!existsSync(entry)) throw new Error(`no service ${name} at ${entry}`);
  mkdirSync(dirname(logFile), { recursive: true });
  // The service writes straight to its log file, so logging goes on if this process exits.
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return manage(child);
}

/** Environment for services talking to the local servers. */
export function localEnv(redis: LocalRedis, s3: LocalS3, extra: Record<string, string> = {}) {
  return {
    REDIS_URL: redis.url,
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    S3_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
    S3_BUCKET: 'imgcluster',
    API_HOST: '127.0.0.1',
    ...extra,
  };
}

/** Polls `url` until it answers 2xx, up to `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await sleep(200);
  }
}

async function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), 20_000);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (seen += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${seen}`));
    });
  });
}
