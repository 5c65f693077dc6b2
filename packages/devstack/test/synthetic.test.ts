import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Storage } from '@imgcluster/storage';
import {
  encodeSynthetic,
  LOCAL_S3_CREDENTIALS,
  renderSynthetic,
  startS3,
  SYNTHETIC_FAMILIES,
  syntheticFamily,
  syntheticKey,
  SyntheticArgumentError,
  SyntheticPrefixInUseError,
  uploadSynthetic,
} from '../src/index.js';

const F = SYNTHETIC_FAMILIES.length;

test('the same seed and index draw the same image; another seed or index does not', () => {
  for (const index of [0, 7, 12345]) {
    const a = renderSynthetic(index, { seed: 3, side: 48 });
    const b = renderSynthetic(index, { seed: 3, side: 48 });
    assert.deepEqual(a, b);
    assert.equal(a.pixels.length, 48 * 48 * 3);
    assert.equal(a.family, SYNTHETIC_FAMILIES[index % F]);
    assert.notDeepEqual(renderSynthetic(index, { seed: 4, side: 48 }).pixels, a.pixels);
  }
  const sameFamily = [renderSynthetic(5, { side: 48 }), renderSynthetic(5 + F, { side: 48 })];
  assert.equal(sameFamily[0].family, sameFamily[1].family);
  assert.notDeepEqual(sameFamily[0].pixels, sameFamily[1].pixels);
});

test('families take turns; keys sit in folders of 1000 and carry the format', () => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 10 * F; i++) {
    counts.set(syntheticFamily(i), (counts.get(syntheticFamily(i)) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], Array(F).fill(10));
  assert.equal(syntheticKey('x/', 42137, 'jpeg'), 'x/0042/0042137.jpg');
  assert.equal(syntheticKey('x/', 7, 'png'), 'x/0000/0000007.png');
});

test('both formats decode to the drawn size; PNG keeps the pixels exactly', async () => {
  const drawn = Array.from({ length: 20 }, (_, i) => renderSynthetic(i, { side: 40 }));
  const formats = new Set(drawn.map((d) => d.format));
  assert.deepEqual([...formats].sort(), ['jpeg', 'png']);
  for (const image of drawn) {
    const bytes = await encodeSynthetic(image);
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [40, 40, 3]);
    if (image.format === 'png') assert.deepEqual(new Uint8Array(data), image.pixels);
  }
});

test('options out of range are refused', () => {
  assert.throws(() => renderSynthetic(-1), SyntheticArgumentError);
  assert.throws(() => renderSynthetic(0, { side: 8 }), SyntheticArgumentError);
  assert.throws(() => renderSynthetic(0, { pngShare: 2 }), SyntheticArgumentError);
  assert.throws(() => renderSynthetic(0, { seed: 1.5 }), SyntheticArgumentError);
});

/**
 * Hand-made features of an image: its mean colour, and how its luminance power spreads over
 * 8 orientations × 4 frequency bands (the 2-D Fourier spectrum of a 32×32 version, which
 * ignores where the pattern sits and shows its direction and scale).
 */
function features(pixels: Uint8Array, side: number): number[] {
  const n = 32;
  const f = side / n;
  const lum = new Float64Array(n * n);
  const colour = [0, 0, 0];
  for (let p = 0; p < side * side; p++) {
    const [r, g, b] = [pixels[3 * p], pixels[3 * p + 1], pixels[3 * p + 2]];
    colour[0] += r / (255 * side * side);
    colour[1] += g / (255 * side * side);
    colour[2] += b / (255 * side * side);
    const cell = Math.floor(Math.floor(p / side) / f) * n + Math.floor((p % side) / f);
    lum[cell] += (0.299 * r + 0.587 * g + 0.114 * b) / (255 * f * f);
  }

  // Separable DFT: along rows, then along columns.
  const rowRe = new Float64Array(n * n);
  const rowIm = new Float64Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let u = 0; u < n; u++) {
      for (let x = 0; x < n; x++) {
        const t = (-2 * Math.PI * u * x) / n;
        rowRe[y * n + u] += lum[y * n + x] * Math.cos(t);
        rowIm[y * n + u] += lum[y * n + x] * Math.sin(t);
      }
    }
  }
  const bins = new Float64Array(8 * 4);
  let total = 0;
  for (let u = 0; u < n; u++) {
    for (let v = 0; v < n; v++) {
      const fu = u > n / 2 ? u - n : u;
      const fv = v > n / 2 ? v - n : v;
      if (fu === 0 && fv === 0) continue;
      let re = 0;
      let im = 0;
      for (let y = 0; y < n; y++) {
        const t = (-2 * Math.PI * v * y) / n;
        const [c, s] = [Math.cos(t), Math.sin(t)];
        re += rowRe[y * n + u] * c - rowIm[y * n + u] * s;
        im += rowRe[y * n + u] * s + rowIm[y * n + u] * c;
      }
      const radius = Math.hypot(fu, fv);
      const band = radius < 2 ? 0 : radius < 4 ? 1 : radius < 8 ? 2 : 3;
      const angle = (Math.atan2(fv, fu) + Math.PI) % Math.PI;
      bins[band * 8 + Math.min(7, Math.floor((angle / Math.PI) * 8))] += re * re + im * im;
      total += re * re + im * im;
    }
  }
  return [...colour, ...Array.from(bins, (p) => Math.sqrt(p / (total + 1e-9)))];
}

const distance = (a: number[], b: number[]) => Math.hypot(...a.map((v, j) => v - b[j]));

test('families are told apart: the nearest family mean of simple features is mostly right', () => {
  const side = 64;
  const perFamily = 30;
  const featuresOf = (i: number) => features(renderSynthetic(i, { side }).pixels, side);

  // Family means from images 0 .. 30·F-1, checked on the next 30·F images.
  const total = perFamily * F;
  const means = Array.from({ length: F }, () => new Array<number>(3 + 32).fill(0));
  for (let i = 0; i < total; i++) {
    featuresOf(i).forEach((v, j) => (means[i % F][j] += v / perFamily));
  }
  const right = new Array<number>(F).fill(0);
  for (let i = total; i < 2 * total; i++) {
    const f = featuresOf(i);
    const dist = means.map((m) => distance(m, f));
    if (dist.indexOf(Math.min(...dist)) === i % F) right[i % F]++;
  }

  const all = right.reduce((a, b) => a + b, 0);
  assert.ok(all / total > 0.8, `right for ${all} of ${total} (chance: ${total / F})`);
  right.forEach((r, f) => assert.ok(r >= perFamily / 2, `${SYNTHETIC_FAMILIES[f]}: ${r}`));
});

test('uploads images with labels, then reuses a complete collection with the same settings', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgcluster-synthetic-'));
  const s3 = await startS3(dir);
  const storage = new Storage({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    ...LOCAL_S3_CREDENTIALS,
  });
  try {
    const target = { bucket: 'datasets', root: 'synthetic/', count: 25, side: 32 };
    const seen: number[] = [];
    const first = await uploadSynthetic(storage, target, (p) => seen.push(p.done));
    assert.equal(first.reused, false);
    assert.equal(seen.at(-1), 25);
    assert.equal(first.formats.png + first.formats.jpeg, 25);

    const listed = await storage.list('datasets', first.prefix);
    assert.equal(listed.length, 25);
    const labels = await storage.getJson<Record<string, string>>('datasets', first.labelsKey);
    assert.deepEqual(Object.keys(labels).sort(), listed.map((o) => o.key).sort());
    assert.equal(labels[syntheticKey(first.prefix, 3, renderSynthetic(3, target).format)], 'rings');

    const again = await uploadSynthetic(storage, target);
    assert.equal(again.reused, true);
    assert.equal(again.bytes, first.bytes);

    // Another seed is another collection: drawn again elsewhere, refused over the first.
    const reseeded = await uploadSynthetic(storage, { ...target, seed: 1, root: 'other/' });
    assert.equal(reseeded.reused, false);
    await assert.rejects(
      uploadSynthetic(storage, { ...target, seed: 1 }),
      (err) => err instanceof SyntheticPrefixInUseError,
    );
  } finally {
    storage.close();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
