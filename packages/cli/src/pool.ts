import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient } from './errors.js';

/** Calls `fn` on every item, at most `concurrency` at once; resolves when all are done. */
export async function forEachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** How often and how patiently to try again. */
export interface RetryOptions {
  /** Tries in all. Default 4. */
  attempts?: number;
  /** Wait before the second try, doubled each time, in ms. Default 500. */
  delayMs?: number;
  /** Which failures to try again. Default: network errors, timeouts, 429 and 5xx. */
  retryable?: (err: unknown) => boolean;
}

/** Runs `fn`, trying again after a transient failure; the last failure is thrown. */
export async function withRetries<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 4;
  const retryable = options.retryable ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !retryable(err)) throw err;
      await sleep((options.delayMs ?? 500) * 2 ** (attempt - 1));
    }
  }
}
