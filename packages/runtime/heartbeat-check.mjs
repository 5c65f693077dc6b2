#!/usr/bin/env node
// Container health check of a worker service: healthy (exit 0) while the file named by
// HEARTBEAT_FILE (or the first argument) was touched within the last 60 s (or the second
// argument, in seconds). Workers touch it every 10 s while their event loop turns and Redis
// answers (packages/runtime).
import { statSync } from 'node:fs';

const file = process.argv[2] ?? process.env.HEARTBEAT_FILE;
const maxAge = Number(process.argv[3] ?? 60) * 1000;
if (!file) {
  console.error('heartbeat-check: no file (set HEARTBEAT_FILE)');
  process.exit(2);
}
try {
  const age = Date.now() - statSync(file).mtimeMs;
  if (age > maxAge) {
    console.error(`heartbeat-check: ${file} is ${Math.round(age / 1000)} s old`);
    process.exit(1);
  }
} catch (err) {
  console.error(`heartbeat-check: ${err.message}`);
  process.exit(1);
}
