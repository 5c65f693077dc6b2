import type { RunSpec } from '@imgcluster/config';
import type { AssignJobInput } from '@imgcluster/queues';
import { ObjectNotFoundError, type Storage } from '@imgcluster/storage';
import { assignImages, loadRunModel, type AssignOutcome, type RunModel } from './assign.js';

/** Objects fetched at once, and assigned in one go. */
const CHUNK = 64;

/**
 * Assigns images that are already in object storage, a chunk at a time so memory stays
 * bounded however many there are. A missing object is reported as `not_found`.
 */
export async function assignObjects(
  model: RunModel,
  storage: Storage,
  inputs: AssignJobInput[],
  onProgress?: (done: number) => Promise<void> | void,
): Promise<AssignOutcome[]> {
  const out: AssignOutcome[] = [];
  for (let start = 0; start < inputs.length; start += CHUNK) {
    const chunk = inputs.slice(start, start + CHUNK);
    const fetched = await Promise.all(
      chunk.map(async (input) => {
        try {
          return { name: input.name, bytes: await storage.get(input.bucket, input.key) };
        } catch (err) {
          if (err instanceof ObjectNotFoundError) return undefined;
          throw err;
        }
      }),
    );
    const present = fetched.filter((f) => f !== undefined);
    const assigned = await assignImages(model, present);
    let next = 0;
    for (const [i, f] of fetched.entries()) {
      if (f) out.push(assigned[next++]);
      else {
        const { bucket, key, name } = chunk[i];
        out.push({
          name,
          rejected: { reason: 'not_found', message: `no object s3://${bucket}/${key}` },
        });
      }
    }
    await onProgress?.(out.length);
  }
  return out;
}

interface CachedModel {
  model: Promise<RunModel>;
  /** Callers using the model now; an evicted model is disposed once none is left. */
  users: number;
  evicted: boolean;
}

/**
 * Loaded run models, kept for the few runs used last (each holds an encoder in memory). A
 * model pushed out while requests still use it is disposed when the last one is done.
 */
export class RunModelCache {
  private readonly models = new Map<string, CachedModel>();

  /** `load` defaults to loadRunModel from `storage`'s `bucket`. */
  constructor(
    storage: Storage,
    bucket: string,
    private readonly keep = 2,
    private readonly load: (runId: string, spec: RunSpec) => Promise<RunModel> = (runId, spec) =>
      loadRunModel(storage, bucket, runId, spec),
  ) {}

  /** Runs `work` with the run's model, loading it first if it is not cached. */
  async use<T>(runId: string, spec: RunSpec, work: (model: RunModel) => Promise<T>): Promise<T> {
    let entry = this.models.get(runId);
    if (entry) {
      this.models.delete(runId);
      this.models.set(runId, entry); // most recently used last
    } else {
      entry = {
        model: this.load(runId, spec),
        users: 0,
        evicted: false,
      };
      const loading = entry;
      loading.model.catch(() => {
        if (this.models.get(runId) === loading) this.models.delete(runId);
      });
      this.models.set(runId, entry);
      this.evictOld();
    }
    entry.users++;
    try {
      return await work(await entry.model);
    } finally {
      entry.users--;
      if (entry.evicted && entry.users === 0) dispose(entry);
    }
  }

  private evictOld(): void {
    while (this.models.size > this.keep) {
      const [oldest, entry] = this.models.entries().next().value!;
      this.models.delete(oldest);
      entry.evicted = true;
      if (entry.users === 0) dispose(entry);
    }
  }
}

function dispose(entry: CachedModel): void {
  void entry.model.then((m) => m.encoder.dispose()).catch(() => undefined);
}

/** What an assign job or request found: its results and their counts. */
export function summarise(results: AssignOutcome[]) {
  const rejected = results.filter((r) => 'rejected' in r).length;
  return { total: results.length, assigned: results.length - rejected, rejected, results };
}
