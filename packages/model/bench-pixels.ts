/**
 * The benchmarks' input: a deterministic batch of `n` uint8 NHWC images with some
 * structure (bright blobs on dark noise), so timings do not depend on random data.
 */
export function benchPixels(n: number, size: number, channels: number): Uint8Array {
  const out = new Uint8Array(n * size * size * channels);
  let seed = 12345;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const p = Math.floor(i / channels) % (size * size);
    const blob = Math.abs((p % size) - size / 2) + Math.abs(Math.floor(p / size) - size / 2);
    out[i] = blob < size / 4 ? 200 + (seed % 50) : seed % 60;
  }
  return out;
}
