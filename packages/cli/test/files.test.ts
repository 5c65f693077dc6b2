import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localPath, selectArtifacts } from '../src/commands/download.js';
import { planUpload } from '../src/commands/upload.js';
import { folderPrefix, listFiles } from '../src/files.js';

test('listFiles walks every folder, follows links to files but not to folders', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'imgcluster-cli-files-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'b', 'deep'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'a.png'), 'aaa');
  writeFileSync(join(root, 'b', 'deep', 'c.png'), 'c');
  writeFileSync(join(root, 'b', 'x y.jpg'), '');
  symlinkSync(join(root, 'a.png'), join(root, 'link.png'));
  symlinkSync(join(root, 'b'), join(root, 'loop'));
  symlinkSync(join(root, 'missing'), join(root, 'dangling.png'));

  const files = await listFiles(root);
  assert.deepEqual(
    files.map((f) => [f.rel, f.bytes]),
    [
      ['a.png', 3],
      ['b/deep/c.png', 1],
      ['b/x y.jpg', 0],
      ['link.png', 3],
    ],
  );
  assert.equal(files[1].path, join(root, 'b', 'deep', 'c.png'));
});

test('planUpload skips what is there with the same size', () => {
  const files = [
    { path: '/x/a', rel: 'a', bytes: 3 },
    { path: '/x/b', rel: 'b', bytes: 4 },
    { path: '/x/c', rel: 'sub/c', bytes: 0 },
  ];
  const existing = new Map([
    ['p/a', 3],
    ['p/b', 5],
    ['other/sub/c', 0],
  ]);
  const { send, skipped } = planUpload(files, 'p/', existing);
  assert.equal(skipped, 1);
  assert.deepEqual(
    send.map((f) => f.key),
    ['p/b', 'p/sub/c'],
  );
  assert.equal(folderPrefix(''), '');
  assert.equal(folderPrefix('x'), 'x/');
});

test('downloads stay inside their folder and leave the bulk out unless asked', () => {
  assert.equal(
    localPath('/out', 'clusters/000-samples.png'),
    join('/out', 'clusters/000-samples.png'),
  );
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', './a', 'a/.']) {
    assert.equal(localPath('/out', bad), undefined, bad);
  }
  const artifact = (path: string) => ({ path, bytes: 1, contentType: '', url: '' });
  const all = [
    'metrics.json',
    'images/shard-00000.bin',
    'codes/codes-00000.bin',
    'checkpoint/s.json',
    'model/encoder/model.json',
    'imagesx.json',
  ].map(artifact);
  assert.deepEqual(
    selectArtifacts(all, false).map((a) => a.path),
    ['metrics.json', 'model/encoder/model.json', 'imagesx.json'],
  );
  assert.equal(selectArtifacts(all, true).length, all.length);
});
