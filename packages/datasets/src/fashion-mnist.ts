import { join } from 'node:path';
import { DatasetError } from './errors.js';
import { IDX_MAGIC, readIdxFile } from './idx.js';

/** Fashion-MNIST class names, indexed by label 0..9. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Where the Debian package dataset-fashion-mnist installs the files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Image side of Fashion-MNIST, in pixels. */
export const FASHION_MNIST_SIDE = 28;

const PIXELS = FASHION_MNIST_SIDE * FASHION_MNIST_SIDE;

/** Images and labels of Fashion-MNIST (or a subset), each in its own exact-size ArrayBuffer. */
export interface FashionMnist {
  /** n×28×28 greyscale bytes, row-major; 0 is the black background. */
  images: Uint8Array;
  /** n labels in 0..9, see FASHION_MNIST_CLASSES. */
  labels: Uint8Array;
  /** Number of images. */
  n: number;
  /** Image height in pixels. */
  rows: 28;
  /** Image width in pixels. */
  cols: 28;
}

/** Options for readFashionMnist. */
export interface ReadFashionMnistOptions {
  /** 'train' (60,000), 'test' (10,000) or 'all' (train then test, 70,000). */
  split: 'train' | 'test' | 'all';
  /** Keep only the first `limit` images of the split (default: all). */
  limit?: number;
  /** Folder holding the four .gz files (default /usr/share/datasets/fashion-mnist). */
  dir?: string;
}

const FILES = {
  train: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  test: ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
} as const;

/** Reads one split's image and label files, checking their headers against each other. */
async function readSplit(
  dir: string,
  split: 'train' | 'test',
  limit: number | undefined,
): Promise<FashionMnist> {
  const [imagePath, labelPath] = FILES[split].map((f) => join(dir, f));
  const [img, lab] = await Promise.all([
    readIdxFile(imagePath, IDX_MAGIC.images, PIXELS, limit),
    readIdxFile(labelPath, IDX_MAGIC.labels, 1, limit),
  ]);
  const [count, rows, cols] = img.dims;
  if (rows !== FASHION_MNIST_SIDE || cols !== FASHION_MNIST_SIDE) {
    const msg = `${imagePath}: images are ${rows}x${cols}, expected 28x28`;
    throw new DatasetError('dataset_bad_header', msg, imagePath);
  }
  if (lab.dims[0] !== count) {
    const msg = `${imagePath} holds ${count} images but ${labelPath} ${lab.dims[0]} labels`;
    throw new DatasetError('dataset_mismatch', msg, labelPath);
  }
  const n = Math.min(count, limit ?? count);
  if (img.data.length < n * PIXELS) {
    throw new DatasetError('dataset_truncated', `${imagePath}: file is cut short`, imagePath);
  }
  if (lab.data.length < n) {
    throw new DatasetError('dataset_truncated', `${labelPath}: file is cut short`, labelPath);
  }
  // Plain copies: own, exact-length ArrayBuffers (not Buffer views over the decompressed file).
  const labels = new Uint8Array(lab.data.subarray(0, n));
  const bad = labels.findIndex((l) => l >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) {
    const msg = `${labelPath}: label ${labels[bad]} at ${bad} is outside 0..9`;
    throw new DatasetError('dataset_bad_labels', msg, labelPath);
  }
  const images = new Uint8Array(img.data.subarray(0, n * PIXELS));
  return { images, labels, n, rows: 28, cols: 28 };
}

function concat(a: FashionMnist, b: FashionMnist): FashionMnist {
  const images = new Uint8Array((a.n + b.n) * PIXELS);
  images.set(a.images, 0);
  images.set(b.images, a.n * PIXELS);
  const labels = new Uint8Array(a.n + b.n);
  labels.set(a.labels, 0);
  labels.set(b.labels, a.n);
  return { images, labels, n: a.n + b.n, rows: 28, cols: 28 };
}

/**
 * Reads Fashion-MNIST from its gzipped IDX files. With `limit`, only the needed prefix is
 * decompressed. Throws DatasetError: 'dataset_missing' (with the install command),
 * 'dataset_bad_magic', 'dataset_bad_header', 'dataset_truncated', 'dataset_mismatch',
 * 'dataset_corrupt', 'dataset_bad_labels' or 'invalid_argument'.
 */
export async function readFashionMnist(opts: ReadFashionMnistOptions): Promise<FashionMnist> {
  const { split, limit } = opts;
  const dir = opts.dir ?? DEFAULT_FASHION_MNIST_DIR;
  if (split !== 'train' && split !== 'test' && split !== 'all') {
    throw new DatasetError('invalid_argument', `split must be train, test or all, got ${split}`);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new DatasetError('invalid_argument', `limit must be a non-negative integer: ${limit}`);
  }
  if (split !== 'all') return readSplit(dir, split, limit);
  const train = await readSplit(dir, 'train', limit);
  if (limit !== undefined && train.n >= limit) return train;
  const test = await readSplit(dir, 'test', limit === undefined ? undefined : limit - train.n);
  return concat(train, test);
}

/** Copies the images and labels at `indices` (in that order) into a new FashionMnist. */
export function subsetFashionMnist(data: FashionMnist, indices: ArrayLike<number>): FashionMnist {
  const n = indices.length;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= data.n) {
      throw new DatasetError('invalid_argument', `index ${i} is outside 0..${data.n - 1}`);
    }
    images.set(data.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    labels[k] = data.labels[i];
  }
  return { images, labels, n, rows: 28, cols: 28 };
}

/** The 28×28 bytes of image `i` (a view, not a copy). */
export function fashionMnistImage(data: FashionMnist, i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i >= data.n) {
    throw new DatasetError('invalid_argument', `index ${i} is outside 0..${data.n - 1}`);
  }
  return data.images.subarray(i * PIXELS, (i + 1) * PIXELS);
}
