/**
 * Commands against a stand-in API on 127.0.0.1 that answers like the real one, including
 * the failures the real one rarely gives on demand (a 503, then success).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import { runCli } from './run-cli.js';

interface Route {
  (req: IncomingMessage, body: Buffer, url: URL): { status: number; body: unknown } | undefined;
}

let server: Server;
let api = '';
let work = '';
const routes: Route[] = [];
const seen: string[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-cli-commands-'));
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      seen.push(`${req.method} ${decodeURIComponent(url.pathname)}`);
      for (const route of routes) {
        const answer = route(req, Buffer.concat(chunks), url);
        if (!answer) continue;
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(Buffer.isBuffer(answer.body) ? answer.body : JSON.stringify(answer.body));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ROUTE_NOT_FOUND', message: 'no route' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  api = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

const cli = (...argv: string[]) => runCli(api, ...argv);

const apiError = (status: number, code: string, message: string, issues?: unknown[]) => ({
  status,
  body: { error: { code, message, ...(issues ? { issues } : {}) } },
});

test('upload resumes, retries a 503, and reports the files that failed by name', async () => {
  const folder = join(work, 'photos');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  writeFileSync(join(folder, 'a.png'), 'aaa');
  writeFileSync(join(folder, 'sub', 'b.png'), 'bbbbb');
  writeFileSync(join(folder, 'flaky.png'), 'ff');
  writeFileSync(join(folder, 'bad.png'), 'x');
  writeFileSync(join(folder, 'big.bin'), Buffer.alloc(200));
  writeFileSync(join(folder, 'sp ace#1.png'), 'sp');

  const stored = new Map<string, Buffer>();
  let flakyTries = 0;
  routes.push((req, body, url) => {
    if (req.method === 'GET' && url.pathname === '/v1/uploads/photos') {
      assert.equal(url.searchParams.get('prefix'), 'p/');
      if (!url.searchParams.get('cursor')) {
        return {
          status: 200,
          body: { maxBytes: 100, objects: [{ key: 'p/a.png', bytes: 3 }], next: 'page2' },
        };
      }
      return {
        status: 200,
        body: { maxBytes: 100, objects: [{ key: 'p/sub/b.png', bytes: 4 }], next: null },
      };
    }
    if (req.method === 'PUT' && url.pathname.startsWith('/v1/uploads/photos/')) {
      const key = decodeURIComponent(url.pathname.slice('/v1/uploads/photos/'.length));
      if (key === 'p/flaky.png' && ++flakyTries === 1) {
        return apiError(503, 'STORAGE_UNAVAILABLE', 'object storage did not answer');
      }
      if (key === 'p/bad.png') {
        return apiError(400, 'VALIDATION_FAILED', 'invalid params', [
          { path: 'params.key', message: 'no' },
        ]);
      }
      stored.set(key, body);
      return { status: 201, body: { bucket: 'photos', key, bytes: body.length } };
    }
    return undefined;
  });

  const r = await cli(
    'upload',
    folder,
    '--bucket',
    'photos',
    '--prefix',
    'p',
    '--concurrency',
    '2',
  );
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual([...stored.keys()].sort(), ['p/flaky.png', 'p/sp ace#1.png', 'p/sub/b.png']);
  assert.equal(stored.get('p/sub/b.png')?.toString(), 'bbbbb');
  assert.equal(flakyTries, 2, 'a 503 is tried again');
  assert.equal(seen.filter((s) => s === 'PUT /v1/uploads/photos/p/bad.png').length, 1);
  assert.ok(!seen.includes('PUT /v1/uploads/photos/p/big.bin'), 'too large: never sent');
  assert.ok(!seen.includes('PUT /v1/uploads/photos/p/a.png'), 'same size: skipped');
  assert.match(r.stdout, /uploaded 3 files, 9 B, to photos\/p\/ .*; 1 already there; 2 failed/);
  assert.match(r.stderr, /2 file\(s\) failed/);
  assert.match(
    r.stderr,
    /^ {2}bad\.png: VALIDATION_FAILED \(HTTP 400\): invalid params; params\.key: no$/m,
  );
  assert.match(
    r.stderr,
    /^ {2}big\.bin: 200 bytes, over the API's limit of 100 bytes \(UPLOAD_MAX_BYTES\)$/m,
  );
  assert.match(r.stderr, /upload \[#+-*\] {2}3\/5 files/);
});

test('upload into a bucket that does not exist yet sends everything', async () => {
  const folder = join(work, 'fresh');
  mkdirSync(folder);
  writeFileSync(join(folder, 'one.png'), '1');
  let puts = 0;
  routes.push((req, _body, url) => {
    if (url.pathname === '/v1/uploads/fresh' && req.method === 'GET') {
      return apiError(404, 'INPUT_BUCKET_NOT_FOUND', 'bucket fresh does not exist');
    }
    if (url.pathname === '/v1/uploads/fresh/one.png' && req.method === 'PUT') {
      puts++;
      return { status: 201, body: { bucket: 'fresh', key: 'one.png', bytes: 1 } };
    }
    return undefined;
  });
  const r = await cli('upload', folder, '--bucket', 'fresh');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(puts, 1);
  assert.match(r.stdout, /next: imgcluster run --bucket fresh$/m);

  const missing = await cli('upload', join(work, 'nope'), '--bucket', 'fresh');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /is not a folder/);
});

test('run --wait and retry --wait end with 1 and the reason when the run does not succeed', async () => {
  let polls = 0;
  const status = (state: string, error?: string) => ({
    id: 'run_w1',
    state,
    error,
    createdAt: '2024-12-04T15:00:00Z',
    updatedAt: '2024-12-04T15:00:00Z',
    retries: 1,
    spec: { input: { bucket: 'b', prefix: '' } },
    stages: Object.fromEntries(
      ['plan', 'preprocess', 'train', 'encode', 'cluster'].map((s) => [
        s,
        { state: state === 'running' ? 'running' : 'cancelled', done: 0, total: 1, detail: {} },
      ]),
    ),
  });
  routes.push((req, body, url) => {
    if (req.method === 'POST' && url.pathname === '/v1/runs') {
      const spec = JSON.parse(body.toString());
      assert.deepEqual(spec, {
        input: { bucket: 'b', prefix: 'x/' },
        kmeans: { k: 3 },
        image: { size: 16 },
      });
      return { status: 202, body: { id: 'run_w1', state: 'queued', url: '/v1/runs/run_w1' } };
    }
    if (req.method === 'POST' && url.pathname === '/v1/runs/run_w1/retry') {
      return {
        status: 202,
        body: { id: 'run_w1', state: 'queued', retry: 1, resumesAt: 'train', url: '' },
      };
    }
    if (req.method === 'GET' && url.pathname === '/v1/runs/run_w1') {
      polls++;
      return {
        status: 200,
        body: polls % 2 === 1 ? status('running') : status('cancelled', 'cancelled by request'),
      };
    }
    return undefined;
  });

  const submitted = await cli('run', '--bucket', 'b', '--prefix', 'x/', '--k', '3', '--size', '16');
  assert.equal(submitted.code, 0, submitted.stderr);
  assert.equal(submitted.stdout, 'run_w1\n');

  const waited = await cli(
    'run',
    '--bucket',
    'b',
    '--prefix',
    'x/',
    '--k',
    '3',
    '--size',
    '16',
    '--wait',
  );
  assert.equal(waited.code, 1);
  assert.match(waited.stdout, /^run_w1\n/);
  assert.match(waited.stdout, /^state {5}cancelled \(retried 1×\)$/m);
  assert.match(waited.stderr, /^run_w1 {2}running/m);
  assert.match(waited.stderr, /error: run run_w1 cancelled: cancelled by request/);

  const retried = await cli('retry', 'run_w1', '--wait');
  assert.equal(retried.code, 1);
  assert.match(retried.stdout, /^run_w1 queued again \(retry 1\), resuming at train$/m);
});

test('download keeps paths, leaves the bulk out and never writes outside its folder', async () => {
  const paths = ['metrics.json', 'clusters/000-samples.png', 'images/shard-00000.bin', '../up.txt'];
  routes.push((req, _body, url) => {
    if (url.pathname === '/v1/runs/run_d1/artifacts') {
      return {
        status: 200,
        body: {
          complete: false,
          artifacts: paths.map((p) => ({ path: p, bytes: p.length, contentType: '', url: '' })),
        },
      };
    }
    const prefix = '/v1/runs/run_d1/artifacts/';
    if (req.method === 'GET' && url.pathname.startsWith(prefix)) {
      return { status: 200, body: Buffer.from(url.pathname.slice(prefix.length)) };
    }
    return undefined;
  });
  const dir = join(work, 'dl', 'inner');
  const r = await cli('download', 'run_d1', dir);
  assert.equal(r.code, 1, 'the escaping path fails');
  assert.match(r.stderr, /note: run run_d1 has no manifest yet/);
  assert.match(r.stderr, /^ {2}\.\.\/up\.txt: the path would leave the folder$/m);
  assert.equal(
    readFileSync(join(dir, 'clusters', '000-samples.png'), 'utf8'),
    'clusters/000-samples.png',
  );
  assert.equal(readFileSync(join(dir, 'metrics.json'), 'utf8'), 'metrics.json');
  assert.ok(!existsSync(join(dir, 'images')));
  assert.ok(!existsSync(join(work, 'dl', 'up.txt')));
  assert.ok(!existsSync(join(dir, 'metrics.json.part')));
  assert.match(
    r.stdout,
    /downloaded 2 files, 36 B, .*; 1 shards, checkpoints and assignment inputs left out/,
  );

  const all = await cli('download', 'run_d1', dir, '--all');
  assert.ok(existsSync(join(dir, 'images', 'shard-00000.bin')));
  assert.equal(all.code, 1);
});

test('API errors print code, message and issue paths with exit 1; no API is exit 1 too', async () => {
  routes.push((req, _body, url) => {
    if (url.pathname === '/v1/runs/run_e1/clusters') {
      return apiError(409, 'RUN_NOT_FINISHED', 'run run_e1 is running');
    }
    return undefined;
  });
  const r = await cli('clusters', 'run_e1');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error: RUN_NOT_FINISHED (HTTP 409): run run_e1 is running\n');

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const address = closed.address();
  await new Promise((resolve) => closed.close(resolve));
  const port = typeof address === 'object' && address ? address.port : 0;
  const code = await main(['--api', `http://127.0.0.1:${port}`, 'list'], {
    stdout: { write: () => true },
    stderr: { write: (t: string) => assert.match(t, /cannot reach the API at .*ECONNREFUSED/) },
    env: {},
  });
  assert.equal(code, 1);
});

test('bad arguments print the usage and exit 2 before any request', async () => {
  const before = seen.length;
  const r = await cli('run', '--bucket', 'b', '--k', 'lots');
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^imgcluster run: --k must be a whole number or auto, got "lots"\nUsage: imgcluster run /,
  );
  assert.equal((await cli('nonsense')).code, 2);
  assert.equal((await cli('upload', 'x', '--bucket', 'b', '--concurrency', '0')).code, 2);
  assert.equal(seen.length, before);
  const help = await cli('upload', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: imgcluster upload <folder> --bucket B/);
});
