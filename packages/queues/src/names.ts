import type { Stage } from '@imgcluster/config';

/** The BullMQ queue of each stage. */
export const QUEUES: Record<Stage, string> = {
  plan: 'imgcluster-plan',
  preprocess: 'imgcluster-preprocess',
  train: 'imgcluster-train',
  encode: 'imgcluster-encode',
  cluster: 'imgcluster-cluster',
};

/** Data of a job that works on a whole run. */
export interface RunJobData {
  runId: string;
}

/** Data of a job that works on one shard of a run. */
export interface ShardJobData {
  runId: string;
  shard: number;
}

/** Deterministic job ids make re-adding a job a no-op (BullMQ forbids ':' in them). */
export const jobIds = {
  plan: (runId: string) => `${runId}.plan`,
  preprocess: (runId: string, shard: number) => `${runId}.preprocess.${shard}`,
  train: (runId: string) => `${runId}.train`,
  encode: (runId: string, shard: number) => `${runId}.encode.${shard}`,
  cluster: (runId: string) => `${runId}.cluster`,
};
