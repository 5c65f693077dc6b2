import { setTimeout as sleep } from 'node:timers/promises';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { Readiness } from '@imgcluster/observability';
import type { ServiceContext } from './index.js';

/** A readiness check that has not answered within this long fails, in ms. */
export const READY_CHECK_TIMEOUT_MS = 2000;

/** Options of {@link checkReadiness}. */
export interface ReadinessOptions {
  /** Worker services are ready only once their workers run (not while tfjs loads). */
  needsWorkers?: boolean;
  /** Per check, in ms. Default READY_CHECK_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * What /readyz answers: ready when the service is not stopping, its workers run (worker
 * services), Redis answers PING and the artifact bucket answers HEAD, each within
 * `timeoutMs`. The checks run side by side; nothing is created or written.
 */
export async function checkReadiness(
  ctx: ServiceContext,
  options: ReadinessOptions = {},
): Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? READY_CHECK_TIMEOUT_MS;
  const checks: Record<string, string> = {};
  if (ctx.stopping) checks.service = 'stopping';
  else if (options.needsWorkers && ctx.workers.length === 0) checks.service = 'starting';
  else checks.service = 'ok';

  const [redis, storage] = await Promise.all([
    within(timeoutMs, () => ctx.redis.ping()),
    within(timeoutMs, (signal) =>
      ctx.storage.client.send(new HeadBucketCommand({ Bucket: ctx.bucket }), {
        abortSignal: signal,
      }),
    ),
  ]);
  checks.redis = redis;
  checks.storage = storage === 'ok' ? 'ok' : storageReason(ctx.bucket, storage);
  return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
}

/** 'ok', or why the call failed or did not answer in time. */
async function within(ms: number, call: (signal: AbortSignal) => Promise<unknown>) {
  const abort = new AbortController();
  const timeout = sleep(ms, undefined, { ref: false, signal: abort.signal })
    .then(() => `no answer within ${ms} ms`)
    .catch(() => 'ok');
  const answer = call(abort.signal).then(
    () => 'ok',
    (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
      Object.assign(new Error(err.message || err.name), { status: err.$metadata?.httpStatusCode }),
  );
  const first = await Promise.race([answer, timeout]);
  abort.abort();
  if (first instanceof Error) return describe(first as Error & { status?: number });
  return first;
}

function describe(err: Error & { status?: number }): string {
  return err.status ? `HTTP ${err.status}: ${err.message}` : err.message;
}

function storageReason(bucket: string, reason: string): string {
  if (reason.startsWith('HTTP 404')) return `bucket ${bucket} does not exist`;
  if (reason.startsWith('HTTP 403')) return `access to bucket ${bucket} denied`;
  return `bucket ${bucket}: ${reason}`;
}
