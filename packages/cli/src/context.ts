import type { ImgclusterClient } from '@imgcluster/client';
import type { OutputStream } from './live-view.js';

/** Where a command writes: results on stdout, progress and errors on stderr. */
export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
}

/** What a command gets: the API client, its arguments and options, and the output. */
export interface CommandContext {
  client: ImgclusterClient;
  api: string;
  io: Io;
  args: Record<string, string>;
  options: Record<string, string | boolean | undefined>;
}

/** A command: resolves to the exit code. */
export type Command = (ctx: CommandContext) => Promise<number>;

/** Writes lines, each ending in a newline. */
export function writeLines(out: OutputStream, lines: string[]): void {
  if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
}
