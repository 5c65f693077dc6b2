import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** A file found under a folder. */
export interface LocalFile {
  path: string;
  /** Path relative to the folder, with forward slashes. */
  rel: string;
  bytes: number;
}

/**
 * Every file under `root`, recursively, sorted by relative path. Links to files count as
 * files; links to folders are not followed (they could loop).
 */
export async function listFiles(root: string): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  const visit = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await visit(path);
        continue;
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) continue;
      out.push({ path, rel: relative(root, path).split(sep).join('/'), bytes: info.size });
    }
  };
  await visit(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The key prefix of an upload: '' stays '', anything else ends in '/'. */
export function folderPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}
