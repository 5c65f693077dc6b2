import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  commandHelp,
  COMMANDS,
  DEFAULT_API,
  generalHelp,
  parseCommandLine,
  usageLine,
  wholeNumber,
  type ParsedCommand,
} from '../src/args.js';
import { runSpecFromOptions } from '../src/commands/run.js';
import { uploadOptions } from '../src/commands/upload.js';
import { UsageError } from '../src/errors.js';

const command = (argv: string[], env = {}) => {
  const parsed = parseCommandLine(argv, env);
  assert.equal(parsed.kind, 'command');
  return parsed as ParsedCommand;
};

const usageError = (argv: string[], message: RegExp, commandName?: string) =>
  assert.throws(
    () => parseCommandLine(argv),
    (err: unknown) =>
      err instanceof UsageError && message.test(err.message) && err.command === commandName,
  );

test('a command with its positionals and options', () => {
  const p = command(['download', 'run_abc123', 'out', '--all']);
  assert.equal(p.command, 'download');
  assert.deepEqual(p.args, { run: 'run_abc123', dir: 'out' });
  assert.equal(p.options.all, true);
  assert.equal(p.api, DEFAULT_API);
});

test('--api before or after the command, else IMGCLUSTER_API, else the default', () => {
  assert.equal(command(['--api', 'http://h:1/', 'list']).api, 'http://h:1');
  assert.equal(command(['--api=http://h:2', 'list']).api, 'http://h:2');
  assert.equal(command(['list', '--api', 'http://h:3']).api, 'http://h:3');
  assert.equal(
    command(['list'], { IMGCLUSTER_API: 'https://api.example/x/' }).api,
    'https://api.example/x',
  );
  assert.equal(
    command(['--api', 'http://a:1', 'list'], { IMGCLUSTER_API: 'http://b:2' }).api,
    'http://a:1',
  );
  assert.equal('api' in command(['list', '--api', 'http://h:3']).options, false);
});

test('help for everything and for each command', () => {
  for (const argv of [['--help'], ['-h'], ['help']]) {
    const parsed = parseCommandLine(argv);
    assert.equal(parsed.kind, 'help');
    assert.equal(parsed.kind === 'help' && parsed.text, generalHelp());
  }
  for (const name of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
    for (const argv of [
      [name, '--help'],
      ['help', name],
      ['--help', name],
      [name, '-h'],
    ]) {
      const parsed = parseCommandLine(argv);
      assert.equal(parsed.kind === 'help' && parsed.text, commandHelp(name), argv.join(' '));
    }
    assert.match(commandHelp(name), new RegExp(`^Usage: imgcluster ${name}`));
  }
  // Help wins over missing arguments.
  assert.equal(parseCommandLine(['status', '--help']).kind, 'help');
  assert.match(generalHelp(), /upload .*\n.*run .*\n/);
});

test('usage lines show required and optional parts', () => {
  assert.equal(usageLine('download'), 'imgcluster download <run> <dir> [--all]');
  assert.equal(
    usageLine('upload'),
    'imgcluster upload <folder> --bucket B [--prefix P] [--concurrency N]',
  );
});

test('bad command lines are usage errors naming the problem', () => {
  usageError([], /no command/);
  usageError(['frobnicate'], /unknown command "frobnicate"/);
  usageError(['help', 'frobnicate'], /unknown command/);
  usageError(['--verbose', 'list'], /unknown option --verbose/);
  usageError(['--api'], /--api needs a URL/);
  usageError(['--api', 'not a url', 'list'], /--api must be a URL/);
  usageError(['--api', 'ftp://h', 'list'], /http or https/);
  usageError(['status'], /missing <run>/, 'status');
  usageError(['download', 'run_x'], /missing <dir>/, 'download');
  usageError(['status', 'a', 'b'], /unexpected argument "b"/, 'status');
  usageError(['status', 'a', '--bogus'], /unknown option --bogus/, 'status');
  usageError(['run', '--bucket'], /argument missing/, 'run');
  usageError(['run', '--prefix', 'p'], /--bucket is required/, 'run');
  usageError(['upload', 'dir'], /--bucket is required/, 'upload');
  usageError(['list', '--all'], /unknown option --all/, 'list');
  usageError(['run', '--bucket', 'b', '--wait=yes'], /does not take an argument/, 'run');
});

test('whole numbers are checked, ranges where the CLI owns them', () => {
  assert.equal(wholeNumber({ n: '12' }, 'n', 'list'), 12);
  assert.equal(wholeNumber({}, 'n', 'list'), undefined);
  for (const bad of ['-1', '1.5', 'ten', '', '1e3', '99999999999999999']) {
    assert.throws(() => wholeNumber({ n: bad }, 'n', 'list'), /--n must be a whole number/, bad);
  }
  assert.throws(() => wholeNumber({ n: '0' }, 'n', 'list', 1, 100), /from 1 to 100, got "0"/);
  assert.throws(() => uploadOptions({ bucket: 'b', concurrency: '65' }), /--concurrency/);
  assert.equal(uploadOptions({ bucket: 'b' }).concurrency, 8);
});

test('upload prefixes are folders', () => {
  assert.equal(uploadOptions({ bucket: 'b' }).prefix, '');
  assert.equal(uploadOptions({ bucket: 'b', prefix: 'photos' }).prefix, 'photos/');
  assert.equal(uploadOptions({ bucket: 'b', prefix: 'a/b/' }).prefix, 'a/b/');
});

test('run options become a run spec; what is left out is left to the API', () => {
  const { options } = command([
    'run',
    '--bucket',
    'datasets',
    '--prefix',
    'fashion/',
    '--k',
    '5',
    '--size',
    '16',
    '--channels',
    '3',
    '--epochs',
    '2',
    '--train-images',
    '1000',
    '--labels',
    'fashion/labels.json',
    '--name',
    'my run',
    '--wait',
  ]);
  assert.deepEqual(runSpecFromOptions(options), {
    name: 'my run',
    input: { bucket: 'datasets', prefix: 'fashion/' },
    labels: { key: 'fashion/labels.json' },
    image: { size: 16, channels: 3 },
    training: { epochs: 2, maxImages: 1000 },
    kmeans: { k: 5 },
  });
  assert.equal(options.wait, true);

  const minimal = runSpecFromOptions(command(['run', '--bucket', 'b']).options);
  assert.deepEqual(minimal, { input: { bucket: 'b', prefix: '' }, kmeans: { k: 25 } });
  assert.deepEqual(
    runSpecFromOptions(command(['run', '--bucket', 'b', '--epochs', '3']).options).training,
    { epochs: 3 },
  );
  assert.equal(
    runSpecFromOptions(command(['run', '--bucket', 'b', '--preset', 'quality']).options).preset,
    'quality',
  );
  assert.throws(
    () => runSpecFromOptions(command(['run', '--bucket', 'b', '--channels', '2']).options),
    (err: unknown) => err instanceof UsageError && /--channels must be 1 or 3/.test(err.message),
  );
  assert.throws(
    () => runSpecFromOptions(command(['run', '--bucket', 'b', '--k', 'many']).options),
    /--k must be a whole number or auto/,
  );
});

test('run --k auto, with or without --k-range', () => {
  const spec = (...args: string[]) =>
    runSpecFromOptions(command(['run', '--bucket', 'b', ...args]).options);
  assert.deepEqual(spec('--k', 'auto').kmeans, { k: 'auto' });
  assert.deepEqual(spec('--k', 'auto', '--k-range', '3..12').kmeans, {
    k: 'auto',
    kRange: { min: 3, max: 12 },
  });
  assert.throws(() => spec('--k', 'auto', '--k-range', '3-12'), /--k-range must be MIN\.\.MAX/);
  assert.throws(() => spec('--k', '5', '--k-range', '3..12'), /--k-range needs --k auto/);
  assert.throws(() => spec('--k-range', '3..12'), /--k-range needs --k auto/);
});
