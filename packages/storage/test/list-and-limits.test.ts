/**
 * Listings and body hygiene: a prefix of more than 1,000 objects is listed to the end on the
 * local S3 server; keys with spaces, '+', '%', '=', '&', non-Latin scripts and control
 * characters come back exactly as stored (decoded once, only when the server encoded them);
 * servers that paginate badly fail loudly; objects over a size limit are refused without
 * reading (or allocating) their bodies; and no refused or error answer keeps its socket.
 * Every server listens on 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_S3_CREDENTIALS, startS3, type LocalS3 } from '@imgcluster/devstack';
import {
  decodeListedKey,
  isPermanentStorageError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  Storage,
} from '../src/index.js';

const BUCKET = 'list-test';

/** Keys as a collection holds them; each must come back byte for byte. */
export const TRICKY_KEYS = [
  'tricky/with space.png',
  'tricky/two  spaces and trailing .png',
  'tricky/plus+sign.png',
  'tricky/percent%20literal.png',
  'tricky/percent%2520twice.png',
  'tricky/percent%.png',
  'tricky/eq=amp&q?hash#.png',
  'tricky/日本語/写真.png',
  'tricky/Ελληνικά.png',
  'tricky/العربية.png',
  'tricky/עברית.png',
  'tricky/café-nfc.png',
  'tricky/cafe\u0301-nfd.png',
  'tricky/emoji🙂.png',
  'tricky/comma,quote".png',
  'tricky/tab\there.png',
  'tricky/new\nline.png',
  'tricky/x<y>&amp;.png',
];

let work: string;
let s3: LocalS3;
let storage: Storage;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-storage-list-'));
  s3 = await startS3(join(work, 's3'));
  storage = localStorage(s3.endpoint);
  await storage.ensureBucket(BUCKET);
});

after(async () => {
  storage?.close();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function localStorage(endpoint: string, extra: { maxAttempts?: number } = {}) {
  return new Storage({
    endpoint,
    region: 'us-east-1',
    ...LOCAL_S3_CREDENTIALS,
    forcePathStyle: true,
    ...extra,
  });
}

/** Runs `fn` on items, `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

describe('against the local S3 server', () => {
  test('a prefix of 2,345 objects is listed to the end, each key once, in order', async () => {
    const keys = Array.from({ length: 2345 }, (_, i) => `many/${String(i).padStart(5, '0')}.png`);
    await pool(keys, 16, (key) => storage.put(BUCKET, key, 'x'));
    await storage.put(BUCKET, 'many-not-this/0.png', 'x');
    await storage.put(BUCKET, 'man/0.png', 'x');
    const listed = (await storage.list(BUCKET, 'many/')).map((o) => o.key);
    assert.equal(listed.length, keys.length);
    assert.deepEqual(listed, keys);

    // The page-by-page listing the API serves walks the same keys.
    const paged: string[] = [];
    let afterKey: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await storage.listPage(BUCKET, 'many/', afterKey, 1000);
      paged.push(...page.objects.map((o) => o.key));
      pages++;
      if (!page.truncated) break;
      afterKey = page.objects.at(-1)!.key;
    }
    assert.equal(pages, 3);
    assert.deepEqual(paged, keys);
  });

  test('keys with spaces, +, %, =, &, non-Latin scripts and control characters round trip', async () => {
    for (const key of TRICKY_KEYS) await storage.put(BUCKET, key, `bytes of ${key}`);
    const listed = await storage.list(BUCKET, 'tricky/');
    assert.deepEqual(listed.map((o) => o.key).sort(), [...TRICKY_KEYS].sort());
    for (const { key, size } of listed) {
      const body = await storage.get(BUCKET, key);
      assert.equal(body.toString('utf8'), `bytes of ${key}`, JSON.stringify(key));
      assert.equal(size, body.length);
    }
    // NFC and NFD spellings of the same name are two objects, each with its own bytes.
    const nfc = TRICKY_KEYS.find((k) => k.includes('nfc'))!;
    const nfd = TRICKY_KEYS.find((k) => k.includes('nfd'))!;
    assert.equal(nfc.normalize('NFC').replace('nfc', ''), nfd.normalize('NFC').replace('nfd', ''));
    assert.notDeepEqual(await storage.get(BUCKET, nfc), await storage.get(BUCKET, nfd));
  });

  test('an object over maxBytes is refused unread; refusals and errors keep no socket', async () => {
    const big = Buffer.alloc(200_000, 7);
    await storage.put(BUCKET, 'limits/big.bin', big);
    const err = await storage
      .get(BUCKET, 'limits/big.bin', { maxBytes: 1000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ObjectTooLargeError, String(err));
    assert.equal(err.size, big.length);
    assert.ok(isPermanentStorageError(err));
    // More refusals, missing keys and missing buckets than the pool has sockets (50): if any
    // left its body unread, its socket would stay taken and the reads after would hang.
    const rounds = async () => {
      for (let i = 0; i < 60; i++) {
        await assert.rejects(
          storage.get(BUCKET, 'limits/big.bin', { maxBytes: 10 }),
          ObjectTooLargeError,
        );
        await assert.rejects(storage.get(BUCKET, `limits/missing-${i}`), ObjectNotFoundError);
        await assert.rejects(storage.get('no-such-bucket-here', 'k'), /no-such-bucket-here/);
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('reads stalled: a socket was left with an unread body')),
        20_000,
      );
    });
    try {
      await Promise.race([rounds(), stalled]);
    } finally {
      clearTimeout(timer);
    }
    assert.deepEqual(await storage.get(BUCKET, 'limits/big.bin', { maxBytes: big.length }), big);
  });
});

/** A fake S3 endpoint answering each request with `handler`; the requests it saw. */
async function fakeS3(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: URL[] = [];
  const server = createServer((req, res) => {
    requests.push(new URL(req.url ?? '/', 'http://x'));
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A ListObjectsV2 answer. */
function listXml(
  keys: string[],
  opts: { truncated?: boolean; token?: string; encoding?: string } = {},
): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${BUCKET}</Name><Prefix></Prefix><KeyCount>${keys.length}</KeyCount>` +
    `<MaxKeys>1000</MaxKeys><IsTruncated>${opts.truncated ? 'true' : 'false'}</IsTruncated>` +
    (opts.encoding ? `<EncodingType>${opts.encoding}</EncodingType>` : '') +
    (opts.token ? `<NextContinuationToken>${opts.token}</NextContinuationToken>` : '') +
    keys.map((k) => `<Contents><Key>${xmlEscape(k)}</Key><Size>1</Size></Contents>`).join('') +
    '</ListBucketResult>'
  );
}

/** S3's encoding of a key in a listing with encoding-type=url (space as '+'). */
function s3UrlEncode(key: string): string {
  return encodeURIComponent(key)
    .replace(/%20/g, '+')
    .replace(/%2F/g, '/')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

describe('against servers that encode or paginate in their own ways', () => {
  const keys = [
    'a/with space.png',
    'a/plus+sign.png',
    'a/pct%20lit.png',
    'a/cr\rret.png',
    'a/é.png',
  ];

  test('asks for URL-encoded keys and decodes them exactly once', async () => {
    assert.equal(decodeListedKey('a%2520b+c%2Bd'), 'a%20b c+d');
    const server = await fakeS3((_, res) =>
      res.end(listXml(keys.map(s3UrlEncode), { encoding: 'url' })),
    );
    const s = localStorage(server.endpoint);
    try {
      assert.deepEqual(
        (await s.list(BUCKET, 'a/')).map((o) => o.key),
        keys,
      );
      assert.deepEqual(
        (await s.listPage(BUCKET, 'a/', undefined, 10)).objects.map((o) => o.key),
        keys,
      );
      for (const url of server.requests) assert.equal(url.searchParams.get('encoding-type'), 'url');
    } finally {
      s.close();
      await server.close();
    }
  });

  test('a server that ignores encoding-type gets its keys taken as they are', async () => {
    const plain = keys.filter((k) => !k.includes('\r'));
    const server = await fakeS3((_, res) => res.end(listXml(plain)));
    const s = localStorage(server.endpoint);
    try {
      assert.deepEqual(
        (await s.list(BUCKET, 'a/')).map((o) => o.key),
        plain,
      );
    } finally {
      s.close();
      await server.close();
    }
  });

  test('truncated pages without a token continue after the last key', async () => {
    const all = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
    const server = await fakeS3((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const afterKey = url.searchParams.get('start-after') ?? '';
      const rest = all.filter((k) => k > afterKey);
      const page = rest.slice(0, 10);
      res.end(listXml(page, { truncated: rest.length > 10 }));
    });
    const s = localStorage(server.endpoint);
    try {
      assert.deepEqual(
        (await s.list(BUCKET, 'p/')).map((o) => o.key),
        all,
      );
      assert.equal(server.requests.length, 3);
    } finally {
      s.close();
      await server.close();
    }
  });

  test('a repeated continuation token or an empty truncated page fails instead of looping', async () => {
    const looping = await fakeS3((_, res) =>
      res.end(listXml(['q/1'], { truncated: true, token: 'same' })),
    );
    const empty = await fakeS3((_, res) => res.end(listXml([], { truncated: true })));
    const a = localStorage(looping.endpoint);
    const b = localStorage(empty.endpoint);
    try {
      await assert.rejects(a.list(BUCKET, 'q/'), /repeated a continuation token/);
      assert.equal(looping.requests.length, 2);
      await assert.rejects(b.list(BUCKET, 'q/'), /more objects follow but sent none/);
    } finally {
      a.close();
      b.close();
      await looping.close();
      await empty.close();
    }
  });

  test('a body declared or streamed past maxBytes is refused without reading or allocating it', async () => {
    const huge = await fakeS3((_, res) => {
      // 10 GB declared (more than a Buffer holds): a few bytes, then nothing.
      res.writeHead(200, { 'content-length': String(10e9) });
      res.write('abc');
    });
    const chunked = await fakeS3((_, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const more = () => {
        if (sent++ > 100 || res.destroyed) return res.end();
        res.write(chunk, more);
      };
      more();
    });
    const a = localStorage(huge.endpoint, { maxAttempts: 3 });
    const b = localStorage(chunked.endpoint, { maxAttempts: 3 });
    try {
      const declared = await a.get(BUCKET, 'k').catch((e: unknown) => e);
      assert.ok(declared instanceof ObjectTooLargeError, String(declared));
      assert.equal(declared.size, 10e9);
      const limited = await a.get(BUCKET, 'k', { maxBytes: 1e6 }).catch((e: unknown) => e);
      assert.ok(limited instanceof ObjectTooLargeError, String(limited));
      assert.equal(huge.requests.length, 2, 'a refusal is not retried');

      const streamed = await b.get(BUCKET, 'k', { maxBytes: 200_000 }).catch((e: unknown) => e);
      assert.ok(streamed instanceof ObjectTooLargeError, String(streamed));
      assert.ok(streamed.size > 200_000);
      assert.equal((await b.get(BUCKET, 'k')).length, 101 * 64 * 1024);
    } finally {
      a.close();
      b.close();
      await huge.close();
      await chunked.close();
    }
  });
});
