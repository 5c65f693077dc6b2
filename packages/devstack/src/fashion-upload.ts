import { encodePng } from '@imgcluster/images';
import { FASHION_MNIST_CLASSES, type FashionMnist } from '@imgcluster/datasets';
import type { Storage } from '@imgcluster/storage';

/** Where an uploaded Fashion-MNIST subset lies. */
export interface UploadedSet {
  bucket: string;
  prefix: string;
  /** Object key of the labels file: { "<image key>": "<class name>" }. */
  labelsKey: string;
  keys: string[];
}

/**
 * Uploads Fashion-MNIST images as PNG objects (one per image) under `prefix`, and a
 * labels.json beside them mapping each key to its class name. `onProgress` is called
 * with the count uploaded so far.
 */
export async function uploadFashionMnist(
  storage: Storage,
  data: FashionMnist,
  indices: number[],
  target: { bucket: string; prefix: string; concurrency?: number },
  onProgress: (done: number) => void = () => undefined,
): Promise<UploadedSet> {
  await storage.ensureBucket(target.bucket);
  const side = 28;
  const keys = indices.map((i) => `${target.prefix}${String(i).padStart(5, '0')}.png`);
  const labels: Record<string, string> = {};

  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < indices.length) {
      const j = next++;
      const i = indices[j];
      const pixels = data.images.subarray(i * side * side, (i + 1) * side * side);
      await storage.put(
        target.bucket,
        keys[j],
        await encodePng(pixels, side, side, 1),
        'image/png',
      );
      labels[keys[j]] = FASHION_MNIST_CLASSES[data.labels[i]];
      done++;
      if (done % 500 === 0 || done === indices.length) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: target.concurrency ?? 16 }, worker));

  const labelsKey = `${target.prefix}labels.json`;
  await storage.putJson(target.bucket, labelsKey, labels);
  return { bucket: target.bucket, prefix: target.prefix, labelsKey, keys };
}
