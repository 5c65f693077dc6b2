import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in the help, e.g. N or KEY. */
  value?: string;
  description: string;
  required?: boolean;
}

/** One command: what it does, its positional arguments (all required) and its options. */
export interface CommandSpec {
  summary: string;
  args: string[];
  /** The name of any number of further positional arguments (none included); default: none. */
  rest?: string;
  options: Record<string, OptionSpec>;
  /** More lines for the command's help. */
  details?: string[];
}

/** Where the API is when neither --api nor IMGCLUSTER_API says. */
export const DEFAULT_API = 'http://127.0.0.1:8080';

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  api: {
    type: 'string',
    value: 'URL',
    description: `the API (default: $IMGCLUSTER_API, else ${DEFAULT_API})`,
  },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export const COMMANDS = {
  upload: {
    summary: 'upload a folder of images (resumable)',
    args: ['folder'],
    options: {
      bucket: { type: 'string', value: 'B', description: 'bucket to upload into', required: true },
      prefix: {
        type: 'string',
        value: 'P',
        description: "key prefix, a folder: a missing trailing '/' is added (default: none)",
      },
      concurrency: { type: 'string', value: 'N', description: 'files at once, 1..64 (default 8)' },
    },
    details: [
      'Every file under the folder becomes the object P<relative path>. Files already there',
      'with the same size are skipped, so running it again resumes an interrupted upload.',
    ],
  },
  run: {
    summary: 'submit a run; with --wait, watch it to the end',
    args: [],
    options: {
      bucket: { type: 'string', value: 'B', description: 'bucket of the images', required: true },
      prefix: {
        type: 'string',
        value: 'P',
        description: 'key prefix of the images (default: all)',
      },
      k: {
        type: 'string',
        value: 'N|auto',
        description: 'number of clusters, or auto to choose it (default 25)',
      },
      'k-range': {
        type: 'string',
        value: 'MIN..MAX',
        description: 'with --k auto, the k values tried (default 2..20)',
      },
      preset: {
        type: 'string',
        value: 'NAME',
        description: 'start from a named preset (default, quality, dense); options given win',
      },
      size: { type: 'string', value: 'N', description: 'image side in pixels, a multiple of 8' },
      channels: { type: 'string', value: '1|3', description: '1 greyscale, 3 RGB' },
      epochs: { type: 'string', value: 'N', description: 'training epochs' },
      'train-images': { type: 'string', value: 'N', description: 'train on at most N images' },
      labels: { type: 'string', value: 'KEY', description: 'labels JSON object, for scores only' },
      name: { type: 'string', value: 'NAME', description: 'a name for the run' },
      wait: { type: 'boolean', description: 'show live progress until the run has finished' },
    },
    details: [
      'Prints the run id. Other settings not given take the API defaults (see the README).',
      'With --wait the exit code is 0 when the run succeeded, 1 when it failed or was cancelled.',
    ],
  },
  status: { summary: "show a run's state and every stage", args: ['run'], options: {} },
  cancel: { summary: 'cancel a queued or running run', args: ['run'], options: {} },
  retry: {
    summary: 'restart a failed or cancelled run where it stopped',
    args: ['run'],
    options: { wait: { type: 'boolean', description: 'show live progress until it has finished' } },
  },
  list: {
    summary: 'list runs, newest first',
    args: [],
    options: {
      limit: { type: 'string', value: 'N', description: 'runs per page, 1..100 (default 20)' },
      cursor: { type: 'string', value: 'C', description: 'the page after a previous list' },
    },
  },
  download: {
    summary: "download a run's artifacts into a folder",
    args: ['run', 'dir'],
    options: {
      all: {
        type: 'boolean',
        description: 'everything, also the image and code shards and the checkpoints',
      },
    },
    details: [
      'Without --all: everything but images/, codes/, checkpoint/ and assignment inputs (the pictures, metrics,',
      'labels.csv, clusters, the report and the model). Paths are kept.',
    ],
  },
  clusters: {
    summary: 'a table of the clusters: size, mean distance, top labels',
    args: ['run'],
    options: {},
  },
  assign: {
    summary: "assign new images to a finished run's clusters",
    args: ['run'],
    rest: 'image',
    options: {
      keys: {
        type: 'boolean',
        description: 'the arguments after <run> are object keys in storage, not local files',
      },
      'keys-from': {
        type: 'string',
        value: 'FILE',
        description: 'object keys to assign, one a line (as --keys)',
      },
      bucket: {
        type: 'string',
        value: 'B',
        description: "bucket of the keys (default: the run's input bucket)",
      },
      batch: {
        type: 'string',
        value: 'N',
        description: 'images per request, 1..10000 (default: 64 files, 1000 keys)',
      },
      json: { type: 'boolean', description: 'print the results as one JSON object instead' },
      out: {
        type: 'string',
        value: 'FILE',
        description: 'also write name,cluster,distance,reason CSV',
      },
      attention: {
        type: 'string',
        value: 'DIR',
        description: "write each assigned image's attention map into DIR as a PNG",
      },
    },
    details: [
      'Each <image> is a file or a folder, whose files are all sent (recursively); an image is',
      'named by its path. They go in batches of --batch; a batch that the API queues rather',
      'than answering at once is followed to the end. With --keys or --keys-from the images',
      'are objects in storage instead. The run must have succeeded.',
      'Images the API cannot read are listed as rejected with the reason; they leave the exit',
      'code at 0. A batch the API refuses is reported, the others go on, and the exit code is 1.',
    ],
  },
  keys: {
    summary: 'make an API key for a tenant (keys create --tenant NAME)',
    args: ['action'],
    options: {
      tenant: {
        type: 'string',
        value: 'NAME',
        description: 'the tenant the key acts for: lower-case letters, digits and hyphens',
        required: true,
      },
    },
    details: [
      'The only action is create. It prints the new key (shown once: the API keeps only its',
      'SHA-256) and the line to add to API_KEYS_FILE or API_KEYS where the API runs. Clients',
      'send the key with IMGCLUSTER_API_KEY. Needs no API.',
    ],
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** A command line, read. */
export interface ParsedCommand {
  kind: 'command';
  command: CommandName;
  api: string;
  /** Positional arguments by name. */
  args: Record<string, string>;
  /** The positional arguments after the named ones (see CommandSpec.rest). */
  rest: string[];
  options: Record<string, string | boolean | undefined>;
}

/** A request for help: the text to print. */
export interface HelpRequest {
  kind: 'help';
  text: string;
}

/**
 * Reads `imgcluster [--api URL] <command> [args] [options]` (global options may also follow
 * the command). Throws UsageError for anything it cannot make sense of.
 */
export function parseCommandLine(
  argv: string[],
  env: Record<string, string | undefined> = {},
): ParsedCommand | HelpRequest {
  let i = 0;
  let api: string | undefined;
  let help = false;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const token = argv[i];
    if (token === '--help' || token === '-h') help = true;
    else if (token === '--api') {
      api = argv[++i];
      if (api === undefined) throw new UsageError('--api needs a URL');
    } else if (token.startsWith('--api=')) api = token.slice('--api='.length);
    else throw new UsageError(`unknown option ${token} (command options go after the command)`);
  }

  const name = argv[i];
  if (name === undefined) {
    if (help) return { kind: 'help', text: generalHelp() };
    throw new UsageError('no command given');
  }
  if (name === 'help') {
    const topic = argv[i + 1];
    if (topic === undefined) return { kind: 'help', text: generalHelp() };
    if (!isCommand(topic)) throw new UsageError(`unknown command ${JSON.stringify(topic)}`);
    return { kind: 'help', text: commandHelp(topic) };
  }
  if (!isCommand(name)) throw new UsageError(`unknown command ${JSON.stringify(name)}`);

  const spec: CommandSpec = COMMANDS[name];
  const { values, positionals } = readOptions(name, spec, argv.slice(i + 1));
  if (help || values.help) return { kind: 'help', text: commandHelp(name) };

  if (positionals.length < spec.args.length) {
    throw new UsageError(`missing <${spec.args[positionals.length]}>`, name);
  }
  if (positionals.length > spec.args.length && !spec.rest) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[spec.args.length])}`,
      name,
    );
  }
  for (const [option, o] of Object.entries(spec.options)) {
    if (o.required && values[option] === undefined) {
      throw new UsageError(`--${option} is required`, name);
    }
  }

  const args = Object.fromEntries(spec.args.map((arg, n) => [arg, positionals[n]]));
  const { api: apiOption, help: _help, ...options } = values;
  return {
    kind: 'command',
    command: name,
    api: apiUrl((apiOption as string | undefined) ?? api ?? env.IMGCLUSTER_API ?? DEFAULT_API),
    args,
    rest: positionals.slice(spec.args.length),
    options,
  };
}

function readOptions(name: CommandName, spec: CommandSpec, rest: string[]) {
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, ...GLOBAL_OPTIONS }).map(([key, o]) => [
      key,
      { type: o.type, ...(o.short ? { short: o.short } : {}) },
    ]),
  );
  try {
    return parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (!e.code?.startsWith('ERR_PARSE_ARGS')) throw err;
    const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && /'([^']+)'/.exec(e.message);
    throw new UsageError(
      unknown ? `unknown option ${unknown[1]}` : e.message.split(/\.\s|\n/)[0],
      name,
    );
  }
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

function apiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      `--api must be a URL such as ${DEFAULT_API}, got ${JSON.stringify(value)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--api must be an http or https URL, got ${JSON.stringify(value)}`);
  }
  return url.href.replace(/\/+$/, '');
}

/**
 * A whole-number option: undefined when absent. Throws UsageError naming the option when the
 * value is not a whole number in min..max.
 */
export function wholeNumber(
  options: Record<string, string | boolean | undefined>,
  name: string,
  command: CommandName,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    const range =
      max !== Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : min > 0 ? ` ≥ ${min}` : '';
    throw new UsageError(
      `--${name} must be a whole number${range}, got ${JSON.stringify(value)}`,
      command,
    );
  }
  return n;
}

/** The one-line usage of a command, e.g. `imgcluster download <run> <dir> [--all]`. */
export function usageLine(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const parts = [`imgcluster ${name}`, ...spec.args.map((a) => `<${a}>`)];
  if (spec.rest) parts.push(`[<${spec.rest}>…]`);
  for (const [option, o] of Object.entries(spec.options)) {
    const text = o.type === 'string' ? `--${option} ${o.value ?? 'VALUE'}` : `--${option}`;
    parts.push(o.required ? text : `[${text}]`);
  }
  return parts.join(' ');
}

/** The help of one command. */
export function commandHelp(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const lines = [`Usage: ${usageLine(name)}`, '', `${capitalise(spec.summary)}.`];
  if (spec.details) lines.push('', ...spec.details);
  if (Object.keys(spec.options).length > 0)
    lines.push('', 'Options:', ...optionLines(spec.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  return `${lines.join('\n')}\n`;
}

/** The help listing every command. */
export function generalHelp(): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  const width = Math.max(...names.map((n) => n.length));
  return [
    'Usage: imgcluster [--api URL] <command> [arguments] [options]',
    '',
    'Sorts image collections into clusters through the imgcluster REST API.',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Run `imgcluster <command> --help` for its arguments and options.',
    'Where the API needs a key, every command sends $IMGCLUSTER_API_KEY.',
    'Exit codes: 0 done, 1 failed (the API, a run or a file), 2 bad arguments.',
    '',
  ].join('\n');
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const left = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}`;
    return o.type === 'string' ? `${flag} ${o.value ?? 'VALUE'}` : flag;
  });
  const width = Math.max(...left.map((l) => l.length));
  return Object.values(options).map(
    (o, n) => `  ${left[n].padEnd(width)}  ${o.description}${o.required ? ' (required)' : ''}`,
  );
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
