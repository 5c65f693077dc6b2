#!/usr/bin/env node
// Runs the test suites with node's test runner: unit tests of every package and service
// first, then the cross-service tests in test/ (which start real Redis, S3 and services).
// Usage: node scripts/test.mjs [unit|e2e]   (default: both)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] ?? 'all';
const root = new URL('..', import.meta.url).pathname;

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
}

const unit = ['packages', 'services'].flatMap((top) =>
  readdirSync(join(root, top))
    .sort()
    .flatMap((name) => testFiles(join(root, top, name, 'test'))),
);
const e2e = testFiles(join(root, 'test'));

function run(files, concurrency) {
  if (files.length === 0) return 0;
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files];
  const res = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  return res.status ?? 1;
}

let status = 0;
if (which === 'all' || which === 'unit') status ||= run(unit, 2);
if (which === 'all' || which === 'e2e') status ||= run(e2e, 1);
process.exit(status);
