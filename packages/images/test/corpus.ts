/**
 * The bad-input corpus: one small generated file for every kind of input a real collection
 * holds, each with the outcome preprocessImage must give it: decoded (format, stored size,
 * and what the picture looks like once decoded to 16×16 sRGB with the default 'cover' fit),
 * or refused with a stable reason. Everything is generated here, by sharp where it writes the
 * format and by hand (headers, chunks, boxes, IFDs) where it does not or where the file must
 * lie about itself. Used by the unit test (packages/images/test/corpus.test.ts) and the
 * end-to-end test (test/bad-inputs.test.ts).
 */
import sharp from 'sharp';
import { deflateSync, gzipSync } from 'node:zlib';
import type { RejectReason } from '../src/index.js';
import {
  AV1C,
  craftedPng,
  fromRaw,
  heifOf,
  HVCC,
  ihdr,
  noise,
  pngChunk,
  pngOf,
  pngRows,
  tiffOf,
  type TiffPage,
} from './fixtures.js';

type Rgb = [number, number, number];

/** How a decoded entry looks at 16×16 RGB: one colour, or four quadrant colours. */
export type Look =
  { uniform: Rgb; tol: number } | { quadrants: [tl: Rgb, tr: Rgb, bl: Rgb, br: Rgb]; tol: number };

/** An input that must decode. */
export interface Decoded {
  ok: true;
  /** The format preprocessImage reports. */
  format: string;
  /** Stored width and height (before EXIF orientation). */
  width: number;
  height: number;
  look: Look;
}

/** An input that must be refused. */
export interface Refused {
  ok: false;
  reason: RejectReason;
  /** What the message must say (names the format, the limit, ...). */
  message?: RegExp;
}

/** One file of the corpus. */
export interface CorpusEntry {
  /** Unique, stable; with `ext`, the file name in the end-to-end test. */
  name: string;
  /** The file name extension a collection would give it (sometimes a lie, on purpose). */
  ext: string;
  /** What real-world input it stands for. */
  kind: string;
  bytes: Buffer;
  expect: Decoded | Refused;
}

/** The sizes the looks are checked at. */
export const LOOK_SIZE = 16;

const C: Rgb = [200, 30, 60];
const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const YELLOW: Rgb = [255, 255, 0];

/** w×h of one repeated pixel. */
function fill(w: number, h: number, px: number[]): Buffer {
  const out = Buffer.alloc(w * h * px.length);
  for (let i = 0; i < w * h; i++) out.set(px, i * px.length);
  return out;
}

/** w×h, left half `left`, right half `right`. */
function halves(w: number, h: number, left: number[], right: number[]): Buffer {
  const out = Buffer.alloc(w * h * left.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out.set(x < w / 2 ? left : right, (y * w + x) * left.length);
  }
  return out;
}

/** sRGB encoding of a linear-light value 0..1, as 0..255. */
export function srgbEncode(v: number): number {
  const c = v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055;
  return Math.round(255 * Math.min(1, Math.max(0, c)));
}

const uniform = (rgb: number[], tol = 0): Look => ({ uniform: rgb as Rgb, tol });
const decoded = (format: string, width: number, height: number, look: Look): Decoded => ({
  ok: true,
  format,
  width,
  height,
  look,
});
const refused = (reason: RejectReason, message?: RegExp): Refused => ({
  ok: false,
  reason,
  message,
});

/** EXIF orientations: where stored pixel (x, y) of a sw×sh image lands in the upright one. */
const ORIENT: Record<number, (x: number, y: number, sw: number, sh: number) => [number, number]> = {
  1: (x, y) => [x, y],
  2: (x, y, sw) => [sw - 1 - x, y],
  3: (x, y, sw, sh) => [sw - 1 - x, sh - 1 - y],
  4: (x, y, _sw, sh) => [x, sh - 1 - y],
  5: (x, y) => [y, x],
  6: (x, y, _sw, sh) => [sh - 1 - y, x],
  7: (x, y, sw, sh) => [sh - 1 - y, sw - 1 - x],
  8: (x, y, sw) => [y, sw - 1 - x],
};

/** The upright picture of the orientation entries: 48×24, quadrants red, green, blue, yellow. */
const UPRIGHT = { w: 48, h: 24, quadrants: [RED, GREEN, BLUE, YELLOW] as [Rgb, Rgb, Rgb, Rgb] };

function uprightAt(x: number, y: number): Rgb {
  const q = (y < UPRIGHT.h / 2 ? 0 : 2) + (x < UPRIGHT.w / 2 ? 0 : 1);
  return UPRIGHT.quadrants[q];
}

/** The stored pixels of the upright picture for EXIF orientation `o`, and their size. */
function storedFor(o: number): { data: Buffer; w: number; h: number } {
  const swap = o >= 5;
  const w = swap ? UPRIGHT.h : UPRIGHT.w;
  const h = swap ? UPRIGHT.w : UPRIGHT.h;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set(uprightAt(...ORIENT[o](x, y, w, h)), (y * w + x) * 3);
  }
  return { data, w, h };
}

/** The JPEG markers up to the first scan, as [marker, offset, length] (length with marker). */
function jpegSegments(jpeg: Buffer): [number, number, number][] {
  const out: [number, number, number][] = [];
  let i = 2;
  while (i + 4 <= jpeg.length && jpeg[i] === 0xff) {
    const marker = jpeg[i + 1];
    const len = 2 + jpeg.readUInt16BE(i + 2);
    out.push([marker, i, len]);
    if (marker === 0xda) break;
    i += len;
  }
  return out;
}

/** A copy of a JPEG with its SOF segment changed by `edit(segment)`. */
function patchSof(jpeg: Buffer, edit: (sof: Buffer) => void): Buffer {
  const out = Buffer.from(jpeg);
  const sof = jpegSegments(out).find(([m]) => m >= 0xc0 && m <= 0xc3);
  if (!sof) throw new Error('no SOF segment');
  edit(out.subarray(sof[1], sof[1] + sof[2]));
  return out;
}

/** A JPEG with one more segment (marker, payload) right after SOI. */
function withSegment(jpeg: Buffer, marker: number, payload: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), head, payload, jpeg.subarray(2)]);
}

/** The first ICC_PROFILE APP2 segment of a JPEG: offset of its profile bytes and length. */
function iccSpan(jpeg: Buffer): [number, number] {
  for (const [m, at, len] of jpegSegments(jpeg)) {
    if (m === 0xe2 && jpeg.subarray(at + 4, at + 15).toString('latin1') === 'ICC_PROFILE') {
      return [at + 4 + 14, len - 4 - 14];
    }
  }
  throw new Error('no ICC profile');
}

/** A plain uncompressed TIFF page. */
function page(p: Partial<TiffPage> & Pick<TiffPage, 'strips'>): TiffPage {
  return { width: 4, height: 4, bits: 8, samples: 3, sampleFormat: 1, photometric: 2, ...p };
}

/** Little-endian float32 samples, `v` repeated n times. */
const floats = (n: number, v: number[]) =>
  Buffer.from(new Float32Array(n * v.length).map((_, i) => v[i % v.length]).buffer);

/** Options of buildCorpus. */
export interface CorpusOptions {
  /**
   * A URL the SVG entries reference (images, entities, includes, stylesheets): a decoder
   * that fetched anything would call it. Default: a port nothing listens on.
   */
  refUrl?: string;
}

/** Every entry of the corpus, built afresh (about 1 MB in all, most of it one CMYK profile). */
export async function buildCorpus(options: CorpusOptions = {}): Promise<CorpusEntry[]> {
  const ref = options.refUrl ?? 'http://127.0.0.1:9';
  const out: CorpusEntry[] = [];
  const add = (name: string, ext: string, kind: string, bytes: Buffer, expect: Decoded | Refused) =>
    out.push({ name, ext, kind, bytes, expect });

  // --- JPEG -----------------------------------------------------------------------------
  const baseline = await fromRaw(fill(24, 16, C), 24, 16, 3)
    .jpeg({ quality: 95 })
    .toBuffer();
  add(
    'jpeg-baseline',
    'jpg',
    'baseline RGB JPEG',
    baseline,
    decoded('jpeg', 24, 16, uniform(C, 6)),
  );
  add(
    'jpeg-progressive',
    'jpg',
    'progressive (interlaced) JPEG',
    await fromRaw(fill(24, 16, C), 24, 16, 3)
      .jpeg({ progressive: true, quality: 95 })
      .toBuffer(),
    decoded('jpeg', 24, 16, uniform(C, 6)),
  );
  add(
    'jpeg-grey',
    'jpg',
    'greyscale JPEG',
    await fromRaw(fill(16, 16, [90]), 16, 16, 1)
      .toColourspace('b-w')
      .jpeg()
      .toBuffer(),
    decoded('jpeg', 16, 16, uniform([90, 90, 90], 2)),
  );
  const muted = [180, 120, 80];
  add(
    'jpeg-cmyk',
    'jpg',
    'CMYK JPEG (print workflow), no embedded profile',
    await fromRaw(fill(16, 16, muted), 16, 16, 3)
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer(),
    decoded('jpeg', 16, 16, uniform(muted, 10)),
  );
  add(
    'jpeg-cmyk-profile',
    'jpg',
    'CMYK JPEG with an embedded CMYK ICC profile (its gamut shifts blue by about 16)',
    await fromRaw(fill(16, 16, muted), 16, 16, 3)
      .withIccProfile('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer(),
    decoded('jpeg', 16, 16, uniform(muted, 18)),
  );
  // Display P3 pixels: sharp converts sRGB (200, 100, 50) into P3 and tags the file; decoding
  // must apply the profile and give back the sRGB colour (the stored P3 values differ).
  const p3 = await fromRaw(fill(16, 16, [200, 100, 50]), 16, 16, 3)
    .withIccProfile('p3')
    .jpeg({ quality: 100 })
    .toBuffer();
  add(
    'jpeg-icc-p3',
    'jpg',
    'JPEG with a Display P3 ICC profile',
    p3,
    decoded('jpeg', 16, 16, uniform([200, 100, 50], 4)),
  );
  const storedP3 = [...(await sharp(p3, { ignoreIcc: true }).raw().toBuffer()).subarray(0, 3)];
  const brokenIcc = Buffer.from(p3);
  const [iccAt] = iccSpan(brokenIcc);
  brokenIcc.fill(0x41, iccAt, iccAt + 128);
  add(
    'jpeg-icc-broken',
    'jpg',
    'JPEG whose ICC profile is garbage (the profile is ignored)',
    brokenIcc,
    decoded('jpeg', 16, 16, uniform(storedP3, 3)),
  );
  for (let o = 1; o <= 8; o++) {
    const s = storedFor(o);
    const plain = await fromRaw(s.data, s.w, s.h, 3).jpeg({ quality: 95 }).toBuffer();
    add(
      `jpeg-exif-orientation-${o}`,
      'jpg',
      `phone photo with EXIF orientation ${o}`,
      await sharp(plain).withMetadata({ orientation: o }).jpeg({ quality: 95 }).toBuffer(),
      decoded('jpeg', s.w, s.h, { quadrants: UPRIGHT.quadrants, tol: 40 }),
    );
  }
  add(
    'jpeg-exif-orientation-invalid',
    'jpg',
    'EXIF orientation out of range (9): ignored',
    withOrientation(
      await sharp(baseline).withMetadata({ orientation: 1 }).jpeg({ quality: 95 }).toBuffer(),
      9,
    ),
    decoded('jpeg', 24, 16, uniform(C, 8)),
  );
  const withExif = await sharp(baseline)
    .withExif({ IFD0: { Copyright: 'x'.repeat(40) } })
    .jpeg({ quality: 95 })
    .toBuffer();
  const exifAt = withExif.indexOf('Exif\0\0', 0, 'latin1');
  const brokenExif = Buffer.from(withExif);
  brokenExif.fill(0xee, exifAt + 6, exifAt + 40);
  add(
    'jpeg-exif-broken',
    'jpg',
    'JPEG with a garbled EXIF block',
    brokenExif,
    decoded('jpeg', 24, 16, uniform(C, 8)),
  );
  add(
    'jpeg-1x1',
    'jpg',
    '1×1 JPEG',
    await fromRaw(Buffer.from(C), 1, 1, 3).jpeg({ quality: 100 }).toBuffer(),
    decoded('jpeg', 1, 1, uniform(C, 6)),
  );
  add(
    'jpeg-wide-65000x1',
    'jpg',
    'extremely wide JPEG, 65000×1 (the JPEG maximum is 65535)',
    await fromRaw(fill(65000, 1, C), 65000, 1, 3)
      .jpeg({ quality: 95 })
      .toBuffer(),
    decoded('jpeg', 65000, 1, uniform(C, 8)),
  );
  add(
    'jpeg-tall-1x20000',
    'jpg',
    'extremely tall JPEG, 1×20000',
    await fromRaw(fill(1, 20000, C), 1, 20000, 3)
      .jpeg({ quality: 95 })
      .toBuffer(),
    decoded('jpeg', 1, 20000, uniform(C, 8)),
  );
  add(
    'jpeg-zip-polyglot',
    'jpg',
    'polyglot: a JPEG with a ZIP archive appended (decoded as the JPEG it starts as)',
    Buffer.concat([
      baseline,
      Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00 payload.txt', 'latin1'),
    ]),
    decoded('jpeg', 24, 16, uniform(C, 6)),
  );
  add(
    'jpeg-svg-comment',
    'jpg',
    'polyglot: a JPEG whose comment segment holds an SVG document (never parsed)',
    withSegment(
      baseline,
      0xfe,
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg"><image href="${ref}/comment.png"/></svg>`,
      ),
    ),
    decoded('jpeg', 24, 16, uniform(C, 6)),
  );
  add(
    'jpeg-named-png',
    'png',
    'wrong extension: a JPEG named .png',
    baseline,
    decoded('jpeg', 24, 16, uniform(C, 6)),
  );
  // Damaged JPEGs.
  const noisy = await fromRaw(noise(128, 96), 128, 96, 3).jpeg({ quality: 90 }).toBuffer();
  add(
    'jpeg-truncated-half',
    'jpg',
    'truncated JPEG (upload cut at half)',
    noisy.subarray(0, noisy.length >> 1),
    refused('corrupt', /premature end|truncated/i),
  );
  add(
    'jpeg-truncated-eoi',
    'jpg',
    'JPEG missing only its end marker',
    noisy.subarray(0, noisy.length - 2),
    refused('corrupt'),
  );
  const damaged = Buffer.from(noisy);
  for (let i = 1000; i < 1400; i++) damaged[i] = (i * 13) & 0xff;
  add('jpeg-damaged', 'jpg', 'JPEG with a damaged data segment', damaged, refused('corrupt'));
  add(
    'jpeg-header-only',
    'jpg',
    'JPEG cut right after its header',
    noisy.subarray(0, jpegSegments(noisy).at(-1)![1] + 4),
    refused('corrupt'),
  );
  add(
    'jpeg-bomb-20000',
    'jpg',
    'small JPEG whose header claims 20000×20000 pixels',
    patchSof(baseline, (sof) => {
      sof.writeUInt16BE(20000, 5);
      sof.writeUInt16BE(20000, 7);
    }),
    refused('too_large', /20000x20000/),
  );
  add(
    'jpeg-zero-height',
    'jpg',
    'JPEG whose header has height 0',
    patchSof(baseline, (sof) => sof.writeUInt16BE(0, 5)),
    refused('corrupt'),
  );
  add(
    'jpeg-12bit',
    'jpg',
    '12-bit JPEG (medical, some cameras)',
    patchSof(baseline, (sof) => {
      sof[1] = 0xc1;
      sof[4] = 12;
    }),
    refused('unsupported_format', /precision 12/),
  );

  // --- PNG ------------------------------------------------------------------------------
  add(
    'png-grey8',
    'png',
    '8-bit greyscale PNG',
    await fromRaw(fill(16, 16, [90]), 16, 16, 1)
      .toColourspace('b-w')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform([90, 90, 90])),
  );
  add(
    'png-grey-alpha8',
    'png',
    '8-bit grey+alpha PNG (transparent right half: white)',
    await fromRaw(halves(16, 16, [0, 255], [0, 0]), 16, 16, 2)
      .toColourspace('b-w')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, { quadrants: [BLACK, WHITE, BLACK, WHITE], tol: 0 }),
  );
  add(
    'png-rgb8',
    'png',
    '8-bit RGB PNG',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform(C)),
  );
  add(
    'png-rgba8',
    'png',
    '8-bit RGBA PNG, half transparent (composited onto white)',
    await fromRaw(halves(16, 16, [...C, 255], [...BLUE, 0]), 16, 16, 4)
      .png()
      .toBuffer(),
    decoded('png', 16, 16, { quadrants: [C, WHITE, C, WHITE], tol: 0 }),
  );
  add(
    'png-rgba-half-alpha',
    'png',
    'RGBA PNG at alpha 128 (blended with white)',
    await fromRaw(fill(16, 16, [0, 0, 0, 128]), 16, 16, 4)
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform([127, 127, 127], 1)),
  );
  add(
    'png-palette',
    'png',
    'palette (indexed) PNG',
    await fromRaw(halves(16, 16, BLUE, YELLOW), 16, 16, 3)
      .png({ palette: true })
      .toBuffer(),
    decoded('png', 16, 16, { quadrants: [BLUE, YELLOW, BLUE, YELLOW], tol: 2 }),
  );
  add(
    'png-palette-trns',
    'png',
    'palette PNG with a transparent entry (tRNS)',
    pngOf(
      ihdr(4, 4, 8, 3),
      pngChunk('PLTE', Buffer.from([...RED, ...BLUE])),
      pngChunk('tRNS', Buffer.from([255, 0])),
      pngChunk(
        'IDAT',
        pngRowsOf(4, 4, (x) => [x < 2 ? 0 : 1]),
      ),
    ),
    decoded('png', 4, 4, { quadrants: [RED, WHITE, RED, WHITE], tol: 0 }),
  );
  add(
    'png-1bit',
    'png',
    '1-bit black and white PNG',
    pngOf(
      ihdr(8, 8, 1, 0),
      pngChunk(
        'IDAT',
        pngPackedRows(8, 8, 1, (x) => (x < 4 ? 0 : 1)),
      ),
    ),
    decoded('png', 8, 8, { quadrants: [BLACK, WHITE, BLACK, WHITE], tol: 0 }),
  );
  add(
    'png-2bit',
    'png',
    '2-bit greyscale PNG (level 2 of 3: 170)',
    pngOf(
      ihdr(8, 8, 2, 0),
      pngChunk(
        'IDAT',
        pngPackedRows(8, 8, 2, () => 2),
      ),
    ),
    decoded('png', 8, 8, uniform([170, 170, 170])),
  );
  add(
    'png-4bit-palette',
    'png',
    '4-bit palette PNG',
    pngOf(
      ihdr(8, 8, 4, 3),
      pngChunk('PLTE', Buffer.from([...BLACK, ...C, ...GREEN])),
      pngChunk(
        'IDAT',
        pngPackedRows(8, 8, 4, () => 1),
      ),
    ),
    decoded('png', 8, 8, uniform(C)),
  );
  const grey16 = new Uint16Array(16 * 16).fill(40000);
  add(
    'png-grey16',
    'png',
    '16-bit greyscale PNG (40000/65535: 156)',
    await sharp(grey16, { raw: { width: 16, height: 16, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform([156, 156, 156], 1)),
  );
  add(
    'png-rgb16',
    'png',
    '16-bit RGB PNG',
    await sharp(
      new Uint16Array(16 * 16 * 3).map((_, i) => [51400, 7710, 15420][i % 3]),
      {
        raw: { width: 16, height: 16, channels: 3 },
      },
    )
      .toColourspace('rgb16')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform(C, 1)),
  );
  add(
    'png-rgba16',
    'png',
    '16-bit RGBA PNG, opaque',
    await sharp(
      new Uint16Array(16 * 16 * 4).map((_, i) => [51400, 7710, 15420, 65535][i % 4]),
      {
        raw: { width: 16, height: 16, channels: 4 },
      },
    )
      .toColourspace('rgb16')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform(C, 1)),
  );
  add(
    'png-grey-alpha16',
    'png',
    '16-bit grey+alpha PNG, opaque',
    await sharp(
      new Uint16Array(16 * 16 * 2).map((_, i) => (i % 2 ? 65535 : 40000)),
      {
        raw: { width: 16, height: 16, channels: 2 },
      },
    )
      .toColourspace('grey16')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform([156, 156, 156], 1)),
  );
  add(
    'png-interlaced',
    'png',
    'interlaced (Adam7) PNG',
    await fromRaw(halves(16, 16, C, BLUE), 16, 16, 3)
      .png({ progressive: true })
      .toBuffer(),
    decoded('png', 16, 16, { quadrants: [C, BLUE, C, BLUE], tol: 0 }),
  );
  add(
    'png-gamma',
    'png',
    'PNG with a gAMA chunk of 0.2 (ignored: pixels are taken as sRGB)',
    pngOf(
      ihdr(4, 4, 8, 2),
      pngChunk('gAMA', u32(20000)),
      pngChunk('IDAT', pngRows(4, 4, [200, 100, 50])),
    ),
    decoded('png', 4, 4, uniform([200, 100, 50])),
  );
  add(
    'png-icc-p3',
    'png',
    'PNG with a Display P3 ICC profile (iCCP)',
    await fromRaw(fill(16, 16, [200, 100, 50]), 16, 16, 3)
      .withIccProfile('p3')
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform([200, 100, 50], 3)),
  );
  add(
    'png-exif-orientation-6',
    'png',
    'PNG with EXIF orientation 6 (eXIf chunk)',
    await (async () => {
      const s = storedFor(6);
      return fromRaw(s.data, s.w, s.h, 3).withMetadata({ orientation: 6 }).png().toBuffer();
    })(),
    decoded('png', UPRIGHT.h, UPRIGHT.w, { quadrants: UPRIGHT.quadrants, tol: 0 }),
  );
  add(
    'png-apng',
    'png',
    'animated PNG (first frame red, second blue): the first frame',
    pngOf(
      ihdr(4, 4, 8, 2),
      pngChunk('acTL', Buffer.concat([u32(2), u32(0)])),
      fcTL(0),
      pngChunk('IDAT', pngRows(4, 4, RED)),
      fcTL(1),
      pngChunk('fdAT', Buffer.concat([u32(2), pngRows(4, 4, BLUE)])),
    ),
    decoded('png', 4, 4, uniform(RED)),
  );
  add(
    'png-html-appended',
    'png',
    'polyglot: a PNG followed by an HTML page (decoded as the PNG)',
    Buffer.concat([
      await fromRaw(fill(16, 16, C), 16, 16, 3)
        .png()
        .toBuffer(),
      Buffer.from('<html><script>alert(1)</script></html>'),
    ]),
    decoded('png', 16, 16, uniform(C)),
  );
  add(
    'png-text-bad-crc',
    'png',
    'PNG whose text chunk has a wrong CRC (ancillary: ignored)',
    pngOf(
      ihdr(4, 4, 8, 2),
      pngChunk('tEXt', Buffer.from('Comment\0hello'), true),
      pngChunk('IDAT', pngRows(4, 4, C)),
    ),
    decoded('png', 4, 4, uniform(C)),
  );
  add(
    'png-1x1',
    'png',
    '1×1 PNG',
    await fromRaw(Buffer.from(C), 1, 1, 3).png().toBuffer(),
    decoded('png', 1, 1, uniform(C)),
  );
  add(
    'png-wide-1000000x1',
    'png',
    'extremely wide PNG, 1000000×1',
    await fromRaw(fill(1_000_000, 1, C), 1_000_000, 1, 3)
      .png()
      .toBuffer(),
    decoded('png', 1_000_000, 1, uniform(C)),
  );
  add(
    'png-named-jpg',
    'jpg',
    'wrong extension: a PNG named .jpg',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .png()
      .toBuffer(),
    decoded('png', 16, 16, uniform(C)),
  );
  const noisyPng = await fromRaw(noise(64, 48), 64, 48, 3).png().toBuffer();
  add(
    'png-truncated',
    'png',
    'truncated PNG',
    noisyPng.subarray(0, Math.floor(noisyPng.length * 0.8)),
    refused('corrupt'),
  );
  add(
    'png-idat-bad-crc',
    'png',
    'PNG whose image data chunk has a wrong CRC',
    pngOf(ihdr(4, 4, 8, 2), pngChunk('IDAT', pngRows(4, 4, C), true)),
    refused('corrupt'),
  );
  add(
    'png-unknown-critical',
    'png',
    'PNG with an unknown critical chunk',
    pngOf(ihdr(4, 4, 8, 2), pngChunk('QRST', Buffer.from('x')), pngChunk('IDAT', pngRows(4, 4, C))),
    refused('corrupt'),
  );
  add(
    'png-zero-width',
    'png',
    'PNG whose header has width 0',
    pngOf(ihdr(0, 4, 8, 2), pngChunk('IDAT', pngRows(4, 4, C))),
    refused('corrupt'),
  );
  add(
    'png-bomb-20000',
    'png',
    'small PNG whose header claims 20000×20000 pixels',
    craftedPng(20000, 20000),
    refused('too_large', /20000x20000/),
  );

  // --- GIF ------------------------------------------------------------------------------
  add(
    'gif-static',
    'gif',
    'GIF',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .gif()
      .toBuffer(),
    decoded('gif', 16, 16, uniform(C, 4)),
  );
  add(
    'gif-transparent',
    'gif',
    'GIF with a transparent half',
    await fromRaw(halves(16, 16, [...RED, 255], [...BLUE, 0]), 16, 16, 4)
      .gif()
      .toBuffer(),
    decoded('gif', 16, 16, { quadrants: [RED, WHITE, RED, WHITE], tol: 4 }),
  );
  const twoFrames = Buffer.concat([fill(8, 8, RED), fill(8, 8, BLUE)]);
  const animGif = await sharp(twoFrames, {
    raw: { width: 8, height: 16, channels: 3, pageHeight: 8 },
  })
    .gif({ delay: [100, 100] })
    .toBuffer();
  add(
    'gif-animated',
    'gif',
    'animated GIF (red, then blue): the first frame',
    animGif,
    decoded('gif', 8, 8, uniform(RED, 4)),
  );
  add(
    'gif-truncated',
    'gif',
    'truncated GIF',
    animGif.subarray(0, animGif.length >> 1),
    refused('corrupt'),
  );
  add(
    'gif-bomb-20000',
    'gif',
    'small GIF whose screen and first frame claim 20000×20000 pixels',
    gifClaiming(
      await fromRaw(fill(4, 4, C), 4, 4, 3)
        .gif()
        .toBuffer(),
      20000,
      20000,
    ),
    refused('too_large', /20000x20000/),
  );

  // --- WebP -----------------------------------------------------------------------------
  add(
    'webp-lossy',
    'webp',
    'lossy WebP',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .webp({ quality: 95 })
      .toBuffer(),
    decoded('webp', 16, 16, uniform(C, 8)),
  );
  const webpLossless = await fromRaw(fill(16, 16, C), 16, 16, 3)
    .webp({ lossless: true })
    .toBuffer();
  add('webp-lossless', 'webp', 'lossless WebP', webpLossless, decoded('webp', 16, 16, uniform(C)));
  add(
    'webp-alpha',
    'webp',
    'WebP with a transparent half',
    await fromRaw(halves(16, 16, [...C, 255], [...BLUE, 0]), 16, 16, 4)
      .webp({ lossless: true })
      .toBuffer(),
    decoded('webp', 16, 16, { quadrants: [C, WHITE, C, WHITE], tol: 0 }),
  );
  add(
    'webp-animated',
    'webp',
    'animated WebP (red, then blue): the first frame',
    await sharp(twoFrames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } })
      .webp({ lossless: true, delay: [100, 100] })
      .toBuffer(),
    decoded('webp', 8, 8, uniform(RED, 2)),
  );
  add(
    'webp-exif-orientation-6',
    'webp',
    'WebP with EXIF orientation 6',
    await (async () => {
      const s = storedFor(6);
      return fromRaw(s.data, s.w, s.h, 3)
        .withMetadata({ orientation: 6 })
        .webp({ lossless: true })
        .toBuffer();
    })(),
    decoded('webp', UPRIGHT.h, UPRIGHT.w, { quadrants: UPRIGHT.quadrants, tol: 0 }),
  );
  add(
    'webp-truncated',
    'webp',
    'truncated WebP',
    (await fromRaw(noise(64, 48), 64, 48, 3).webp().toBuffer()).subarray(0, 300),
    refused('corrupt'),
  );
  add(
    'webp-bomb-16383',
    'webp',
    'small WebP whose header claims 16383×16383 pixels',
    vp8lHeader(16383, 16383),
    refused('too_large', /16383x16383/),
  );

  // --- HEIF: AVIF decodes, HEIC (HEVC) does not in this build ---------------------------
  add(
    'avif-8bit',
    'avif',
    'AVIF',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .avif({ quality: 90 })
      .toBuffer(),
    decoded('avif', 16, 16, uniform(C, 12)),
  );
  add(
    'avif-10bit',
    'avif',
    '10-bit AVIF',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .avif({ quality: 90, bitdepth: 10 })
      .toBuffer(),
    decoded('avif', 16, 16, uniform(C, 12)),
  );
  add(
    'avif-alpha',
    'avif',
    'AVIF with alpha, fully transparent (white)',
    await fromRaw(fill(16, 16, [...C, 0]), 16, 16, 4)
      .avif({ quality: 90 })
      .toBuffer(),
    decoded('avif', 16, 16, uniform(WHITE, 2)),
  );
  add(
    'avif-garbage',
    'avif',
    'AVIF with a valid header but garbage coded data',
    heifOf('avif', 'av01', AV1C, 64, 64, Buffer.alloc(100, 0x11)),
    refused('corrupt'),
  );
  add(
    'avif-bomb-20000',
    'avif',
    'small AVIF whose header claims 20000×20000 pixels',
    heifOf('avif', 'av01', AV1C, 20000, 20000, Buffer.alloc(100, 0x11)),
    refused('too_large', /20000x20000/),
  );
  add(
    'heic-hevc',
    'heic',
    'HEIC phone photo (HEVC coded; this build has no HEVC decoder)',
    heifOf('heic', 'hvc1', HVCC, 64, 48, Buffer.alloc(100, 0x11)),
    refused('unsupported_format', /hevc/),
  );

  // --- TIFF -----------------------------------------------------------------------------
  add(
    'tiff-lzw',
    'tif',
    'LZW-compressed TIFF',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .tiff({ compression: 'lzw' })
      .toBuffer(),
    decoded('tiff', 16, 16, uniform(C)),
  );
  add(
    'tiff-deflate',
    'tiff',
    'deflate-compressed TIFF',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .tiff({ compression: 'deflate' })
      .toBuffer(),
    decoded('tiff', 16, 16, uniform(C)),
  );
  add(
    'tiff-jpeg',
    'tif',
    'JPEG-compressed TIFF',
    await fromRaw(fill(16, 16, C), 16, 16, 3)
      .tiff({ compression: 'jpeg', quality: 95 })
      .toBuffer(),
    decoded('tiff', 16, 16, uniform(C, 6)),
  );
  add(
    'tiff-tiled',
    'tif',
    'tiled TIFF',
    await fromRaw(fill(64, 64, C), 64, 64, 3)
      .tiff({ tile: true, tileWidth: 16, tileHeight: 16 })
      .toBuffer(),
    decoded('tiff', 64, 64, uniform(C, 1)),
  );
  add(
    'tiff-1bit-g4',
    'tif',
    '1-bit fax-compressed (CCITT G4) TIFF, black and white halves',
    await fromRaw(halves(16, 16, [0], [255]), 16, 16, 1)
      .toColourspace('b-w')
      .tiff({ bitdepth: 1, compression: 'ccittfax4' })
      .toBuffer(),
    decoded('tiff', 16, 16, { quadrants: [BLACK, WHITE, BLACK, WHITE], tol: 0 }),
  );
  add(
    'tiff-cmyk',
    'tif',
    'CMYK TIFF',
    await fromRaw(fill(16, 16, muted), 16, 16, 3)
      .toColourspace('cmyk')
      .tiff()
      .toBuffer(),
    decoded('tiff', 16, 16, uniform(muted, 10)),
  );
  add(
    'tiff-16bit',
    'tif',
    '16-bit RGB TIFF',
    tiffOf([page({ bits: 16, strips: [u16s(16, [51400, 7710, 15420])] })]),
    decoded('tiff', 4, 4, uniform(C, 1)),
  );
  add(
    'tiff-float-rgb',
    'tif',
    '32-bit float RGB TIFF, linear light 0..1 (scRGB)',
    tiffOf([page({ bits: 32, sampleFormat: 3, strips: [floats(16, [0.5, 0.25, 1])] })]),
    decoded('tiff', 4, 4, uniform([srgbEncode(0.5), srgbEncode(0.25), 255], 1)),
  );
  add(
    'tiff-multipage',
    'tif',
    'multi-page TIFF (red 4×4, then blue 8×8): the first page',
    tiffOf([
      page({ strips: [fill(4, 4, RED)] }),
      page({ width: 8, height: 8, strips: [fill(8, 8, BLUE)] }),
    ]),
    decoded('tiff', 4, 4, uniform(RED)),
  );
  add(
    'tiff-big-endian',
    'tif',
    'big-endian (Motorola) TIFF',
    tiffOf([page({ strips: [fill(4, 4, C)] })], false),
    decoded('tiff', 4, 4, uniform(C)),
  );
  add(
    'tiff-planar',
    'tif',
    'planar TIFF (one plane per channel)',
    tiffOf([page({ strips: [fill(4, 4, [C[0]]), fill(4, 4, [C[1]]), fill(4, 4, [C[2]])] })]),
    decoded('tiff', 4, 4, uniform(C)),
  );
  add(
    'tiff-associated-alpha',
    'tif',
    'TIFF with premultiplied alpha 128 (grey 100: 199 unpremultiplied, 227 on white)',
    tiffOf([
      page({ samples: 4, strips: [fill(4, 4, [100, 100, 100, 128])], tags: [[338, 3, [1]]] }),
    ]),
    decoded('tiff', 4, 4, uniform([227, 227, 227], 2)),
  );
  add(
    'tiff-ycbcr',
    'tif',
    'uncompressed YCbCr TIFF (Y 100, Cb 100, Cr 100)',
    tiffOf([page({ photometric: 6, strips: [fill(4, 4, [100, 100, 100])] })]),
    decoded('tiff', 4, 4, uniform([61, 130, 50], 2)),
  );
  add(
    'tiff-miniswhite',
    'tif',
    'greyscale TIFF where 0 is white',
    tiffOf([page({ samples: 1, photometric: 0, strips: [fill(4, 4, [55])] })]),
    decoded('tiff', 4, 4, uniform([200, 200, 200])),
  );
  add(
    'tiff-orientation-6',
    'tif',
    'TIFF with Orientation 6',
    await (async () => {
      const s = storedFor(6);
      return tiffOf([page({ width: s.w, height: s.h, strips: [s.data], tags: [[274, 3, [6]]] })]);
    })(),
    decoded('tiff', UPRIGHT.h, UPRIGHT.w, { quadrants: UPRIGHT.quadrants, tol: 0 }),
  );
  add(
    'dng-preview',
    'dng',
    'DNG camera raw whose first image is an RGB preview (the preview is decoded)',
    tiffOf([page({ strips: [fill(4, 4, C)], tags: [[50706, 1, [1, 4, 0, 0]]] })]),
    decoded('tiff', 4, 4, uniform(C)),
  );
  add(
    'tiff-raw-cfa',
    'dng',
    'camera raw sensor data (colour filter array) in a TIFF',
    tiffOf([page({ samples: 1, bits: 16, photometric: 32803, strips: [u16s(16, [1000])] })]),
    refused('unsupported_format', /multiband/),
  );
  add(
    'tiff-float-grey',
    'tif',
    '32-bit float greyscale TIFF (no defined range)',
    tiffOf([
      page({ samples: 1, bits: 32, sampleFormat: 3, photometric: 1, strips: [floats(16, [0.5])] }),
    ]),
    refused('unsupported_format', /float/),
  );
  add(
    'tiff-float64',
    'tif',
    '64-bit float TIFF',
    tiffOf([
      page({
        samples: 1,
        bits: 64,
        sampleFormat: 3,
        photometric: 1,
        strips: [Buffer.from(new Float64Array(16).fill(0.5).buffer)],
      }),
    ]),
    refused('unsupported_format'),
  );
  add(
    'tiff-int16',
    'tif',
    'signed 16-bit TIFF',
    tiffOf([
      page({
        samples: 1,
        bits: 16,
        sampleFormat: 2,
        photometric: 1,
        strips: [Buffer.from(new Int16Array(16).fill(-1000).buffer)],
      }),
    ]),
    refused('unsupported_format', /short/),
  );
  add(
    'tiff-uint32',
    'tif',
    '32-bit integer TIFF',
    tiffOf([
      page({
        samples: 1,
        bits: 32,
        photometric: 1,
        strips: [Buffer.from(new Uint32Array(16).fill(2 ** 31).buffer)],
      }),
    ]),
    refused('unsupported_format', /uint/),
  );
  add(
    'tiff-5-channels',
    'tif',
    'TIFF with alpha and one more extra channel (Photoshop selection)',
    tiffOf([page({ samples: 5, strips: [fill(4, 4, [...C, 255, 9])], tags: [[338, 3, [2, 0]]] })]),
    refused('unsupported_format', /5 channels/),
  );
  add(
    'tiff-lab',
    'tif',
    '8-bit CIELab TIFF',
    tiffOf([page({ photometric: 8, strips: [fill(4, 4, [128, 20, 226])] })]),
    refused('unsupported_format', /lab/),
  );
  add(
    'tiff-truncated',
    'tif',
    'truncated TIFF (written with its directory last, so the cut loses it)',
    (await fromRaw(noise(64, 48), 64, 48, 3).tiff({ compression: 'none' }).toBuffer()).subarray(
      0,
      4000,
    ),
    refused('corrupt'),
  );
  add(
    'tiff-strip-past-end',
    'tif',
    'truncated TIFF (directory first, strip data cut: its byte count runs past the end)',
    stripPastEnd(tiffOf([page({ width: 64, height: 48, strips: [noise(64, 48)] })])),
    refused('corrupt'),
  );
  add(
    'tiff-bomb-20000',
    'tif',
    'small TIFF whose header claims 20000×20000 pixels',
    tiffOf([page({ width: 20000, height: 20000, strips: [fill(4, 4, C)] })]),
    refused('too_large', /20000x20000/),
  );

  // --- not decoded: other image formats (named) -----------------------------------------
  const svg = (body: string) =>
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `width="16" height="16">${body}</svg>`;
  add(
    'svg-inline',
    'svg',
    'SVG with inline content only',
    Buffer.from(svg('<rect width="16" height="16" fill="red"/>')),
    refused('unsupported_format', /svg/),
  );
  add(
    'svg-external',
    'svg',
    'SVG referencing external images, stylesheets, entities and includes',
    Buffer.from(
      `<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY ext SYSTEM "${ref}/entity">]>\n` +
        svg(
          `<image href="${ref}/image.png" width="16" height="16"/>` +
            `<image xlink:href="file:///etc/passwd" width="16" height="16"/>` +
            `<style>@import url("${ref}/style.css");</style>` +
            `<use href="${ref}/sprite.svg#a"/>` +
            `<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="${ref}/include"/>` +
            `<text>&ext;</text>`,
        ),
    ),
    refused('unsupported_format', /svg/),
  );
  add(
    'svgz',
    'svgz',
    'gzip-compressed SVG',
    gzipSync(Buffer.from(svg(`<image href="${ref}/svgz.png" width="16" height="16"/>`))),
    refused('unsupported_format', /svg/),
  );
  add(
    'svg-named-jpg',
    'jpg',
    'wrong extension: an SVG named .jpg',
    Buffer.from(`\ufeff  <!-- logo -->\n` + svg(`<image href="${ref}/named.png"/>`)),
    refused('unsupported_format', /svg/),
  );
  add(
    'svg-utf16',
    'svg',
    'SVG saved as UTF-16 with a byte order mark',
    Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(svg('<rect width="16" height="16"/>'), 'utf16le'),
    ]),
    refused('unsupported_format', /svg/),
  );
  add(
    'html-inline-svg',
    'html',
    'an HTML page with an inline SVG icon (markup, never parsed)',
    Buffer.from(
      `<!DOCTYPE html><html><body>${svg(`<image href="${ref}/html.png"/>`)}</body></html>`,
    ),
    refused('not_an_image'),
  );
  add(
    'text-then-svg',
    'jpg',
    'a text file with an SVG document further down (the decoder itself would parse it as SVG)',
    Buffer.from(`notes about the logo\n${svg(`<image href="${ref}/text.png"/>`)}`),
    refused('not_an_image'),
  );
  add(
    'pdf',
    'pdf',
    'PDF document',
    Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n'),
    refused('unsupported_format', /pdf/),
  );
  add('bmp', 'bmp', 'Windows bitmap', bmp(), refused('unsupported_format', /bmp/));
  add(
    'ico',
    'ico',
    'Windows icon',
    Buffer.from([0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 22, 0, 0, 0]),
    refused('unsupported_format', /ico/),
  );
  add(
    'psd',
    'psd',
    'Photoshop document',
    Buffer.from('8BPS\0\x01\0\0\0\0\0\0\0\x03', 'latin1'),
    refused('unsupported_format', /psd/),
  );
  add(
    'jp2',
    'jp2',
    'JPEG 2000',
    Buffer.from([0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a, 0, 0, 0, 0x14]),
    refused('unsupported_format', /jp2/),
  );
  add(
    'jxl',
    'jxl',
    'JPEG XL codestream',
    Buffer.from([0xff, 0x0a, 0xfa, 0x7f, 0x01, 0x90]),
    refused('unsupported_format', /jxl/),
  );
  add(
    'netpbm',
    'ppm',
    'PPM (netpbm)',
    Buffer.concat([Buffer.from('P6\n4 4\n255\n'), fill(4, 4, C)]),
    refused('unsupported_format', /netpbm/),
  );
  add(
    'exr',
    'exr',
    'OpenEXR',
    Buffer.from([0x76, 0x2f, 0x31, 0x01, 2, 0, 0, 0]),
    refused('unsupported_format', /exr/),
  );
  add(
    'raw-cr3',
    'cr3',
    'Canon CR3 camera raw',
    Buffer.concat([box4('ftyp', 'crx ', 'crx ', 'isom')]),
    refused('unsupported_format', /CR3/),
  );
  add(
    'raw-raf',
    'raf',
    'Fujifilm RAF camera raw',
    Buffer.from('FUJIFILMCCD-RAW 0201FF383501'),
    refused('unsupported_format', /RAF/),
  );

  // --- not images at all ------------------------------------------------------------------
  add('empty', 'jpg', 'zero-byte object', Buffer.alloc(0), refused('empty'));
  add(
    'text-named-jpg',
    'jpg',
    'a text file named .jpg',
    Buffer.from('this file is named photo.jpg but it is text\n'),
    refused('not_an_image'),
  );
  add(
    'html-with-png',
    'png',
    'polyglot: an HTML page with a PNG after it (never decoded)',
    Buffer.concat([Buffer.from('<html><body>hi</body></html>\n'), craftedPng(4, 4)]),
    refused('not_an_image'),
  );
  add(
    'zip',
    'jpg',
    'a ZIP archive named .jpg',
    Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00', 'latin1'),
    refused('not_an_image'),
  );
  add(
    'mp4',
    'jpg',
    'an MP4 video named .jpg',
    box4('ftyp', 'isom', 'isom', 'mp41'),
    refused('not_an_image', /ISO media/),
  );
  add(
    'gzip-text',
    'gz',
    'gzip-compressed text',
    gzipSync(Buffer.from('hello\n')),
    refused('not_an_image', /gzip/),
  );
  add(
    'random-bytes',
    'jpg',
    'random binary data',
    noise(20, 20).subarray(0, 1000),
    refused('not_an_image'),
  );
  add('single-byte', 'jpg', 'a 1-byte object', Buffer.from([0xff]), refused('not_an_image'));
  add(
    'jpeg-soi-only',
    'jpg',
    'only a JPEG start marker',
    Buffer.from([0xff, 0xd8]),
    refused('corrupt'),
  );
  return out;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

/** Little-endian uint16 samples, `v` repeated n times. */
function u16s(n: number, v: number[]): Buffer {
  return Buffer.from(new Uint16Array(n * v.length).map((_, i) => v[i % v.length]).buffer);
}

/** Scanlines of w×h one-byte-or-more pixels given by `px(x, y)`. */
function pngRowsOf(w: number, h: number, px: (x: number, y: number) => number[]): Buffer {
  const rows: number[] = [];
  for (let y = 0; y < h; y++) {
    rows.push(0);
    for (let x = 0; x < w; x++) rows.push(...px(x, y));
  }
  return deflateRaw(rows);
}

/** Scanlines of w×h samples of `bits` bits each (1, 2 or 4), packed big-endian in bytes. */
function pngPackedRows(w: number, h: number, bits: number, v: (x: number) => number): Buffer {
  const rows: number[] = [];
  const perByte = 8 / bits;
  for (let y = 0; y < h; y++) {
    rows.push(0);
    for (let b = 0; b < Math.ceil(w / perByte); b++) {
      let byte = 0;
      for (let k = 0; k < perByte; k++) {
        const x = b * perByte + k;
        byte |= (x < w ? v(x) : 0) << (8 - bits * (k + 1));
      }
      rows.push(byte);
    }
  }
  return deflateRaw(rows);
}

function deflateRaw(bytes: number[]): Buffer {
  return deflateSync(Buffer.from(bytes));
}

/** An APNG frame control chunk for a 4×4 frame. */
function fcTL(seq: number): Buffer {
  const b = Buffer.alloc(26);
  b.writeUInt32BE(seq, 0);
  b.writeUInt32BE(4, 4);
  b.writeUInt32BE(4, 8);
  b.writeUInt16BE(1, 20);
  b.writeUInt16BE(1, 22);
  return pngChunk('fcTL', b);
}

/** A lossless WebP whose VP8L header claims w×h and whose data is zeros. */
function vp8lHeader(w: number, h: number): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0x2f;
  head.writeUInt32LE(((w - 1) | ((h - 1) << 14)) >>> 0, 1);
  const payload = Buffer.concat([head, Buffer.alloc(21)]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(payload.length);
  const chunk = Buffer.concat([Buffer.from('VP8L'), size, payload]);
  const riff = Buffer.alloc(4);
  riff.writeUInt32LE(4 + chunk.length);
  return Buffer.concat([Buffer.from('RIFF'), riff, Buffer.from('WEBP'), chunk]);
}

/** A copy of a GIF whose logical screen and first image descriptor claim w×h. */
function gifClaiming(gif: Buffer, w: number, h: number): Buffer {
  const out = Buffer.from(gif);
  out.writeUInt16LE(w, 6);
  out.writeUInt16LE(h, 8);
  const flags = out[10];
  let i = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  while (out[i] === 0x21) {
    // Extension: introducer, label, then sub-blocks up to a zero-length one.
    i += 2;
    while (out[i] !== 0) i += out[i] + 1;
    i += 1;
  }
  if (out[i] !== 0x2c) throw new Error('no image descriptor');
  out.writeUInt16LE(w, i + 5);
  out.writeUInt16LE(h, i + 7);
  return out;
}

/** A copy of a JPEG whose EXIF Orientation tag (IFD0, 0x0112) is set to `value`. */
function withOrientation(jpeg: Buffer, value: number): Buffer {
  const out = Buffer.from(jpeg);
  const tiff = out.indexOf('Exif\0\0', 0, 'latin1') + 6;
  const le = out[tiff] === 0x49;
  const r16 = (o: number) => (le ? out.readUInt16LE(tiff + o) : out.readUInt16BE(tiff + o));
  const r32 = (o: number) => (le ? out.readUInt32LE(tiff + o) : out.readUInt32BE(tiff + o));
  const ifd = r32(4);
  for (let i = 0; i < r16(ifd); i++) {
    const at = ifd + 2 + i * 12;
    if (r16(at) !== 0x0112) continue;
    if (le) out.writeUInt16LE(value, tiff + at + 8);
    else out.writeUInt16BE(value, tiff + at + 8);
    return out;
  }
  throw new Error('no Orientation tag');
}

/** A copy of a little-endian one-strip TIFF whose StripByteCounts claims twice the data. */
function stripPastEnd(tiff: Buffer): Buffer {
  const out = Buffer.from(tiff);
  const ifd = out.readUInt32LE(4);
  for (let i = 0; i < out.readUInt16LE(ifd); i++) {
    const at = ifd + 2 + i * 12;
    if (out.readUInt16LE(at) === 279) out.writeUInt32LE(out.readUInt32LE(at + 8) * 2, at + 8);
  }
  return out;
}

/** A 4×4 BMP header (no decoder in this build reads it). */
function bmp(): Buffer {
  const b = Buffer.alloc(54 + 48);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(4, 18);
  b.writeInt32LE(4, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

/** An ftyp box: major brand, minor version 0, compatible brands. */
function box4(type: string, major: string, ...compatible: string[]): Buffer {
  const body = Buffer.from([major, '\0\0\0\0', ...compatible].join(''), 'latin1');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}
