import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  DatasetError,
  DEFAULT_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASSES,
  fashionMnistImage,
  parseIdx,
  readFashionMnist,
  subsetFashionMnist,
  type FashionMnist,
} from '../src/index.js';

const HAVE_DATA = existsSync(DEFAULT_FASHION_MNIST_DIR);
const SKIP = HAVE_DATA
  ? false
  : `${DEFAULT_FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)`;

let trainCache: Promise<FashionMnist> | undefined;
const train = (): Promise<FashionMnist> => (trainCache ??= readFashionMnist({ split: 'train' }));

function counts(labels: Uint8Array): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

function isCode(code: string) {
  return (e: unknown): boolean => e instanceof DatasetError && e.code === code;
}

/** An IDX file: big-endian magic and dims, then the data bytes. */
function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

/** A temporary folder holding the given train image and label files. */
async function fakeDir(images: Buffer, labels: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'imgcluster-fmnist-'));
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), images);
  await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), labels);
  return dir;
}

/** IDX images file of n images; every pixel of image i is i. */
function fakeImages(n: number): Buffer {
  const data = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) data.fill(i, i * 784, (i + 1) * 784);
  return idx(0x803, [n, 28, 28], data);
}

/** IDX labels file of n labels i % 10. */
function fakeLabels(n: number): Buffer {
  return idx(
    0x801,
    [n],
    Uint8Array.from({ length: n }, (_, i) => i % 10),
  );
}

test('class names', () => {
  assert.equal(FASHION_MNIST_CLASSES.length, 10);
  assert.equal(FASHION_MNIST_CLASSES[0], 'T-shirt/top');
  assert.equal(FASHION_MNIST_CLASSES[9], 'Ankle boot');
});

test('train split: 60,000 images, 6,000 per class, labels, mean', { skip: SKIP }, async () => {
  const ds = await train();
  assert.equal(ds.n, 60000);
  assert.deepEqual([ds.rows, ds.cols], [28, 28]);
  assert.equal(ds.images.length, 60000 * 784);
  assert.equal(ds.labels.length, 60000);
  assert.deepEqual(counts(ds.labels), new Array(10).fill(6000));
  assert.ok(!Buffer.isBuffer(ds.images) && ds.images.byteOffset === 0);
  assert.equal(ds.images.buffer.byteLength, ds.images.length);
  assert.deepEqual(Array.from(ds.labels.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  let sum = 0;
  for (const v of ds.images) sum += v;
  // The published Fashion-MNIST training mean is 0.2860 (of 255).
  const mean = sum / ds.images.length / 255;
  assert.ok(Math.abs(mean - 0.286) < 0.0005, `mean ${mean}`);
});

test('test split: 10,000 images, 1,000 per class', { skip: SKIP }, async () => {
  const ds = await readFashionMnist({ split: 'test' });
  assert.equal(ds.n, 10000);
  assert.equal(ds.images.length, 10000 * 784);
  assert.deepEqual(counts(ds.labels), new Array(10).fill(1000));
  assert.deepEqual(Array.from(ds.labels.subarray(0, 5)), [9, 2, 1, 1, 6]);
});

test("'all' is train then test; limit takes a prefix", { skip: SKIP }, async () => {
  const tr = await train();
  const all = await readFashionMnist({ split: 'all' });
  assert.equal(all.n, 70000);
  assert.deepEqual(all.labels.subarray(0, 60000), tr.labels);
  const te = await readFashionMnist({ split: 'test', limit: 3 });
  assert.equal(te.n, 3);
  assert.deepEqual(fashionMnistImage(all, 60002), fashionMnistImage(te, 2));

  const few = await readFashionMnist({ split: 'train', limit: 100 });
  assert.equal(few.n, 100);
  assert.equal(few.images.length, 78400);
  assert.deepEqual(few.images, tr.images.subarray(0, 78400));
  const past = await readFashionMnist({ split: 'all', limit: 60005 });
  assert.equal(past.n, 60005);
  assert.deepEqual(past.labels.subarray(60000), all.labels.subarray(60000, 60005));
  assert.deepEqual(fashionMnistImage(past, 60004), fashionMnistImage(all, 60004));
  assert.equal((await readFashionMnist({ split: 'train', limit: 0 })).n, 0);
});

test('subsetFashionMnist copies the chosen items in order', { skip: SKIP }, async () => {
  const ds = await readFashionMnist({ split: 'test', limit: 50 });
  const sub = subsetFashionMnist(ds, [7, 3, 42]);
  assert.equal(sub.n, 3);
  assert.deepEqual(Array.from(sub.labels), [ds.labels[7], ds.labels[3], ds.labels[42]]);
  assert.deepEqual(fashionMnistImage(sub, 1), fashionMnistImage(ds, 3));
  assert.throws(() => subsetFashionMnist(ds, [50]), isCode('invalid_argument'));
});

test('missing files: a clear error naming the install command', async () => {
  const dir = join(tmpdir(), 'imgcluster-no-such-dataset');
  await assert.rejects(readFashionMnist({ split: 'train', dir }), (e: unknown) => {
    assert.ok(e instanceof DatasetError);
    assert.equal(e.code, 'dataset_missing');
    assert.match(e.message, /apt-get install dataset-fashion-mnist/);
    return true;
  });
});

test('crafted files: bad magic, swapped files, cut-short, mismatch, corrupt gzip', async () => {
  const z = gzipSync;
  const cases: Array<[string, Buffer, Buffer]> = [
    ['dataset_bad_magic', z(idx(0x804, [2, 28, 28], new Uint8Array(1568))), z(fakeLabels(2))],
    ['dataset_bad_magic', z(fakeLabels(2)), z(fakeImages(2))],
    ['dataset_bad_header', z(idx(0x803, [2, 32, 32], new Uint8Array(2048))), z(fakeLabels(2))],
    ['dataset_truncated', z(fakeImages(3).subarray(0, 16 + 784 * 2)), z(fakeLabels(3))],
    ['dataset_mismatch', z(fakeImages(3)), z(fakeLabels(2))],
    ['dataset_corrupt', z(fakeImages(3)).subarray(0, 40), z(fakeLabels(3))],
    ['dataset_bad_labels', z(fakeImages(2)), z(idx(0x801, [2], Uint8Array.from([1, 10])))],
  ];
  for (const [code, images, labels] of cases) {
    const dir = await fakeDir(images, labels);
    try {
      await assert.rejects(readFashionMnist({ split: 'train', dir }), isCode(code), code);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('crafted files: a well-formed tiny split reads back, gzipped or plain', async () => {
  for (const wrap of [gzipSync, (b: Buffer) => b]) {
    const dir = await fakeDir(wrap(fakeImages(12)), wrap(fakeLabels(12)));
    try {
      const ds = await readFashionMnist({ split: 'train', dir });
      assert.equal(ds.n, 12);
      assert.deepEqual(Array.from(ds.labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
      assert.ok(fashionMnistImage(ds, 11).every((v) => v === 11));
      const some = await readFashionMnist({ split: 'train', dir, limit: 5 });
      assert.equal(some.n, 5);
      assert.ok(fashionMnistImage(some, 4).every((v) => v === 4));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('parseIdx reports the magic it found', () => {
  assert.throws(
    () => parseIdx(idx(0x0801, [1], Uint8Array.of(0)), 0x0803, 'x.idx'),
    (e: unknown) => e instanceof DatasetError && /0x00000801.*0x00000803/.test(e.message),
  );
  assert.throws(() => parseIdx(Buffer.from([0, 0]), 0x0803), isCode('dataset_bad_header'));
  assert.deepEqual(parseIdx(idx(0x0801, [3], Uint8Array.of(1, 2, 3)), 0x0801).dims, [3]);
});

test('bad arguments', async () => {
  await assert.rejects(readFashionMnist({ split: 'dev' as 'train' }), isCode('invalid_argument'));
  await assert.rejects(readFashionMnist({ split: 'train', limit: -1 }), isCode('invalid_argument'));
});
