/**
 * Whole-object reads: the signed GET path against a local S3 server (round trips of odd
 * keys, a missing object), behind a fault proxy (503, reset, hang, 403), against small
 * local servers that misbehave on purpose (short body, bad checksum, skewed clock), and the
 * request it signs compared with the SDK's own request and with SigV4 worked out here.
 * Every server listens on 127.0.0.1 and every client has explicit credentials.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import {
  LOCAL_S3_CREDENTIALS,
  startFaultProxy,
  startS3,
  type FaultProxy,
  type LocalS3,
} from '@imgcluster/devstack';
import {
  isPermanentStorageError,
  ObjectNotFoundError,
  Storage,
  StorageNetworkError,
  StorageResponseError,
  StorageTimeoutError,
} from '../src/index.js';
import { checksumMismatch, encodeKey, ObjectReader } from '../src/object-reader.js';

const BUCKET = 'get-test';
const CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret/for+tests' };

/** Keys the local S3 server stores as given (it cannot store keys with empty segments). */
const ODD_KEYS = [
  'plain.png',
  'with space/two  spaces.png',
  'plus+sign.png',
  'percent%20literal%.png',
  'unicode/é漢字🙂.png',
  "quote's (paren) [bracket] *star*!.png",
  'tilde~under_dash-.png',
  'amp&eq=q?hash#.png',
  'semi;colon,comma:at@$.png',
  'back\\slash^`{}|<>".png',
];
/** Keys the SDK serializes too, compared without a server. */
const PATH_KEYS = [...ODD_KEYS, 'a//double.png', '/leading.png', 'trailing/', 'dots/../x/./y'];

let work: string;
let s3: LocalS3;
let proxy: FaultProxy;
let seed: Storage;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'imgcluster-storage-get-'));
  s3 = await startS3(join(work, 's3'));
  proxy = await startFaultProxy(s3.endpoint);
  seed = localStorage(s3.endpoint);
  await seed.ensureBucket(BUCKET);
  for (const key of ODD_KEYS) await seed.put(BUCKET, key, body(key));
});

after(async () => {
  seed?.close();
  await proxy?.close();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function localStorage(endpoint: string, extra: { maxAttempts?: number; timeoutMs?: number } = {}) {
  return new Storage({
    endpoint,
    region: 'us-east-1',
    ...LOCAL_S3_CREDENTIALS,
    forcePathStyle: true,
    ...extra,
  });
}

function body(key: string): Buffer {
  return Buffer.from(`bytes of ${key}\n`.repeat(1 + (key.length % 7)));
}

/** Runs `fn` with a Storage through the fault proxy, then clears faults and closes it. */
async function throughProxy<T>(
  extra: { maxAttempts?: number; timeoutMs?: number },
  fn: (storage: Storage) => Promise<T>,
): Promise<T> {
  const storage = localStorage(proxy.endpoint, extra);
  try {
    return await fn(storage);
  } finally {
    proxy.clear();
    storage.close();
  }
}

describe('against the local S3 server', () => {
  test('odd keys round trip, byte for byte, the same as through the SDK', async () => {
    const storage = localStorage(s3.endpoint);
    try {
      for (const key of ODD_KEYS) {
        assert.deepEqual(await storage.get(BUCKET, key), body(key), key);
      }
      const big = Buffer.alloc(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
      await storage.put(BUCKET, 'big/object.bin', big);
      assert.ok((await storage.get(BUCKET, 'big/object.bin')).equals(big));
      const middle = await storage.getRange(BUCKET, 'big/object.bin', 1000, 1999);
      assert.ok(middle.equals(big.subarray(1000, 2000)));
      const parallel = await Promise.all(ODD_KEYS.map((key) => storage.get(BUCKET, key)));
      parallel.forEach((b, i) => assert.deepEqual(b, body(ODD_KEYS[i])));
    } finally {
      storage.close();
    }
  });

  test('a missing key throws ObjectNotFoundError, a permanent error', async () => {
    const storage = localStorage(s3.endpoint);
    try {
      const err = await storage.get(BUCKET, 'no such/key.png').catch((e: unknown) => e);
      assert.ok(err instanceof ObjectNotFoundError, String(err));
      assert.equal(err.key, 'no such/key.png');
      assert.ok(isPermanentStorageError(err));
      assert.equal(await storage.getJsonIfExists(BUCKET, 'no such/key.json'), undefined);
    } finally {
      storage.close();
    }
  });
});

describe('behind the fault proxy', () => {
  const key = ODD_KEYS[1];

  test('503 answers are retried until the object comes', async () => {
    await throughProxy({ maxAttempts: 8 }, async (storage) => {
      const before = { ...proxy.stats };
      proxy.inject({ kind: 'error', forMs: 150 });
      assert.deepEqual(await storage.get(BUCKET, key), body(key));
      assert.ok(proxy.stats.failed > before.failed, 'no request failed');
      assert.equal(proxy.stats.requests - before.requests, proxy.stats.failed - before.failed + 1);
    });
  });

  test('503 on every request fails after maxAttempts requests, as a transient error', async () => {
    await throughProxy({ maxAttempts: 3 }, async (storage) => {
      const before = proxy.stats.requests;
      proxy.inject({ kind: 'error' });
      const err = await storage.get(BUCKET, key).catch((e: unknown) => e);
      assert.ok(err instanceof StorageResponseError, String(err));
      assert.equal(err.name, 'ServiceUnavailable');
      assert.equal(err.$metadata.httpStatusCode, 503);
      assert.equal(err.$metadata.attempts, 3);
      assert.match(err.message, /503 ServiceUnavailable/);
      assert.equal(isPermanentStorageError(err), false);
      assert.equal(proxy.stats.requests - before, 3);
    });
  });

  test('a reset connection is retried', async () => {
    await throughProxy({ maxAttempts: 8 }, async (storage) => {
      const before = proxy.stats.failed;
      proxy.inject({ kind: 'reset', forMs: 150 });
      assert.deepEqual(await storage.get(BUCKET, key), body(key));
      assert.ok(proxy.stats.failed > before);
    });
  });

  test('403 AccessDenied fails at once, as a permanent error naming status and code', async () => {
    await throughProxy({ maxAttempts: 5 }, async (storage) => {
      const before = proxy.stats.requests;
      proxy.inject({ kind: 'deny' });
      const err = await storage.get(BUCKET, key).catch((e: unknown) => e);
      assert.ok(err instanceof StorageResponseError, String(err));
      assert.equal(err.name, 'AccessDenied');
      assert.equal(err.$metadata.httpStatusCode, 403);
      assert.match(err.message, /403 AccessDenied: injected fault/);
      assert.ok(isPermanentStorageError(err));
      assert.equal(proxy.stats.requests - before, 1);
    });
  });

  test('a hung request times out after timeoutMs and is retried', async () => {
    await throughProxy({ maxAttempts: 4, timeoutMs: 300 }, async (storage) => {
      const before = proxy.stats.failed;
      proxy.inject({ kind: 'hang', forMs: 200 });
      const t0 = performance.now();
      assert.deepEqual(await storage.get(BUCKET, key), body(key));
      assert.ok(performance.now() - t0 >= 290, 'answered before the timeout');
      assert.ok(proxy.stats.failed > before);
    });
  });

  test('a request that hangs every time ends in a transient timeout error', async () => {
    await throughProxy({ maxAttempts: 2, timeoutMs: 200 }, async (storage) => {
      const before = proxy.stats.requests;
      proxy.inject({ kind: 'hang' });
      const err = await storage.get(BUCKET, key).catch((e: unknown) => e);
      assert.ok(err instanceof StorageTimeoutError, String(err));
      assert.equal(err.name, 'TimeoutError');
      assert.equal(isPermanentStorageError(err), false);
      assert.equal(proxy.stats.requests - before, 2);
    });
  });
});

/** A server on 127.0.0.1 answering each request with the next of `handlers` (the last repeats). */
async function scriptedServer(
  handlers: ((req: IncomingMessage, res: ServerResponse) => void)[],
): Promise<{ endpoint: string; requests: IncomingMessage[]; close(): Promise<void> }> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req);
    handlers[Math.min(requests.length, handlers.length) - 1](req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function readerFor(endpoint: string, config: Partial<S3ClientConfig> = {}, maxAttempts = 3) {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    ...config,
  });
  const reader = new ObjectReader(client, { endpoint, maxAttempts, timeoutMs: 2000 });
  return { client, reader };
}

function crc32Base64(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(data));
  return b.toString('base64');
}

describe('against servers that misbehave', () => {
  const payload = Buffer.from('0123456789abcdef');

  test('a body shorter than its Content-Length is retried, then a network error', async () => {
    const short = (_: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-length': String(payload.length) });
      res.write(payload.subarray(0, 5));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const whole = (_: IncomingMessage, res: ServerResponse) => res.end(payload);
    const server = await scriptedServer([short, whole]);
    const { reader, client } = readerFor(server.endpoint);
    try {
      const target = (await reader.target(BUCKET))!;
      assert.deepEqual(await reader.read(target, BUCKET, 'k'), payload);
      assert.equal(server.requests.length, 2);

      const failing = await scriptedServer([short]);
      const once = readerFor(failing.endpoint, {}, 2);
      const err = await once.reader
        .read((await once.reader.target(BUCKET))!, BUCKET, 'k')
        .catch((e: unknown) => e);
      assert.ok(err instanceof StorageNetworkError, String(err));
      assert.equal(isPermanentStorageError(err), false);
      assert.equal(failing.requests.length, 2);
      once.reader.close();
      once.client.destroy();
      await failing.close();
    } finally {
      reader.close();
      client.destroy();
      await server.close();
    }
  });

  test('with checksum validation on, a body that does not match its CRC32 is refused', async () => {
    const good = crc32Base64(payload);
    const bad = crc32Base64(Buffer.from('something else'));
    const answer = (crc: string) => (req: IncomingMessage, res: ServerResponse) => {
      assert.equal(req.headers['x-amz-checksum-mode'], 'ENABLED');
      res.writeHead(200, { 'x-amz-checksum-crc32': crc, 'x-amz-checksum-type': 'FULL_OBJECT' });
      res.end(payload);
    };
    const server = await scriptedServer([answer(bad), answer(good)]);
    const { reader, client } = readerFor(server.endpoint, {
      responseChecksumValidation: 'WHEN_SUPPORTED',
    });
    try {
      const target = (await reader.target(BUCKET))!;
      assert.deepEqual(await reader.read(target, BUCKET, 'k'), payload);
      assert.equal(server.requests.length, 2, 'the mismatching body was not retried');
    } finally {
      reader.close();
      client.destroy();
      await server.close();
    }

    const sha = createHash('sha256').update(payload).digest('base64');
    assert.equal(checksumMismatch({ 'x-amz-checksum-sha256': sha }, payload), undefined);
    assert.match(checksumMismatch({ 'x-amz-checksum-crc32': bad }, payload) ?? '', /crc32/);
    assert.equal(checksumMismatch({ 'x-amz-checksum-crc32': 'AAAA-3' }, payload), undefined);
  });

  test('a Storage on an S3-compatible server asks for no checksums', async () => {
    const server = await scriptedServer([(_, res) => res.end(payload)]);
    const storage = localStorage(server.endpoint);
    try {
      assert.deepEqual(await storage.get(BUCKET, 'k'), payload);
      assert.equal(server.requests[0].headers['x-amz-checksum-mode'], undefined);
    } finally {
      storage.close();
      await server.close();
    }
  });

  test('RequestTimeTooSkewed fixes the clock offset from the Date header and retries', async () => {
    const serverTime = Date.now() + 3_600_000;
    const skewed = (_: IncomingMessage, res: ServerResponse) => {
      res.writeHead(403, { date: new Date(serverTime).toUTCString() });
      res.end('<Error><Code>RequestTimeTooSkewed</Code><Message>skewed</Message></Error>');
    };
    const server = await scriptedServer([skewed, (_, res) => res.end(payload)]);
    const { reader, client } = readerFor(server.endpoint);
    try {
      assert.deepEqual(await reader.read((await reader.target(BUCKET))!, BUCKET, 'k'), payload);
      assert.ok(Math.abs(client.config.systemClockOffset - 3_600_000) < 5000);
      const second = String(server.requests[1].headers['x-amz-date']);
      const sent = Date.parse(
        second.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
      );
      assert.ok(Math.abs(sent - serverTime) < 5000, `signed at ${second}`);
    } finally {
      reader.close();
      client.destroy();
      await server.close();
    }
  });
});

/** The request the SDK itself would send for GetObject, caught before it leaves. */
async function sdkRequest(config: S3ClientConfig, bucket: string, key: string) {
  const client = new S3Client({ credentials: CREDENTIALS, ...config });
  const caught = new Error('caught');
  let request: { hostname: string; port?: number; path: string; protocol: string } | undefined;
  client.middlewareStack.add(
    () => async (args) => {
      request = args.request as typeof request;
      throw caught;
    },
    { step: 'build', priority: 'low' },
  );
  await assert.rejects(client.send(new GetObjectCommand({ Bucket: bucket, Key: key })), caught);
  client.destroy();
  return request!;
}

describe('the request it signs', () => {
  const configs: [string, S3ClientConfig][] = [
    [
      'local path style',
      { region: 'us-east-1', endpoint: 'http://127.0.0.1:9', forcePathStyle: true },
    ],
    [
      'endpoint with a base path',
      { region: 'us-east-1', endpoint: 'http://127.0.0.1:9/s3/', forcePathStyle: true },
    ],
    ['AWS eu-west-1', { region: 'eu-west-1' }],
    ['AWS us-east-1', { region: 'us-east-1' }],
    ['AWS path style', { region: 'eu-west-1', forcePathStyle: true }],
    ['AWS China', { region: 'cn-north-1' }],
  ];

  test('goes to the host and path the SDK would use, for every key', async () => {
    for (const [name, config] of configs) {
      const client = new S3Client({ credentials: CREDENTIALS, ...config });
      const endpoint = typeof config.endpoint === 'string' ? config.endpoint : undefined;
      const reader = new ObjectReader(client, { endpoint, maxAttempts: 1, timeoutMs: 1000 });
      for (const bucket of ['my-bucket', 'my.dotted.bucket']) {
        const target = await reader.target(bucket);
        assert.ok(target, `${name}: no target for ${bucket}`);
        for (const key of PATH_KEYS) {
          const ours = await reader.signedRequest(target, key, new Date());
          const sdk = await sdkRequest(config, bucket, key);
          const what = `${name}, ${bucket}, ${JSON.stringify(key)}`;
          assert.equal(ours.protocol, sdk.protocol, what);
          assert.equal(ours.hostname, sdk.hostname, what);
          assert.equal(ours.port, sdk.port, what);
          assert.equal(ours.path, sdk.path, what);
        }
      }
      reader.close();
      client.destroy();
    }
  });

  test('AWS buckets use virtual-hosted style unless the name cannot be a host name', async () => {
    const client = new S3Client({ region: 'eu-west-1', credentials: CREDENTIALS });
    const reader = new ObjectReader(client, { maxAttempts: 1, timeoutMs: 1000 });
    const hosted = (await reader.target('my-bucket'))!;
    assert.equal(hosted.protocol, 'https:');
    assert.equal(hosted.host, 'my-bucket.s3.eu-west-1.amazonaws.com');
    assert.equal(hosted.basePath, '/');
    assert.equal(hosted.signingRegion, 'eu-west-1');
    assert.equal(hosted.signingName, 's3');
    // Dots break the wildcard TLS certificate: such buckets go path style.
    const dotted = (await reader.target('my.bucket'))!;
    assert.equal(dotted.host, 's3.eu-west-1.amazonaws.com');
    assert.equal(dotted.basePath, '/my.bucket/');
    reader.close();
    client.destroy();
  });

  test('keys are encoded segment by segment, leaving only unreserved characters', () => {
    for (const key of PATH_KEYS) {
      const path = encodeKey(key);
      assert.match(path, /^([A-Za-z0-9\-_.~/]|%[0-9A-F]{2})*$/, key);
      assert.equal(path.split('/').map(decodeURIComponent).join('/'), key);
    }
    assert.equal(encodeKey('a b+c%d/é!'), 'a%20b%2Bc%25d/%C3%A9%21');
  });

  test('carries a SigV4 signature that checks out, session token included', async () => {
    const identity = { ...CREDENTIALS, sessionToken: 'token+/=' };
    let calls = 0;
    const client = new S3Client({
      region: 'eu-west-1',
      credentials: async () => {
        calls++;
        return identity;
      },
    });
    const reader = new ObjectReader(client, { maxAttempts: 1, timeoutMs: 1000 });
    const target = (await reader.target('my-bucket'))!;
    const date = new Date('2024-02-29T23:59:58.123Z');
    for (const key of PATH_KEYS) {
      const signed = await reader.signedRequest(target, key, date);
      assert.equal(signed.headers['x-amz-date'], '20240229T235958Z');
      assert.equal(signed.headers['x-amz-security-token'], identity.sessionToken);
      assert.equal(signed.headers.host, 'my-bucket.s3.eu-west-1.amazonaws.com');
      assert.equal(
        signed.headers.authorization,
        expectedAuthorization(signed.path, signed.headers, identity, 'eu-west-1', 's3'),
        key,
      );
    }
    assert.ok(calls >= 1, 'the client credential provider was not asked');
    reader.close();
    client.destroy();
  });
});

/** AWS Signature Version 4 of a bodiless GET, worked out from the specification. */
function expectedAuthorization(
  path: string,
  headers: Record<string, string>,
  identity: { accessKeyId: string; secretAccessKey: string },
  region: string,
  service: string,
): string {
  const longDate = headers['x-amz-date'];
  const shortDate = longDate.slice(0, 8);
  const names = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .filter((h) => h !== 'authorization')
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n].trim().replace(/\s+/g, ' ')}\n`);
  const signedHeaders = names.join(';');
  const emptyHash = createHash('sha256').update('').digest('hex');
  const canonical = ['GET', path, '', canonicalHeaders.join(''), signedHeaders, emptyHash];
  const scope = `${shortDate}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    longDate,
    scope,
    createHash('sha256').update(canonical.join('\n')).digest('hex'),
  ].join('\n');
  const hmac = (k: string | Buffer, data: string) => createHmac('sha256', k).update(data).digest();
  let signingKey = hmac(`AWS4${identity.secretAccessKey}`, shortDate);
  for (const part of [region, service, 'aws4_request']) signingKey = hmac(signingKey, part);
  const signature = createHmac('sha256', signingKey).update(stringToSign).digest('hex');
  return (
    `AWS4-HMAC-SHA256 Credential=${identity.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`
  );
}
