import { setTimeout as sleep } from 'node:timers/promises';
import type { RunSpecInput } from '@imgcluster/config';
import type { RunStatus } from '@imgcluster/queues';
import { wholeNumber } from '../args.js';
import { writeLines, type Command, type CommandContext } from '../context.js';
import { EXIT, isTransient, UsageError } from '../errors.js';
import { LiveView } from '../live-view.js';
import { progressKey, stageLines } from '../progress.js';
import { statusScreen } from '../screens.js';

/** Clusters when --k is not given. */
export const DEFAULT_K = 25;

/** The run spec the options of `run` describe; what they leave out takes the API's default. */
export function runSpecFromOptions(options: Record<string, string | boolean | undefined>) {
  // Whole numbers here; their ranges are the API's to check (its answer names the field).
  const int = (name: string) => wholeNumber(options, name, 'run');
  const channels = options.channels;
  if (channels !== undefined && channels !== '1' && channels !== '3') {
    throw new UsageError(`--channels must be 1 or 3, got ${JSON.stringify(channels)}`, 'run');
  }
  const size = int('size');
  const epochs = int('epochs');
  const maxImages = int('train-images');
  if (typeof options.k === 'string' && !/^(\d{1,15}|auto)$/.test(options.k)) {
    throw new UsageError(
      `--k must be a whole number or auto, got ${JSON.stringify(options.k)}`,
      'run',
    );
  }
  const k = options.k === 'auto' ? 'auto' : (int('k') ?? DEFAULT_K);
  const kRange = kRangeOption(options['k-range']);
  if (kRange && k !== 'auto') throw new UsageError('--k-range needs --k auto', 'run');
  const spec: RunSpecInput = {
    input: { bucket: options.bucket as string, prefix: (options.prefix as string) ?? '' },
    kmeans: { k, ...(kRange ? { kRange } : {}) },
  };
  if (typeof options.name === 'string') spec.name = options.name;
  // The API knows the presets and names a wrong one in its answer.
  if (typeof options.preset === 'string') spec.preset = options.preset as RunSpecInput['preset'];
  if (typeof options.labels === 'string') spec.labels = { key: options.labels };
  if (size !== undefined || channels !== undefined) {
    spec.image = {
      ...(size !== undefined ? { size } : {}),
      ...(channels !== undefined ? { channels: Number(channels) as 1 | 3 } : {}),
    };
  }
  if (epochs !== undefined || maxImages !== undefined) {
    spec.training = {
      ...(epochs !== undefined ? { epochs } : {}),
      ...(maxImages !== undefined ? { maxImages } : {}),
    };
  }
  return spec;
}

/** `--k-range MIN..MAX` as {min, max}; whole numbers here, their limits are the API's to check. */
function kRangeOption(value: string | boolean | undefined) {
  if (value === undefined) return undefined;
  const m = typeof value === 'string' ? /^(\d{1,6})\.\.(\d{1,6})$/.exec(value) : null;
  if (!m) {
    throw new UsageError(
      `--k-range must be MIN..MAX, e.g. 2..20, got ${JSON.stringify(value)}`,
      'run',
    );
  }
  return { min: Number(m[1]), max: Number(m[2]) };
}

export const run: Command = async (ctx) => {
  const spec = runSpecFromOptions(ctx.options);
  const submitted = await ctx.client.submit(spec);
  writeLines(ctx.io.stdout, [submitted.id]);
  if (!ctx.options.wait) {
    writeLines(ctx.io.stderr, [`follow it with: imgcluster status ${submitted.id}`]);
    return EXIT.ok;
  }
  return watch(ctx, submitted.id);
};

/** Consecutive failed polls (the API restarting, the network) tolerated while watching. */
const POLL_FAILURES = 30;

/**
 * Shows a run's stages live on stderr until it has finished, then its status screen on
 * stdout. Resolves to 0 when it succeeded, 1 when it failed or was cancelled. Ctrl-C stops
 * watching only: the run goes on.
 */
export async function watch(ctx: CommandContext, id: string, pollMs = 1000): Promise<number> {
  const { client, io } = ctx;
  const view = new LiveView(io.stderr, { printMs: 0 });
  const started = Date.now();
  const onInterrupt = () => {
    writeLines(io.stderr, ['', `stopped watching; the run goes on: imgcluster status ${id}`]);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);

  let status: RunStatus;
  try {
    for (let failures = 0; ;) {
      try {
        status = await client.status(id);
        failures = 0;
      } catch (err) {
        if (!isTransient(err) || ++failures >= POLL_FAILURES) throw err;
        await sleep(pollMs);
        continue;
      }
      const finished = ['succeeded', 'failed', 'cancelled'].includes(status.state);
      const lines = stageLines(status, (Date.now() - started) / 1000);
      if (finished) {
        view.finish(lines, progressKey(status));
        break;
      }
      view.update(lines, false, progressKey(status));
      await sleep(pollMs);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
  }

  writeLines(io.stdout, ['', ...statusScreen(status)]);
  if (status.state !== 'succeeded') {
    writeLines(io.stderr, [
      `error: run ${id} ${status.state}: ${status.error ?? 'no reason given'}`,
    ]);
    return EXIT.failed;
  }
  writeLines(io.stdout, ['', ...(await scoresLines(ctx, id)), ...nextSteps(id)]);
  return EXIT.ok;
}

async function scoresLines(ctx: CommandContext, id: string): Promise<string[]> {
  try {
    const metrics = await ctx.client.artifactJson<{
      scores?: { nmi: number; ari: number; accuracy: number };
    }>(id, 'metrics.json');
    const s = metrics.scores;
    if (!s) return [];
    return [
      `scores against the labels: NMI ${s.nmi.toFixed(3)}  ARI ${s.ari.toFixed(3)}  ` +
        `accuracy ${s.accuracy.toFixed(3)}`,
    ];
  } catch {
    return [];
  }
}

function nextSteps(id: string): string[] {
  return [`clusters: imgcluster clusters ${id}`, `download: imgcluster download ${id} <dir>`];
}
