import { main } from './cli.js';

// The exit code is set, not forced: output still being written drains first.
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
