import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, normalize, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiRequestError,
  type AssignFile,
  type AssignmentStatus,
  type AssignResults,
  type ImgclusterClient,
} from '@imgcluster/client';
import { wholeNumber } from '../args.js';
import { writeLines, type CommandContext } from '../context.js';
import { CliError, describeError, errorSummary, EXIT, isTransient, UsageError } from '../errors.js';
import { listFiles } from '../files.js';
import { formatNumber, formatTable } from '../format.js';
import { LiveView, type OutputStream } from '../live-view.js';
import { withRetries } from '../pool.js';
import { assignLine } from '../progress.js';

/** Files per request by default: the API's default ASSIGN_SYNC_MAX, so each is answered at once. */
export const FILE_BATCH = 64;

/** The most images the API takes in one request. */
export const MAX_BATCH = 10_000;

/** Keys per request by default: 1,000 keys of up to 1 KiB stay within the API's body limit. */
export const KEY_BATCH = 1_000;

/** The longer side of the attention heat maps that --attention writes, in pixels. */
export const HEATMAP_SIDE = 96;

/** How often a queued batch is polled, in ms. */
const POLL_MS = 500;

/** Consecutive failed polls of a queued batch (the API restarting, the network) tolerated. */
const POLL_FAILURES = 30;

/**
 * Refusals that concern one batch only (a file too large, a bad key, its size): the next
 * batch may well go through. Any other refusal (the run is missing or not finished) would
 * come again for every batch, so it stops the command.
 */
const BATCH_ERRORS = new Set([
  'UPLOAD_TOO_LARGE',
  'BODY_TOO_LARGE',
  'TOO_MANY_IMAGES',
  'VALIDATION_FAILED',
  'NO_IMAGES',
]);

/** A queued batch that the encoder pool could not finish. */
export class AssignmentFailedError extends Error {
  readonly code = 'CLI_ASSIGNMENT_FAILED';
  constructor(readonly status: AssignmentStatus) {
    super(`assignment ${status.assignment} failed: ${status.error ?? 'no reason given'}`);
  }
}

/** The assign command's settings, read from its options. */
export interface AssignOptions {
  /** The images are object keys in storage, not local files. */
  keys: boolean;
  /** A file of further keys, one a line. */
  keysFrom?: string;
  /** The bucket of the keys; the API's default is the run's input bucket. */
  bucket?: string;
  /** Images per request. */
  batch: number;
  /** Print the results as JSON rather than a table. */
  json: boolean;
  /** Where to write the results as CSV. */
  out?: string;
  /** The folder for the attention heat maps. */
  attention?: string;
}

export function assignOptions(options: Record<string, string | boolean | undefined>) {
  for (const name of ['keys-from', 'bucket', 'out', 'attention']) {
    if (options[name] === '') throw new UsageError(`--${name} must not be empty`, 'assign');
  }
  const keysFrom = options['keys-from'] as string | undefined;
  const keys = options.keys === true || keysFrom !== undefined;
  const bucket = options.bucket as string | undefined;
  if (bucket !== undefined && !keys) {
    throw new UsageError('--bucket is for object keys: add --keys', 'assign');
  }
  return {
    keys,
    keysFrom,
    bucket,
    batch: wholeNumber(options, 'batch', 'assign', 1, MAX_BATCH) ?? (keys ? KEY_BATCH : FILE_BATCH),
    json: options.json === true,
    out: options.out as string | undefined,
    attention: options.attention as string | undefined,
  } satisfies AssignOptions;
}

/** A local image: the name the results give it (its path, with forward slashes) and where it is. */
export interface LocalImage {
  name: string;
  path: string;
}

/**
 * The files named, each folder replaced by the files under it (recursively, sorted); a file
 * named twice is sent once. Throws CliError for a path that is not there.
 */
export async function localImages(paths: string[]): Promise<LocalImage[]> {
  const images: LocalImage[] = [];
  const seen = new Set<string>();
  const add = (path: string) => {
    const absolute = resolve(path);
    if (seen.has(absolute)) return;
    seen.add(absolute);
    images.push({ name: normalize(path).split(sep).join('/'), path });
  };
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new CliError(`${path}: no such file or folder`);
    if (info.isDirectory()) for (const file of await listFiles(path)) add(file.path);
    else add(path);
  }
  return images;
}

/** The keys named, then those in `keysFrom` (one a line, trimmed; blank lines skipped). */
export async function objectKeys(named: string[], keysFrom?: string): Promise<string[]> {
  if (keysFrom === undefined) return named;
  let text: string;
  try {
    text = await readFile(keysFrom, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CliError(`cannot read --keys-from ${keysFrom}: ${code}`);
  }
  const listed = text.split('\n').map((line) => line.trim());
  return [...named, ...listed.filter((key) => key !== '')];
}

/** The items in runs of at most `size`, in order. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The results as a table: name, cluster and distance, or why the image was rejected. */
export function resultsTable(results: AssignResults['results']): string[] {
  const rows = results.map((r) =>
    'rejected' in r
      ? [r.name, '-', '-', `rejected: ${r.rejected.reason} – ${r.rejected.message}`]
      : [r.name, String(r.cluster), formatNumber(r.distance), ''],
  );
  return formatTable(['name', 'cluster', 'distance', ''], rows, ['left', 'right', 'right', 'left']);
}

/** The results as CSV lines, header first: name,cluster,distance,reason (RFC 4180 quoting). */
export function csvLines(results: AssignResults['results']): string[] {
  const rows = results.map((r) =>
    'rejected' in r
      ? [r.name, '', '', r.rejected.reason]
      : [r.name, String(r.cluster), String(r.distance), ''],
  );
  return [['name', 'cluster', 'distance', 'reason'], ...rows].map((row) =>
    row.map(csvField).join(','),
  );
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * A file name for an image's heat map: the image's name without its extension, every run of
 * characters other than letters, digits, `.`, `_` and `-` (so every `/`) made one `_`, no
 * leading dot, then `.png`. A name already in `taken` (compared without case, as some file
 * systems do) gets `-2`, `-3`, … The name is added to `taken`.
 */
export function heatmapName(name: string, taken: Set<string>): string {
  const stem = name
    .replace(/\.[A-Za-z0-9]{1,5}$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 120);
  const base = stem || 'image';
  let file = `${base}.png`;
  for (let n = 2; taken.has(file.toLowerCase()); n++) file = `${base}-${n}.png`;
  taken.add(file.toLowerCase());
  return file;
}

/** One request's images: local files or object keys. */
type Batch = { files: LocalImage[] } | { keys: string[] };

/** Images that were not assigned (not the rejected ones: those have results), and why. */
interface Failure {
  names: string[];
  reason: string;
}

/** What the batches came to: every answered image in order, what failed, and what stopped. */
interface Outcome {
  runId: string;
  results: AssignResults['results'];
  failures: Failure[];
  /** The refusal that stopped the command before every batch was sent; none if all were. */
  stoppedBy?: unknown;
}

export async function assign(ctx: CommandContext, rest: string[]): Promise<number> {
  const { api, io } = ctx;
  const settings = assignOptions(ctx.options);
  const batches = await planBatches(settings, rest);
  const total = batches.reduce((sum, b) => sum + namesOf(b).length, 0);
  const outcome = await sendAll(ctx, batches, total, settings.bucket);
  const { results, failures, stoppedBy } = outcome;
  if (stoppedBy !== undefined && results.length === 0 && failures.length === 0) throw stoppedBy;

  const combined = combine(outcome.runId, results);
  const failed = failedCount(failures);
  const missing = total - results.length;
  const summary =
    `assigned ${combined.assigned}, rejected ${combined.rejected} of ${total} images ` +
    `(run ${combined.id})${missing ? `; ${missing} not assigned` : ''}`;
  if (settings.json) {
    writeLines(io.stdout, [JSON.stringify(combined)]);
    writeLines(io.stderr, [summary]);
  } else {
    writeLines(io.stdout, [...resultsTable(results), '', summary]);
  }
  await writeFiles(settings, results, io.stderr);

  if (failures.length > 0) {
    writeLines(io.stderr, [
      `${failed} image(s) not assigned:`,
      ...failures.map((f) => `  ${namesLine(f.names)}: ${f.reason}`),
    ]);
  }
  if (stoppedBy !== undefined) {
    writeLines(io.stderr, [
      ...describeError(stoppedBy, api),
      `stopped: ${missing - failed} of ${total} images not sent`,
    ]);
  }
  return failures.length > 0 || stoppedBy !== undefined ? EXIT.failed : EXIT.ok;
}

/** The images in batches: keys, or the files named and those under the folders named. */
async function planBatches(settings: AssignOptions, rest: string[]): Promise<Batch[]> {
  if (rest.length === 0 && settings.keysFrom === undefined) {
    throw new UsageError(
      settings.keys ? 'no keys given' : 'no images given: name files or folders, or use --keys',
      'assign',
    );
  }
  const batches: Batch[] = settings.keys
    ? chunks(await objectKeys(rest, settings.keysFrom), settings.batch).map((keys) => ({ keys }))
    : chunks(await localImages(rest), settings.batch).map((files) => ({ files }));
  if (batches.length === 0) {
    throw new CliError(
      settings.keys ? `${settings.keysFrom} lists no keys` : `no files under ${rest.join(', ')}`,
    );
  }
  return batches;
}

/**
 * Sends the batches one after the other with a progress line on stderr. A batch the API
 * refuses for itself alone, or a file that cannot be read, is a failure and the rest go on;
 * any other refusal stops the sending.
 */
async function sendAll(
  { client, api, io, args }: CommandContext,
  batches: Batch[],
  total: number,
  bucket: string | undefined,
): Promise<Outcome> {
  const outcome: Outcome = { runId: args.run, results: [], failures: [] };
  const progress = new AssignProgress(io.stderr, total).start();
  for (const [n, batch] of batches.entries()) {
    progress.batch(batches.length > 1 ? `batch ${n + 1}/${batches.length}` : '');
    const images = await requestImages(batch, bucket, (name, err) => {
      outcome.failures.push({ names: [name], reason: `cannot read: ${errorSummary(err, api)}` });
      progress.failed(1);
    });
    if (!images) continue;
    try {
      const answer = await sendBatch(client, args.run, images, (s) => progress.queued(s));
      outcome.runId = answer.id;
      // Results come in the order sent: name each by what was sent (the local path), not by
      // what survived the multipart file name (which keeps no folders, and escapes quotes).
      const sent = 'keys' in images ? images.keys : images.files.map((f) => f.name);
      outcome.results.push(...answer.results.map((r, i) => ({ ...r, name: sent[i] ?? r.name })));
      progress.answered(answer);
    } catch (err) {
      if (!isBatchFailure(err)) {
        outcome.stoppedBy = err;
        break;
      }
      const names = 'keys' in images ? images.keys : images.files.map((f) => f.name);
      outcome.failures.push({ names, reason: errorSummary(err, api) });
      progress.failed(names.length);
    }
  }
  progress.stop();
  return outcome;
}

/** The results of all batches as one AssignResults of the run. */
export function combine(runId: string, results: AssignResults['results']): AssignResults {
  const rejected = results.filter((r) => 'rejected' in r).length;
  return {
    id: runId,
    total: results.length,
    assigned: results.length - rejected,
    rejected,
    results,
  };
}

/** Writes the CSV (--out) and the heat maps (--attention) asked for, each with a note. */
async function writeFiles(
  settings: AssignOptions,
  results: AssignResults['results'],
  notes: OutputStream,
): Promise<void> {
  if (settings.out) {
    await writeFile(settings.out, `${csvLines(results).join('\n')}\n`);
    writeLines(notes, [`wrote ${results.length} rows to ${settings.out}`]);
  }
  if (settings.attention) {
    const written = await writeHeatmaps(settings.attention, results);
    writeLines(notes, [`wrote ${written} attention maps to ${settings.attention}`]);
  }
}

/** What one request carries: files with their bytes, or object keys. */
type RequestImages = Parameters<ImgclusterClient['assign']>[1];

/**
 * A batch as a request: its keys, or the bytes of its files; undefined when none of its
 * files could be read (each file that could not be is passed to `unreadable`). A batch's
 * files are in memory together while it is sent: with a large --batch of large photos, that
 * is all of their bytes at once.
 */
async function requestImages(
  batch: Batch,
  bucket: string | undefined,
  unreadable: (name: string, err: unknown) => void,
): Promise<RequestImages | undefined> {
  if ('keys' in batch) return { keys: batch.keys, ...(bucket !== undefined ? { bucket } : {}) };
  const files: AssignFile[] = [];
  for (const image of batch.files) {
    try {
      files.push({ name: image.name, bytes: await readFile(image.path) });
    } catch (err) {
      unreadable(image.name, err);
    }
  }
  return files.length > 0 ? { files } : undefined;
}

/**
 * Sends one request and resolves to its results, following a queued answer to the end. A
 * transient failure of the request is tried again (should the API have queued the batch
 * before its answer was lost, the batch is assigned twice: that costs time, not results).
 */
async function sendBatch(
  client: ImgclusterClient,
  runId: string,
  images: RequestImages,
  onQueued: (s: AssignmentStatus) => void,
): Promise<AssignResults> {
  const answer = await withRetries(() => client.assign(runId, images));
  return 'assignment' in answer ? followQueued(client, answer, onQueued) : answer;
}

/** Polls a queued batch until it has results; throws AssignmentFailedError if it failed. */
async function followQueued(
  client: ImgclusterClient,
  queued: AssignmentStatus,
  onStatus: (s: AssignmentStatus) => void,
): Promise<AssignResults> {
  let last = queued;
  let failures = 0;
  onStatus(queued);
  for (;;) {
    try {
      return await client.waitForAssignment(
        last,
        (s) => {
          last = s;
          failures = 0;
          onStatus(s);
        },
        POLL_MS,
      );
    } catch (err) {
      if (last.state === 'failed') throw new AssignmentFailedError(last);
      if (!isTransient(err) || ++failures >= POLL_FAILURES) throw err;
      await sleep(POLL_MS);
    }
  }
}

function isBatchFailure(err: unknown): boolean {
  if (err instanceof AssignmentFailedError) return true;
  return err instanceof ApiRequestError && BATCH_ERRORS.has(err.code);
}

function namesOf(batch: Batch): string[] {
  return 'keys' in batch ? batch.keys : batch.files.map((f) => f.name);
}

function failedCount(failures: Failure[]): number {
  return failures.reduce((sum, f) => sum + f.names.length, 0);
}

/** `a.png`, or `a.png, b.png`, or `a.png … z.png (64 images)`. */
function namesLine(names: string[]): string {
  if (names.length <= 3) return names.join(', ');
  return `${names[0]} … ${names.at(-1)} (${names.length} images)`;
}

/** Writes a heat map PNG per assigned image into `dir`; resolves to how many it wrote. */
async function writeHeatmaps(dir: string, results: AssignResults['results']): Promise<number> {
  // Loaded here only: the image package brings sharp, which no other command needs.
  const { heatmapPng } = await import('@imgcluster/images');
  await mkdir(dir, { recursive: true });
  const taken = new Set<string>();
  let written = 0;
  for (const r of results) {
    if ('rejected' in r) continue;
    const { height, width, values } = r.attention;
    const png = await heatmapPng(Float32Array.from(values), height, width, {
      scaleTo: HEATMAP_SIDE,
    });
    await writeFile(join(dir, heatmapName(r.name, taken)), png);
    written++;
  }
  return written;
}

/**
 * The progress of an assignment on stderr: images answered, assigned and rejected so far,
 * and the state of a queued batch; redrawn on a timer (for the ETA) and on every change.
 */
class AssignProgress {
  private done = 0;
  private assigned = 0;
  private rejected = 0;
  private failedImages = 0;
  /** Images of the batch under way that its queued assignment reports done. */
  private pending = 0;
  private batchNote = '';
  private queuedNote = '';
  private readonly view: LiveView;
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(
    out: OutputStream,
    private readonly total: number,
  ) {
    this.view = new LiveView(out);
  }

  start(): this {
    this.draw(true);
    this.timer = setInterval(() => this.draw(), 500);
    this.timer.unref();
    return this;
  }

  batch(note: string): void {
    this.batchNote = note;
    this.queuedNote = '';
    this.pending = 0;
    this.draw();
  }

  queued(s: AssignmentStatus): void {
    this.pending = Math.min(s.done, s.total);
    this.queuedNote = `${s.assignment} ${s.state} ${s.done}/${s.total}`;
    this.draw();
  }

  answered(r: AssignResults): void {
    this.done += r.results.length;
    this.assigned += r.assigned;
    this.rejected += r.rejected;
    this.pending = 0;
    this.queuedNote = '';
    this.draw();
  }

  failed(images: number): void {
    this.done += images;
    this.failedImages += images;
    this.draw();
  }

  /** Stops the timer and draws the last state. */
  stop(): void {
    clearInterval(this.timer);
    this.batchNote = '';
    this.queuedNote = '';
    this.pending = 0;
    const [line, key] = this.line();
    this.view.finish([line], key);
  }

  private draw(force = false): void {
    const [line, key] = this.line();
    this.view.update([line], force, key);
  }

  /** The line, and what counts as a change off a terminal (not the ticking ETA). */
  private line(): [string, string] {
    const note = [this.batchNote, this.queuedNote].filter(Boolean).join(': ');
    const state = {
      done: this.done + this.pending,
      total: this.total,
      assigned: this.assigned,
      rejected: this.rejected,
      failed: this.failedImages,
      note,
    };
    const line = assignLine({ ...state, seconds: (Date.now() - this.started) / 1000 });
    return [line, JSON.stringify(state)];
  }
}
