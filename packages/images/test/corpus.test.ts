/**
 * The bad-input corpus (corpus.ts) through preprocessImage: every generated file decodes to
 * the picture it holds (format, stored size, colours at 16×16) or is refused with its stable
 * reason, and nothing the SVG files reference is ever fetched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import sharp from 'sharp';
import {
  preprocessImage,
  REJECT_REASONS,
  sniffFormat,
  type PreprocessResult,
} from '../src/index.js';
import { buildCorpus, LOOK_SIZE, type CorpusEntry, type Look } from './corpus.js';

let server: Server;
let fetched: string[] = [];
let corpus: CorpusEntry[];

before(async () => {
  server = createServer((req, res) => {
    fetched.push(req.url ?? '');
    res.end('');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  corpus = await buildCorpus({ refUrl: `http://127.0.0.1:${port}` });
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Why a decoded picture does not look as expected, or undefined. */
export function lookMismatch(pixels: Uint8Array, look: Look, size = LOOK_SIZE): string | undefined {
  const at = (x: number, y: number) =>
    Array.from(pixels.subarray((y * size + x) * 3, (y * size + x) * 3 + 3));
  const off = (got: number[], want: number[]) =>
    got.some((v, i) => Math.abs(v - want[i]) > look.tol);
  if ('uniform' in look) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (off(at(x, y), look.uniform)) {
          return `(${x},${y}) is [${at(x, y)}], expected [${look.uniform}] ±${look.tol}`;
        }
      }
    }
    return undefined;
  }
  const q = size / 4;
  const centres = [
    [q, q],
    [3 * q, q],
    [q, 3 * q],
    [3 * q, 3 * q],
  ];
  const got = centres.map(([x, y]) => at(x, y));
  if (got.some((g, i) => off(g, look.quadrants[i]))) {
    return `quadrants [${got.map((g) => `[${g}]`)}], expected [${look.quadrants.map((g) => `[${g}]`)}] ±${look.tol}`;
  }
  return undefined;
}

function describe(r: PreprocessResult): string {
  return r.ok ? `decoded as ${r.format} ${r.width}x${r.height}` : `${r.reason}: ${r.message}`;
}

test('the corpus names are unique and it covers every reason and every accepted format', () => {
  const names = corpus.map((e) => e.name);
  assert.equal(new Set(names).size, names.length);
  const reasons = new Set(corpus.flatMap((e) => (e.expect.ok ? [] : [e.expect.reason])));
  assert.deepEqual([...reasons].sort(), [...REJECT_REASONS].sort());
  const formats = new Set(corpus.flatMap((e) => (e.expect.ok ? [e.expect.format] : [])));
  assert.deepEqual([...formats].sort(), ['avif', 'gif', 'jpeg', 'png', 'tiff', 'webp']);
  assert.ok(corpus.length >= 100, `${corpus.length} entries`);
});

test('every corpus file decodes to its picture or is refused with its reason', async () => {
  const failures: string[] = [];
  for (const entry of corpus) {
    const r = await preprocessImage(entry.bytes, { size: LOOK_SIZE, channels: 3 });
    const { expect } = entry;
    const what = `${entry.name} (${entry.kind}): ${describe(r)}`;
    if (expect.ok) {
      if (!r.ok) {
        failures.push(`${what}; expected it decoded`);
        continue;
      }
      if (r.format !== expect.format || r.width !== expect.width || r.height !== expect.height) {
        failures.push(`${what}; expected ${expect.format} ${expect.width}x${expect.height}`);
        continue;
      }
      const mismatch = lookMismatch(r.pixels, expect.look);
      if (mismatch) failures.push(`${what}; ${mismatch}`);
      const grey = await preprocessImage(entry.bytes, { size: 8, channels: 1 });
      if (!grey.ok || grey.pixels.length !== 64)
        failures.push(`${what}; greyscale: ${describe(grey)}`);
    } else if (r.ok || r.reason !== expect.reason) {
      failures.push(`${what}; expected ${expect.reason}`);
    } else if (expect.message && !expect.message.test(r.message)) {
      failures.push(`${what}; message should match ${expect.message}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('many decodes at once give each file its own reason and message', async () => {
  // The decoder's error text is process-wide; a failure is rerun alone to keep it its own.
  const opts = { size: 8, channels: 1 } as const;
  const solo = new Map<string, PreprocessResult>();
  for (const e of corpus) solo.set(e.name, await preprocessImage(e.bytes, opts));
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(corpus.map((e) => preprocessImage(e.bytes, opts)));
    corpus.forEach((e, i) => {
      const alone = solo.get(e.name)!;
      const r = results[i];
      assert.equal(describe(r), describe(alone), e.name);
      if (r.ok && alone.ok) assert.deepEqual(r.pixels, alone.pixels, e.name);
    });
  }
});

test('the decoder never sees SVG or other text, and fetches nothing any file references', async () => {
  const svgs = corpus.filter((e) => /svg/.test(e.name) && !e.expect.ok);
  assert.ok(svgs.length >= 6);
  for (const e of svgs) assert.notEqual(sniffFormat(e.bytes).kind, 'decodable', e.name);
  // Even sharp itself parses these as SVG when asked directly (so refusing them matters).
  const inline = corpus.find((e) => e.name === 'svg-inline')!;
  assert.equal((await sharp(inline.bytes).metadata()).format, 'svg');
  const text = corpus.find((e) => e.name === 'text-then-svg')!;
  await assert.rejects(sharp(text.bytes).metadata(), /XML parse error/);
  for (const e of corpus) await preprocessImage(e.bytes, { size: 8, channels: 3 });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(fetched, []);
});

test('an ICC profile is applied: the stored P3 values differ from the sRGB result', async () => {
  const p3 = corpus.find((e) => e.name === 'jpeg-icc-p3')!;
  const stored = [...(await sharp(p3.bytes, { ignoreIcc: true }).raw().toBuffer()).subarray(0, 3)];
  const far = stored.some((v, i) => Math.abs(v - [200, 100, 50][i]) > 8);
  assert.ok(far, `stored P3 values [${stored}] are too close to the sRGB colour to tell`);
});

test('EXIF orientation: without the tag the same pixels give another picture', async () => {
  const tagged = corpus.find((e) => e.name === 'jpeg-exif-orientation-6')!;
  const plain = await sharp(tagged.bytes).jpeg({ quality: 95 }).toBuffer(); // drops metadata
  assert.equal((await sharp(plain).metadata()).orientation, undefined);
  const r = await preprocessImage(plain, { size: LOOK_SIZE, channels: 3 });
  assert.ok(r.ok);
  assert.ok(tagged.expect.ok);
  assert.ok(lookMismatch(r.pixels, tagged.expect.look), 'the untagged image looks the same');
});

test('an input over maxInputBytes is refused before decoding', async () => {
  const jpeg = corpus.find((e) => e.name === 'jpeg-baseline')!.bytes;
  const r = await preprocessImage(jpeg, { size: 8, channels: 3, maxInputBytes: jpeg.length - 1 });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.reason, 'too_large');
    assert.match(r.message, /bytes/);
  }
  assert.equal(
    (await preprocessImage(jpeg, { size: 8, channels: 3, maxInputBytes: jpeg.length })).ok,
    true,
  );
});

test('the generated files are what they claim to be (as the decoder reads their headers)', async () => {
  const claims: Record<string, Record<string, unknown>> = {
    'jpeg-progressive': { isProgressive: true },
    'jpeg-grey': { space: 'b-w', channels: 1 },
    'jpeg-cmyk': { space: 'cmyk', channels: 4 },
    'jpeg-cmyk-profile': { space: 'cmyk', hasProfile: true },
    'jpeg-icc-p3': { hasProfile: true },
    'jpeg-exif-orientation-6': { orientation: 6 },
    'jpeg-wide-65000x1': { width: 65000, height: 1 },
    'png-grey-alpha8': { channels: 2, hasAlpha: true },
    'png-palette': { isPalette: true },
    'png-palette-trns': { isPalette: true, hasAlpha: true },
    'png-1bit': { bitsPerSample: 1 },
    'png-2bit': { bitsPerSample: 2 },
    'png-4bit-palette': { bitsPerSample: 4, isPalette: true },
    'png-grey16': { depth: 'ushort', space: 'grey16' },
    'png-rgba16': { depth: 'ushort', channels: 4 },
    'png-interlaced': { isProgressive: true },
    'png-exif-orientation-6': { orientation: 6 },
    'gif-animated': { pages: 2 },
    'webp-animated': { pages: 2 },
    'webp-exif-orientation-6': { orientation: 6 },
    'avif-10bit': { bitsPerSample: 10 },
    'tiff-1bit-g4': { bitsPerSample: 1 },
    'tiff-cmyk': { space: 'cmyk' },
    'tiff-16bit': { depth: 'ushort' },
    'tiff-float-rgb': { depth: 'float', space: 'scrgb' },
    'tiff-multipage': { pages: 2 },
    'tiff-orientation-6': { orientation: 6 },
    'tiff-raw-cfa': { space: 'multiband' },
    'tiff-5-channels': { channels: 5 },
  };
  for (const [name, claim] of Object.entries(claims)) {
    const entry = corpus.find((e) => e.name === name);
    assert.ok(entry, name);
    const meta = await sharp(entry.bytes).metadata();
    for (const [field, value] of Object.entries(claim)) {
      assert.equal(meta[field as keyof typeof meta], value, `${name}: ${field}`);
    }
  }
});

test('files whose headers claim huge sizes are refused without allocating their pixels', async () => {
  const bombs = corpus.filter((e) => e.name.includes('bomb'));
  assert.deepEqual(bombs.map((e) => e.name.split('-')[0]).sort(), [
    'avif',
    'gif',
    'jpeg',
    'png',
    'tiff',
    'webp',
  ]);
  const before = process.memoryUsage().rss;
  for (const e of bombs) {
    assert.ok(e.bytes.length < 2000, `${e.name} is ${e.bytes.length} bytes`);
    const r = await preprocessImage(e.bytes, { size: 32, channels: 3 });
    assert.equal(r.ok ? 'decoded' : r.reason, 'too_large', e.name);
  }
  // Decoding any of them would take 0.8 to 1.2 GB; refusing them from the header, next to nothing.
  assert.ok(process.memoryUsage().rss - before < 100e6);
});
