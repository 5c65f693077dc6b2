/** Stable codes carried by every {@link KMeansError}. */
export type KMeansErrorCode =
  /** An argument has the wrong type, length or range. */
  | 'KMEANS_INVALID_ARGUMENT'
  /** `k` is not an integer >= 1. */
  | 'KMEANS_INVALID_K'
  /** A range of k to choose from is empty, starts below 2, or is not made of integers. */
  | 'KMEANS_INVALID_K_RANGE'
  /** `k` is larger than the number of points offered for seeding. */
  | 'KMEANS_K_EXCEEDS_N'
  /** The points offered for seeding hold fewer distinct rows than `k`. */
  | 'KMEANS_TOO_FEW_DISTINCT'
  /** A point or centroid holds NaN or +/-Infinity. */
  | 'KMEANS_NON_FINITE'
  /** A model was read before it had centroids. */
  | 'KMEANS_NOT_INITIALIZED'
  /** The points, centroids and scratch would not fit in the kernel's 4 GiB memory. */
  | 'KMEANS_OUT_OF_MEMORY';

/** Error thrown by every function of `@imgcluster/kmeans`; `code` is stable, `message` is not. */
export class KMeansError extends Error {
  /** Stable machine-readable reason. */
  readonly code: KMeansErrorCode;

  /** Builds an error with a stable `code` and a human-readable message. */
  constructor(code: KMeansErrorCode, message: string) {
    super(message);
    this.name = 'KMeansError';
    this.code = code;
  }
}

/** Throws KMEANS_INVALID_ARGUMENT unless `value` is an integer >= `min`. */
export function checkInt(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new KMeansError(
      'KMEANS_INVALID_ARGUMENT',
      `${name} must be an integer >= ${min}, got ${value}`,
    );
  }
}

/** Throws KMEANS_INVALID_K unless `k` is an integer >= 1. */
export function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new KMeansError('KMEANS_INVALID_K', `k must be an integer >= 1, got ${k}`);
  }
}

/** Throws KMEANS_INVALID_ARGUMENT unless `data` is a Float32Array of at least rows x dim values. */
export function checkMatrix(name: string, data: unknown, rows: number, dim: number): void {
  if (!(data instanceof Float32Array)) {
    throw new KMeansError('KMEANS_INVALID_ARGUMENT', `${name} must be a Float32Array`);
  }
  if (data.length < rows * dim) {
    throw new KMeansError(
      'KMEANS_INVALID_ARGUMENT',
      `${name} holds ${data.length} values, fewer than ${rows} x ${dim} = ${rows * dim}`,
    );
  }
}
