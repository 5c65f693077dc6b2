import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  encodePng,
  gridPng,
  heatColour,
  heatmapPng,
  ImageArgumentError,
  normalise,
} from '../src/index.js';

/** Decodes a PNG back to raw pixels in its stored channel count (the file's own, per header). */
async function decode(png: Buffer) {
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  // Raw output is sRGB unless asked otherwise, so ask for the file's own colour space.
  const space = meta.channels === 1 ? 'b-w' : 'srgb';
  const { data, info } = await sharp(png)
    .toColourspace(space)
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, meta.channels);
  return { data, width: info.width, height: info.height, channels: meta.channels, meta };
}

/** RGB triple at (x, y) of a 3-channel image `width` wide. */
function rgbAt(data: Uint8Array, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return Array.from(data.subarray(i, i + 3));
}

function isArgError(e: unknown): boolean {
  return e instanceof ImageArgumentError && e.code === 'invalid_argument';
}

test('encodePng: 1 channel stays a 1-channel grey PNG, pixels exact', async () => {
  const pixels = Uint8Array.from({ length: 6 * 4 }, (_, i) => i * 10);
  const out = await decode(await encodePng(pixels, 6, 4, 1));
  assert.deepEqual([out.width, out.height, out.channels], [6, 4, 1]);
  assert.equal(out.meta.space, 'b-w');
  assert.deepEqual(Array.from(out.data), Array.from(pixels));
});

test('encodePng: 3 channels round-trip exactly', async () => {
  const pixels = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const out = await decode(await encodePng(pixels, 5, 3, 3));
  assert.deepEqual([out.width, out.height, out.channels], [5, 3, 3]);
  assert.deepEqual(Array.from(out.data), Array.from(pixels));
});

test('encodePng: wrong length or dims throw', async () => {
  await assert.rejects(encodePng(new Uint8Array(10), 3, 3, 1), isArgError);
  await assert.rejects(encodePng(new Uint8Array(9), 3, 3, 3), isArgError);
  await assert.rejects(encodePng(new Uint8Array(0), 0, 0, 1), isArgError);
  await assert.rejects(encodePng(new Uint8Array(9), 3, 3, 2 as 1), isArgError);
});

test('gridPng: layout, padding, integer upscale (grey)', async () => {
  // Three 2×2 tiles; tile k has pixel values 10k + (0..3).
  const tiles = [0, 1, 2].map((k) => Uint8Array.from([0, 1, 2, 3].map((v) => 10 * k + v)));
  const png = await gridPng(tiles, 2, 1, { cols: 2, pad: 1, scale: 2, padValue: 200 });
  const { data, width, height, channels } = await decode(png);
  // 2 cols × 4 px + 3 gaps; 2 rows × 4 px + 3 gaps.
  assert.deepEqual([width, height, channels], [11, 11, 1]);
  const at = (x: number, y: number): number => data[y * width + x];
  assert.equal(at(0, 0), 200, 'border');
  assert.equal(at(1, 1), 0, 'tile 0 pixel (0,0)');
  assert.equal(at(2, 2), 0, 'upscaled by 2');
  assert.equal(at(3, 1), 1, 'tile 0 pixel (1,0)');
  assert.equal(at(4, 4), 3, 'tile 0 pixel (1,1)');
  assert.equal(at(5, 1), 200, 'gap between columns');
  assert.equal(at(6, 1), 10, 'tile 1 pixel (0,0)');
  assert.equal(at(1, 6), 20, 'tile 2 on the second row');
  assert.equal(at(6, 6), 200, 'empty fourth cell');
});

test('gridPng: RGB tiles, cols shrink to the image count, empty list', async () => {
  const red = new Uint8Array(3 * 3 * 3);
  for (let i = 0; i < 9; i++) red.set([255, 0, 0], i * 3);
  const blue = new Uint8Array(3 * 3 * 3);
  for (let i = 0; i < 9; i++) blue.set([0, 0, 255], i * 3);
  const { data, width, height, channels } = await decode(
    await gridPng([red, blue], 3, 3, { cols: 10, pad: 2 }),
  );
  assert.deepEqual([width, height, channels], [2 * 3 + 3 * 2, 3 + 2 * 2, 3]);
  const at = (x: number, y: number): number[] => rgbAt(data, width, x, y);
  assert.deepEqual(at(2, 2), [255, 0, 0]);
  assert.deepEqual(at(7, 4), [0, 0, 255]);
  assert.deepEqual(at(0, 0), [255, 255, 255], 'default pad is white');
  const empty = await decode(await gridPng([], 4, 1, { cols: 5, pad: 1 }));
  assert.deepEqual([empty.width, empty.height], [6, 6]);
  assert.ok(empty.data.every((v) => v === 255));
});

test('gridPng: a tile of the wrong size throws', async () => {
  await assert.rejects(gridPng([new Uint8Array(5)], 2, 1, { cols: 1 }), isArgError);
  await assert.rejects(gridPng([new Uint8Array(4)], 2, 1, { cols: 0 }), isArgError);
  await assert.rejects(gridPng([new Uint8Array(4)], 2, 1, { cols: 1, scale: 1.5 }), isArgError);
});

test('heatColour: ramp ends, clamping and brightness order', () => {
  assert.deepEqual(heatColour(0), [16, 16, 72]);
  assert.deepEqual(heatColour(1), [252, 232, 40]);
  assert.deepEqual(heatColour(-3), heatColour(0));
  assert.deepEqual(heatColour(7), heatColour(1));
  assert.deepEqual(heatColour(Number.NaN), heatColour(0));
  const luma = (t: number): number => {
    const [r, g, b] = heatColour(t);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  for (let t = 0; t < 1; t += 0.05) assert.ok(luma(t + 0.05) > luma(t), `brighter after ${t}`);
});

test('normalise: data range, explicit range, flat and non-finite values', () => {
  assert.deepEqual(Array.from(normalise(Float32Array.from([2, 4, 6]))), [0, 0.5, 1]);
  assert.deepEqual(Array.from(normalise(Float32Array.from([2, 4, 6]), 4, 5)), [0, 0, 1]);
  assert.deepEqual(Array.from(normalise(Float32Array.from([3, 3]))), [0, 0]);
  assert.deepEqual(Array.from(normalise(Float32Array.from([NaN, 1, Infinity, 3]))), [0, 0, 0, 1]);
});

test('heatmapPng: nearest upscale to scaleTo and colours at the ends', async () => {
  const values = Float32Array.from([0, 1, 2, 3]);
  const png = await heatmapPng(values, 2, 2, { scaleTo: 6 });
  const { data, width, height, channels } = await decode(png);
  assert.deepEqual([width, height, channels], [6, 6, 3]);
  const at = (x: number, y: number): number[] => rgbAt(data, 6, x, y);
  assert.deepEqual(at(0, 0), heatColour(0));
  assert.deepEqual(at(2, 2), heatColour(0), 'still the first cell');
  assert.deepEqual(at(3, 0), heatColour(1 / 3));
  assert.deepEqual(at(5, 5), heatColour(1));
  assert.deepEqual(at(0, 5), heatColour(2 / 3));
});

test('heatmapPng: non-square maps keep their aspect, min/max clamp', async () => {
  const values = Float32Array.from([0, 5, 10, 15, 20, 25]); // 2 rows × 3 cols
  const a = await decode(await heatmapPng(values, 2, 3, { scaleTo: 30 }));
  assert.deepEqual([a.width, a.height], [30, 20]);
  const b = await decode(await heatmapPng(values, 2, 3, { min: 10, max: 15 }));
  assert.deepEqual([b.width, b.height], [3, 2]);
  const rgb = (i: number): number[] => Array.from(b.data.subarray(i * 3, i * 3 + 3));
  assert.deepEqual(rgb(0), heatColour(0));
  assert.deepEqual(rgb(1), heatColour(0));
  assert.deepEqual(rgb(3), heatColour(1));
  assert.deepEqual(rgb(5), heatColour(1));
  await assert.rejects(heatmapPng(values, 3, 3), isArgError);
});
