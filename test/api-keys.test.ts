/**
 * API keys end to end: a key made with `imgcluster keys create`, its entry in API_KEYS_FILE of
 * an API process on loopback (with its own redis-server and S3 server), and the command line
 * using it through IMGCLUSTER_API_KEY: upload into the tenant's prefix, submit, list, status.
 * Without the key every command is refused; the API's log file never holds the key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  localEnv,
  REPO_ROOT,
  startRedis,
  startS3,
  startService,
  waitForHttp,
  type LocalRedis,
  type LocalS3,
  type Managed,
} from '@imgcluster/devstack';

const BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'imgcluster.mjs');

let work: string;
let redis: LocalRedis;
let s3: LocalS3;
let api: Managed;
let apiUrl: string;
let logFile: string;
let key: string;

/** Runs the CLI as a user would; resolves to its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, timeout: 60_000, env: { ...process.env, IMGCLUSTER_API: apiUrl, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`imgcluster ${args[0]}: ${err}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-api-keys-'));
  const made = await cli(['keys', 'create', '--tenant', 'acme']);
  assert.equal(made.code, 0, made.stderr);
  key = /^key: (\S+)$/m.exec(made.stdout)![1];
  const entry = /^entry: (\S+)$/m.exec(made.stdout)![1];
  const keysFile = join(work, 'api-keys');
  writeFileSync(keysFile, `# tenants of this API\n${entry}\n`);

  redis = await startRedis(join(work, 'redis'));
  s3 = await startS3(join(work, 's3'));
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  logFile = join(work, 'api.log');
  api = startService(
    'api',
    localEnv(redis, s3, { API_PORT: String(port), API_KEYS_FILE: keysFile, LOG_LEVEL: 'debug' }),
    logFile,
  );
  await waitForHttp(`${apiUrl}/healthz`, 60_000);
});

after(async () => {
  await api?.stop();
  await s3?.stop();
  await redis?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the CLI works with the key, under the tenant prefix, and is refused without it', async () => {
  const folder = join(work, 'photos');
  mkdirSync(folder, { recursive: true });
  for (const n of [1, 2, 3]) writeFileSync(join(folder, `${n}.png`), `not really a png ${n}`);
  const env = { IMGCLUSTER_API_KEY: key };

  const outside = await cli(['upload', folder, '--bucket', 'datasets', '--prefix', 'photos/'], env);
  assert.equal(outside.code, 1);
  assert.match(outside.stderr, /OUTSIDE_TENANT_PREFIX/);

  const upload = await cli(['upload', folder, '--bucket', 'datasets', '--prefix', 'acme/p/'], env);
  assert.equal(upload.code, 0, upload.stderr);
  const run = await cli(['run', '--bucket', 'datasets', '--prefix', 'acme/p/', '--k', '2'], env);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout
    .trim()
    .split(/\s+/)
    .find((w) => w.startsWith('run_'));
  assert.ok(id, run.stdout);
  const list = await cli(['list'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(id));
  const status = await cli(['status', id], env);
  assert.equal(status.code, 0, status.stderr);

  for (const args of [['list'], ['status', id]]) {
    const none = await cli(args);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: API_KEY_REQUIRED \(HTTP 401\)/m);
    const wrong = await cli(args, { IMGCLUSTER_API_KEY: `${key}x` });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^error: API_KEY_INVALID \(HTTP 401\)/m);
  }

  const logged = readFileSync(logFile, 'utf8');
  assert.match(logged, /API keys configured/);
  assert.doesNotMatch(logged, /NO API KEYS CONFIGURED/);
  assert.ok(!logged.includes(key), 'the key is not in the API log');
});
