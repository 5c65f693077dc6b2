import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STAGES } from '@imgcluster/config';
import { ASSIGN_QUEUE, QUEUES } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { ApiError } from './errors.js';

/**
 * The queue dashboard (Bull Board) at /admin/queues: every stage's BullMQ queue, its jobs,
 * their data, logs and errors. HTTP basic auth, user `admin` and ADMIN_PASSWORD, guards
 * every page, API call and static file under the prefix; without ADMIN_PASSWORD the
 * dashboard is off and the prefix answers 404 DASHBOARD_DISABLED.
 */

export const DASHBOARD_PREFIX = '/admin/queues';
export const ADMIN_USER = 'admin';
const REALM = 'imgcluster admin';

/** The queues the dashboard shows: one per pipeline stage. A new queue is appended here. */
export const DASHBOARD_QUEUES: string[] = [...STAGES.map((stage) => QUEUES[stage]), ASSIGN_QUEUE];

export interface DashboardOptions {
  /**
   * Show jobs without buttons that change them (retry, remove, clean, pause, add). Default
   * true: a run's state lives in the run store, and a job retried or removed behind its back
   * leaves the run failed while work goes on, or running with no job left. POST
   * /v1/runs/:id/retry is the way to restart a run.
   */
  readOnly?: boolean;
}

/**
 * Mounts the dashboard in a scope of its own, with its own error handler (Bull Board's UI
 * reads its own error shape); the 401 and 404 answers are the API's { error } shape. Its
 * Queue objects share `ctx.redis` and are closed with the app.
 */
export async function registerDashboard(
  app: FastifyInstance,
  ctx: Pick<ServiceContext, 'redis' | 'env'>,
  options: DashboardOptions = {},
): Promise<void> {
  const password = ctx.env.ADMIN_PASSWORD;
  if (password === undefined) {
    await app.register(disabledDashboard, { prefix: DASHBOARD_PREFIX });
    return;
  }

  const expected = digest(`${ADMIN_USER}:${password}`);
  const readOnlyMode = options.readOnly ?? true;
  const queues = DASHBOARD_QUEUES.map((name) => new Queue(name, { connection: ctx.redis }));

  await app.register(
    async (scope) => {
      scope.addHook('onClose', async () => {
        await Promise.all(queues.map((queue) => queue.close()));
      });
      // On this scope, so it runs before every route below it and before its 404 answers.
      scope.addHook('onRequest', async (request, reply) => {
        if (authorized(request.headers.authorization, expected)) return;
        return reply
          .status(401)
          .header('www-authenticate', `Basic realm="${REALM}"`)
          .send(new ApiError('ADMIN_AUTH_REQUIRED').toBody());
      });
      scope.setNotFoundHandler(notFound);

      const board = new FastifyAdapter();
      board.setBasePath(DASHBOARD_PREFIX);
      createBullBoard({
        queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode })),
        serverAdapter: board,
        options: { uiConfig: { boardTitle: 'imgcluster queues', hideDocsLink: true } },
      });
      await scope.register(board.registerPlugin());
    },
    { prefix: DASHBOARD_PREFIX },
  );
}

/** Every method and path under the prefix, while ADMIN_PASSWORD is unset. */
async function disabledDashboard(scope: FastifyInstance): Promise<void> {
  const disabled = async (_request: FastifyRequest, reply: FastifyReply) =>
    reply
      .status(404)
      .send(
        new ApiError(
          'DASHBOARD_DISABLED',
          'the queue dashboard is off: set ADMIN_PASSWORD (at least 12 characters) to turn it on',
        ).toBody(),
      );
  scope.all('/', disabled);
  scope.all('/*', disabled);
}

function notFound(request: FastifyRequest, reply: FastifyReply) {
  void reply
    .status(404)
    .send(new ApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`).toBody());
}

/**
 * True when an Authorization header carries the expected `user:password`. Both sides are
 * SHA-256 digests, so timingSafeEqual compares equal lengths and the time taken says
 * nothing about how much of the password matched, nor how long it is.
 */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header ?? '');
  if (!match) return false;
  const given = digest(Buffer.from(match[1], 'base64').toString('utf8'));
  return timingSafeEqual(given, expected);
}

function digest(credentials: string): Buffer {
  return createHash('sha256').update(credentials, 'utf8').digest();
}
