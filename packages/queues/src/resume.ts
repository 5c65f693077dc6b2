import { STAGES, type Stage } from '@imgcluster/config';
import type { RunStore } from './run-store.js';
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

  if (stage === 'preprocess') {
    const total = Number(status.stages.plan.detail.shards ?? 0);
    const done = await store.shardsDone(runId, 'preprocess');
    const todo = range(total).filter((i) => !done.has(i));
    await store.startStage(runId, 'preprocess', total);
    await producers.addShardFlow(runId, gen, 'preprocess', todo, 'train', attempts);
  } else if (stage === 'encode') {
    const accepted = await store.shardResults<{ accepted: number }>(runId, 'preprocess');
    const shards = [...accepted].filter(([, r]) => r.accepted > 0).map(([i]) => i);
    const done = await store.shardsDone(runId, 'encode');
    await store.startStage(runId, 'encode', shards.length);
    const todo = shards.filter((i) => !done.has(i)).sort((a, b) => a - b);
    await producers.addShardFlow(runId, gen, 'encode', todo, 'cluster', attempts);
  } else {
    await producers.addRunJob(runId, gen, stage, attempts);
  }
  return stage;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
