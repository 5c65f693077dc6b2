import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ApiRequestError, type ImgclusterClient } from '@imgcluster/client';
import { wholeNumber } from '../args.js';
import { writeLines, type Command } from '../context.js';
import { CliError, errorLine, EXIT, UsageError } from '../errors.js';
import { folderPrefix, listFiles, type LocalFile } from '../files.js';
import { formatBytes } from '../format.js';
import { LiveView, type OutputStream } from '../live-view.js';
import { forEachLimit, withRetries } from '../pool.js';
import { TransferProgress } from '../transfer.js';

/** The upload command's settings, read from its options. */
export interface UploadOptions {
  bucket: string;
  prefix: string;
  concurrency: number;
}

export function uploadOptions(options: Record<string, string | boolean | undefined>) {
  const bucket = options.bucket as string;
  if (bucket === '') throw new UsageError('--bucket must not be empty', 'upload');
  return {
    bucket,
    prefix: folderPrefix((options.prefix as string | undefined) ?? ''),
    concurrency: wholeNumber(options, 'concurrency', 'upload', 1, 64) ?? 8,
  } satisfies UploadOptions;
}

/** The files to send: those not in storage yet with the same size. */
export function planUpload(
  files: LocalFile[],
  prefix: string,
  existing: Map<string, number>,
): { send: (LocalFile & { key: string })[]; skipped: number } {
  const send: (LocalFile & { key: string })[] = [];
  let skipped = 0;
  for (const file of files) {
    const key = `${prefix}${file.rel}`;
    if (existing.get(key) === file.bytes) skipped++;
    else send.push({ ...file, key });
  }
  return { send, skipped };
}

export const upload: Command = async ({ client, api, io, args, options }) => {
  const { bucket, prefix, concurrency } = uploadOptions(options);
  const folder = resolve(args.folder);
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
    throw new CliError(`${args.folder} is not a folder`);
  }

  const files = await listFiles(folder);
  if (files.length === 0) {
    writeLines(io.stdout, [`no files under ${args.folder}: nothing to upload`]);
    return EXIT.ok;
  }
  const { existing, maxBytes } = await listExisting(client, bucket, prefix, io.stderr);
  const { send, skipped } = planUpload(files, prefix, existing);
  const where = `${bucket}/${prefix}`;
  if (send.length === 0) {
    writeLines(io.stdout, [`all ${files.length} files are in ${where} already: nothing to upload`]);
    writeLines(io.stdout, [nextStep(bucket, prefix)]);
    return EXIT.ok;
  }

  const failures: { rel: string; reason: string }[] = [];
  const bytesTotal = send.reduce((sum, f) => sum + f.bytes, 0);
  const progress = new TransferProgress('upload', send.length, bytesTotal, io.stderr, skipped);
  progress.start();
  await forEachLimit(send, concurrency, async (file) => {
    try {
      if (maxBytes !== undefined && file.bytes > maxBytes) {
        throw new CliError(
          `${file.bytes} bytes, over the API's limit of ${maxBytes} bytes (UPLOAD_MAX_BYTES)`,
        );
      }
      const body = await readFile(file.path);
      await withRetries(() => client.upload(bucket, file.key, body));
      progress.fileDone(file.bytes);
    } catch (err) {
      failures.push({ rel: file.rel, reason: errorLine(err, api) });
      progress.fileFailed();
    }
  });
  const done = progress.stop();

  const rate = done.seconds > 0 ? ` (${formatBytes(done.bytes / done.seconds)}/s)` : '';
  writeLines(io.stdout, [
    `uploaded ${done.files} files, ${formatBytes(done.bytes)}, to ${where} in ` +
      `${done.seconds.toFixed(1)} s${rate}; ${skipped} already there; ${failures.length} failed`,
  ]);
  if (failures.length > 0) {
    failures.sort((a, b) => (a.rel < b.rel ? -1 : 1));
    writeLines(io.stderr, [
      `${failures.length} file(s) failed; run the same command again to retry them:`,
      ...failures.map((f) => `  ${f.rel}: ${f.reason}`),
    ]);
    return EXIT.failed;
  }
  writeLines(io.stdout, [nextStep(bucket, prefix)]);
  return EXIT.ok;
};

/**
 * What is under bucket/prefix already (key → bytes), every page, and the API's upload limit.
 * A bucket that does not exist yet holds nothing (the first upload creates it).
 */
async function listExisting(
  client: ImgclusterClient,
  bucket: string,
  prefix: string,
  out: OutputStream,
): Promise<{ existing: Map<string, number>; maxBytes?: number }> {
  const existing = new Map<string, number>();
  const view = new LiveView(out);
  const line = () =>
    `checking ${bucket}/${prefix}: ${existing.size} object${existing.size === 1 ? '' : 's'} there already`;
  let maxBytes: number | undefined;
  let cursor: string | undefined;
  try {
    do {
      const page = await withRetries(() => client.listUploads(bucket, { prefix, cursor }));
      for (const o of page.objects) existing.set(o.key, o.bytes);
      maxBytes = page.maxBytes;
      cursor = page.next ?? undefined;
      view.update([line()]);
    } while (cursor);
  } catch (err) {
    if (!(err instanceof ApiRequestError && err.code === 'INPUT_BUCKET_NOT_FOUND')) throw err;
  }
  view.finish([line()]);
  return { existing, maxBytes };
}

function nextStep(bucket: string, prefix: string): string {
  const words = ['imgcluster', 'run', '--bucket', bucket, ...(prefix ? ['--prefix', prefix] : [])];
  return `next: ${words.map(shellWord).join(' ')}`;
}

/** A word as a POSIX shell reads it back: quoted when it holds anything unusual. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9._/:=@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
