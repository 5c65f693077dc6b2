/**
 * API keys on the command line: `keys create` makes a key and its API_KEYS entry, and every
 * command sends IMGCLUSTER_API_KEY to the API (checked on a stand-in API on 127.0.0.1).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { hashApiKey } from '@imgcluster/client';
import { main } from '../src/cli.js';

let server: Server;
let api = '';
const authorizations: (string | undefined)[] = [];

before(async () => {
  server = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ runs: [], total: 0, next: null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  api = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

after(() => new Promise((resolve) => server.close(resolve)));

async function run(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    env,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('keys create prints a new key and the entry that holds only its hash', async () => {
  const first = await run(['keys', 'create', '--tenant', 'acme-2']);
  assert.equal(first.code, 0, first.stderr);
  const match = /^key: (ick_[A-Za-z0-9_-]{43})\nentry: acme-2:([0-9a-f]{64})\n$/.exec(first.stdout);
  assert.ok(match, first.stdout);
  assert.equal(match[2], hashApiKey(match[1]));
  assert.match(first.stderr, /API_KEYS_FILE/);

  const second = await run(['keys', 'create', '--tenant', 'acme-2']);
  assert.notEqual(second.stdout, first.stdout, 'every key is new');
});

test('keys create refuses a bad tenant name or action, with the usage', async () => {
  for (const argv of [
    ['keys', 'create', '--tenant', 'Acme Corp'],
    ['keys', 'create', '--tenant', ''],
    ['keys', 'create'],
    ['keys', 'delete', '--tenant', 'acme'],
  ]) {
    const res = await run(argv);
    assert.equal(res.code, 2, argv.join(' '));
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /Usage: imgcluster keys <action> --tenant NAME/);
  }
});

test('commands send IMGCLUSTER_API_KEY as a bearer token, and nothing without it', async () => {
  authorizations.length = 0;
  const withKey = await run(['--api', api, 'list'], { IMGCLUSTER_API_KEY: 'ick_test-key' });
  assert.equal(withKey.code, 0, withKey.stderr);
  const without = await run(['--api', api, 'list']);
  assert.equal(without.code, 0, without.stderr);
  assert.deepEqual(authorizations, ['Bearer ick_test-key', undefined]);
});
