import type { Stage } from '@imgcluster/config';

/** The BullMQ queue of each stage. */
export const QUEUES: Record<Stage, string> = {
  plan: 'imgcluster-plan',
  preprocess: 'imgcluster-preprocess',
  train: 'imgcluster-train',
  encode: 'imgcluster-encode',
  cluster: 'imgcluster-cluster',
};

/**
 * Data of a job that works on a whole run. `gen` is the run's attempt: 0 when submitted,
 * one more after each retry. A job of an older attempt is skipped.
 */
export interface RunJobData {
  runId: string;
  gen?: number;
}

/** Data of a job that works on one shard of a run. */
export interface ShardJobData extends RunJobData {
  shard: number;
}

/** The attempt part of a job id: none for the first attempt, `.r<gen>` after a retry. */
function attempt(runId: string, gen = 0): string {
  return gen === 0 ? runId : `${runId}.r${gen}`;
}

/** Deterministic job ids make re-adding a job a no-op (BullMQ forbids ':' in them). */
export const jobIds = {
  plan: (runId: string, gen?: number) => `${attempt(runId, gen)}.plan`,
  preprocess: (runId: string, shard: number, gen?: number) =>
    `${attempt(runId, gen)}.preprocess.${shard}`,
  train: (runId: string, gen?: number) => `${attempt(runId, gen)}.train`,
  encode: (runId: string, shard: number, gen?: number) => `${attempt(runId, gen)}.encode.${shard}`,
  cluster: (runId: string, gen?: number) => `${attempt(runId, gen)}.cluster`,
};
