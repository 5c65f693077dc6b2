import { STAGES, type Stage } from '@imgcluster/config';
import { PermanentJobError } from './errors.js';
import type { RunStatus, RunStore } from './run-store.js';
import type { Producers } from './worker.js';

/**
 * Queues a reopened run's work again from its first unfinished stage, with attempt `gen`.
 * Shards that already have a result are not redone: their objects are in storage.
 * Returns the stage the run resumes at.
 */
export async function resumeRun(
  store: RunStore,
  producers: Producers,
  runId: string,
  gen: number,
  attempts: number,
): Promise<Stage> {
  const status = await store.get(runId);
  if (!status) throw new Error(`no run ${runId}`);
  const stage = STAGES.find((s) => status.stages[s].state !== 'succeeded') ?? 'cluster';

  if (stage === 'preprocess' || stage === 'encode') {
    await queueShardStage(store, producers, runId, gen, stage, attempts);
  } else {
    await producers.addRunJob(runId, gen, stage, attempts);
  }
  return stage;
}

/**
 * Marks a sharded stage running and queues its shards that have no result yet, under
 * the next stage's job: preprocess covers the plan's shards (`plan.detail.shards`),
 * encode the preprocess shards with at least one accepted image. Used on first hand-off
 * and on retry alike, so a shard is never redone. Before the first preprocess shard is
 * queued, a run whose plan counted more images than its `maxImages` fails (permanently).
 */
export async function queueShardStage(
  store: RunStore,
  producers: Producers,
  runId: string,
  gen: number,
  stage: 'preprocess' | 'encode',
  attempts: number,
): Promise<void> {
  let shards: number[];
  if (stage === 'preprocess') {
    const status = await store.get(runId);
    if (status) checkImageCount(status);
    shards = range(Number(status?.stages.plan.detail.shards ?? 0));
  } else {
    const accepted = await store.shardResults<{ accepted: number }>(runId, 'preprocess');
    shards = [...accepted].filter(([, r]) => r.accepted > 0).map(([i]) => i);
  }
  const done = await store.shardsDone(runId, stage);
  await store.startStage(runId, stage, shards.length);
  const todo = shards.filter((i) => !done.has(i)).sort((a, b) => a - b);
  const parent = stage === 'preprocess' ? 'train' : 'cluster';
  await producers.addShardFlow(runId, gen, stage, todo, parent, attempts);
}

/** Throws when the planned input holds more images than the run may have. */
function checkImageCount(status: RunStatus): void {
  const images = Number(status.stages.plan.detail.images ?? 0);
  const max = status.maxImages;
  if (max === undefined || images <= max) return;
  const { bucket, prefix } = status.spec.input;
  throw new PermanentJobError(
    'TOO_MANY_IMAGES',
    `too many images: ${images} input objects under s3://${bucket}/${prefix}, a run may have ` +
      `at most ${max} (RUN_MAX_IMAGES): split the input into several prefixes`,
  );
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
