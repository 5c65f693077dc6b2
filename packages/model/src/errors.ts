/** Stable error codes thrown by @imgcluster/model. */
export type ModelErrorCode =
  'BACKEND_UNAVAILABLE' | 'MODEL_CONFIG_INVALID' | 'MODEL_INPUT_INVALID' | 'MODEL_FORMAT_INVALID';

/** Base error of this package; `code` is stable and safe to branch on. */
export class ModelError extends Error {
  readonly code: ModelErrorCode;

  constructor(code: ModelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelError';
    this.code = code;
  }
}

/** Thrown when a requested compute backend cannot be started (code BACKEND_UNAVAILABLE). */
export class BackendUnavailableError extends ModelError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKEND_UNAVAILABLE', message, options);
    this.name = 'BackendUnavailableError';
  }
}

/** Thrown for an invalid ModelConfig (code MODEL_CONFIG_INVALID). */
export class ModelConfigError extends ModelError {
  constructor(message: string) {
    super('MODEL_CONFIG_INVALID', message);
    this.name = 'ModelConfigError';
  }
}

/** Thrown when pixels, codes or batches do not fit the model's shape (code MODEL_INPUT_INVALID). */
export class ModelInputError extends ModelError {
  constructor(message: string) {
    super('MODEL_INPUT_INVALID', message);
    this.name = 'ModelInputError';
  }
}

/** Thrown when saved model files are malformed or inconsistent (code MODEL_FORMAT_INVALID). */
export class ModelFormatError extends ModelError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_FORMAT_INVALID', message, options);
    this.name = 'ModelFormatError';
  }
}
