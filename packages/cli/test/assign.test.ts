/**
 * `imgcluster assign` against a stand-in API on 127.0.0.1: files in batches, keys queued and
 * polled, rejected images, the outputs (table, JSON, CSV, heat maps) and the failures.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AssignResults } from '@imgcluster/client';
import { pngSize } from '@imgcluster/images';
import { COMMANDS, parseCommandLine, usageLine, type ParsedCommand } from '../src/args.js';
import { chunks, csvLines, heatmapName } from '../src/commands/assign.js';
import { assignLine } from '../src/progress.js';
import { runCli } from './run-cli.js';

/** One request as the stand-in API saw it: multipart file names, or the JSON body. */
interface Seen {
  method: string;
  path: string;
  files?: string[];
  json?: { keys: string[]; bucket?: string };
}

interface Answer {
  status: number;
  body: unknown;
}

type Route = (req: Seen) => Answer | undefined;

let server: Server;
let api = '';
let work = '';
let routes: Route[] = [];
let seen: Seen[] = [];

/** Reads a request the way the API would: the file names of a multipart body, or JSON. */
async function readRequest(req: IncomingMessage, body: Buffer): Promise<Seen> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const out: Seen = { method: req.method ?? '', path: decodeURIComponent(url.pathname) };
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const form = await new Request(url, {
      method: 'POST',
      headers: { 'content-type': type },
      body: new Uint8Array(body),
    }).formData();
    out.files = [...form.values()].map((v) => (v as File).name);
  } else if (body.length > 0) {
    out.json = JSON.parse(body.toString('utf8'));
  }
  return out;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-cli-assign-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const request = await readRequest(req, Buffer.concat(chunks));
      seen.push(request);
      const answer = routes.map((route) => route(request)).find((a) => a !== undefined) ?? {
        status: 404,
        body: { error: { code: 'ROUTE_NOT_FOUND', message: 'no route' } },
      };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
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

beforeEach(() => {
  routes = [];
  seen = [];
});

const cli = (...argv: string[]) => runCli(api, ...argv);

const apiError = (status: number, code: string, message: string): Answer => ({
  status,
  body: { error: { code, message } },
});

/** The stand-in's verdict on one image: names with "bad" are rejected, the rest assigned. */
function verdict(name: string, n: number): AssignResults['results'][number] {
  if (name.includes('bad')) {
    return { name, rejected: { reason: 'undecodable', message: 'not an image sharp can read' } };
  }
  return {
    name,
    cluster: n % 3,
    distance: 0.125 * (n + 1),
    attention: { height: 2, width: 2, values: [0, 0.25, 0.5, 1] },
  };
}

function answerAtOnce(names: string[]): AssignResults {
  const results = names.map(verdict);
  const rejected = results.filter((r) => 'rejected' in r).length;
  return {
    id: 'run_a1',
    total: names.length,
    assigned: names.length - rejected,
    rejected,
    results,
  };
}

/** Answers every multipart request to run_a1 at once, as the API does up to ASSIGN_SYNC_MAX. */
const filesAtOnce: Route = (req) =>
  req.method === 'POST' && req.path === '/v1/runs/run_a1/assign' && req.files
    ? { status: 200, body: answerAtOnce(req.files) }
    : undefined;

/** A folder of images: a nested one, a rejected one, and a name with a comma (quoted in CSV). */
function photos(name: string): string {
  const folder = join(work, name);
  mkdirSync(join(folder, 'sub dir'), { recursive: true });
  writeFileSync(join(folder, 'a.png'), 'a');
  writeFileSync(join(folder, 'bad.png'), 'not a png');
  writeFileSync(join(folder, 'c,d.jpg'), 'c');
  writeFileSync(join(folder, 'sub dir', 'e.png'), 'e');
  return folder;
}

test('files and folders go in batches; the table lists every image, rejected ones with why', async () => {
  const folder = photos('batches');
  const single = join(work, 'single.png');
  writeFileSync(single, 's');
  routes.push(filesAtOnce);

  // The folder's a.png named again by itself is sent once.
  const r = await cli('assign', 'run_a1', folder, single, join(folder, 'a.png'), '--batch', '2');
  assert.equal(r.code, 0, r.stderr);
  const posts = seen.filter((s) => s.path === '/v1/runs/run_a1/assign');
  const name = (rel: string) => join(folder, rel).split('\\').join('/');
  assert.deepEqual(
    posts.map((p) => p.files),
    [
      [name('a.png'), name('bad.png')],
      [name('c,d.jpg'), name('sub dir/e.png')],
      [single.split('\\').join('/')],
    ],
  );

  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^name +cluster +distance$/);
  assert.match(r.stdout, new RegExp(`^${escape(name('a.png'))} +0 +0\\.125$`, 'm'));
  assert.match(
    r.stdout,
    new RegExp(`^${escape(name('bad.png'))} +- +- +rejected: undecodable – not an image`, 'm'),
  );
  assert.match(r.stdout, /^assigned 4, rejected 1 of 5 images \(run run_a1\)$/m);
  assert.match(
    r.stderr,
    /^assign \[#{20}\] {2}5\/5 images {2}4 assigned, 1 rejected {2}ETA 0:00$/m,
  );
});

test('keys are sent as JSON; a queued answer is polled with its progress until it succeeds', async () => {
  const keysFile = join(work, 'keys.txt');
  writeFileSync(keysFile, 'photos/k3.png\r\n\n  photos/bad-k4.png  \n');
  let polls = 0;
  routes.push((req) => {
    if (req.method === 'POST' && req.path === '/v1/runs/run_a1/assign' && req.json) {
      return {
        status: 202,
        body: {
          id: 'run_a1',
          assignment: 'asg_q1',
          state: 'queued',
          done: 0,
          total: req.json.keys.length,
          url: '/v1/runs/run_a1/assignments/asg_q1',
        },
      };
    }
    if (req.method === 'GET' && req.path === '/v1/runs/run_a1/assignments/asg_q1') {
      polls++;
      const state = polls === 1 ? 'running' : 'succeeded';
      return {
        status: 200,
        body: {
          id: 'run_a1',
          assignment: 'asg_q1',
          state,
          done: polls === 1 ? 2 : 4,
          total: 4,
          url: '/v1/runs/run_a1/assignments/asg_q1',
          ...(state === 'succeeded'
            ? { results: '/v1/runs/run_a1/assignments/asg_q1/results' }
            : {}),
        },
      };
    }
    if (req.method === 'GET' && req.path === '/v1/runs/run_a1/assignments/asg_q1/results') {
      const { id: _id, ...body } = answerAtOnce([
        'photos/k1.png',
        'photos/k2.png',
        'photos/k3.png',
        'photos/bad-k4.png',
      ]);
      return { status: 200, body };
    }
    return undefined;
  });

  const r = await cli(
    'assign',
    'run_a1',
    '--keys',
    'photos/k1.png',
    'photos/k2.png',
    '--keys-from',
    keysFile,
    '--bucket',
    'datasets',
  );
  assert.equal(r.code, 0, r.stderr);
  const post = seen.find((s) => s.method === 'POST');
  assert.deepEqual(post?.json, {
    keys: ['photos/k1.png', 'photos/k2.png', 'photos/k3.png', 'photos/bad-k4.png'],
    bucket: 'datasets',
  });
  assert.equal(polls, 2, 'polled until it succeeded');
  assert.match(r.stdout, /^photos\/k3\.png +2 +0\.375$/m);
  assert.match(r.stdout, /^photos\/bad-k4\.png +- +- +rejected: undecodable/m);
  assert.match(r.stdout, /^assigned 3, rejected 1 of 4 images \(run run_a1\)$/m);
  assert.match(r.stderr, /4\/4 images {2}3 assigned, 1 rejected/);
});

test('--json prints the batches as one AssignResults; --out writes CSV; --attention PNGs', async () => {
  const folder = photos('outputs');
  routes.push(filesAtOnce);
  const csv = join(work, 'out', 'results.csv');
  mkdirSync(join(work, 'out'));
  const maps = join(work, 'out', 'maps');

  const r = await cli(
    'assign',
    'run_a1',
    folder,
    '--batch',
    '3',
    '--json',
    '--out',
    csv,
    '--attention',
    maps,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(seen.length, 2);

  const printed = JSON.parse(r.stdout) as AssignResults;
  assert.deepEqual(
    { ...printed, results: printed.results.length },
    { id: 'run_a1', total: 4, assigned: 3, rejected: 1, results: 4 },
  );
  assert.deepEqual(
    printed.results.map((x) => x.name.slice(folder.length + 1)),
    ['a.png', 'bad.png', 'c,d.jpg', 'sub dir/e.png'],
  );
  assert.match(r.stderr, /^assigned 3, rejected 1 of 4 images \(run run_a1\)$/m);

  const rows = readFileSync(csv, 'utf8').split('\n');
  assert.equal(rows[0], 'name,cluster,distance,reason');
  assert.equal(rows[1], `${folder}/a.png,0,0.125,`);
  assert.equal(rows[2], `${folder}/bad.png,,,undecodable`);
  assert.equal(rows[3], `"${folder}/c,d.jpg",2,0.375,`);
  assert.equal(rows.length, 6, 'four rows and a final newline');
  assert.match(r.stderr, /^wrote 4 rows to .*results\.csv$/m);

  const written = readdirSync(maps).sort();
  assert.equal(written.length, 3);
  for (const file of written) {
    assert.match(file, /^[A-Za-z0-9][A-Za-z0-9._-]*\.png$/);
    assert.deepEqual(pngSize(readFileSync(join(maps, file))), { width: 96, height: 96 });
  }
  assert.ok(written.some((f) => f.endsWith('outputs_sub_dir_e.png')));
  assert.match(r.stderr, /^wrote 3 attention maps to /m);
});

test('a batch the API refuses alone is reported and the others go on; exit 1', async () => {
  const folder = join(work, 'refused');
  mkdirSync(folder);
  for (const n of [1, 2, 3, 4, 5]) writeFileSync(join(folder, `${n}.png`), String(n));
  let queuedPolls = 0;
  routes.push((req) => {
    if (req.files?.some((f) => f.endsWith('/3.png'))) {
      return apiError(413, 'UPLOAD_TOO_LARGE', 'file 0 ("3.png") is larger than 100 bytes');
    }
    if (req.files?.some((f) => f.endsWith('/5.png'))) {
      return {
        status: 202,
        body: { id: 'run_a1', assignment: 'asg_f1', state: 'queued', done: 0, total: 1, url: '' },
      };
    }
    if (req.path === '/v1/runs/run_a1/assignments/asg_f1') {
      queuedPolls++;
      return {
        status: 200,
        body: {
          id: 'run_a1',
          assignment: 'asg_f1',
          state: 'failed',
          done: 0,
          total: 1,
          error: 'model missing',
          url: '',
        },
      };
    }
    return filesAtOnce(req);
  });

  const r = await cli('assign', 'run_a1', folder, '--batch', '2');
  assert.equal(r.code, 1);
  assert.equal(seen.filter((s) => s.method === 'POST').length, 3, 'every batch was sent');
  assert.equal(queuedPolls, 1);
  assert.match(r.stdout, /^assigned 2, rejected 0 of 5 images \(run run_a1\); 3 not assigned$/m);
  assert.match(r.stderr, /^3 image\(s\) not assigned:$/m);
  assert.match(
    r.stderr,
    /^ {2}.*refused\/3\.png, .*refused\/4\.png: UPLOAD_TOO_LARGE \(HTTP 413\): file 0/m,
  );
  assert.match(r.stderr, /^ {2}.*refused\/5\.png: assignment asg_f1 failed: model missing$/m);
});

test('a run that has not succeeded stops at the first batch with the API error; exit 1', async () => {
  const folder = photos('unfinished');
  routes.push((req) =>
    req.path === '/v1/runs/run_u1/assign'
      ? apiError(409, 'RUN_NOT_FINISHED', 'run run_u1 is running')
      : undefined,
  );
  const r = await cli('assign', 'run_u1', folder, '--batch', '1');
  assert.equal(r.code, 1);
  assert.equal(seen.length, 1, 'no further batches');
  assert.match(r.stderr, /^error: RUN_NOT_FINISHED \(HTTP 409\): run run_u1 is running$/m);
  assert.equal(r.stdout, '');

  // Stopped after a batch: what was answered is still printed.
  seen = [];
  routes = [
    (req) =>
      seen.length === 1 ? filesAtOnce(req) : apiError(404, 'RUN_NOT_FOUND', 'no run with this id'),
  ];
  const stopped = await cli('assign', 'run_a1', folder, '--batch', '2');
  assert.equal(stopped.code, 1);
  assert.equal(seen.length, 2);
  assert.match(stopped.stdout, /a\.png +0 +0\.125$/m);
  assert.match(stopped.stdout, /^assigned 1, rejected 1 of 4 images \(run run_a1\); 2 not/m);
  assert.match(stopped.stderr, /^error: RUN_NOT_FOUND \(HTTP 404\): no run with this id$/m);
  assert.match(stopped.stderr, /^stopped: 2 of 4 images not sent$/m);

  const missing = await cli('assign', 'run_a1', join(work, 'nowhere.png'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nowhere\.png: no such file or folder/);
});

test('usage errors exit 2 before any request', async () => {
  const folder = photos('usage');
  for (const [argv, message] of [
    [['assign'], /^imgcluster assign: missing <run>\nUsage: imgcluster assign <run> \[<image>…\]/],
    [['assign', 'run_a1'], /^imgcluster assign: no images given/],
    [['assign', 'run_a1', '--keys'], /^imgcluster assign: no keys given/],
    [['assign', 'run_a1', folder, '--bucket', 'b'], /--bucket is for object keys: add --keys/],
    [['assign', 'run_a1', folder, '--batch', '0'], /--batch must be a whole number from 1/],
    [['assign', 'run_a1', folder, '--batch', '10001'], /--batch must be a whole number/],
    [['assign', 'run_a1', folder, '--out', ''], /--out must not be empty/],
  ] as const) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, message, argv.join(' '));
  }
  assert.deepEqual(seen, []);

  const help = await cli('assign', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--keys-from FILE/);
});

test('assign takes any number of images after <run>; other commands none', () => {
  const parsed = parseCommandLine(['assign', 'run_a1', 'a.png', 'dir', '--json']) as ParsedCommand;
  assert.deepEqual(parsed.args, { run: 'run_a1' });
  assert.deepEqual(parsed.rest, ['a.png', 'dir']);
  assert.deepEqual((parseCommandLine(['status', 'run_a1']) as ParsedCommand).rest, []);
  assert.throws(() => parseCommandLine(['status', 'run_a1', 'x']), /unexpected argument "x"/);
  assert.match(usageLine('assign'), /^imgcluster assign <run> \[<image>…\] \[--keys\] /);
  assert.ok('assign' in COMMANDS);
});

test('heat map names are safe file names, unique without regard to case', () => {
  const taken = new Set<string>();
  assert.equal(heatmapName('photos/cat 1.jpg', taken), 'photos_cat_1.png');
  assert.equal(heatmapName('photos/cat 1.png', taken), 'photos_cat_1-2.png');
  assert.equal(heatmapName('PHOTOS/CAT 1.jpg', taken), 'PHOTOS_CAT_1-3.png');
  assert.equal(heatmapName('../../etc/passwd', taken), 'etc_passwd.png');
  assert.equal(heatmapName('.hidden', taken), 'hidden.png');
  assert.equal(heatmapName('..', taken), 'image.png');
  assert.equal(heatmapName('', taken), 'image-2.png');
  assert.equal(heatmapName('x'.repeat(300), taken).length, 124);
});

test('CSV quotes what needs it; batches keep the order; the progress line counts', () => {
  assert.deepEqual(
    csvLines([
      { name: 'a,b', cluster: 1, distance: 0.5, attention: { height: 0, width: 0, values: [] } },
      { name: 'say "hi"\n', rejected: { reason: 'too_small', message: 'tiny' } },
    ]),
    ['name,cluster,distance,reason', '"a,b",1,0.5,', '"say ""hi""\n",,,too_small'],
  );
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(chunks([], 2), []);
  assert.equal(
    assignLine({
      done: 5,
      total: 10,
      assigned: 3,
      rejected: 1,
      failed: 1,
      seconds: 10,
      note: 'batch 2/3',
    }),
    'assign [##########----------]  5/10 images  3 assigned, 1 rejected, 1 failed  ETA 0:10  batch 2/3',
  );
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
