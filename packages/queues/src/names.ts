import type { Stage } from '@imgcluster/config';

/** The BullMQ queue of each stage. */
export const QUEUES: Record<Stage, string> = {
  plan: 'imgcluster-plan',
  preprocess: 'imgcluster-preprocess',
  train: 'imgcluster-train',
  encode: 'imgcluster-encode',
  cluster: 'imgcluster-cluster',
};

/** The queue of assign jobs: new images assigned to a finished run's clusters. */
export const ASSIGN_QUEUE = 'imgcluster-assign';

/** One image of an assign job: where it is, and the name the results report it by. */
export interface AssignJobInput {
  bucket: string;
  key: string;
  name: string;
}

/** Data of an assign job; its results go to runKeys(runId).assignment(assignment). */
export interface AssignJobData {
  runId: string;
  assignment: string;
  inputs: AssignJobInput[];
}

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
  assign: (runId: string, assignment: string) => `${runId}.assign.${assignment}`,
};
