import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3, type LocalS3 } from '@imgcluster/devstack';
import { Storage } from '@imgcluster/storage';

let dir: string;
let s3: LocalS3;
let storage: Storage;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imgcluster-s3-'));
  s3 = await startS3(join(dir, 's3'));
  storage = new Storage({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    maxAttempts: 1,
  });
  await storage.ensureBucket('data');
});
after(async () => {
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the local server refuses a key segment too long for its files, and keeps serving', async () => {
  const long = `prefix/${'x'.repeat(240)}`;
  await assert.rejects(storage.put('data', long, Buffer.from('hello')), /longer than 233 bytes/);
  await assert.rejects(
    storage.put('data', `${'é'.repeat(120)}/a`, Buffer.from('é')),
    /longer than 233/,
  );
  // A segment that fits is stored, and the server still answers.
  const fits = `prefix/${'x'.repeat(233)}`;
  await storage.put('data', fits, Buffer.from('hello'));
  assert.deepEqual(Buffer.from(await storage.get('data', fits)).toString(), 'hello');
  assert.equal(s3.child.exitCode, null, 'the server is still running');
});
