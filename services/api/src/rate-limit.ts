import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '@imgcluster/runtime';
import { needsKey } from './auth.js';
import { ApiError } from './errors.js';

/** Where the counters live in Redis: one key per credential and window. */
export const RATE_LIMIT_NAMESPACE = 'imgcluster:ratelimit:';

/**
 * Rate limiting per credential on the /v1 routes (RATE_LIMIT_MAX requests per
 * RATE_LIMIT_WINDOW_MS; off at 0): each API key has its own counter, and while the API is open
 * each client address. The counters live in Redis, so every API replica counts against the
 * same ones. A request over the limit answers 429 RATE_LIMITED with Retry-After (seconds).
 * /healthz, /readyz, /metrics, /docs and /admin/queues are not counted. Runs after the auth
 * hook, which names the credential; must be registered before the routes it covers.
 */
export async function registerRateLimit(
  app: FastifyInstance,
  ctx: Pick<ServiceContext, 'env' | 'redis'>,
): Promise<void> {
  const max = ctx.env.RATE_LIMIT_MAX;
  if (max === 0) return;
  await app.register(rateLimit, {
    max,
    timeWindow: ctx.env.RATE_LIMIT_WINDOW_MS,
    redis: ctx.redis,
    nameSpace: RATE_LIMIT_NAMESPACE,
    // Redis down: the request goes on (and fails on its own if it needs Redis).
    skipOnError: true,
    keyGenerator: (request) => request.caller.credential,
    allowList: (request) => !needsKey(request),
    errorResponseBuilder: (_request, context) =>
      new ApiError(
        'RATE_LIMITED',
        `more than ${context.max} requests with this credential within ` +
          `${ctx.env.RATE_LIMIT_WINDOW_MS / 1000} s (RATE_LIMIT_MAX): retry in ${context.after}`,
      ),
  });
}
