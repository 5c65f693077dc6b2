import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  ImageArgumentError,
  preprocessImage,
  REJECT_REASONS,
  type PreprocessOk,
  type PreprocessOptions,
  type PreprocessResult,
} from '../src/index.js';
import { checkHeader } from '../src/preprocess.js';
import { craftedPng, fromRaw, noise, solid } from './fixtures.js';

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];

async function ok(input: Buffer, opts: PreprocessOptions): Promise<PreprocessOk> {
  const r = await preprocessImage(input, opts);
  assert.equal(r.ok, true, r.ok ? '' : `${r.reason}: ${r.message}`);
  const res = r as PreprocessOk;
  assert.equal(res.pixels.length, opts.size * opts.size * opts.channels);
  return res;
}

function rejected(r: PreprocessResult, reason: string): void {
  assert.equal(r.ok, false, 'expected a rejection');
  if (!r.ok) assert.equal(r.reason, reason, r.message);
}

/** Pixel (x, y) of an HWC image of side `size`. */
function px(p: Uint8Array, size: number, ch: number, x: number, y: number): number[] {
  const i = (y * size + x) * ch;
  return Array.from(p.subarray(i, i + ch));
}

function near(actual: number[], expected: number[], tol: number, what = ''): void {
  assert.equal(actual.length, expected.length);
  const bad = actual.some((v, i) => Math.abs(v - expected[i]) > tol);
  assert.ok(!bad, `${what} got [${actual}] expected [${expected}] ±${tol}`);
}

/** Left half `left`, right half `right` (each a channel tuple), w×h. */
function halves(w: number, h: number, left: number[], right: number[]): Buffer {
  const ch = left.length;
  const out = Buffer.alloc(w * h * ch);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out.set(x < w / 2 ? left : right, (y * w + x) * ch);
  }
  return out;
}

test('greyscale PNG keeps its level in 1 and 3 channels', async () => {
  const png = await fromRaw(solid(16, 16, [100]), 16, 16, 1)
    .png()
    .toBuffer();
  const g = await ok(png, { size: 8, channels: 1 });
  assert.equal(g.format, 'png');
  assert.deepEqual([g.width, g.height], [16, 16]);
  assert.ok(g.pixels.every((v) => v === 100));
  const c = await ok(png, { size: 8, channels: 3 });
  assert.ok(c.pixels.every((v) => v === 100));
});

test('grey+alpha PNG is flattened onto white by default, black on request', async () => {
  const png = await fromRaw(halves(16, 16, [0, 255], [0, 0]), 16, 16, 2)
    .toColourspace('b-w')
    .png()
    .toBuffer();
  assert.equal((await sharp(png).metadata()).channels, 2);
  const w = await ok(png, { size: 16, channels: 1 });
  assert.equal(w.pixels[0], 0, 'opaque black stays black');
  assert.equal(w.pixels[15], 255, 'transparent becomes white');
  const b = await ok(png, { size: 16, channels: 1, background: 'black' });
  assert.equal(b.pixels[15], 0, 'transparent becomes black');
});

test('RGBA PNG: opaque colour kept, transparent area white', async () => {
  const png = await fromRaw(halves(16, 16, [...RED, 255], [...BLUE, 0]), 16, 16, 4)
    .png()
    .toBuffer();
  const r = await ok(png, { size: 16, channels: 3 });
  assert.deepEqual(px(r.pixels, 16, 3, 2, 8), RED);
  assert.deepEqual(px(r.pixels, 16, 3, 13, 8), [255, 255, 255]);
});

test('palette PNG decodes to its colours; greyscale uses luminance', async () => {
  const png = await fromRaw(halves(16, 16, BLUE, [255, 255, 0]), 16, 16, 3)
    .png({ palette: true })
    .toBuffer();
  assert.equal((await sharp(png).metadata()).isPalette, true);
  const r = await ok(png, { size: 16, channels: 3 });
  near(px(r.pixels, 16, 3, 2, 2), BLUE, 2);
  near(px(r.pixels, 16, 3, 13, 2), [255, 255, 0], 2);
  const g = await ok(png, { size: 16, channels: 1 });
  assert.ok(g.pixels[0] < 100 && g.pixels[15] > 200, `blue dark, yellow light: ${g.pixels[0]}`);
});

test('JPEG RGB and CMYK', async () => {
  const rgb = await fromRaw(solid(32, 24, [200, 30, 60]), 32, 24, 3)
    .jpeg()
    .toBuffer();
  const a = await ok(rgb, { size: 10, channels: 3 });
  assert.equal(a.format, 'jpeg');
  assert.deepEqual([a.width, a.height], [32, 24]);
  near(px(a.pixels, 10, 3, 5, 5), [200, 30, 60], 6);
  const cmyk = await fromRaw(solid(16, 16, RED), 16, 16, 3)
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const b = await ok(cmyk, { size: 8, channels: 3 });
  const [r, g, bl] = px(b.pixels, 8, 3, 4, 4);
  assert.ok(r > 200 && g < 50 && bl < 60, `CMYK red came back as ${[r, g, bl]}`);
});

test('WebP, TIFF, GIF and AVIF decode', async () => {
  const raw = solid(16, 16, [10, 200, 30]);
  const cases: Array<[string, Buffer, number]> = [
    ['webp', await fromRaw(raw, 16, 16, 3).webp({ lossless: true }).toBuffer(), 0],
    ['tiff', await fromRaw(raw, 16, 16, 3).tiff({ compression: 'lzw' }).toBuffer(), 0],
    ['gif', await fromRaw(raw, 16, 16, 3).gif().toBuffer(), 4],
    ['avif', await fromRaw(raw, 16, 16, 3).avif({ quality: 90 }).toBuffer(), 12],
  ];
  for (const [format, buf, tol] of cases) {
    const r = await ok(buf, { size: 4, channels: 3 });
    assert.equal(r.format, format);
    near(px(r.pixels, 4, 3, 2, 2), [10, 200, 30], tol, format);
  }
});

test('16-bit PNG comes out as 8-bit', async () => {
  const png = await fromRaw(solid(8, 8, [0x80]), 8, 8, 1)
    .toColourspace('grey16')
    .png()
    .toBuffer();
  assert.equal((await sharp(png).metadata()).depth, 'ushort');
  const r = await ok(png, { size: 4, channels: 1 });
  assert.ok(r.pixels.every((v) => v === 128));
});

test("fit 'cover' crops the centre, 'fill' keeps the whole width", async () => {
  const w = 40;
  const h = 20;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set(x < 10 ? RED : x >= 30 ? BLUE : GREEN, (y * w + x) * 3);
  }
  const png = await fromRaw(raw, w, h, 3).png().toBuffer();
  const cover = await ok(png, { size: 20, channels: 3 });
  near(px(cover.pixels, 20, 3, 0, 10), GREEN, 2, 'cover left edge');
  near(px(cover.pixels, 20, 3, 19, 10), GREEN, 2, 'cover right edge');
  const fill = await ok(png, { size: 20, channels: 3, fit: 'fill' });
  near(px(fill.pixels, 20, 3, 0, 10), RED, 2, 'fill left edge');
  near(px(fill.pixels, 20, 3, 19, 10), BLUE, 2, 'fill right edge');
});

test('EXIF orientation 6 is applied: output follows the upright image', async () => {
  // Upright image: 20 wide, 40 tall, grey, with a red block at rows 10..20, cols 0..10, which
  // lands in the top-left quadrant once 'cover' keeps the middle rows 10..30.
  const uw = 20;
  const uh = 40;
  const upright = Buffer.alloc(uw * uh * 3, 128);
  for (let y = 10; y < 20; y++) for (let x = 0; x < 10; x++) upright.set(RED, (y * uw + x) * 3);
  // Stored pixels are the upright image turned 90° anticlockwise; orientation 6 says "turn
  // 90° clockwise to display".
  const stored = await fromRaw(upright, uw, uh, 3).rotate(270).raw().toBuffer();
  const plain = await fromRaw(stored, 40, 20, 3).jpeg({ quality: 95 }).toBuffer();
  const tagged = await sharp(plain).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  const meta = await sharp(tagged).metadata();
  assert.deepEqual([meta.width, meta.height, meta.orientation], [40, 20, 6]);

  const quadrants = (p: Uint8Array): number[][] =>
    [
      [4, 4],
      [12, 4],
      [4, 12],
      [12, 12],
    ].map(([x, y]) => px(p, 16, 3, x, y));
  const isRed = ([r, g, b]: number[]): boolean => r > 200 && g < 60 && b < 60;

  const r = await ok(tagged, { size: 16, channels: 3 });
  assert.deepEqual([r.width, r.height], [40, 20], 'width/height are the stored ones');
  assert.deepEqual(quadrants(r.pixels).map(isRed), [true, false, false, false]);
  // Without the tag the same pixels put the block elsewhere (so the check above means something).
  const untagged = await ok(plain, { size: 16, channels: 3 });
  assert.deepEqual(quadrants(untagged.pixels).map(isRed), [false, false, true, false]);
});

test('SVG is refused even though the decoder could render it', async () => {
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' +
      '<rect width="10" height="10" fill="red"/></svg>',
  );
  rejected(await preprocessImage(svg, { size: 8, channels: 3 }), 'unsupported_format');
});

test('empty, text and BMP inputs', async () => {
  rejected(await preprocessImage(Buffer.alloc(0), { size: 8, channels: 3 }), 'empty');
  const text = Buffer.from('this file is named photo.jpg but it is text\n');
  rejected(await preprocessImage(text, { size: 8, channels: 3 }), 'not_an_image');
  const bmp = Buffer.alloc(70);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(40, 14);
  rejected(await preprocessImage(bmp, { size: 8, channels: 3 }), 'unsupported_format');
});

test('truncated and damaged files are rejected, not half-decoded', async () => {
  const raw = noise(128, 96);
  const jpeg = await fromRaw(raw, 128, 96, 3).jpeg({ quality: 90 }).toBuffer();
  await ok(jpeg, { size: 16, channels: 3 });
  for (const frac of [0.5, 0.9, 0.99]) {
    const cut = jpeg.subarray(0, Math.floor(jpeg.length * frac));
    // The header survives, so only a strict decoder notices.
    assert.equal((await sharp(cut).metadata()).width, 128);
    rejected(await preprocessImage(cut, { size: 16, channels: 3 }), 'corrupt');
    rejected(await preprocessImage(cut, { size: 16, channels: 3, failOn: 'truncated' }), 'corrupt');
  }
  const png = await fromRaw(raw, 128, 96, 3).png().toBuffer();
  const cutPng = png.subarray(0, Math.floor(png.length * 0.8));
  rejected(await preprocessImage(cutPng, { size: 16, channels: 1 }), 'corrupt');
  const damaged = Buffer.from(jpeg);
  for (let i = 1000; i < 1400; i++) damaged[i] = (i * 13) & 0xff;
  rejected(await preprocessImage(damaged, { size: 16, channels: 3 }), 'corrupt');
});

test('oversize header is refused before decoding', async () => {
  const huge = craftedPng(20000, 20000);
  assert.ok(huge.length < 1000, 'the crafted file is tiny');
  const meta = await sharp(huge, { limitInputPixels: false }).metadata();
  assert.deepEqual([meta.width, meta.height], [20000, 20000]);
  const before = process.memoryUsage().rss;
  const r = await preprocessImage(huge, { size: 32, channels: 3 });
  rejected(r, 'too_large');
  if (!r.ok) assert.match(r.message, /20000x20000/);
  // Decoding would need 400 MB; refusing from the header needs next to nothing.
  assert.ok(process.memoryUsage().rss - before < 100e6);
  const small = await fromRaw(solid(64, 64, RED), 64, 64, 3)
    .png()
    .toBuffer();
  const limited = await preprocessImage(small, { size: 8, channels: 3, maxInputPixels: 4000 });
  rejected(limited, 'too_large');
  await ok(small, { size: 8, channels: 3, maxInputPixels: 4096 });
});

test('output length is size*size*channels for many sizes', async () => {
  const jpeg = await fromRaw(noise(50, 30), 50, 30, 3).jpeg().toBuffer();
  for (const size of [1, 7, 28, 32, 100]) {
    for (const channels of [1, 3] as const) await ok(jpeg, { size, channels });
  }
});

test('never throws on mangled bytes', async () => {
  const seeds = [
    await fromRaw(noise(40, 30), 40, 30, 3).jpeg().toBuffer(),
    await fromRaw(noise(40, 30), 40, 30, 3).png().toBuffer(),
    await fromRaw(noise(40, 30), 40, 30, 3).webp().toBuffer(),
    await fromRaw(noise(40, 30), 40, 30, 3).gif().toBuffer(),
  ];
  let state = 7;
  const rand = (n: number): number => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state % n;
  };
  const seen = new Set<string>();
  for (let i = 0; i < 120; i++) {
    const buf = Buffer.from(seeds[i % seeds.length]);
    for (let k = 0; k < 1 + rand(20); k++) buf[rand(buf.length)] = rand(256);
    const input = i % 3 === 0 ? buf.subarray(0, rand(buf.length)) : buf;
    const r = await preprocessImage(input, { size: 8, channels: 3 });
    if (r.ok) assert.equal(r.pixels.length, 192);
    else assert.ok(REJECT_REASONS.includes(r.reason), r.reason);
    seen.add(r.ok ? 'ok' : r.reason);
  }
  assert.ok(seen.has('corrupt'), `outcomes: ${[...seen]}`);
});

test('programmer errors throw ImageArgumentError with a code', async () => {
  const png = await fromRaw(solid(4, 4, [1]), 4, 4, 1)
    .png()
    .toBuffer();
  const bad: Array<[unknown, unknown]> = [
    [png, { size: 0, channels: 3 }],
    [png, { size: 2.5, channels: 3 }],
    [png, { size: 8, channels: 2 }],
    [png, { size: 8, channels: 3, maxInputPixels: -1 }],
    [png, { size: 8, channels: 3, fit: 'contain' }],
    ['not a buffer', { size: 8, channels: 3 }],
  ];
  for (const [input, opts] of bad) {
    await assert.rejects(
      preprocessImage(input as Buffer, opts as PreprocessOptions),
      (e: unknown) => e instanceof ImageArgumentError && e.code === 'invalid_argument',
    );
  }
});

test('HEIF headers: AV1 accepted, HEVC refused as unsupported', () => {
  const base = { width: 10, height: 10, format: 'heif' } as const;
  const heic = checkHeader({ ...base, compression: 'hevc' } as never, 1e6);
  assert.equal(heic?.reason, 'unsupported_format');
  assert.equal(checkHeader({ ...base, compression: 'av1' } as never, 1e6), null);
  assert.equal(checkHeader({ ...base, format: 'jpeg' } as never, 99)?.reason, 'too_large');
  assert.equal(checkHeader({ ...base, format: 'jpeg', width: 0 } as never, 1e6)?.reason, 'corrupt');
});
