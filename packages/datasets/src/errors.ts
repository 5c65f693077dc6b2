/** Stable codes of DatasetError. */
export type DatasetErrorCode =
  | 'dataset_missing'
  | 'dataset_corrupt'
  | 'dataset_bad_magic'
  | 'dataset_bad_header'
  | 'dataset_truncated'
  | 'dataset_mismatch'
  | 'dataset_bad_labels'
  | 'invalid_argument';

/** Raised for missing or malformed dataset files and for bad arguments. */
export class DatasetError extends Error {
  /** Stable machine-readable code. */
  readonly code: DatasetErrorCode;
  /** File the error concerns, when there is one. */
  readonly path?: string;

  constructor(code: DatasetErrorCode, message: string, path?: string) {
    super(message);
    this.name = 'DatasetError';
    this.code = code;
    this.path = path;
  }
}
