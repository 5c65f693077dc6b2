/**
 * End to end through the command line: a folder of 300 real Fashion-MNIST PNGs (plus a text
 * file and the labels) uploaded with `imgcluster upload` as a child process, uploaded again
 * (nothing to do), clustered with `imgcluster run --wait`, then inspected with `status`,
 * `clusters` and `download`; and the upload routes' refusals over plain HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ImgclusterClient } from '@imgcluster/client';
import { STAGES } from '@imgcluster/config';
import {
  balancedSubset,
  FASHION_MNIST_CLASSES,
  fashionMnistImage,
  readFashionMnist,
} from '@imgcluster/datasets';
import { REPO_ROOT, startStack, type LocalStack } from '@imgcluster/devstack';
import { encodePng } from '@imgcluster/images';

const IMAGES = 300;
const UPLOAD_MAX_BYTES = 64 * 1024;
const BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'imgcluster.mjs');
const PREFIX = 'cli/';

let stack: LocalStack;
let work: string;
let folder: string;
let client: ImgclusterClient;
/** Every file of the folder by the key it should get. */
const expected = new Map<string, Buffer>();
let runId = '';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-cli-e2e-'));
  stack = await startStack(work, {}, { UPLOAD_MAX_BYTES: String(UPLOAD_MAX_BYTES) });
  client = new ImgclusterClient(stack.apiUrl);

  // 300 images in nested folders, a file that is no image, and the labels beside them.
  folder = join(work, 'photos');
  const data = await readFashionMnist({ split: 'test', limit: 3000 });
  const labels: Record<string, string> = {};
  for (const [n, i] of balancedSubset(data.labels, IMAGES, 7).entries()) {
    const rel = `${n % 3 === 0 ? 'tops' : 'more/nested'}/${String(i).padStart(5, '0')}.png`;
    expected.set(`${PREFIX}${rel}`, await encodePng(fashionMnistImage(data, i), 28, 28, 1));
    labels[`${PREFIX}${rel}`] = FASHION_MNIST_CLASSES[data.labels[i]];
  }
  expected.set(`${PREFIX}notes.txt`, Buffer.from('shot on a Tuesday; not an image\n'));
  expected.set(`${PREFIX}labels.json`, Buffer.from(JSON.stringify(labels)));
  for (const [key, body] of expected) {
    const path = join(folder, key.slice(PREFIX.length));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }
});

after(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the CLI as a user would, against this stack; resolves to its exit code and output. */
function cli(args: string[], timeoutMs = 60_000) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, '--api', stack.apiUrl, ...args],
      { cwd: work, timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`imgcluster ${args[0]}: ${err}\n${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

async function storedKeys(bucket: string, prefix: string) {
  return new Map((await stack.storage.list(bucket, prefix)).map((o) => [o.key, o.size]));
}

test('upload sends every file once, then finds nothing to do, then resends what went missing', async () => {
  const first = await cli(['upload', folder, '--bucket', 'datasets', '--prefix', 'cli']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(
    first.stdout,
    /uploaded 302 files, .* to datasets\/cli\/ .*; 0 already there; 0 failed/,
  );
  assert.match(first.stderr, /upload \[#{20}\] {2}302\/302 files/);

  const stored = await storedKeys('datasets', PREFIX);
  assert.deepEqual([...stored.keys()].sort(), [...expected.keys()].sort());
  for (const [key, body] of expected) assert.equal(stored.get(key), body.length, key);
  const someKey = [...expected.keys()][5];
  assert.deepEqual(await stack.storage.get('datasets', someKey), expected.get(someKey));

  const again = await cli(['upload', folder, '--bucket', 'datasets', '--prefix', 'cli/']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /all 302 files are in datasets\/cli\/ already: nothing to upload/);

  const gone = [...expected.keys()].slice(10, 13);
  await stack.storage.delete('datasets', gone);
  const resumed = await cli(['upload', folder, '--bucket', 'datasets', '--prefix', 'cli/']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /uploaded 3 files, .*; 299 already there; 0 failed/);
  assert.equal((await storedKeys('datasets', PREFIX)).size, expected.size);
});

test('a file over the limit fails by name; the others still go up', async () => {
  const mixed = join(work, 'mixed');
  mkdirSync(mixed);
  writeFileSync(join(mixed, 'small.png'), expected.get([...expected.keys()][0])!);
  writeFileSync(join(mixed, 'huge.tif'), Buffer.alloc(UPLOAD_MAX_BYTES + 1, 7));

  // A new bucket: nothing to list, so only the API's 413 can tell the file is too large.
  const r = await cli(['upload', mixed, '--bucket', 'fresh-bucket']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ {2}huge\.tif: UPLOAD_TOO_LARGE \(HTTP 413\): .*65536 bytes/m);
  assert.deepEqual([...(await storedKeys('fresh-bucket', '')).keys()], ['small.png']);

  // Now the bucket exists, the listing gives the limit and the file is not even sent.
  const again = await cli(['upload', mixed, '--bucket', 'fresh-bucket']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^ {2}huge\.tif: 65537 bytes, over the API's limit of 65536 bytes/m);
});

/** A request with the path exactly as given (fetch would resolve `..` segments itself). */
function rawRequest(method: string, path: string, body: Buffer) {
  const { hostname, port } = new URL(stack.apiUrl);
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request({ host: hostname, port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString()),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the upload routes refuse the artifact bucket, bad names and keys, and big files', async () => {
  const put = async (
    path: string,
    body: Uint8Array<ArrayBuffer> | string,
    contentType = 'image/png',
  ) => {
    const res = await fetch(`${stack.apiUrl}${path}`, {
      method: 'PUT',
      headers: { 'content-type': contentType },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const artifacts = stack.env.S3_BUCKET;

  const reserved = await put(`/v1/uploads/${artifacts}/runs/x/manifest.json`, '{}');
  assert.equal(reserved.status, 400);
  assert.equal(reserved.body.error.code, 'UPLOAD_BUCKET_RESERVED');
  assert.match(reserved.body.error.message, /artifact/);
  assert.equal(await stack.storage.exists(artifacts, 'runs/x/manifest.json'), false);
  const listReserved = await fetch(`${stack.apiUrl}/v1/uploads/${artifacts}`);
  assert.equal(listReserved.status, 400);

  const badBucket = await put('/v1/uploads/Not_A_Bucket/a.png', 'x');
  assert.equal(badBucket.status, 400);
  assert.equal(badBucket.body.error.code, 'VALIDATION_FAILED');
  assert.deepEqual(
    badBucket.body.error.issues.map((i: { path: string }) => i.path),
    ['params.bucket'],
  );

  for (const path of ['/v1/uploads/datasets/a/../b.png', '/v1/uploads/datasets/a/%2e%2e/b.png']) {
    const dots = await rawRequest('PUT', path, Buffer.from('x'));
    assert.equal(dots.status, 400, path);
    assert.equal(dots.body.error.issues[0].path, 'params.key', path);
    assert.match(dots.body.error.issues[0].message, /'\.\.'/);
  }
  const empty = await put('/v1/uploads/datasets/', 'x');
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error.issues[0].path, 'params.key');
  const longSegment = await put(`/v1/uploads/datasets/${'a'.repeat(256)}.png`, 'x');
  assert.equal(longSegment.status, 400);

  const tooBig = await put('/v1/uploads/datasets/big.bin', Buffer.alloc(UPLOAD_MAX_BYTES + 1));
  assert.equal(tooBig.status, 413);
  assert.equal(tooBig.body.error.code, 'UPLOAD_TOO_LARGE');
  const justRight = await put('/v1/uploads/datasets/limit.bin', Buffer.alloc(UPLOAD_MAX_BYTES));
  assert.deepEqual(justRight, {
    status: 201,
    body: { bucket: 'datasets', key: 'limit.bin', bytes: UPLOAD_MAX_BYTES },
  });
  // Any content type is stored as raw bytes, JSON included.
  const notJson = await put('/v1/uploads/datasets/raw/x.json', '{"not json', 'application/json');
  assert.equal(notJson.status, 201);
  assert.equal((await stack.storage.get('datasets', 'raw/x.json')).toString(), '{"not json');

  const missing = await fetch(`${stack.apiUrl}/v1/uploads/no-such-bucket`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as any).error.code, 'INPUT_BUCKET_NOT_FOUND');
  for (const query of ['limit=1001', 'limit=0', 'cursor=%21%21', 'other=1']) {
    const res = await fetch(`${stack.apiUrl}/v1/uploads/datasets?${query}`);
    assert.equal(res.status, 400, query);
  }

  // Pages of 100 list every key under the prefix once, in order.
  const keys: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listUploads('datasets', { prefix: PREFIX, cursor, limit: 100 });
    assert.ok(page.objects.length <= 100);
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.next ?? undefined;
    pages++;
  } while (cursor);
  assert.equal(pages, 4);
  assert.deepEqual(keys, [...expected.keys()].sort());
});

test('run --wait clusters the folder; status, clusters and download show the result', async () => {
  const r = await cli(
    [
      'run',
      '--bucket',
      'datasets',
      '--prefix',
      PREFIX,
      '--labels',
      `${PREFIX}labels.json`,
      '--size',
      '16',
      '--epochs',
      '1',
      '--k',
      '5',
      '--name',
      'from the command line',
      '--wait',
    ],
    120_000,
  );
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  runId = r.stdout.split('\n')[0];
  assert.match(runId, /^run_[a-z0-9]+$/);
  assert.match(r.stderr, /^ {2}train +\[#{20}\] +1\/1 +succeeded/m);
  assert.match(r.stdout, /^state {5}succeeded$/m);
  assert.match(r.stdout, /scores against the labels: NMI \d\.\d{3}/);

  const status = await cli(['status', runId]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^name {6}from the command line$/m);
  assert.match(status.stdout, /^images {4}300 accepted, 1 rejected \(not_an_image 1\)$/m);
  for (const stage of STAGES) assert.match(status.stdout, new RegExp(`^${stage} +succeeded `, 'm'));

  const clusters = await cli(['clusters', runId]);
  assert.equal(clusters.code, 0, clusters.stderr);
  const rows = clusters.stdout.split('\n').filter((l) => /^ +\d+ +\d+ /.test(l));
  assert.equal(rows.length, 5);
  const sizes = rows.map((l) => Number(l.trim().split(/ +/)[1]));
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    IMAGES,
  );
  const api = await client.clusters(runId);
  assert.deepEqual(
    sizes,
    api.clusters.map((c) => c.size),
  );
  for (const row of rows) {
    assert.ok(
      FASHION_MNIST_CLASSES.some((name) => row.includes(`${name} `)),
      `no label in ${row}`,
    );
  }

  const out = join(work, 'download');
  const download = await cli(['download', runId, out]);
  assert.equal(download.code, 0, download.stderr);
  const { artifacts } = await client.artifacts(runId);
  const wanted = artifacts.filter((a) => !/^(images|codes|checkpoint)\//.test(a.path));
  assert.ok(wanted.length < artifacts.length);
  for (const a of wanted) assert.equal(statSync(join(out, a.path)).size, a.bytes, a.path);
  for (const bulk of ['images', 'codes', 'checkpoint']) {
    assert.throws(() => statSync(join(out, bulk)), /ENOENT/);
  }
  const csv = readFileSync(join(out, 'labels.csv'));
  assert.deepEqual(csv, await client.download(runId, 'labels.csv'));
  assert.equal(csv.toString().trim().split('\n').length, IMAGES + 1);
  assert.match(download.stdout, new RegExp(`downloaded ${wanted.length} files`));

  const list = await cli(['list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${runId} +succeeded `, 'm'));
});

test('cancel and retry; refusals print the API error and exit 1', async () => {
  const submitted = await cli([
    'run',
    '--bucket',
    'datasets',
    '--prefix',
    PREFIX,
    '--size',
    '16',
    '--epochs',
    '1',
    '--k',
    '5',
  ]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = submitted.stdout.trim();
  const cancelled = await cli(['cancel', id]);
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.equal(cancelled.stdout, `${id} cancelled\n`);
  assert.match((await cli(['status', id])).stdout, /^state {5}cancelled$/m);

  const retried = await cli(['retry', id, '--wait'], 120_000);
  assert.equal(retried.code, 0, `${retried.stdout}\n${retried.stderr}`);
  assert.match(retried.stdout, new RegExp(`^${id} queued again \\(retry 1\\)`, 'm'));
  assert.match(retried.stdout, /^state {5}succeeded \(retried 1×\)$/m);

  const again = await cli(['cancel', id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^error: RUN_FINISHED \(HTTP 409\): /);
  const notRetryable = await cli(['retry', runId]);
  assert.equal(notRetryable.code, 1);
  assert.match(notRetryable.stderr, /RUN_NOT_RETRYABLE/);
  const invalid = await cli(['run', '--bucket', 'datasets', '--k', '1', '--size', '20']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /^error: VALIDATION_FAILED \(HTTP 400\): invalid body$/m);
  assert.match(invalid.stderr, /^ {2}body\.kmeans\.k: /m);
  assert.match(invalid.stderr, /^ {2}body\.image\.size: must be a multiple of 8$/m);
  const usage = await cli(['download', runId]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing <dir>/);
});
