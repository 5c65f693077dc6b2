/**
 * The preprocess baseline: the project's own decode-and-resize (`preprocessImage`) over
 * image files on local disk, with as many images in flight as one preprocess process
 * decodes at once. No queue, no object storage, no shard writing: what is left when those
 * costs are taken away. The same loop reading from object storage instead (with or without
 * decoding) tells how much of the difference is the storage round trips.
 */
import { readFile } from 'node:fs/promises';
import { preprocessImage } from '@imgcluster/images';

/**
 * Images one preprocess process has in flight: its preprocess job decodes 4 images at once
 * (IN_FLIGHT in services/preprocess/src/preprocess-shard.ts) and runs WORKER_CONCURRENCY
 * jobs (default 1) at a time.
 */
export const PREPROCESS_IN_FLIGHT = 4;

/** Result of one pass of a loop. */
export interface LoopRate {
  images: number;
  /** Images the step reported as accepted. */
  accepted: number;
  seconds: number;
  imagesPerSec: number;
  /** Wall-clock start and end, ms since the epoch. */
  startedAt: number;
  endedAt: number;
}

/** Where the loop gets image bytes from. */
export type ImageSource = (i: number) => Promise<Uint8Array>;

/** Image i from local disk. */
export const fromDisk =
  (files: string[]): ImageSource =>
  (i) =>
    readFile(files[i]);

/** Runs step(0..n-1), `inFlight` at a time; returns images per second. */
async function timedLoop(
  n: number,
  inFlight: number,
  step: (i: number) => Promise<boolean>,
): Promise<LoopRate> {
  let next = 0;
  let accepted = 0;
  const worker = async () => {
    while (next < n) if (await step(next++)) accepted++;
  };
  const startedAt = Date.now();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return {
    images: n,
    accepted,
    seconds,
    imagesPerSec: n / seconds,
    startedAt,
    endedAt: Date.now(),
  };
}

/** Reads and preprocesses n images from `source` once, `inFlight` at a time. */
export function preprocessLoop(
  source: ImageSource,
  n: number,
  size: number,
  channels: 1 | 3,
  inFlight = PREPROCESS_IN_FLIGHT,
): Promise<LoopRate> {
  return timedLoop(n, inFlight, async (i) => {
    const result = await preprocessImage(await source(i), { size, channels });
    return result.ok;
  });
}

/** Only reads n images from `source`, `inFlight` at a time (no decoding). */
export function readLoop(source: ImageSource, n: number, inFlight = PREPROCESS_IN_FLIGHT) {
  return timedLoop(n, inFlight, async (i) => (await source(i)).length > 0);
}
