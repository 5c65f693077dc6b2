import { createHash } from 'node:crypto';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { constants as bufferConstants } from 'node:buffer';
import { crc32 } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import {
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageNetworkError,
  StorageResponseError,
  StorageTimeoutError,
} from './errors.js';

/** Options of an ObjectReader. */
export interface ObjectReaderOptions {
  /** Endpoint URL of an S3-compatible server, as given to the S3 client; undefined means AWS. */
  endpoint?: string;
  /** Requests per read, the first one included. */
  maxAttempts: number;
  /** A request whose socket stays idle this long (ms) fails as a timeout and is retried. */
  timeoutMs: number;
  /** Connecting may take at most this long (ms), capped by timeoutMs. Default 5000. */
  connectTimeoutMs?: number;
}

/** Where the GETs for one bucket go and how they are signed. */
export interface ObjectTarget {
  protocol: 'http:' | 'https:';
  /** Host to connect to (an IPv6 address without brackets). */
  hostname: string;
  port?: number;
  /** The Host header: host and non-default port, as signed. */
  host: string;
  /** Path before the key, ending in '/': '/' for virtual-hosted style, '/bucket/' else. */
  basePath: string;
  signingName: string;
  signingRegion: string;
}

/** SHA-256 of an empty body, the payload hash of every GET. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const MAX_BACKOFF_MS = 20_000;
/** Error bodies are short XML documents; a longer one is cut here. */
const MAX_ERROR_BODY = 64 * 1024;
/** A server clock this far (ms) from ours makes a signature invalid. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Error codes worth a retry whatever their status (S3 says 400 RequestTimeout). */
const TRANSIENT_CODES = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'PriorRequestNotComplete',
]);
const THROTTLING_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
]);
/** Codes of a request signed with a wrong clock; retried once the clock offset is fixed. */
const CLOCK_SKEW_CODES = new Set([
  'RequestTimeTooSkewed',
  'RequestExpired',
  'RequestInTheFuture',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'AuthFailure',
]);

/** An error answer, before it becomes an error. */
interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  requestId?: string;
  /** The server's clock, from the Date header (ms since the epoch). */
  serverTime?: number;
}

type Outcome =
  | { ok: true; body: Buffer }
  | { ok: false; answer: ErrorAnswer }
  /** A 200 whose body is over the limit; the connection was closed without reading it. */
  | { ok: false; tooLarge: number };

/** The largest body a Buffer can hold (reading more would throw, or crash a callback). */
export const MAX_BODY_BYTES = bufferConstants.MAX_LENGTH;

/** The resolved S3 client settings this reader follows. */
type ClientConfig = S3Client['config'];

/**
 * Whole-object reads with one signed GET each, for the many small objects a preprocess job
 * reads. The AWS SDK spends 0.6-1.5 ms of CPU per GetObject on its middleware stack, this
 * path 0.2-0.3 ms (packages/storage/test/bench.ts): it keeps only what a GET needs, the
 * client's own endpoint rules, credentials and SigV4 signer, a keep-alive agent, and the
 * SDK's retry rules.
 *
 * Known limits: response checksums are checked for CRC32, SHA-1 and SHA-256 only (a CRC32C
 * or CRC64NVME checksum is not verified); the SDK's retry quota, which stops retrying when
 * most requests of a client fail, is not kept; buckets whose endpoint needs another signer
 * (S3 Express directory buckets, multi-region access points) are left to the SDK.
 */
export class ObjectReader {
  private readonly config: ClientConfig;
  private readonly signer: SignatureV4;
  private readonly targets = new Map<string, Promise<ObjectTarget | undefined>>();
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private validateChecksums: Promise<boolean> | undefined;

  constructor(
    client: S3Client,
    private readonly options: ObjectReaderOptions,
  ) {
    this.config = client.config;
    this.signer = new SignatureV4({
      service: 's3',
      region: this.config.region,
      // Called per request: the client memoizes and refreshes what its provider chain gives.
      credentials: () => this.config.credentials(),
      sha256: this.config.sha256,
      // S3 signs the path as sent, without the double encoding other services use.
      uriEscapePath: false,
      applyChecksum: true,
    });
    // Idle sockets are dropped before the server's announced keep-alive timeout runs out.
    const agent = { keepAlive: true, maxSockets: 50, timeout: 20_000 };
    this.httpAgent = new HttpAgent(agent);
    this.httpsAgent = new HttpsAgent(agent);
  }

  /**
   * Where a bucket's GETs go, from the client's own endpoint rules; undefined when the bucket
   * needs something this reader does not do (then the SDK must read it).
   */
  target(bucket: string): Promise<ObjectTarget | undefined> {
    let target = this.targets.get(bucket);
    if (!target) {
      target = this.resolveTarget(bucket).catch(() => undefined);
      this.targets.set(bucket, target);
    }
    return target;
  }

  /** The signed GET request for a key, as it goes on the wire. */
  async signedRequest(target: ObjectTarget, key: string, date: Date): Promise<HttpRequest> {
    const headers: Record<string, string> = {
      host: target.host,
      'x-amz-content-sha256': EMPTY_SHA256,
    };
    if (await this.checksumsWanted()) headers['x-amz-checksum-mode'] = 'ENABLED';
    const request: HttpRequest = {
      method: 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      path: target.basePath + encodeKey(key),
      query: {},
      headers,
    };
    return this.signer.sign(request, {
      signingDate: date,
      signingRegion: target.signingRegion,
      signingService: target.signingName,
    }) as Promise<HttpRequest>;
  }

  /**
   * Reads a whole object. Network errors, timeouts, 5xx, 429 and throttling answers are
   * retried with jittered exponential backoff, up to maxAttempts requests; a 404 throws
   * ObjectNotFoundError, a body over `maxBytes` ObjectTooLargeError (its connection closed,
   * the body unread), any other answer a StorageResponseError at once.
   */
  async read(
    target: ObjectTarget,
    bucket: string,
    key: string,
    maxBytes = MAX_BODY_BYTES,
  ): Promise<Buffer> {
    const limit = Math.min(maxBytes, MAX_BODY_BYTES);
    for (let attempt = 1; ; attempt++) {
      let retryable: boolean;
      let throttled = false;
      let failure: Error;
      try {
        const request = await this.signedRequest(target, key, this.now());
        const outcome = await this.send(target, request, `s3://${bucket}/${key}`, limit);
        if (outcome.ok) return outcome.body;
        if ('tooLarge' in outcome) {
          throw new ObjectTooLargeError(bucket, key, outcome.tooLarge, limit);
        }

        const { answer } = outcome;
        if (answer.status === 404) throw new ObjectNotFoundError(bucket, key);
        throttled = answer.status === 429 || THROTTLING_CODES.has(answer.code);
        retryable =
          answer.status >= 500 ||
          answer.status === 408 ||
          throttled ||
          TRANSIENT_CODES.has(answer.code) ||
          (CLOCK_SKEW_CODES.has(answer.code) && this.correctClock(answer.serverTime));
        failure = new StorageResponseError(
          bucket,
          key,
          answer.status,
          answer.code,
          answer.message,
          answer.requestId,
          attempt,
        );
      } catch (err) {
        // Only the connection's own failures are retried; signing or credential errors are not.
        retryable = err instanceof StorageTimeoutError || err instanceof StorageNetworkError;
        failure = err as Error;
      }
      if (!retryable || attempt >= this.options.maxAttempts) throw failure;
      await sleep(backoffMs(attempt, throttled));
    }
  }

  /** Closes the pooled sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async resolveTarget(bucket: string): Promise<ObjectTarget | undefined> {
    const c = this.config;
    // The same parameters the client's endpoint rules get for GetObject (the key plays no part).
    const endpoint = await c.endpointProvider({
      Bucket: bucket,
      Region: await setting(c.region),
      UseFIPS: await setting(c.useFipsEndpoint),
      UseDualStack: await setting(c.useDualstackEndpoint),
      ForcePathStyle: await setting(c.forcePathStyle),
      Accelerate: await setting(c.useAccelerateEndpoint),
      UseGlobalEndpoint: await setting(c.useGlobalEndpoint),
      DisableMultiRegionAccessPoints: await setting(c.disableMultiregionAccessPoints),
      UseArnRegion: await setting(c.useArnRegion),
      DisableS3ExpressSessionAuth: await setting(c.disableS3ExpressSessionAuth),
      Endpoint: this.options.endpoint,
    });
    const scheme = endpoint.properties?.authSchemes?.[0] as
      { name?: string; signingName?: string; signingRegion?: string } | undefined;
    const url = endpoint.url;
    if (scheme?.name !== 'sigv4' || !scheme.signingRegion) return undefined;
    if (Object.keys(endpoint.headers ?? {}).length > 0 || url.search) return undefined;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : undefined,
      host: url.host,
      basePath: url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`,
      signingName: scheme.signingName ?? 's3',
      signingRegion: scheme.signingRegion,
    };
  }

  /** The SDK asks for response checksums only with responseChecksumValidation WHEN_SUPPORTED. */
  private checksumsWanted(): Promise<boolean> {
    this.validateChecksums ??= this.config
      .responseChecksumValidation()
      .then((mode) => mode === 'WHEN_SUPPORTED');
    return this.validateChecksums;
  }

  /** Our clock corrected by the offset the client keeps (shared with the SDK's requests). */
  private now(): Date {
    return new Date(Date.now() + (this.config.systemClockOffset ?? 0));
  }

  /** Adopts the server's clock when ours is off by more than S3 allows; true when it was. */
  private correctClock(serverTime: number | undefined): boolean {
    if (serverTime === undefined || Number.isNaN(serverTime)) return false;
    if (Math.abs(serverTime - this.now().getTime()) < MAX_CLOCK_SKEW_MS) return false;
    this.config.systemClockOffset = serverTime - Date.now();
    return true;
  }

  /**
   * One request: the body on 200 (at most `maxBytes`), the error answer otherwise (its body
   * read to the end); throws on transport failure. A response is either read to its end or
   * its connection destroyed, so no socket stays taken by an unread body.
   */
  private send(
    target: ObjectTarget,
    signed: HttpRequest,
    what: string,
    maxBytes: number,
  ): Promise<Outcome> {
    const https = target.protocol === 'https:';
    const { timeoutMs } = this.options;
    const connectMs = Math.min(this.options.connectTimeoutMs ?? 5000, timeoutMs);
    const checksums = signed.headers['x-amz-checksum-mode'] === 'ENABLED';

    return new Promise<Outcome>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };

      const req = (https ? httpsRequest : httpRequest)(
        {
          agent: https ? this.httpsAgent : this.httpAgent,
          hostname: target.hostname,
          port: target.port,
          method: 'GET',
          path: signed.path,
          headers: signed.headers,
        },
        (res) => {
          res.on('error', (err) =>
            fail(new StorageNetworkError(`GET ${what}: ${err.message}`, err)),
          );
          if (res.statusCode === 200) {
            const declared = declaredLength(res);
            if (declared !== undefined && declared > maxBytes) {
              // Not worth draining: the connection goes, and with it the body.
              settle({ ok: false, tooLarge: declared });
              res.destroy();
              req.destroy();
              return;
            }
            readBody(res, what, checksums, maxBytes).then(
              (body) => settle({ ok: true, body }),
              (err: Error) => {
                if (err instanceof BodyTooLarge) settle({ ok: false, tooLarge: err.received });
                else fail(err);
                res.destroy();
                req.destroy();
              },
            );
          } else {
            readErrorAnswer(res).then((answer) => settle({ ok: false, answer }), fail);
          }
        },
      );
      req.setTimeout(timeoutMs, () =>
        fail(new StorageTimeoutError(`GET ${what}: no data for ${timeoutMs} ms`)),
      );
      req.on('error', (err) => fail(new StorageNetworkError(`GET ${what}: ${err.message}`, err)));
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(
          () => fail(new StorageTimeoutError(`GET ${what}: not connected after ${connectMs} ms`)),
          connectMs,
        );
        socket.once(https ? 'secureConnect' : 'connect', () => clearTimeout(timer));
        req.once('close', () => clearTimeout(timer));
      });
      req.end();
    });
  }
}

/**
 * A key as S3 expects it in the path: each '/'-separated segment percent-encoded as UTF-8,
 * everything but A-Z a-z 0-9 - _ . ~ escaped, the '/' kept. SigV4 for S3 signs this path
 * as it is, so the same string goes on the wire and into the signature.
 */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

/** The Content-Length of a response, when it has a valid one. */
function declaredLength(res: IncomingMessage): number | undefined {
  const declared = res.headers['content-length'];
  if (declared === undefined || !/^\d+$/.test(declared)) return undefined;
  return Number(declared);
}

/** A body without a declared length grew past the limit while it was read. */
class BodyTooLarge extends Error {
  constructor(readonly received: number) {
    super(`body over ${received} bytes`);
  }
}

/**
 * The whole 200 body, its length and (when asked for and sent) its checksum checked. The
 * caller has checked a declared length against `maxBytes`; an undeclared one is counted.
 */
function readBody(
  res: IncomingMessage,
  what: string,
  checksums: boolean,
  maxBytes: number,
): Promise<Buffer> {
  const expected = declaredLength(res);
  // With the length known, chunks go straight into one buffer: no second copy of big objects.
  const whole = expected === undefined ? undefined : Buffer.allocUnsafe(expected);
  const chunks: Buffer[] = [];
  let received = 0;

  return new Promise<Buffer>((resolve, reject) => {
    res.on('data', (chunk: Buffer) => {
      if (!whole && received + chunk.length > maxBytes) {
        reject(new BodyTooLarge(received + chunk.length));
        return;
      }
      if (whole) {
        if (received + chunk.length > whole.length) {
          reject(new StorageNetworkError(`GET ${what}: body longer than ${expected} bytes`));
          res.destroy();
          return;
        }
        chunk.copy(whole, received);
      } else {
        chunks.push(chunk);
      }
      received += chunk.length;
    });
    res.on('end', () => {
      if (whole && received !== whole.length) {
        reject(new StorageNetworkError(`GET ${what}: body ended at ${received} of ${expected}`));
        return;
      }
      const body = whole ?? Buffer.concat(chunks, received);
      const mismatch = checksums ? checksumMismatch(res.headers, body) : undefined;
      if (mismatch) {
        const err = new StorageNetworkError(`GET ${what}: ${mismatch}`);
        reject(Object.assign(err, { code: 'ECHECKSUM' }));
        return;
      }
      resolve(body);
    });
  });
}

/** Status, S3 error code and message of an error answer; the body is read to its end. */
function readErrorAnswer(res: IncomingMessage): Promise<ErrorAnswer> {
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise<ErrorAnswer>((resolve) => {
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_ERROR_BODY) chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', () => {
      const xml = Buffer.concat(chunks).toString('utf8');
      const status = res.statusCode ?? 0;
      const date = res.headers.date;
      const requestId = xmlField(xml, 'RequestId') ?? header(res.headers, 'x-amz-request-id');
      resolve({
        status,
        code: xmlField(xml, 'Code') ?? `Http${status}`,
        message: xmlField(xml, 'Message') ?? '',
        requestId,
        serverTime: date ? Date.parse(date) : undefined,
      });
    });
  });
}

/** The text of the first <name> element of an S3 error document. */
function xmlField(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match ? unescapeXml(match[1]) : undefined;
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp);/g, (_, entity: string) => {
    const chars: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
    return chars[entity];
  });
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Checksums this reader can verify, in the order tried; S3 sends one per object. */
const CHECKSUMS: [string, (body: Buffer) => string][] = [
  ['x-amz-checksum-crc32', (body) => uint32Base64(crc32(body))],
  ['x-amz-checksum-sha256', (body) => createHash('sha256').update(body).digest('base64')],
  ['x-amz-checksum-sha1', (body) => createHash('sha1').update(body).digest('base64')],
];

/**
 * Why a body does not match the full-object checksum S3 sent with it; undefined when it
 * matches or there is none to check (a multipart object's composite checksum, ending in
 * '-<parts>', is not a checksum of the body).
 */
export function checksumMismatch(headers: IncomingHttpHeaders, body: Buffer): string | undefined {
  for (const [name, compute] of CHECKSUMS) {
    const expected = header(headers, name);
    if (!expected || expected.includes('-')) continue;
    const actual = compute(body);
    return actual === expected ? undefined : `${name} is ${expected}, body has ${actual}`;
  }
  return undefined;
}

function uint32Base64(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes.toString('base64');
}

/** A client setting, kept either as a value or as a provider of one. */
async function setting<T>(value: T | (() => Promise<T>) | undefined): Promise<T | undefined> {
  return typeof value === 'function' ? (value as () => Promise<T>)() : value;
}

/** Full-jitter exponential backoff, as the SDK's standard retry strategy waits. */
function backoffMs(attempt: number, throttled: boolean): number {
  const base = throttled ? 500 : 100;
  return Math.random() * Math.min(MAX_BACKOFF_MS, base * 2 ** attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
