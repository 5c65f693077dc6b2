import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for BullMQ workers and run status. `maxRetriesPerRequest: null`
 * lets commands wait through a Redis restart instead of failing; the client reconnects
 * with a capped backoff.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(200 * attempt, 2000),
    ...options,
  });
}
