import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Artifact } from '@imgcluster/client';
import { writeLines, type Command } from '../context.js';
import { errorSummary, EXIT } from '../errors.js';
import { formatBytes } from '../format.js';
import { forEachLimit, withRetries } from '../pool.js';
import { TransferProgress } from '../transfer.js';

/** Artifacts at once. */
const CONCURRENCY = 4;

/**
 * Bulk artifacts left out unless --all: the image and code shards, the checkpoints, and
 * images sent for assignment (inputs/ of assignments/<aid>/; their results are kept).
 */
const BULK = /^(images\/|codes\/|checkpoint\/|assignments\/[^/]+\/inputs\/)/;

/** The artifacts to download: all of them with `all`, else all but the bulk ones. */
export function selectArtifacts(artifacts: Artifact[], all: boolean): Artifact[] {
  return all ? artifacts : artifacts.filter((a) => !BULK.test(a.path));
}

/** Where an artifact goes under `dir`; undefined for a path that would leave it. */
export function localPath(dir: string, path: string): string | undefined {
  const parts = path.split('/');
  if (
    path === '' ||
    path.startsWith('/') ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    return undefined;
  }
  const root = resolve(dir);
  const target = resolve(root, ...parts);
  return target.startsWith(root + sep) ? target : undefined;
}

export const download: Command = async ({ client, api, io, args, options }) => {
  const id = args.run;
  const { complete, artifacts } = await client.artifacts(id);
  const wanted = selectArtifacts(artifacts, options.all === true);
  if (!complete) {
    writeLines(io.stderr, [
      `note: run ${id} has no manifest yet (not finished, or failed): downloading what is there`,
    ]);
  }

  const failures: { path: string; reason: string }[] = [];
  const bytesTotal = wanted.reduce((sum, a) => sum + a.bytes, 0);
  const progress = new TransferProgress('download', wanted.length, bytesTotal, io.stderr);
  progress.start();
  await forEachLimit(wanted, CONCURRENCY, async (artifact) => {
    try {
      const target = localPath(args.dir, artifact.path);
      if (!target) throw new Error('the path would leave the folder');
      const bytes = await withRetries(() => client.download(id, artifact.path));
      await mkdir(dirname(target), { recursive: true });
      // Written whole under another name first: a file with the artifact's name is complete.
      await writeFile(`${target}.part`, bytes);
      await rename(`${target}.part`, target);
      progress.fileDone(bytes.length);
    } catch (err) {
      failures.push({ path: artifact.path, reason: errorSummary(err, api) });
      progress.fileFailed();
    }
  });
  const done = progress.stop();

  const skipped = artifacts.length - wanted.length;
  writeLines(io.stdout, [
    `downloaded ${done.files} files, ${formatBytes(done.bytes)}, to ${join(args.dir)} in ` +
      `${done.seconds.toFixed(1)} s` +
      (skipped
        ? `; ${skipped} shards, checkpoints and assignment inputs left out (--all for them)`
        : ''),
  ]);
  if (failures.length === 0) return EXIT.ok;
  writeLines(io.stderr, [
    `${failures.length} file(s) failed:`,
    ...failures.map((f) => `  ${f.path}: ${f.reason}`),
  ]);
  return EXIT.failed;
};
