import type { RunStatus, StageStatus } from '@imgcluster/queues';
import { formatBytes, formatDuration } from './format.js';

/** A progress bar of `width` cells: `[#######-------------]`. */
export function bar(fraction: number, width = 20): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/**
 * Bytes per second over a sliding window of recent samples, so the rate and the ETA follow
 * the current speed rather than the average since the start.
 */
export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  /** Records the bytes done so far at time `t` (ms). */
  record(bytes: number, t: number): void {
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[1].t >= this.windowMs) this.samples.shift();
  }

  /** Bytes per second; 0 until two samples lie at least 200 ms apart. */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t - first.t < 200) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}

/** How far a transfer (upload or download) has got. */
export interface TransferState {
  label: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second now. */
  rate: number;
  failed: number;
  /** Files left alone because they were there already. */
  skipped?: number;
}

/** One line: `upload [####----] 120/300 files  1.20/2.40 MiB  850.0 KiB/s  ETA 0:02`. */
export function transferLine(s: TransferState): string {
  const fraction =
    s.bytesTotal > 0 ? s.bytesDone / s.bytesTotal : s.filesDone / (s.filesTotal || 1);
  const eta = s.rate > 0 ? (s.bytesTotal - s.bytesDone) / s.rate : Number.NaN;
  const parts = [
    `${s.label} ${bar(fraction)}`,
    `${s.filesDone}/${s.filesTotal} files`,
    `${formatBytes(s.bytesDone)}/${formatBytes(s.bytesTotal)}`,
    `${formatBytes(s.rate)}/s`,
    `ETA ${s.filesDone + s.failed >= s.filesTotal ? '0:00' : formatDuration(eta)}`,
  ];
  const notes = [
    ...(s.skipped ? [`${s.skipped} skipped`] : []),
    ...(s.failed ? [`${s.failed} failed`] : []),
  ];
  return `${parts.join('  ')}${notes.length ? `  (${notes.join(', ')})` : ''}`;
}

/** How far an assignment of many images has got. */
export interface AssignState {
  /** Images answered so far (assigned, rejected or in a failed batch), and those of the batch
   * under way that a queued assignment reports done. */
  done: number;
  total: number;
  assigned: number;
  rejected: number;
  /** Images not assigned because their batch failed or the file could not be read. */
  failed: number;
  /** Seconds since the first request. */
  seconds: number;
  /** What the batch under way is doing, e.g. `batch 3/5 queued`. */
  note?: string;
}

/** One line: `assign [####----] 128/300 images  125 assigned, 3 rejected  ETA 0:12`. */
export function assignLine(s: AssignState): string {
  const rate = s.seconds > 0 ? s.done / s.seconds : 0;
  const eta = s.done >= s.total ? 0 : rate > 0 ? (s.total - s.done) / rate : Number.NaN;
  const counts = [
    `${s.assigned} assigned`,
    `${s.rejected} rejected`,
    ...(s.failed ? [`${s.failed} failed`] : []),
  ];
  return [
    `assign ${bar(s.done / (s.total || 1))}`,
    `${s.done}/${s.total} images`,
    counts.join(', '),
    `ETA ${formatDuration(eta)}`,
    ...(s.note ? [s.note] : []),
  ].join('  ');
}

/** How much of a stage is done, 0..1; training counts the steps of the epoch under way. */
export function stageFraction(name: string, st: StageStatus): number {
  if (st.state === 'succeeded') return 1;
  if (!st.total) return 0;
  let done = st.done;
  const d = st.detail ?? {};
  if (name === 'train' && typeof d.step === 'number' && typeof d.stepsPerEpoch === 'number') {
    if (d.stepsPerEpoch > 0 && d.epoch === st.done + 1) done += d.step / d.stepsPerEpoch;
  }
  return done / st.total;
}

/** What a stage is doing beyond its counts: rejected images, the loss, the k-means phase. */
export function stageNote(name: string, st: StageStatus): string {
  const d = (st.detail ?? {}) as Record<string, unknown>;
  const notes: string[] = [];
  if (name === 'preprocess' && typeof d.rejected === 'number' && d.rejected > 0) {
    notes.push(`${d.rejected} rejected`);
  }
  if (name === 'train' && typeof d.loss === 'number') {
    notes.push(`loss ${d.loss.toFixed(4)}`);
    if (st.state === 'running' && d.step && d.stepsPerEpoch) {
      notes.push(`step ${d.step}/${d.stepsPerEpoch}`);
    }
  }
  if (name === 'cluster' && typeof d.phase === 'string' && st.state === 'running') {
    const tried = d.phase === 'choose-k' && typeof d.kDone === 'number';
    const laying = d.phase === 'manifold' && typeof d.layoutDone === 'number';
    const mixing = d.phase === 'mixture' && typeof d.iteration === 'number';
    if (tried) notes.push(`choose-k ${d.kDone}/${d.kTotal}`);
    else if (mixing) notes.push(`mixture: EM pass ${d.iteration} (at most ${d.maxIterations})`);
    else if (laying && d.placed) notes.push(`manifold: placed ${d.placed}/${d.shards} shards`);
    else if (laying) notes.push(`manifold: layout ${d.layoutDone}/${d.layoutTotal}`);
    else notes.push(String(d.phase));
  }
  if (name === 'cluster' && typeof d.k === 'number') notes.push(`k = ${d.k} chosen`);
  if (st.error) notes.push(`error: ${st.error}`);
  return notes.join(', ');
}

/** The live view of a run: a heading, then one bar per stage. */
export function stageLines(s: RunStatus, elapsedSeconds?: number): string[] {
  const heading = [s.id, ...(s.name ? [`(${s.name})`] : []), s.state];
  if (elapsedSeconds !== undefined) heading.push(formatDuration(elapsedSeconds));
  const stages = Object.entries(s.stages) as [string, StageStatus][];
  const width = Math.max(...stages.map(([name]) => name.length));
  const counts = stages.map(([, st]) => `${st.done}/${st.total}`);
  const countWidth = Math.max(...counts.map((c) => c.length));
  const lines = stages.map(([name, st], i) => {
    const seconds = st.seconds !== undefined ? `${st.seconds.toFixed(1)} s` : '';
    const note = stageNote(name, st);
    return [
      `  ${name.padEnd(width)}`,
      bar(stageFraction(name, st)),
      counts[i].padStart(countWidth),
      st.state.padEnd(9),
      seconds.padStart(8),
      ...(note ? [note] : []),
    ]
      .join('  ')
      .trimEnd();
  });
  return [heading.join('  '), ...lines];
}

/** What changes when a run moves on (not its clocks): states, counts and notes. */
export function progressKey(s: RunStatus): string {
  const stages = Object.entries(s.stages) as [string, StageStatus][];
  return [
    s.state,
    ...stages.map(([n, st]) => `${st.state} ${st.done}/${st.total} ${stageNote(n, st)}`),
  ].join('|');
}
