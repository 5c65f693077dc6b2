import { ImgclusterClient } from '@imgcluster/client';
import { parseCommandLine, usageLine, type CommandName } from './args.js';
import { assign } from './commands/assign.js';
import { clusters } from './commands/clusters.js';
import { download } from './commands/download.js';
import { run } from './commands/run.js';
import { keys } from './commands/keys.js';
import { cancel, list, retry, status } from './commands/runs.js';
import { upload } from './commands/upload.js';
import { writeLines, type CommandContext, type Io } from './context.js';
import { describeError, EXIT, UsageError } from './errors.js';

/** A command's handler: most take only the context; `rest` is for those with a CommandSpec.rest. */
type Handler = (ctx: CommandContext, rest: string[]) => Promise<number>;

const HANDLERS: Record<CommandName, Handler> = {
  upload,
  run,
  status,
  cancel,
  retry,
  list,
  download,
  clusters,
  assign,
  keys,
};

/**
 * Runs one command line; resolves to the exit code: 0 done, 1 failed (the API refused, a
 * run failed, a file could not be sent), 2 bad arguments.
 */
export async function main(argv: string[], io: Io): Promise<number> {
  let api = '';
  try {
    const parsed = parseCommandLine(argv, io.env);
    if (parsed.kind === 'help') {
      io.stdout.write(parsed.text);
      return EXIT.ok;
    }
    api = parsed.api;
    const apiKey = io.env.IMGCLUSTER_API_KEY?.trim() || undefined;
    const client = new ImgclusterClient(parsed.api, { apiKey });
    const { args, rest, options } = parsed;
    return await HANDLERS[parsed.command]({ client, api, io, args, options }, rest);
  } catch (err) {
    if (err instanceof UsageError) {
      writeLines(io.stderr, usageLines(err));
      return EXIT.usage;
    }
    writeLines(io.stderr, describeError(err, api));
    return EXIT.failed;
  }
}

function usageLines(err: UsageError): string[] {
  const command = err.command as CommandName | undefined;
  if (!command) {
    return [
      `imgcluster: ${err.message}`,
      'Usage: imgcluster [--api URL] <command> [arguments] [options]',
      'Run `imgcluster --help` for the commands.',
    ];
  }
  return [
    `imgcluster ${command}: ${err.message}`,
    `Usage: ${usageLine(command)}`,
    `Run \`imgcluster ${command} --help\` for details.`,
  ];
}
