/**
 * End to end: 2,000 real Fashion-MNIST images (plus a few undecodable files) through the
 * five services as separate processes, a real Redis and a real S3-compatible server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import sharp from 'sharp';
import {
  ImgclusterClient,
  formatProgress,
  type AssignedImage,
  type AssignmentStatus,
  type AssignResults,
  type RejectedImage,
} from '@imgcluster/client';
import { runSpecSchema, STAGES } from '@imgcluster/config';
import { balancedSubset, readFashionMnist } from '@imgcluster/datasets';
import { REPO_ROOT, startStack, uploadFashionMnist, type LocalStack } from '@imgcluster/devstack';
import { pngSize } from '@imgcluster/images';
import { createRedis, QUEUES } from '@imgcluster/queues';
import { decodeShard } from '@imgcluster/shard';
import { renderReport } from '../services/cluster/src/report.js';
import { openBrowser, scrollThroughPictures, type SeenPicture } from './lib/browser.js';

const IMAGES = 2000;
const BAD_FILES: Record<string, Buffer> = {
  'fashion-mnist/bad-empty.png': Buffer.alloc(0),
  'fashion-mnist/bad-text.png': Buffer.from('this is not an image, only a text file\n'),
  'fashion-mnist/bad-truncated.png': Buffer.alloc(0), // filled in before()
};

let stack: LocalStack;
let work: string;
let client: ImgclusterClient;
let inputKeys: string[] = [];
let labelsKey = '';
/** The settings shown by the synthetic 200-cluster report. */
const final200Spec = () =>
  runSpecSchema.parse({ input: { bucket: 'datasets' }, kmeans: { k: 200 } });

/** The run of the main test, once it has succeeded; later tests look at it. */
let finished:
  { id: string; labels: Map<string, { cluster: number; distance: number }> } | undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-e2e-'));
  // A small synchronous limit, so that assigning a few dozen images takes the job path.
  stack = await startStack(work, { preprocess: 2, encoder: 2 }, { ASSIGN_SYNC_MAX: '16' });
  client = new ImgclusterClient(stack.apiUrl);

  const data = await readFashionMnist({ split: 'train' });
  const indices = balancedSubset(data.labels, IMAGES, 1);
  const upload = await uploadFashionMnist(stack.storage, data, indices, {
    bucket: 'datasets',
    prefix: 'fashion-mnist/',
  });
  const good = await stack.storage.get('datasets', upload.keys[0]);
  BAD_FILES['fashion-mnist/bad-truncated.png'] = good.subarray(0, Math.floor(good.length / 2));
  for (const [key, body] of Object.entries(BAD_FILES))
    await stack.storage.put('datasets', key, body);

  inputKeys = [...upload.keys, ...Object.keys(BAD_FILES)];
  labelsKey = upload.labelsKey;
});

after(async () => {
  await stack?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('bad requests get 400 with the field named; unknown runs 404', async () => {
  const res = await fetch(`${stack.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { bucket: 'datasets' }, kmeans: { k: 1 }, image: { size: 30 } }),
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { code: string; issues: { path: string }[] } };
  assert.equal(body.error.code, 'VALIDATION_FAILED');
  const paths = body.error.issues.map((i) => i.path);
  assert.ok(paths.includes('body.kmeans.k'), JSON.stringify(paths));
  assert.ok(paths.includes('body.image.size'), JSON.stringify(paths));

  const missing = await fetch(`${stack.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { bucket: 'no-such-bucket' } }),
  });
  assert.equal(missing.status, 400);
  assert.equal(
    ((await missing.json()) as { error: { code: string } }).error.code,
    'INPUT_BUCKET_NOT_FOUND',
  );

  const broken = await fetch(`${stack.apiUrl}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"input": ',
  });
  assert.equal(broken.status, 400);

  const unknown = await fetch(`${stack.apiUrl}/v1/runs/run_doesnotexist0`);
  assert.equal(unknown.status, 404);

  const post = (body: unknown) =>
    fetch(`${stack.apiUrl}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const nested = await post({ input: { bucket: 'datasets', extra: 1 }, kmeans: { kk: 3 } });
  assert.equal(nested.status, 400);
  const nestedPaths = (
    (await nested.json()) as { error: { issues: { path: string }[] } }
  ).error.issues.map((i) => i.path);
  assert.deepEqual(nestedPaths.sort(), ['body.input', 'body.kmeans']);
  const surrogate = await post({ input: { bucket: 'datasets', prefix: '\ud800' } });
  assert.equal(surrogate.status, 400);

  const expectError = async (path: string, status: number) => {
    const res = await fetch(`${stack.apiUrl}${path}`);
    assert.equal(res.status, status, path);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.ok(body.error.code && body.error.message, `${path}: ${JSON.stringify(body)}`);
  };
  await expectError('/v1/runs?cursor=99999999999999999999999', 400);
  await expectError('/v1/runs?limit=0', 400);
  await expectError('/v1/runs/%ff%fe', 400);
  await expectError(`/v1/runs/run_${'a'.repeat(5000)}`, 404);
});

test(
  'a run over real images labels every decodable image exactly once',
  { timeout: 600_000 },
  async () => {
    const { id } = await client.submit({
      name: 'e2e',
      input: { bucket: 'datasets', prefix: 'fashion-mnist/' },
      labels: { key: labelsKey },
      image: { size: 32, channels: 1 },
      training: { epochs: 3 },
      kmeans: { k: 10 },
      shardSize: 250,
    });

    let last = '';
    const final = await client.wait(
      id,
      (s) => {
        const line = formatProgress(s);
        if (line !== last) console.log(line);
        last = line;
      },
      1000,
      540_000,
    );
    assert.equal(final.state, 'succeeded', final.error);
    for (const stage of STAGES) assert.equal(final.stages[stage].state, 'succeeded', stage);
    assert.equal(final.stages.preprocess.done, final.stages.preprocess.total);
    assert.equal(final.stages.encode.done, final.stages.encode.total);

    // Every input is either labelled or rejected with a reason, exactly once.
    const labelsCsv = (await client.download(id, 'labels.csv')).toString('utf8').trim().split('\n');
    assert.equal(labelsCsv[0], 'key,cluster,distance');
    const labelled = labelsCsv.slice(1).map((line) => line.split(','));
    const index = await client.artifactJson<{ rejected: { key: string; reason: string }[] }>(
      id,
      'shard-index.json',
    );
    const seen = [...labelled.map((r) => r[0]), ...index.rejected.map((r) => r.key)];
    assert.equal(new Set(seen).size, seen.length, 'an image appears twice');
    assert.deepEqual([...seen].sort(), [...inputKeys].sort());
    assert.equal(labelled.length, IMAGES);
    for (const r of labelled) {
      const cluster = Number(r[1]);
      assert.ok(Number.isInteger(cluster) && cluster >= 0 && cluster < 10);
      assert.ok(Number.isFinite(Number(r[2])));
    }

    const reasons = Object.fromEntries(index.rejected.map((r) => [r.key, r.reason]));
    assert.equal(reasons['fashion-mnist/bad-empty.png'], 'empty');
    assert.ok(
      ['not_an_image', 'unsupported_format'].includes(reasons['fashion-mnist/bad-text.png']),
    );
    assert.equal(reasons['fashion-mnist/bad-truncated.png'], 'corrupt');
    assert.equal(final.stages.preprocess.detail.rejected, 3);

    // Clearly better than chance (chance NMI is about 0.00 for 10 balanced classes).
    const metrics = await client.artifactJson<{
      scores: { nmi: number; ari: number; accuracy: number };
      sizes: number[];
    }>(id, 'metrics.json');
    console.log('scores', metrics.scores, 'sizes', metrics.sizes);
    assert.ok(metrics.scores.nmi > 0.3, `NMI ${metrics.scores.nmi}`);
    assert.ok(metrics.scores.accuracy > 0.3, `accuracy ${metrics.scores.accuracy}`);
    assert.equal(
      metrics.sizes.reduce((a, b) => a + b, 0),
      IMAGES,
    );

    // Every picture and the manifest exist.
    const { complete, artifacts } = await client.artifacts(id);
    assert.ok(complete);
    const paths = new Set(artifacts.map((a) => a.path));
    for (let c = 0; c < 10; c++) {
      for (const kind of ['samples', 'attention', 'decoded']) {
        assert.ok(paths.has(`clusters/${String(c).padStart(3, '0')}-${kind}.png`), `${c} ${kind}`);
      }
    }
    for (const p of [
      'manifest.json',
      'report.html',
      'centroids.bin',
      'model/encoder/model.json',
      'model/decoder/model.json',
    ]) {
      assert.ok(paths.has(p), p);
    }
    const png = await client.download(id, 'clusters/000-decoded.png');
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);

    // No job stalled or ran twice because a worker's event loop was blocked.
    const redis = createRedis(stack.env.REDIS_URL);
    try {
      for (const stage of STAGES) {
        const queue = new Queue(QUEUES[stage], { connection: redis });
        const jobs = await queue.getJobs(['completed']);
        const mine = jobs.filter((j) => j.data.runId === id);
        assert.ok(mine.length > 0, `${stage} has jobs`);
        for (const job of mine) {
          assert.equal(job.attemptsStarted, 1, `${job.id} started ${job.attemptsStarted} times`);
          assert.equal(job.stalledCounter, 0, `${job.id} stalled`);
        }
        await queue.close();
      }
    } finally {
      await redis.quit();
    }

    const listed = await client.list(5);
    assert.ok(listed.runs.some((r) => r.id === id));

    // Browsing: cluster summaries, members nearest first across pages, original images.
    const browsed = await client.clusters(id);
    assert.equal(browsed.k, 10);
    assert.deepEqual(
      browsed.clusters.map((c) => c.size),
      metrics.sizes,
    );
    const big = browsed.clusters.reduce((a, b) => (b.size > a.size ? b : a));
    const members: Awaited<ReturnType<typeof client.members>>['members'] = [];
    let cursor: string | undefined;
    do {
      const page = await client.members(id, big.cluster, 97, cursor);
      members.push(...page.members);
      cursor = page.next ?? undefined;
    } while (cursor);
    assert.equal(members.length, big.size);
    assert.deepEqual(
      members.map((m) => m.rank),
      members.map((_, i) => i),
    );
    for (let i = 1; i < members.length; i++) {
      assert.ok(members[i].distance >= members[i - 1].distance, 'members not nearest first');
    }
    const labelledHere = labelled.filter((r) => Number(r[1]) === big.cluster).map((r) => r[0]);
    assert.deepEqual(members.map((m) => m.key).sort(), labelledHere.sort());
    const original = await stack.storage.get('datasets', members[0].key);
    assert.deepEqual(await client.fetchBytes(members[0].image), original);
    const thumb = await sharp(await client.fetchBytes(members[0].thumbnail))
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([thumb.info.width, thumb.info.height], [32, 32]);
    const picture = await client.fetchBytes(big.pictures.decoded);
    assert.deepEqual([...picture.subarray(1, 4)], [0x50, 0x4e, 0x47]);

    finished = {
      id,
      labels: new Map(
        labelled.map((r) => [r[0], { cluster: Number(r[1]), distance: Number(r[2]) }]),
      ),
    };

    for (const [path, status, code] of [
      [`/v1/runs/${id}/clusters/10/members`, 404, 'CLUSTER_NOT_FOUND'],
      [`/v1/runs/${id}/clusters/x/members`, 404, 'CLUSTER_NOT_FOUND'],
      [`/v1/runs/${id}/clusters/0/members?limit=0`, 400, 'VALIDATION_FAILED'],
      [`/v1/runs/${id}/clusters/0/members?cursor=abc`, 400, 'VALIDATION_FAILED'],
      [`/v1/runs/${id}/clusters/${big.cluster}/members/${big.size}/image`, 404, 'MEMBER_NOT_FOUND'],
      [`/v1/runs/run_nosuchrun1/clusters`, 404, 'RUN_NOT_FOUND'],
    ] as const) {
      const res = await fetch(`${stack.apiUrl}${path}`);
      assert.equal(res.status, status, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code, path);
    }
  },
);

test(
  'the report opens in headless Chromium with every cluster’s pictures loaded and the charts drawn',
  { timeout: 180_000 },
  async (t) => {
    if (!finished) return t.skip('the run of the main test did not succeed');
    const { id } = finished;
    const browser = await openBrowser();
    try {
      const page = await browser.context.newPage();
      const origin = new URL(stack.apiUrl).origin;
      const elsewhere: string[] = [];
      const failed: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) elsewhere.push(r.url());
      });
      page.on('response', (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      });
      page.on('pageerror', (e) => errors.push(e.message));

      const res = await page.goto(`${stack.apiUrl}/v1/runs/${id}/report`);
      assert.equal(res?.status(), 200);
      assert.match(await page.title(), new RegExp(id));

      const seen = (await page.evaluate(scrollThroughPictures(20_000))) as SeenPicture[];
      const cards = await page.locator('article.card').count();
      assert.equal(cards, 10);
      for (let c = 0; c < 10; c++) {
        const mine = seen.filter((p) => p.cluster === String(c));
        assert.deepEqual(
          mine.map((p) => p.className).sort(),
          ['attention', 'decoded', 'samples'],
          `cluster ${c}`,
        );
        for (const p of mine) assert.ok(p.naturalWidth > 0, `cluster ${c} ${p.src} did not load`);
      }
      const examples = seen.filter((p) => p.className === 'example');
      assert.ok(examples.length >= 3, `${examples.length} reconstruction pictures`);
      for (const p of examples) assert.ok(p.naturalWidth > 0, `${p.src} did not load`);

      // Charts: one bar per cluster, a loss curve, both actually laid out.
      assert.equal(await page.locator('#size-chart rect.bar').count(), 10);
      const chart = await page.locator('#size-chart').boundingBox();
      assert.ok(
        chart && chart.width > 100 && chart.height > 50,
        `chart box ${JSON.stringify(chart)}`,
      );
      const loss = await page.locator('#loss-chart polyline').getAttribute('points');
      assert.ok((loss ?? '').split(' ').length >= 3, 'the loss curve has points');
      assert.match((await page.locator('#scores').innerText()) ?? '', /NMI 0\.\d{3}/);

      assert.deepEqual(elsewhere, [], 'the report loads nothing from elsewhere');
      assert.deepEqual(failed, [], 'every request of the page succeeded');
      assert.deepEqual(errors, []);

      mkdirSync(join(REPO_ROOT, 'test-output'), { recursive: true });
      const shot = join(REPO_ROOT, 'test-output', 'report.png');
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report screenshot: ${shot}`);

      // A 200-cluster page (this run's pictures, each under its own name) fetches only the
      // pictures in view when it opens, and the rest as they are scrolled to.
      const dir = join(work, 'report-200');
      mkdirSync(join(dir, 'clusters'), { recursive: true });
      const clusters: Parameters<typeof renderReport>[0]['clusters'] = [];
      for (let c = 0; c < 200; c++) {
        const pics: Record<string, { path: string; width: number; height: number }> = {};
        for (const kind of ['samples', 'attention', 'decoded']) {
          const from = `clusters/${String(c % 10).padStart(3, '0')}-${kind}.png`;
          const png = await client.download(id, from);
          const path = `clusters/${String(c).padStart(3, '0')}-${kind}.png`;
          writeFileSync(join(dir, path), png);
          pics[kind] = { path, ...pngSize(png) };
        }
        clusters.push({
          index: c,
          size: 10,
          meanDistance: 1,
          samples: pics.samples,
          attention: pics.attention,
          decoded: pics.decoded,
        });
      }
      const html = renderReport({
        runId: 'run_twohundred',
        spec: final200Spec(),
        images: 2000,
        rejected: [],
        stageSeconds: {},
        kmeans: { steps: 1, stopReason: null, fitSeconds: 0 },
        inertia: 1,
        clusters,
        examples: [],
      });
      writeFileSync(join(dir, 'report.html'), html);
      assert.ok(html.length < 250_000, `${html.length} bytes of HTML`);
      const big = await browser.context.newPage();
      await big.goto(`file://${join(dir, 'report.html')}`, { waitUntil: 'load' });
      await big.waitForTimeout(1000);
      const loadedAtOpen = (await big.evaluate(
        '[...document.images].filter((i) => i.complete && i.naturalWidth > 0).length',
      )) as number;
      console.log(
        `200-cluster report: ${html.length} bytes, ${loadedAtOpen} of 600 pictures loaded at open`,
      );
      assert.ok(loadedAtOpen < 120, `${loadedAtOpen} of 600 pictures loaded before scrolling`);
      const all = (await big.evaluate(scrollThroughPictures(20_000))) as SeenPicture[];
      assert.equal(all.filter((p) => p.naturalWidth > 0).length, 600);
    } finally {
      await browser.close();
    }
  },
);

test(
  'images assigned through the API land where the run put them; bad ones say why',
  { timeout: 180_000 },
  async (t) => {
    if (!finished) return t.skip('the run of the main test did not succeed');
    const { id, labels } = finished;
    const own = [...labels.keys()].slice(0, 40);
    const same = (name: string, r: AssignedImage) => {
      const want = labels.get(name)!;
      assert.equal(r.cluster, want.cluster, name);
      assert.ok(Math.abs(r.distance - want.distance) <= 1e-5 * Math.max(1, want.distance), name);
      assert.equal(r.attention.values.length, 16);
    };

    // A few stored images by key: answered at once, in order, a missing key reported.
    const small = (await client.assign(id, {
      keys: [own[0], 'fashion-mnist/no-such-image.png', own[1]],
      bucket: 'datasets',
    })) as AssignResults;
    assert.deepEqual([small.total, small.assigned, small.rejected], [3, 2, 1]);
    same(own[0], small.results[0] as AssignedImage);
    same(own[1], small.results[2] as AssignedImage);
    assert.equal((small.results[1] as RejectedImage).rejected.reason, 'not_found');

    // Files as multipart, a text file among them.
    const files = await Promise.all(
      own.slice(2, 4).map(async (key) => ({
        name: `photos/${key.split('/').pop()!}`, // folders are kept in the name
        bytes: new Uint8Array(await stack.storage.get('datasets', key)),
      })),
    );
    const text = { name: 'notes.txt', bytes: new Uint8Array(Buffer.from('not an image')) };
    const sent = (await client.assign(id, { files: [files[0], text, files[1]] })) as AssignResults;
    assert.deepEqual(
      sent.results.map((r) => r.name),
      [files[0].name, 'notes.txt', files[1].name],
    );
    same(own[2], sent.results[0] as AssignedImage);
    same(own[3], sent.results[2] as AssignedImage);
    assert.equal((sent.results[1] as RejectedImage).rejected.reason, 'not_an_image');

    // More than ASSIGN_SYNC_MAX (16): queued for the encoder pool, polled to the end.
    const queued = (await client.assign(id, { keys: own, bucket: 'datasets' })) as AssignmentStatus;
    assert.equal(queued.state, 'queued');
    assert.equal(queued.total, own.length);
    const states: string[] = [];
    const big = await client.waitForAssignment(queued, (s) => states.push(s.state), 200);
    assert.equal(states.at(-1), 'succeeded');
    assert.equal(big.assigned, own.length);
    big.results.forEach((r, i) => same(own[i], r as AssignedImage));

    // The same many files as multipart take the job path too.
    const many = await Promise.all(
      own.slice(0, 20).map(async (key) => ({
        name: key,
        bytes: new Uint8Array(await stack.storage.get('datasets', key)),
      })),
    );
    const manyQueued = (await client.assign(id, { files: many })) as AssignmentStatus;
    assert.equal(manyQueued.state, 'queued');
    const manyDone = await client.waitForAssignment(manyQueued, undefined, 200);
    manyDone.results.forEach((r, i) => same(own[i], r as AssignedImage));
    // The files it stored for the job are gone once the job has its results.
    const left = (await client.artifacts(id)).artifacts
      .map((a) => a.path)
      .filter((p) => p.startsWith(`assignments/${manyQueued.assignment}/`));
    assert.deepEqual(left, [`assignments/${manyQueued.assignment}/results.json`]);

    const json = { 'content-type': 'application/json' };
    for (const [init, path, status, code] of [
      [{ body: '{}', headers: json }, `/v1/runs/${id}/assign`, 400, 'VALIDATION_FAILED'],
      [
        { body: JSON.stringify({ keys: ['../imgcluster/runs/x.png'] }), headers: json },
        `/v1/runs/${id}/assign`,
        400,
        'VALIDATION_FAILED',
      ],
      [
        { body: JSON.stringify({ keys: ['a.png'], bucket: 'no-such-bucket' }), headers: json },
        `/v1/runs/${id}/assign`,
        400,
        'INPUT_BUCKET_NOT_FOUND',
      ],
      [
        { body: 'abc', headers: { 'content-type': 'multipart/form-data; boundary=xyz' } },
        `/v1/runs/${id}/assign`,
        400,
        'VALIDATION_FAILED',
      ],
      [
        { body: '{"keys":["a.png"]}', headers: { 'content-type': 'text/plain' } },
        `/v1/runs/${id}/assign`,
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        { body: JSON.stringify({ keys: ['a'], bucket: 'imgcluster' }), headers: json },
        `/v1/runs/${id}/assign`,
        400,
        'VALIDATION_FAILED',
      ],
      [{ body: new FormData() }, `/v1/runs/${id}/assign`, 400, 'NO_IMAGES'],
      [
        { body: JSON.stringify({ keys: ['a'] }), headers: json },
        '/v1/runs/run_nosuchrun1/assign',
        404,
        'RUN_NOT_FOUND',
      ],
    ] as const) {
      const res = await fetch(`${stack.apiUrl}${path}`, {
        method: 'POST',
        headers: 'headers' in init ? init.headers : {},
        body: init.body,
      });
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, status, `${path} ${JSON.stringify(body)}`);
      assert.equal(body.error.code, code);
    }
    const missing = await fetch(`${stack.apiUrl}/v1/runs/${id}/assignments/asg_nosuchone1`);
    assert.equal(missing.status, 404);

    // The OpenAPI document describes the routes just used.
    const doc = (await (await fetch(`${stack.apiUrl}/docs/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    assert.ok(doc.paths['/v1/runs/{id}/assign'] && doc.paths['/v1/runs/{id}/assignments/{aid}']);
  },
);

test(
  'a cancelled run stops its running training promptly and stays cancelled',
  { timeout: 180_000 },
  async () => {
    const { id } = await client.submit({
      input: { bucket: 'datasets', prefix: 'fashion-mnist/' },
      training: { epochs: 200 },
    });
    for (;;) {
      const s = await client.status(id);
      if (s.stages.train.state === 'running') break;
      assert.ok(s.state === 'queued' || s.state === 'running', `run ${s.state}: ${s.error}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const cancelled = await client.cancel(id);
    assert.equal(cancelled.state, 'cancelled');
    const again = await fetch(`${stack.apiUrl}/v1/runs/${id}`, { method: 'DELETE' });
    assert.equal(again.status, 409);

    // The train job ends within seconds, not after its 200 epochs.
    const redis = createRedis(stack.env.REDIS_URL);
    const queue = new Queue(QUEUES.train, { connection: redis });
    try {
      let state = '';
      for (let i = 0; i < 120 && state !== 'failed' && state !== 'completed'; i++) {
        state = (await (await queue.getJob(`${id}.train`))?.getState()) ?? '';
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(state === 'failed' || state === 'completed', `train job is ${state}`);
    } finally {
      await queue.close();
      await redis.quit();
    }
    const status = await client.status(id);
    assert.equal(status.state, 'cancelled');
    assert.equal((await client.artifacts(id)).complete, false);
    const clusters = await fetch(`${stack.apiUrl}/v1/runs/${id}/clusters`);
    assert.equal(clusters.status, 409);
    assert.equal(
      ((await clusters.json()) as { error: { code: string } }).error.code,
      'RUN_NOT_FINISHED',
    );
  },
);

test('a run over too few images, or none, fails with the cause', { timeout: 60_000 }, async () => {
  for (let i = 0; i < 3; i++) {
    await stack.storage.put(
      'datasets',
      `tiny/${i}.png`,
      await stack.storage.get('datasets', inputKeys[i]),
    );
  }
  const few = await client.submit({
    input: { bucket: 'datasets', prefix: 'tiny/' },
    kmeans: { k: 10 },
  });
  const none = await client.submit({ input: { bucket: 'datasets', prefix: 'nothing-here/' } });
  const failedFew = await client.wait(few.id, () => undefined, 300, 50_000);
  const failedNone = await client.wait(none.id, () => undefined, 300, 50_000);
  assert.equal(failedFew.state, 'failed');
  assert.match(failedFew.error ?? '', /3 input objects .* k = 10/);
  assert.equal(failedFew.stages.plan.state, 'failed');
  assert.equal(failedNone.state, 'failed');
  assert.match(failedNone.error ?? '', /no objects under s3:\/\/datasets\/nothing-here\//);

  await stack.storage.put('datasets', 'tiny-labels.txt', 'not json');
  const badLabels = await client.submit({
    input: { bucket: 'datasets', prefix: 'tiny/' },
    labels: { key: 'tiny-labels.txt' },
    kmeans: { k: 2 },
  });
  const failedLabels = await client.wait(badLabels.id, () => undefined, 300, 50_000);
  assert.equal(failedLabels.state, 'failed');
  assert.match(failedLabels.error ?? '', /labels s3:\/\/datasets\/tiny-labels.txt is not JSON/);

  // Pages do not shift when runs are submitted between two requests.
  const first = await client.list(2);
  await client.submit({ input: { bucket: 'datasets', prefix: 'nothing-here/' } });
  const second = await client.list(2, first.next ?? undefined);
  const overlap = second.runs.filter((r) => first.runs.some((f) => f.id === r.id));
  assert.deepEqual(overlap, []);
});

test(
  'k "auto" chooses k on a sample of the codes and publishes the curve',
  { timeout: 180_000 },
  async () => {
    const refused = await fetch(`${stack.apiUrl}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input: { bucket: 'datasets' },
        kmeans: { k: 'auto', kRange: { min: 1, max: 8 } },
      }),
    });
    assert.equal(refused.status, 400);
    const issues = ((await refused.json()) as { error: { issues: { path: string }[] } }).error
      .issues;
    assert.deepEqual(
      issues.map((i) => i.path),
      ['body.kmeans.kRange.min'],
    );

    // 300 of the images, in three shards, so the selection sample comes from several.
    for (const key of inputKeys.filter((k) => !k.includes('/bad-')).slice(0, 300)) {
      await stack.storage.put('datasets', `auto/${key}`, await stack.storage.get('datasets', key));
    }
    const { id } = await client.submit({
      name: 'e2e k auto',
      input: { bucket: 'datasets', prefix: 'auto/' },
      image: { size: 16, channels: 1 },
      training: { epochs: 2 },
      kmeans: { k: 'auto', kRange: { min: 2, max: 8 } },
      shardSize: 100,
    });
    const final = await client.wait(id, () => undefined, 500, 170_000);
    assert.equal(final.state, 'succeeded', final.error);

    const selection = await client.artifactJson<{
      chosen: number;
      criterion: string;
      elbow: number;
      range: { min: number; max: number };
      samplePoints: number;
      curve: { k: number; inertia: number; silhouette: number }[];
    }>(id, 'k-selection.json');
    const { chosen } = selection;
    console.log('k selection', chosen, 'elbow', selection.elbow, JSON.stringify(selection.curve));
    assert.ok(Number.isInteger(chosen) && chosen >= 2 && chosen <= 8, `chose ${chosen}`);
    assert.equal(selection.criterion, 'silhouette');
    assert.deepEqual(selection.range, { min: 2, max: 8 });
    assert.equal(selection.samplePoints, 300);
    assert.deepEqual(
      selection.curve.map((p) => p.k),
      [2, 3, 4, 5, 6, 7, 8],
    );
    const best = Math.max(...selection.curve.map((p) => p.silhouette));
    assert.equal(selection.curve.find((p) => p.k === chosen)?.silhouette, best);
    assert.equal(final.stages.cluster.detail.k, chosen);

    const metrics = await client.artifactJson<{ k: number; kSelection: { chosen: number } }>(
      id,
      'metrics.json',
    );
    assert.equal(metrics.k, chosen);
    assert.equal(metrics.kSelection.chosen, chosen);
    assert.equal((await client.artifactJson<{ k: number }>(id, 'manifest.json')).k, chosen);
    assert.equal((await client.clusters(id)).k, chosen);
    const plot = await client.download(id, 'k-selection.png');
    assert.deepEqual(Object.values(pngSize(plot)), [640, 440]);
    const report = (await client.download(id, 'report.html')).toString('utf8');
    assert.ok(report.includes('id="k-chart"'));
    const { artifacts } = await client.artifacts(id);
    const paths = new Set(artifacts.map((a) => a.path));
    for (const p of ['k-selection.json', 'k-selection.png', 'manifest.json']) {
      assert.ok(paths.has(p), p);
    }
  },
);

/** Copies the first 300 decodable inputs of the main run under `prefix`; their new keys. */
async function copyGoodInputs(prefix: string): Promise<string[]> {
  const keys = inputKeys.filter((k) => !k.includes('/bad-')).slice(0, 300);
  for (const key of keys) {
    await stack.storage.put(
      'datasets',
      `${prefix}${key}`,
      await stack.storage.get('datasets', key),
    );
  }
  return keys;
}

/** A run's labels.csv as key → cluster and squared distance (keys without commas). */
async function labelsOf(id: string): Promise<Map<string, { cluster: number; distance: number }>> {
  const rows = (await client.download(id, 'labels.csv')).toString('utf8').trim().split('\n');
  return new Map(
    rows.slice(1).map((line) => {
      const [key, cluster, distance] = line.split(',');
      return [key, { cluster: Number(cluster), distance: Number(distance) }];
    }),
  );
}

/**
 * Assigns the first `count` images of a run through the API and checks that each lands in
 * its labels.csv cluster at the same squared distance.
 */
async function assertAssignedAsLabelled(
  id: string,
  labels: Map<string, { cluster: number; distance: number }>,
  count: number,
): Promise<void> {
  const own = [...labels.keys()].slice(0, count);
  const placed = (await client.assign(id, { keys: own, bucket: 'datasets' })) as AssignResults;
  assert.equal(placed.assigned, own.length);
  placed.results.forEach((r, i) => {
    const want = labels.get(own[i])!;
    assert.equal((r as AssignedImage).cluster, want.cluster, own[i]);
    const d = (r as AssignedImage).distance;
    assert.ok(Math.abs(d - want.distance) <= 1e-4 * Math.max(1, want.distance), own[i]);
  });
}

test(
  'kmeans.normalize "l2" clusters unit-length codes, and new images are placed the same way',
  { timeout: 180_000 },
  async () => {
    await copyGoodInputs('l2/');
    const { id } = await client.submit({
      name: 'e2e l2',
      input: { bucket: 'datasets', prefix: 'l2/' },
      image: { size: 16, channels: 1 },
      training: { epochs: 2 },
      // The codes themselves, without the default manifold step.
      kmeans: { k: 4, normalize: 'l2', manifold: { method: 'none' } },
      shardSize: 100,
    });
    const final = await client.wait(id, () => undefined, 500, 170_000);
    assert.equal(final.state, 'succeeded', final.error);

    const labels = await labelsOf(id);
    assert.equal(labels.size, 300);
    // Unit-length codes and centroids inside the unit ball: no squared distance exceeds 4.
    for (const [key, l] of labels) assert.ok(l.distance >= 0 && l.distance <= 4, key);

    const own = [...labels.keys()].slice(0, 6);
    const placed = (await client.assign(id, { keys: own, bucket: 'datasets' })) as AssignResults;
    assert.equal(placed.assigned, own.length);
    placed.results.forEach((r, i) => {
      const want = labels.get(own[i])!;
      assert.equal((r as AssignedImage).cluster, want.cluster, own[i]);
      assert.ok(Math.abs((r as AssignedImage).distance - want.distance) <= 1e-5, own[i]);
    });
    const manifest = await client.artifactJson<{ spec: { kmeans: { normalize: string } } }>(
      id,
      'manifest.json',
    );
    assert.equal(manifest.spec.kmeans.normalize, 'l2');
  },
);

test(
  'kmeans.manifold "umap" clusters places in a layout of the codes, and new images follow',
  { timeout: 180_000 },
  async () => {
    const keys = await copyGoodInputs('umap/');
    const { id } = await client.submit({
      name: 'e2e umap',
      input: { bucket: 'datasets', prefix: 'umap/' },
      image: { size: 16, channels: 1 },
      training: { epochs: 2 },
      kmeans: {
        k: 4,
        normalize: 'l2',
        manifold: { method: 'umap', dims: 5, neighbors: 10, sample: 200 },
      },
      shardSize: 100,
    });
    const final = await client.wait(id, () => undefined, 500, 170_000);
    assert.equal(final.state, 'succeeded', final.error);

    const metrics = await client.artifactJson<{
      images: number;
      manifold: { method: string; sample: number; dims: number; neighbors: number };
    }>(id, 'metrics.json');
    assert.equal(metrics.images, 300);
    assert.deepEqual(
      { ...metrics.manifold, seconds: undefined },
      { method: 'umap', sample: 200, dims: 5, neighbors: 10, seconds: undefined },
    );
    // The layout's reference codes are 200 of the run's images, each with its key.
    const file = decodeShard(await client.download(id, 'manifold.bin'));
    assert.deepEqual(file.header.shape, [200, 2 * 2 * 8 + 5]); // 16 px: codes of 2 × 2 × 8
    const inputs = new Set(keys.map((k) => `umap/${k}`));
    assert.ok(file.header.keys.every((k) => inputs.has(k)));
    assert.equal(new Set(file.header.keys).size, 200);
    const centroids = decodeShard(await client.download(id, 'centroids.bin'));
    assert.deepEqual(centroids.header.shape, [4, 5]);

    const labels = await labelsOf(id);
    assert.equal(labels.size, 300);
    await assertAssignedAsLabelled(id, labels, 6);
  },
);

test(
  'a dense autoencoder with a Gaussian mixture: 1×1 codes, mixture.json, new images follow',
  { timeout: 180_000 },
  async () => {
    await copyGoodInputs('dense/');
    const { id } = await client.submit({
      name: 'e2e dense',
      input: { bucket: 'datasets', prefix: 'dense/' },
      image: { size: 16, channels: 1 },
      model: { architecture: 'dense', hidden: [64, 32], codeSize: 6 },
      training: { epochs: 2, batchSize: 32 },
      kmeans: { k: 4, normalize: 'none', mixture: 'gaussian', manifold: { method: 'none' } },
      shardSize: 100,
    });
    const final = await client.wait(id, () => undefined, 500, 170_000);
    assert.equal(final.state, 'succeeded', final.error);

    const codes = decodeShard(await client.download(id, 'codes/codes-00000.bin'));
    assert.deepEqual(codes.header.shape, [100, 1, 1, 6]);
    const metrics = await client.artifactJson<{ mixture?: { iterations: number } }>(
      id,
      'metrics.json',
    );
    assert.ok(metrics.mixture && metrics.mixture.iterations >= 1);
    const mixture = await client.artifactJson<{ k: number; dim: number; weights: number[] }>(
      id,
      'mixture.json',
    );
    assert.equal(mixture.k, 4);
    assert.equal(mixture.dim, 6);
    assert.ok(Math.abs(mixture.weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    // The centroids are the mixture's means, and each image's distance is to its component's.
    const centroids = decodeShard(await client.download(id, 'centroids.bin'));
    assert.deepEqual(centroids.header.shape, [4, 1, 1, 6]);

    const labels = await labelsOf(id);
    assert.equal(labels.size, 300);
    await assertAssignedAsLabelled(id, labels, 8);
  },
);

test(
  'float16 codes with a manifold: a run image assigned again gets its labels.csv distance',
  { timeout: 180_000 },
  async () => {
    await copyGoodInputs('half/');
    const { id } = await client.submit({
      name: 'e2e float16 umap',
      input: { bucket: 'datasets', prefix: 'half/' },
      image: { size: 16, channels: 1 },
      codes: { dtype: 'float16' },
      training: { epochs: 2 },
      kmeans: { k: 4, manifold: { method: 'umap', dims: 5, neighbors: 10, sample: 200 } },
      shardSize: 100,
    });
    const final = await client.wait(id, () => undefined, 500, 170_000);
    assert.equal(final.state, 'succeeded', final.error);
    const labels = await labelsOf(id);
    assert.equal(labels.size, 300);
    await assertAssignedAsLabelled(id, labels, 12);
  },
);
