import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import {
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageNetworkError,
  StorageTimeoutError,
} from './errors.js';
import { MAX_BODY_BYTES, ObjectReader } from './object-reader.js';

export {
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageNetworkError,
  StorageResponseError,
  StorageTimeoutError,
  type ResponseMetadata,
} from './errors.js';

/** Connection settings, usually taken from the service's environment. */
export interface StorageConfig {
  /** Endpoint URL of an S3-compatible server; undefined means AWS S3. */
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /** Attempts per request, the first included, with exponential backoff between. Default 5. */
  maxAttempts?: number;
  /** A request whose socket is idle this long (ms) fails as a timeout, retried. Default 30000. */
  timeoutMs?: number;
}

/** Attempts at reading a whole body when the connection breaks mid-transfer. */
const BODY_ATTEMPTS = 3;
/** Connecting to object storage may take this long (ms). */
const CONNECT_TIMEOUT_MS = 5000;

/** One listed object. */
export interface ListedObject {
  key: string;
  size: number;
}

/** Options of Storage.get. */
export interface GetOptions {
  /**
   * Refuse objects larger than this many bytes with ObjectTooLargeError, without reading
   * their bodies (default: the most a Buffer holds, about 4 GiB).
   */
  maxBytes?: number;
}

/**
 * The only S3 client of the project. Bodies are read to the end on every path, errors
 * included, so sockets go back to the pool.
 */
export class Storage {
  readonly client: S3Client;
  /** Whole-object GETs without the SDK's per-request overhead (see ObjectReader). */
  private readonly reader: ObjectReader;

  constructor(config: StorageConfig) {
    const maxAttempts = config.maxAttempts ?? 5;
    const timeoutMs = config.timeoutMs ?? 30_000;
    const options: S3ClientConfig = {
      region: config.region,
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle,
      maxAttempts,
      requestHandler: {
        connectionTimeout: CONNECT_TIMEOUT_MS,
        socketTimeout: timeoutMs,
      },
    };
    if (config.accessKeyId && config.secretAccessKey) {
      options.credentials = {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
      };
    }
    if (config.endpoint) {
      // Non-AWS servers mishandle the SDK's default aws-chunked checksummed uploads.
      options.requestChecksumCalculation = 'WHEN_REQUIRED';
      options.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    this.client = new S3Client(options);
    this.reader = new ObjectReader(this.client, {
      endpoint: config.endpoint,
      maxAttempts,
      timeoutMs,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
  }

  /**
   * Creates the bucket when it does not exist yet. A bucket that exists but is another
   * account's (S3 names are global), or that this account may not see, is an error naming
   * the bucket, not a crash on a later write.
   */
  async ensureBucket(bucket: string): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 403) {
        throw new Error(`bucket ${bucket} exists but these credentials may not use it (403)`);
      }
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      const name = (err as { name?: string }).name ?? '';
      if (name === 'BucketAlreadyExists') {
        throw new Error(`bucket ${bucket} belongs to another account: choose another name`);
      }
      // Created meanwhile by another service of this deployment.
      if (name !== 'BucketAlreadyOwnedByYou') throw err;
    }
  }

  /** Writes one object (the whole body at once). */
  async put(bucket: string, key: string, body: Uint8Array | string, contentType?: string) {
    await this.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType ?? guessContentType(key),
      }),
    );
  }

  /** Writes a JSON document. */
  async putJson(bucket: string, key: string, value: unknown): Promise<void> {
    await this.put(bucket, key, JSON.stringify(value), 'application/json');
  }

  /**
   * Reads a whole object into memory with one signed GET (retried on network errors,
   * timeouts, 5xx and throttling, maxAttempts requests in all, a broken body included).
   * Throws ObjectNotFoundError on 404, ObjectTooLargeError for an object over
   * `options.maxBytes` (its body is not read) and StorageResponseError on any other error
   * answer.
   */
  async get(bucket: string, key: string, options: GetOptions = {}): Promise<Buffer> {
    const maxBytes = Math.min(options.maxBytes ?? MAX_BODY_BYTES, MAX_BODY_BYTES);
    const target = await this.reader.target(bucket);
    if (target) return this.reader.read(target, bucket, key, maxBytes);
    return this.getThroughSdk(bucket, key, maxBytes);
  }

  /**
   * The SDK's read, for buckets the lean path does not serve. The SDK retries a request that
   * fails before its body starts; a connection that breaks during the body is retried here.
   */
  private async getThroughSdk(bucket: string, key: string, maxBytes: number): Promise<Buffer> {
    for (let attempt = 1; ; attempt++) {
      const { body, size } = await this.getStream(bucket, key);
      try {
        if (size !== undefined && size > maxBytes) {
          throw new ObjectTooLargeError(bucket, key, size, maxBytes);
        }
        const chunks: Buffer[] = [];
        let received = 0;
        for await (const chunk of body) {
          received += (chunk as Buffer).length;
          if (received > maxBytes) throw new ObjectTooLargeError(bucket, key, received, maxBytes);
          chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks);
      } catch (err) {
        // Unread bytes would hold the socket: the stream (and its connection) goes.
        body.destroy();
        if (err instanceof ObjectTooLargeError || attempt >= BODY_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      }
    }
  }

  /** Reads bytes `start` to `end` (inclusive) of an object. */
  async getRange(bucket: string, key: string, start: number, end: number): Promise<Buffer> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}` }),
      );
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(bucket, key);
      throw err;
    }
  }

  /** Reads and parses a JSON object. */
  async getJson<T>(bucket: string, key: string): Promise<T> {
    return JSON.parse((await this.get(bucket, key)).toString('utf8')) as T;
  }

  /** Reads a JSON object, or undefined when it does not exist. */
  async getJsonIfExists<T>(bucket: string, key: string): Promise<T | undefined> {
    try {
      return await this.getJson<T>(bucket, key);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  /** Opens an object as a stream; the caller must consume or destroy it. */
  async getStream(
    bucket: string,
    key: string,
  ): Promise<{ body: Readable; size?: number; contentType?: string }> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return {
        body: out.Body as Readable,
        size: out.ContentLength,
        contentType: out.ContentType,
      };
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(bucket, key);
      throw err;
    }
  }

  /** True when the object exists. */
  async exists(bucket: string, key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Deletes objects; a key that does not exist is not an error. */
  async delete(bucket: string, keys: string[]): Promise<void> {
    for (const key of keys) {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }
  }

  /**
   * One page of at most `limit` objects under a prefix, after the key `after` (exclusive),
   * in key order; `truncated` says whether more follow.
   */
  async listPage(
    bucket: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ objects: ListedObject[]; truncated: boolean }> {
    const page = await this.client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        StartAfter: after,
        MaxKeys: limit,
        EncodingType: 'url',
      }),
    );
    return { objects: listedObjects(page), truncated: page.IsTruncated === true };
  }

  /**
   * Lists every object under a prefix, following pagination to the end. Keys come back
   * exactly as stored: the listing is asked for URL-encoded keys (XML cannot carry every
   * character a key may hold, and parsers turn a carriage return into a line feed), which are
   * decoded once, and only when the server says it encoded them. A page that says more follow
   * but gives no continuation token is continued after its last key; a server that repeats a
   * token, or says more follow after an empty page, is an error rather than an endless loop or
   * a silently short listing.
   */
  async list(bucket: string, prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    let after: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ContinuationToken: token,
          StartAfter: token === undefined ? after : undefined,
          EncodingType: 'url',
        }),
      );
      const objects = listedObjects(page);
      out.push(...objects);
      if (page.IsTruncated !== true) return out;
      const where = `listing s3://${bucket}/${prefix}`;
      if (page.NextContinuationToken) {
        if (seen.has(page.NextContinuationToken)) {
          throw new Error(`${where}: the server repeated a continuation token`);
        }
        seen.add(page.NextContinuationToken);
        token = page.NextContinuationToken;
      } else {
        if (objects.length === 0) {
          throw new Error(`${where}: the server says more objects follow but sent none`);
        }
        token = undefined;
        after = objects[objects.length - 1].key;
      }
    }
  }

  /** Releases the client's sockets. */
  close(): void {
    this.reader.close();
    this.client.destroy();
  }
}

/**
 * True for an answer object storage will give again on retry: a 4xx other than timeout
 * and throttling (access denied, no such bucket, bad request), a missing object or one over
 * the size limit.
 * Network errors, timeouts and 5xx are transient. Works for the SDK's errors and for
 * StorageResponseError alike: both carry the status in `$metadata.httpStatusCode`.
 */
export function isPermanentStorageError(err: unknown): boolean {
  if (err instanceof ObjectNotFoundError || err instanceof ObjectTooLargeError) return true;
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  if (status === undefined || status < 400 || status >= 500) return false;
  return status !== 408 && status !== 429;
}

/** Connection failures that mean object storage cannot be reached right now. */
const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/**
 * True when a request failed because object storage is unreachable or failing (refused or
 * broken connections, timeouts, 5xx and throttling answers), not because of what was asked:
 * an API answers these with 503 rather than as its own fault.
 */
export function isStorageOutage(err: unknown): boolean {
  if (err instanceof StorageTimeoutError || err instanceof StorageNetworkError) return true;
  const e = err as {
    code?: string;
    name?: string;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
  };
  if (e === null || typeof e !== 'object') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if ((e.code && OUTAGE_CODES.has(e.code)) || e.name === 'TimeoutError') return true;
  return e.cause !== undefined && e.cause !== err && isStorageOutage(e.cause);
}

/** The objects of a listing page, their keys URL-decoded when the server encoded them. */
function listedObjects(page: {
  Contents?: { Key?: string; Size?: number }[];
  EncodingType?: string;
}): ListedObject[] {
  const encoded = page.EncodingType?.toLowerCase() === 'url';
  const objects: ListedObject[] = [];
  for (const item of page.Contents ?? []) {
    if (item.Key === undefined) continue;
    objects.push({ key: encoded ? decodeListedKey(item.Key) : item.Key, size: item.Size ?? 0 });
  }
  return objects;
}

/**
 * A key from a listing with `encoding-type=url`, decoded once. S3 encodes a space as '+'
 * (a '+' of the key as %2B), as HTML forms do; botocore decodes the same way.
 */
export function decodeListedKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  png: 'image/png',
  html: 'text/html; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  bin: 'application/octet-stream',
};

/** Content type from a key's extension; octet-stream when unknown. */
export function guessContentType(key: string): string {
  const ext = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/** Builds a Storage from the parsed environment of a service. */
export function storageFromEnv(env: {
  S3_ENDPOINT?: string;
  S3_REGION: string;
  S3_ACCESS_KEY_ID?: string;
  S3_SECRET_ACCESS_KEY?: string;
  S3_FORCE_PATH_STYLE: boolean;
  S3_MAX_ATTEMPTS?: number;
  S3_TIMEOUT_MS?: number;
}): Storage {
  return new Storage({
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    maxAttempts: env.S3_MAX_ATTEMPTS,
    timeoutMs: env.S3_TIMEOUT_MS,
  });
}
