import type { RunStatus } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { ApiError } from './errors.js';
import { runIdSchema } from './schemas.js';

/** The run a URL names; 404 RUN_NOT_FOUND when there is none (or the id is malformed). */
export async function getRun(ctx: ServiceContext, id: string): Promise<RunStatus> {
  if (!runIdSchema.safeParse(id).success)
    throw new ApiError('RUN_NOT_FOUND', `no run ${JSON.stringify(id)}`);
  const status = await ctx.store.get(id);
  if (!status) throw new ApiError('RUN_NOT_FOUND', `no run ${id}`);
  return status;
}
