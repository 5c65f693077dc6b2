/**
 * End to end: the bad-input corpus (packages/images/test/corpus.ts: every kind of file a real
 * collection holds, each generated here), ordinary Fashion-MNIST images, and images under
 * tricky keys (spaces, '+', '%', '=', '&', non-Latin scripts, NFC and NFD spellings, quotes,
 * commas, a tab and a newline), over 1,000 objects under one prefix, through the five
 * services on a real Redis and S3-compatible server. The run must succeed; every bad file
 * must be rejected with its reason; every good key must appear exactly once, unchanged, in
 * labels.csv and the members files, and lead back to its own image everywhere (original,
 * thumbnail, assignment); the listing must reach every object; and nothing an SVG file
 * references may ever be fetched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  ImgclusterClient,
  type AssignedImage,
  type AssignResults,
  type RejectedImage,
} from '@imgcluster/client';
import { runKeys } from '@imgcluster/config';
import { balancedSubset, readFashionMnist } from '@imgcluster/datasets';
import { startStack, uploadFashionMnist, type LocalStack } from '@imgcluster/devstack';
import { encodePng, preprocessImage } from '@imgcluster/images';
import { buildCorpus, type CorpusEntry } from '../packages/images/test/corpus.js';

const BUCKET = 'datasets';
/** One prefix holding every input: more than 1,000 objects, so listing it takes pages. */
const PREFIX = 'collection/';
const FASHION = 1000;
const IMAGE = { size: 16, channels: 3 } as const;

/** Tricky keys (after PREFIX) of good images; the first ones are uploaded through the API. */
const TRICKY = [
  'tricky/with space.png',
  'tricky/two  spaces and trailing .png',
  'tricky/plus+sign.png',
  'tricky/percent%20literal.png',
  'tricky/percent%2520twice.png',
  'tricky/percent%.png',
  'tricky/eq=amp&q=1.png',
  'tricky/日本語/写真.png',
  'tricky/Ελληνικά.png',
  'tricky/العربية.png',
  'tricky/emoji🙂.png',
  'tricky/café.png'.normalize('NFC'),
  'tricky/café.png'.normalize('NFD'),
  'tricky/comma,quote".png',
  'tricky/tab\there.png',
  'tricky/new\nline.png',
];
/** How many TRICKY keys go through PUT /v1/uploads (the rest through the S3 client). */
const THROUGH_API = 11;

let stack: LocalStack;
let work: string;
let client: ImgclusterClient;
let refServer: Server;
const refRequests: string[] = [];
let corpus: CorpusEntry[];
/** Every object under PREFIX, with its bytes. */
const uploaded = new Map<string, Buffer>();
const corpusKey = (e: CorpusEntry) => `${PREFIX}bad inputs/${e.name}.${e.ext}`;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-bad-inputs-'));
  // Anything an SVG of the corpus references points here: it must never be called.
  refServer = createServer((req, res) => {
    refRequests.push(req.url ?? '');
    res.end('');
  });
  await new Promise<void>((resolve) => refServer.listen(0, '127.0.0.1', resolve));
  const refUrl = `http://127.0.0.1:${(refServer.address() as { port: number }).port}`;

  stack = await startStack(work, { preprocess: 2 });
  client = new ImgclusterClient(stack.apiUrl);
  const data = await readFashionMnist({ split: 'train' });
  const indices = balancedSubset(data.labels, FASHION + TRICKY.length, 7);
  const fashion = await uploadFashionMnist(stack.storage, data, indices.slice(0, FASHION), {
    bucket: BUCKET,
    prefix: `${PREFIX}fashion/`,
  });
  for (const key of [...fashion.keys, fashion.labelsKey]) {
    uploaded.set(key, await stack.storage.get(BUCKET, key));
  }

  // Good images under tricky keys: some through the API, the others straight to storage.
  for (const [i, name] of TRICKY.entries()) {
    const at = indices[FASHION + i] * 28 * 28;
    const png = await encodePng(data.images.subarray(at, at + 28 * 28), 28, 28, 1);
    const key = `${PREFIX}${name}`;
    if (i < THROUGH_API) {
      const res = await client.upload(BUCKET, key, new Uint8Array(png), 'image/png');
      assert.equal(res.key, key, 'the API stored another key than it was given');
    } else {
      await stack.storage.put(BUCKET, key, png, 'image/png');
    }
    uploaded.set(key, png);
  }

  corpus = await buildCorpus({ refUrl });
  for (const e of corpus) {
    await stack.storage.put(BUCKET, corpusKey(e), e.bytes);
    uploaded.set(corpusKey(e), e.bytes);
  }
});

after(async () => {
  await stack?.stop();
  await new Promise<void>((resolve) => (refServer ? refServer.close(() => resolve()) : resolve()));
  if (work) rmSync(work, { recursive: true, force: true });
});

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

test('the upload listing pages through more than 1,000 objects, each key once, unchanged', async () => {
  const listed: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listUploads(BUCKET, { prefix: PREFIX, limit: 1000, cursor });
    listed.push(...page.objects.map((o) => o.key));
    cursor = page.next ?? undefined;
    pages++;
  } while (cursor);
  assert.ok(uploaded.size > 1000, `${uploaded.size} objects`);
  assert.ok(pages >= 2, `${pages} pages`);
  assert.equal(listed.length, uploaded.size);
  assert.deepEqual([...listed].sort(), [...uploaded.keys()].sort());
  const viaStorage = (await stack.storage.list(BUCKET, PREFIX)).map((o) => o.key);
  assert.deepEqual([...viaStorage].sort(), [...uploaded.keys()].sort());
});

test(
  'a run over the corpus, tricky keys and Fashion-MNIST succeeds and accounts for every file',
  { timeout: 240_000 },
  async () => {
    const started = Date.now();
    const { id } = await client.submit({
      name: 'bad inputs',
      input: { bucket: BUCKET, prefix: PREFIX },
      image: IMAGE,
      training: { epochs: 1 },
      kmeans: { k: 4 },
      shardSize: 300,
    });
    const final = await client.wait(id, () => undefined, 500, 200_000);
    assert.equal(final.state, 'succeeded', final.error);
    console.log(`run ${id} took ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The planner listed every object (over 1,000: several pages) and no key changed.
    const plan = await stack.storage.getJson<{
      imageCount: number;
      shards: { keys: string[]; sizes: number[] }[];
    }>(stack.env.S3_BUCKET, runKeys(id).plan);
    const planned = plan.shards.flatMap((s) => s.keys);
    assert.equal(plan.imageCount, uploaded.size);
    assert.deepEqual([...planned].sort(), [...uploaded.keys()].sort());
    for (const s of plan.shards) {
      s.keys.forEach((key, i) => assert.equal(s.sizes[i], uploaded.get(key)!.length, key));
    }

    // Every bad file rejected with its reason, every good one accepted.
    const index = await client.artifactJson<{
      rejected: { key: string; reason: string; message: string }[];
    }>(id, 'shard-index.json');
    const rejectedAs = new Map(index.rejected.map((r) => [r.key, r]));
    assert.equal(rejectedAs.size, index.rejected.length, 'a key was rejected twice');
    const wrong: string[] = [];
    const expectedReasons: Record<string, number> = {};
    for (const e of corpus) {
      const got = rejectedAs.get(corpusKey(e));
      if (e.expect.ok) {
        if (got)
          wrong.push(`${e.name}: rejected (${got.reason}: ${got.message}), expected decoded`);
      } else {
        expectedReasons[e.expect.reason] = (expectedReasons[e.expect.reason] ?? 0) + 1;
        if (got?.reason !== e.expect.reason) {
          wrong.push(
            `${e.name}: ${got ? `${got.reason}: ${got.message}` : 'accepted'}, expected ${e.expect.reason}`,
          );
        }
      }
    }
    // labels.json is not an image either: the run was not told it is a labels file.
    expectedReasons.not_an_image = (expectedReasons.not_an_image ?? 0) + 1;
    assert.deepEqual(wrong, []);
    const rejectedKeys = new Set(rejectedAs.keys());
    const good = [...uploaded.keys()].filter((k) => !rejectedKeys.has(k));
    assert.equal(index.rejected.length, uploaded.size - good.length);
    assert.equal(final.stages.preprocess.detail.rejected, index.rejected.length);
    assert.deepEqual(final.stages.preprocess.detail.reasons, expectedReasons);

    // labels.csv: each good key exactly once, unchanged (quoted where it must be).
    const csv = parseCsv((await client.download(id, 'labels.csv')).toString('utf8'));
    assert.deepEqual(csv[0], ['key', 'cluster', 'distance']);
    const rows = csv.slice(1);
    const labelOf = new Map(rows.map((r) => [r[0], Number(r[1])]));
    assert.equal(labelOf.size, rows.length, 'a key appears twice in labels.csv');
    assert.deepEqual([...labelOf.keys()].sort(), [...good].sort());
    for (const name of TRICKY) assert.ok(labelOf.has(`${PREFIX}${name}`), JSON.stringify(name));

    // The members files: the same keys, each once, in the cluster labels.csv gives it.
    const { k } = await client.clusters(id);
    const memberOf = new Map<string, { cluster: number; rank: number }>();
    for (let c = 0; c < k; c++) {
      const file = await client.artifactJson<{ members: { key: string }[] }>(
        id,
        `clusters/${String(c).padStart(3, '0')}-members.json`,
      );
      for (const [rank, m] of file.members.entries()) {
        assert.ok(!memberOf.has(m.key), `${JSON.stringify(m.key)} is a member twice`);
        memberOf.set(m.key, { cluster: c, rank });
        assert.equal(labelOf.get(m.key), c, JSON.stringify(m.key));
      }
    }
    assert.equal(memberOf.size, good.length);

    // Each tricky key and each decoded corpus file leads back to its own image: the original
    // bytes, and the thumbnail the model saw equals a fresh decode of those bytes.
    const probe = [
      ...TRICKY.map((n) => `${PREFIX}${n}`),
      ...corpus.filter((e) => e.expect.ok).map(corpusKey),
    ];
    for (const key of probe) {
      const { cluster, rank } = memberOf.get(key)!;
      const page = await client.members(id, cluster, 1, String(rank));
      assert.equal(page.members[0].key, key);
      assert.deepEqual(await client.fetchBytes(page.members[0].image), uploaded.get(key), key);
      const thumb = await sharp(await client.fetchBytes(page.members[0].thumbnail))
        .raw()
        .toBuffer();
      const fresh = await preprocessImage(uploaded.get(key)!, IMAGE);
      assert.ok(fresh.ok, key);
      assert.deepEqual(new Uint8Array(thumb), fresh.pixels, `thumbnail of ${JSON.stringify(key)}`);
    }

    // Assigning the same keys gives the clusters of labels.csv; bad keys their run reasons.
    // (The API takes no keys with control characters, so the tab and newline keys stay out.)
    const nameable = TRICKY.map((n) => `${PREFIX}${n}`).filter((k) => !/[\u0000-\u001f]/.test(k));
    const bad = corpus.filter((e) => !e.expect.ok).slice(0, 30);
    const keys = [...nameable, ...bad.map(corpusKey)];
    const assigned = (await client.assign(id, { keys, bucket: BUCKET })) as AssignResults;
    assert.equal(assigned.total, keys.length);
    assigned.results.forEach((r, i) => {
      assert.equal(r.name, keys[i]);
      if (i < nameable.length) {
        assert.equal((r as AssignedImage).cluster, labelOf.get(keys[i]), JSON.stringify(keys[i]));
      } else {
        assert.equal(
          (r as RejectedImage).rejected.reason,
          rejectedAs.get(keys[i])!.reason,
          keys[i],
        );
      }
    });

    assert.deepEqual(refRequests, [], 'something an SVG references was fetched');
  },
);
