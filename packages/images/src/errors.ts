/** Thrown for programmer errors (bad sizes, wrong buffer lengths); never for bad image bytes. */
export class ImageArgumentError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'invalid_argument';

  constructor(message: string) {
    super(message);
    this.name = 'ImageArgumentError';
  }
}

/** Throws ImageArgumentError unless `value` is an integer in [min, max]. */
export function assertInt(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ImageArgumentError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Throws ImageArgumentError unless `channels` is 1 or 3. */
export function assertChannels(channels: unknown): asserts channels is 1 | 3 {
  if (channels !== 1 && channels !== 3) {
    throw new ImageArgumentError(`channels must be 1 or 3, got ${String(channels)}`);
  }
}
