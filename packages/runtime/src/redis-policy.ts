import type { Redis } from 'ioredis';
import type { Logger } from '@imgcluster/logging';

/**
 * The only maxmemory-policy BullMQ is safe with: at maxmemory Redis refuses writes (an
 * error the services report) instead of evicting keys, which would silently drop queued
 * jobs, their locks or run status.
 */
export const REQUIRED_POLICY = 'noeviction';

/** Redis runs with another maxmemory-policy and REDIS_ALLOW_EVICTION is not set. */
export class RedisPolicyError extends Error {
  readonly code = 'REDIS_EVICTION_POLICY';
  override readonly name = 'RedisPolicyError';
}

/** What the server says its policy is, and how that was learnt. */
export interface PolicyReading {
  /** The policy, or undefined when neither CONFIG GET nor INFO would tell. */
  policy?: string;
  /** `config` (CONFIG GET), `info` (INFO memory, where CONFIG is disabled) or `unknown`. */
  source: 'config' | 'info' | 'unknown';
  /** Why it is unknown (the server's answers). */
  error?: string;
}

/**
 * Reads Redis's maxmemory-policy: CONFIG GET first; managed services often disable CONFIG
 * (renamed, or refused by ACL), and then INFO memory, which most of them allow, says it too.
 */
export async function readEvictionPolicy(redis: Redis): Promise<PolicyReading> {
  let configError: string;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy) return { policy, source: 'config' };
    configError = 'CONFIG GET maxmemory-policy answered nothing';
  } catch (err) {
    configError = `CONFIG GET: ${(err as Error).message}`;
  }
  try {
    const info = await redis.info('memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy) return { policy, source: 'info' };
    return { source: 'unknown', error: `${configError}; INFO memory has no maxmemory_policy` };
  } catch (err) {
    return { source: 'unknown', error: `${configError}; INFO: ${(err as Error).message}` };
  }
}

/**
 * The start-up check of every service. With the policy noeviction it returns quietly.
 * Another policy throws RedisPolicyError, unless `allowEviction` (REDIS_ALLOW_EVICTION),
 * which logs an error-level warning instead. A server that will not tell its policy gets a
 * warning and start-up goes on. Waits for Redis like every other command.
 */
export async function checkRedisPolicy(
  redis: Redis,
  allowEviction: boolean,
  log: Logger,
): Promise<PolicyReading> {
  const reading = await readEvictionPolicy(redis);
  if (reading.policy === REQUIRED_POLICY) {
    log.debug({ policy: reading.policy, source: reading.source }, 'redis maxmemory-policy ok');
    return reading;
  }
  if (reading.policy === undefined) {
    log.warn(
      { error: reading.error },
      `cannot read redis maxmemory-policy: make sure it is ${REQUIRED_POLICY}, or queued jobs ` +
        'may be evicted',
    );
    return reading;
  }
  const message =
    `redis maxmemory-policy is ${reading.policy}, not ${REQUIRED_POLICY}: Redis may evict ` +
    "BullMQ's keys and lose queued jobs. Set maxmemory-policy noeviction " +
    '(redis-server --maxmemory-policy noeviction, or the parameter group of a managed Redis)';
  if (!allowEviction) throw new RedisPolicyError(`${message}, or REDIS_ALLOW_EVICTION=true`);
  log.error(
    { policy: reading.policy, source: reading.source },
    `UNSAFE: ${message}. Starting anyway because REDIS_ALLOW_EVICTION=true`,
  );
  return reading;
}
