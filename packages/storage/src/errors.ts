/** The object does not exist. */
export class ObjectNotFoundError extends Error {
  readonly code = 'OBJECT_NOT_FOUND';
  constructor(
    readonly bucket: string,
    readonly key: string,
  ) {
    super(`object not found: s3://${bucket}/${key}`);
  }
}

/** What object storage said about a failed request, as the AWS SDK reports it too. */
export interface ResponseMetadata {
  httpStatusCode: number;
  requestId?: string;
  /** Requests sent, retries included. */
  attempts: number;
}

/**
 * Object storage answered with an error status. `name` is the S3 error code (`AccessDenied`,
 * `SlowDown`, ...) and `$metadata.httpStatusCode` the status, the same fields the AWS SDK's
 * errors carry, so callers classify both alike.
 */
export class StorageResponseError extends Error {
  readonly code = 'STORAGE_ERROR_RESPONSE';
  readonly $fault: 'client' | 'server';
  readonly $metadata: ResponseMetadata;

  constructor(
    readonly bucket: string,
    readonly key: string,
    status: number,
    /** The S3 error code; `Http<status>` when the answer had none. */
    readonly s3Code: string,
    s3Message: string,
    requestId: string | undefined,
    attempts: number,
  ) {
    super(`GET s3://${bucket}/${key}: ${status} ${s3Code}${s3Message ? `: ${s3Message}` : ''}`);
    this.name = s3Code;
    this.$fault = status >= 500 ? 'server' : 'client';
    this.$metadata = { httpStatusCode: status, requestId, attempts };
  }
}

/** A request whose connection stayed idle too long, or that could not connect in time. */
export class StorageTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** The connection broke or misbehaved (reset, refused, body cut short): worth a retry. */
export class StorageNetworkError extends Error {
  readonly code: string;
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'StorageNetworkError';
    this.code = (cause as { code?: string } | undefined)?.code ?? 'ENETWORK';
  }
}

/**
 * The object is larger than the reader accepts (its declared length, or the bytes received
 * when none was declared). Its body is not read: the connection is closed instead. Reading it
 * again gives the same answer, so it is a permanent error.
 */
export class ObjectTooLargeError extends Error {
  readonly code = 'OBJECT_TOO_LARGE';
  constructor(
    readonly bucket: string,
    readonly key: string,
    /** Its size in bytes as declared, or at least this many when it was not. */
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`object s3://${bucket}/${key} is ${size} bytes, over the limit of ${maxBytes} bytes`);
  }
}
