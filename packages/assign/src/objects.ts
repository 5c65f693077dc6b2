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

/** Loaded run models, kept for the few runs used last (each holds an encoder in memory). */
export class RunModelCache {
  private readonly models = new Map<string, Promise<RunModel>>();

  constructor(
    private readonly storage: Storage,
    private readonly bucket: string,
    private readonly keep = 2,
  ) {}

  get(runId: string, spec: RunSpec): Promise<RunModel> {
    let model = this.models.get(runId);
    if (model) {
      this.models.delete(runId);
      this.models.set(runId, model); // most recently used last
      return model;
    }
    model = loadRunModel(this.storage, this.bucket, runId, spec);
    model.catch(() => this.models.delete(runId));
    this.models.set(runId, model);
    while (this.models.size > this.keep) {
      const [oldest] = this.models.keys();
      void this.models
        .get(oldest)
        ?.then((m) => m.encoder.dispose())
        .catch(() => undefined);
      this.models.delete(oldest);
    }
    return model;
  }
}

/** What an assign job or request found: its results and their counts. */
export function summarise(results: AssignOutcome[]) {
  const rejected = results.filter((r) => 'rejected' in r).length;
  return { total: results.length, assigned: results.length - rejected, rejected, results };
}
