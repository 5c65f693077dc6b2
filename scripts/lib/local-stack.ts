import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack } from '@imgcluster/devstack';

/**
 * The local stack of a script (Redis, the S3 server, two preprocess and two encoder
 * processes, one of each other service) in a fresh temporary folder. Ctrl-C or SIGTERM stops
 * it, removes the folder and exits 130; `close()` does the same without exiting.
 */
export async function startScriptStack(name: string, say: (message: string) => void) {
  const work = mkdtempSync(join(tmpdir(), `imgcluster-${name}-`));
  const stack = await startStack(work, { preprocess: 2, encoder: 2 });
  say(`api ${stack.apiUrl}; logs in ${stack.logDir}`);
  const close = async () => {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = async () => {
    await close();
    process.exit(130);
  };
  process.once('SIGINT', () => void onSignal());
  process.once('SIGTERM', () => void onSignal());
  return { stack, close };
}
