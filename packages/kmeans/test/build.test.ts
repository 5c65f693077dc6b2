import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BUILD = fileURLToPath(new URL('../wasm/build.mjs', import.meta.url));
const TOOLS = ['clang', 'wasm-ld', 'llvm-objdump'];

/** Whether an executable named `name` is on PATH. */
function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

const missing = TOOLS.filter((t) => !onPath(t));
const skip =
  missing.length > 0
    ? `${missing.join(', ')} not on PATH: install the Debian packages clang lld llvm`
    : false;

test('src/kernel-wasm.ts is the build of wasm/kernel.c', { skip }, () => {
  const run = spawnSync(process.execPath, [BUILD, '--check'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, `build.mjs --check failed:\n${run.stdout}${run.stderr}`);
  assert.match(run.stdout, /matches kernel\.c/);
});
