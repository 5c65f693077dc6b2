import type { RunStatus } from '@imgcluster/queues';
import type { ServiceContext } from '@imgcluster/runtime';
import { ApiError } from './errors.js';
import { runIdSchema } from './schemas.js';

/**
 * The run a URL names, if it belongs to `tenant`; 404 RUN_NOT_FOUND when there is none, the
 * id is malformed, or the run is another tenant's: the same answer, word for word, so an
 * answer never tells that another tenant's run exists.
 */
export async function getRun(ctx: ServiceContext, id: string, tenant: string): Promise<RunStatus> {
  if (!runIdSchema.safeParse(id).success)
    throw new ApiError('RUN_NOT_FOUND', `no run ${JSON.stringify(id)}`);
  const status = await ctx.store.get(id);
  if (!status || status.tenant !== tenant) throw new ApiError('RUN_NOT_FOUND', `no run ${id}`);
  return status;
}
