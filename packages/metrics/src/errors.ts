/** Stable codes carried by every {@link MetricsError}. */
export type MetricsErrorCode =
  /** The two labellings have different lengths. */
  | 'METRICS_LENGTH_MISMATCH'
  /** The labellings are empty. */
  | 'METRICS_EMPTY'
  /** A label is NaN or +/-Infinity. */
  | 'METRICS_INVALID_LABEL'
  /** A cost matrix is ragged or holds a non-finite value. */
  | 'METRICS_INVALID_COST';

/** Error thrown by `@imgcluster/metrics`; `code` is stable, `message` is not. */
export class MetricsError extends Error {
  /** Stable machine-readable reason. */
  readonly code: MetricsErrorCode;

  /** Builds an error with a stable `code` and a human-readable message. */
  constructor(code: MetricsErrorCode, message: string) {
    super(message);
    this.name = 'MetricsError';
    this.code = code;
  }
}
