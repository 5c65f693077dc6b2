/** API key configuration: parsing entries, the key file, and finding a presented key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiKeyEntry, hashApiKey, newApiKey } from '@imgcluster/client';
import { ConfigError } from '@imgcluster/config';
import { loadApiKeys, parseApiKeys } from '../src/auth.js';

test('entries are tenant:sha256-hex, separated by commas, spaces or lines, # comments', () => {
  const a = newApiKey();
  const b = newApiKey();
  const entries = parseApiKeys(
    `# keys of acme\n${apiKeyEntry('acme', a)}, ${apiKeyEntry('globex', b)}  # second\n\n`,
    'API_KEYS',
  );
  assert.deepEqual(
    entries.map((e) => [e.tenant, e.hash.toString('hex'), e.id]),
    [
      ['acme', hashApiKey(a), hashApiKey(a).slice(0, 16)],
      ['globex', hashApiKey(b), hashApiKey(b).slice(0, 16)],
    ],
  );
  assert.deepEqual(parseApiKeys('  \n# nothing\n', 'API_KEYS'), []);
});

test('a malformed entry fails naming the setting and line, not the entry', () => {
  const secretish = 'acme:ick_not-a-hash-but-maybe-a-key';
  for (const text of [
    secretish,
    `Acme:${'a'.repeat(64)}`,
    `acme:${'a'.repeat(63)}`,
    `-acme:${'a'.repeat(64)}`,
    `${'a'.repeat(64)}`,
  ]) {
    assert.throws(
      () => parseApiKeys(`# first line\n${text}`, 'API_KEYS'),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message.startsWith('API_KEYS, line 2:') &&
        !err.message.includes(text),
      text,
    );
  }
});

test('keys come from API_KEYS and API_KEYS_FILE; one key for two tenants is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgcluster-keys-'));
  try {
    const a = newApiKey();
    const b = newApiKey();
    const file = join(dir, 'keys');
    writeFileSync(file, `${apiKeyEntry('globex', b)}\n`);
    const ring = await loadApiKeys({ API_KEYS: apiKeyEntry('acme', a), API_KEYS_FILE: file });
    assert.equal(ring.open, false);
    assert.deepEqual(ring.tenants, ['acme', 'globex']);
    assert.equal(ring.find(a)?.tenant, 'acme');
    assert.equal(ring.find(b)?.tenant, 'globex');
    assert.equal(ring.find(`${a}x`), undefined);
    assert.equal(ring.find(hashApiKey(a)), undefined, 'the hash itself is no key');

    await assert.rejects(
      loadApiKeys({ API_KEYS: apiKeyEntry('globex', a), API_KEYS_FILE: join(dir, 'none') }),
      /API_KEYS_FILE: cannot read .*ENOENT/,
    );
    writeFileSync(file, `${apiKeyEntry('globex', a)}\n`);
    await assert.rejects(
      loadApiKeys({ API_KEYS: apiKeyEntry('acme', a), API_KEYS_FILE: file }),
      /one key is listed for tenants acme and globex/,
    );
    const open = await loadApiKeys({ API_KEYS: '', API_KEYS_FILE: '' });
    assert.equal(open.open, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('new keys are random, prefixed, and their entries refuse bad tenant names', () => {
  const keys = new Set(Array.from({ length: 50 }, () => newApiKey()));
  assert.equal(keys.size, 50);
  for (const key of keys) assert.match(key, /^ick_[A-Za-z0-9_-]{43}$/);
  assert.throws(() => apiKeyEntry('Acme Corp', newApiKey()), /not a valid name/);
  assert.match(apiKeyEntry('acme-2', 'k'), /^acme-2:[0-9a-f]{64}$/);
});
