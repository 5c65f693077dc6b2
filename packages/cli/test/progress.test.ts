import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunStatus, StageStatus } from '@imgcluster/queues';
import {
  formatBytes,
  formatDuration,
  formatNumber,
  formatTable,
  formatTime,
} from '../src/format.js';
import { LiveView } from '../src/live-view.js';
import {
  bar,
  progressKey,
  RateMeter,
  stageFraction,
  stageLines,
  transferLine,
} from '../src/progress.js';
import { clustersTable, runsTable, statusScreen, topLabels } from '../src/screens.js';

const stage = (over: Partial<StageStatus> = {}): StageStatus => ({
  state: 'pending',
  done: 0,
  total: 0,
  detail: {},
  ...over,
});

function runStatus(over: Partial<RunStatus> = {}): RunStatus {
  return {
    id: 'run_abc123',
    tenant: 'default',
    name: 'fashion',
    state: 'running',
    createdAt: '2024-12-04T15:03:11.123Z',
    updatedAt: '2024-12-04T15:03:20.000Z',
    retries: 0,
    spec: { input: { bucket: 'datasets', prefix: 'f/' } } as RunStatus['spec'],
    stages: {
      plan: stage({ state: 'succeeded', done: 1, total: 1, seconds: 0.25 }),
      preprocess: stage({
        state: 'succeeded',
        done: 2,
        total: 2,
        seconds: 3,
        detail: { accepted: 1998, rejected: 2, reasons: { corrupt: 1, empty: 1 } },
      }),
      train: stage({
        state: 'running',
        done: 1,
        total: 4,
        seconds: 12.5,
        detail: { epoch: 2, step: 5, stepsPerEpoch: 10, loss: 0.03125 },
      }),
      encode: stage(),
      cluster: stage(),
    },
    ...over,
  };
}

test('sizes, durations, times and numbers for people', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(1536 * 1024), '1.50 MiB');
  assert.equal(formatBytes(123.4 * 2 ** 30), '123.4 GiB');
  assert.equal(formatBytes(Number.NaN), '0 B');
  assert.equal(formatDuration(5), '0:05');
  assert.equal(formatDuration(65.4), '1:05');
  assert.equal(formatDuration(3723), '1:02:03');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '--:--');
  assert.equal(formatDuration(-1), '--:--');
  assert.equal(formatTime('2024-12-04T15:03:11.123Z'), '2024-12-04T15:03:11Z');
  assert.equal(formatTime(undefined), '-');
  assert.equal(formatNumber(0.0088634), '0.008863');
  assert.equal(formatNumber(12345.678), '12350');
  assert.equal(formatNumber(0.00001234), '1.234e-5');
});

test('bars fill with the fraction and stay inside their width', () => {
  assert.equal(bar(0, 10), '[----------]');
  assert.equal(bar(0.5, 10), '[#####-----]');
  assert.equal(bar(1, 10), '[##########]');
  assert.equal(bar(7, 10), '[##########]');
  assert.equal(bar(Number.NaN, 4), '[----]');
  assert.equal(bar(0.5).length, 22);
});

test('a transfer line has files, bytes, rate and ETA', () => {
  const line = transferLine({
    label: 'upload',
    filesDone: 150,
    filesTotal: 300,
    bytesDone: 1024 * 1024,
    bytesTotal: 3 * 1024 * 1024,
    rate: 512 * 1024,
    failed: 1,
    skipped: 7,
  });
  assert.equal(
    line,
    'upload [#######-------------]  150/300 files  1.00 MiB/3.00 MiB  512.0 KiB/s  ETA 0:04' +
      '  (7 skipped, 1 failed)',
  );
  const starting = transferLine({
    label: 'download',
    filesDone: 0,
    filesTotal: 3,
    bytesDone: 0,
    bytesTotal: 0,
    rate: 0,
    failed: 0,
  });
  assert.match(starting, /^download \[-+\]  0\/3 files  0 B\/0 B  0 B\/s  ETA --:--$/);
  const finished = transferLine({
    label: 'upload',
    filesDone: 2,
    filesTotal: 3,
    bytesDone: 10,
    bytesTotal: 20,
    rate: 0,
    failed: 1,
  });
  assert.match(finished, /ETA 0:00/);
});

test('the rate follows a sliding window', () => {
  const meter = new RateMeter(10_000);
  assert.equal(meter.rate(), 0);
  meter.record(0, 0);
  meter.record(100, 100);
  assert.equal(meter.rate(), 0, 'too short to say');
  meter.record(1000, 1000);
  assert.equal(meter.rate(), 1000);
  // Slow at first, fast later: the old samples leave the window.
  for (let t = 2000; t <= 30_000; t += 1000) meter.record(1000 + (t - 1000) * 10, t);
  assert.equal(Math.round(meter.rate()), 10_000);
});

test('training counts the steps of the epoch under way', () => {
  const train = runStatus().stages.train;
  assert.equal(stageFraction('train', train), (1 + 5 / 10) / 4);
  assert.equal(stageFraction('encode', stage()), 0);
  assert.equal(stageFraction('plan', stage({ state: 'succeeded', total: 0 })), 1);
  assert.equal(stageFraction('encode', stage({ state: 'running', done: 1, total: 4 })), 0.25);
});

test('the live view of a run: one bar per stage with its notes', () => {
  const lines = stageLines(runStatus(), 42);
  assert.equal(lines[0], 'run_abc123  (fashion)  running  0:42');
  assert.equal(lines.length, 6);
  assert.equal(lines[1], '  plan        [####################]  1/1  succeeded     0.3 s');
  assert.match(
    lines[2],
    /^ {2}preprocess {2}\[#{20}\] {2}2\/2 {2}succeeded {5}3\.0 s {2}2 rejected$/,
  );
  assert.match(
    lines[3],
    /^ {2}train {7}\[#{8}-{12}\] {2}1\/4 {2}running {6}12\.5 s {2}loss 0\.0313, step 5\/10$/,
  );
  assert.equal(lines[4], '  encode      [--------------------]  0/0  pending');

  const failed = runStatus({ state: 'failed' });
  failed.stages.train = stage({ state: 'failed', done: 1, total: 4, error: 'out of memory' });
  assert.match(stageLines(failed)[3], /failed .*error: out of memory$/);

  // k "auto": the k values tried so far, then the chosen k, also once the stage is done.
  const choosing = runStatus();
  choosing.stages.cluster = stage({
    state: 'running',
    total: 500,
    detail: { phase: 'choose-k', kDone: 3, kTotal: 19 },
  });
  assert.match(stageLines(choosing)[5], /running +choose-k 3\/19$/);
  choosing.stages.cluster.detail = { phase: 'fit', kDone: 19, kTotal: 19, k: 7 };
  assert.match(stageLines(choosing)[5], /running +fit, k = 7 chosen$/);
  choosing.stages.cluster.state = 'succeeded';
  assert.match(stageLines(choosing)[5], /succeeded +k = 7 chosen$/);

  // A manifold step: the layout's passes, then the shards placed in it.
  const laying = runStatus();
  laying.stages.cluster = stage({
    state: 'running',
    total: 500,
    detail: { phase: 'manifold', layoutDone: 120, layoutTotal: 500, placed: 0, shards: 70 },
  });
  assert.match(stageLines(laying)[5], /running +manifold: layout 120\/500$/);
  laying.stages.cluster.detail = { ...laying.stages.cluster.detail, placed: 12 };
  assert.match(stageLines(laying)[5], /running +manifold: placed 12\/70 shards$/);

  // A Gaussian mixture after k-means: its EM passes.
  laying.stages.cluster.detail = { phase: 'mixture', iteration: 7, maxIterations: 100 };
  assert.match(stageLines(laying)[5], /running +mixture: EM pass 7 \(at most 100\)$/);
  laying.stages.cluster.detail = { phase: 'assign', iteration: 9, assigned: 3, shards: 70 };
  assert.match(stageLines(laying)[5], /running +assign$/);
});

test('the progress key ignores clocks but not progress', () => {
  const a = runStatus();
  const b = runStatus();
  b.stages.train.seconds = 99;
  assert.equal(progressKey(a), progressKey(b));
  b.stages.train.detail = { ...b.stages.train.detail, step: 6 };
  assert.notEqual(progressKey(a), progressKey(b));
});

test('the status screen shows the run, its images and every stage', () => {
  const s = runStatus({
    state: 'failed',
    finishedAt: '2024-12-04T15:04:11.000Z',
    error: 'train: out of memory',
    retries: 1,
  });
  const text = statusScreen(s).join('\n');
  assert.match(text, /^run {7}run_abc123$/m);
  assert.match(text, /^state {5}failed \(retried 1×\)$/m);
  assert.match(text, /^finished  2024-12-04T15:04:11Z \(59\.9 s after submission\)$/m);
  assert.match(text, /^input {5}datasets\/f\/$/m);
  assert.match(text, /^images {4}1998 accepted, 2 rejected \(corrupt 1, empty 1\)$/m);
  assert.match(text, /^error {5}train: out of memory$/m);
  assert.match(text, /^stage {7}state {6}done {2}total {2}seconds$/m);
  assert.match(text, /^train {7}running {7}1 {6}4 {5}12\.5 {2}loss 0\.0313, step 5\/10$/m);
  assert.match(text, /^encode {6}pending {7}0 {6}0 {8}-$/m);
});

test('tables align numbers right and text left', () => {
  assert.deepEqual(
    formatTable(
      ['name', 'n'],
      [
        ['a', '1'],
        ['bbb', '100'],
      ],
      ['left', 'right'],
    ),
    ['name    n', 'a       1', 'bbb   100'],
  );
});

test('clusters: size, share, mean distance and the top labels', () => {
  const pictures = { samples: '', attention: '', decoded: '' };
  const lines = clustersTable([
    {
      cluster: 0,
      size: 75,
      meanDistance: 0.0123456,
      labels: { Bag: 5, Trouser: 70 },
      pictures,
      members: '',
    },
    { cluster: 1, size: 25, meanDistance: 2.5, labels: { Dress: 25 }, pictures, members: '' },
  ]);
  assert.deepEqual(lines, [
    'cluster  size  share  mean distance  top labels',
    '      0    75  75.0%        0.01235  Trouser 93%, Bag 7%',
    '      1    25  25.0%            2.5  Dress 100%',
  ]);
  const unlabelled = clustersTable([
    { cluster: 0, size: 3, meanDistance: 1, pictures, members: '' },
  ]);
  assert.deepEqual(unlabelled, [
    'cluster  size   share  mean distance',
    '      0     3  100.0%              1',
  ]);
  assert.equal(topLabels({ a: 1, b: 1, c: 3, d: 1 }, 6, 2), 'c 50%, a 17%');
});

test('runs: the stage under way, or done', () => {
  const lines = runsTable([
    {
      id: 'run_1',
      state: 'running',
      createdAt: '2024-12-04T15:03:11.5Z',
      name: 'x',
      stages: {
        plan: { state: 'succeeded', done: 1, total: 1 },
        encode: { state: 'running', done: 2, total: 8 },
      },
    },
    { id: 'run_2', state: 'succeeded', createdAt: '2024-12-04T15:00:00Z', stages: {} },
  ]);
  assert.deepEqual(lines, [
    'id     state      created               stage       name',
    'run_1  running    2024-12-04T15:03:11Z  encode 2/8  x',
    'run_2  succeeded  2024-12-04T15:00:00Z  done',
  ]);
});

/** A stream that records what is written, as a terminal or not. */
function recorder(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 30, write: (t: string) => writes.push(t) } };
}

test('on a terminal the live view redraws its block in place, clipped to the width', () => {
  let now = 0;
  const { writes, stream } = recorder(true);
  const view = new LiveView(stream, { redrawMs: 100, now: () => now });
  view.update(['one', 'two']);
  assert.deepEqual(writes, ['one\ntwo\n']);
  now = 50;
  view.update(['too soon']);
  assert.equal(writes.length, 1);
  now = 200;
  view.update(['three', 'x'.repeat(40)]);
  assert.equal(writes[1], `\x1b[2A\x1b[Jthree\n${'x'.repeat(28)}…\n`);
  view.finish(['done']);
  assert.equal(writes[2], '\x1b[2A\x1b[Jdone\n');
  // After finish, the next block starts below.
  view.update(['after'], true);
  assert.equal(writes[3], 'after\n');
});

test('off a terminal the live view prints changes only, at most every printMs', () => {
  let now = 0;
  const { writes, stream } = recorder(false);
  const view = new LiveView(stream, { printMs: 1000, now: () => now });
  view.update(['a']);
  view.update(['a']);
  now = 500;
  view.update(['b']);
  assert.deepEqual(writes, ['a\n']);
  now = 1500;
  view.update(['b'], false, 'same key');
  view.update(['c'], false, 'same key');
  assert.deepEqual(writes, ['a\n', 'b\n']);
  view.finish(['final']);
  assert.deepEqual(writes, ['a\n', 'b\n', 'final\n']);
});
