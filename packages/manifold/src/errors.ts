/** Stable codes of {@link ManifoldError}. */
export type ManifoldErrorCode =
  | 'MANIFOLD_INVALID_ARGUMENT'
  | 'MANIFOLD_TOO_FEW_POINTS'
  | 'MANIFOLD_NOT_FINITE'
  | 'MANIFOLD_BAD_FILE';

/** A manifold could not be fitted, applied or read; `code` says why. */
export class ManifoldError extends Error {
  constructor(
    readonly code: ManifoldErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ManifoldError';
  }
}
