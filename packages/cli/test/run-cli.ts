import { main } from '../src/cli.js';

/** Runs one command line against the API at `api`; resolves to its exit code and output. */
export async function runCli(api: string, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--api', api, ...argv], {
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    env: {},
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
