/**
 * Client CPU per whole-object GET, the signed GET path against the SDK's GetObject, over the
 * same small objects on a local S3 server (127.0.0.1). Both run in turns, twice, so a change
 * of load on the machine hits both. Run: node --import tsx packages/storage/test/bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, startS3 } from '@imgcluster/devstack';
import { Storage } from '../src/index.js';

const OBJECTS = 500;
const READS = 2000;
const IN_FLIGHT = 4;
const BUCKET = 'bench';

async function sdkGet(storage: Storage, key: string): Promise<Buffer> {
  const out = await storage.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function measure(label: string, get: (key: string) => Promise<Buffer>, keys: string[]) {
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < READS) {
      const body = await get(keys[next++ % keys.length]);
      bytes += body.length;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `${label.padEnd(10)} ${((READS / ms) * 1000).toFixed(0).padStart(5)} GET/s, ` +
      `client CPU ${(cpuMs / READS).toFixed(3)} ms per GET (${(bytes / READS).toFixed(0)} B each)`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'imgcluster-storage-bench-'));
const s3 = await startS3(join(work, 's3'));
const storage = new Storage({
  endpoint: s3.endpoint,
  region: 'us-east-1',
  ...LOCAL_S3_CREDENTIALS,
  forcePathStyle: true,
});
try {
  await storage.ensureBucket(BUCKET);
  const keys = Array.from(
    { length: OBJECTS },
    (_, i) => `images/${String(i).padStart(6, '0')}.png`,
  );
  const body = Buffer.alloc(600).map((_, i) => (i * 7) & 0xff);
  for (const key of keys) await storage.put(BUCKET, key, body);
  console.log(`${READS} GETs of ${OBJECTS} objects, ${IN_FLIGHT} in flight`);
  for (let round = 0; round < 2; round++) {
    await measure('sdk', (key) => sdkGet(storage, key), keys);
    await measure('signed', (key) => storage.get(BUCKET, key), keys);
  }
} finally {
  storage.close();
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
}
