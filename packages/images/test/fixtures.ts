import sharp from 'sharp';
import { deflateSync } from 'node:zlib';

/** Solid-colour image of w×h with the given channel values, encoded by `encode`. */
export function solid(w: number, h: number, colour: number[]): Buffer {
  const out = Buffer.alloc(w * h * colour.length);
  for (let i = 0; i < w * h; i++) out.set(colour, i * colour.length);
  return out;
}

/** Raw buffer → sharp pipeline, for building fixtures. */
export function fromRaw(data: Buffer, width: number, height: number, channels: 1 | 2 | 3 | 4) {
  return sharp(data, { raw: { width, height, channels } });
}

/** Deterministic noisy RGB image (so JPEG data segments are large enough to truncate). */
export function noise(w: number, h: number): Buffer {
  const out = Buffer.alloc(w * h * 3);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk with its length and CRC (a wrong CRC on request). */
export function pngChunk(type: string, data: Buffer, badCrc = false): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(badCrc ? (crc32(body) ^ 1) >>> 0 : crc32(body));
  return Buffer.concat([len, body, crc]);
}

const chunk = (type: string, data: Buffer): Buffer => pngChunk(type, data);

/** A tiny greyscale PNG whose IHDR claims width×height; its IDAT holds just a few rows. */
export function craftedPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const rows = Buffer.alloc(4 * (width + 1));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The PNG signature. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An IHDR chunk: width, height, bit depth, colour type (0 grey, 2 RGB, 3 palette, ...). */
export function ihdr(w: number, h: number, depth: number, colourType: number, interlace = 0) {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(w, 0);
  b.writeUInt32BE(h, 4);
  b.set([depth, colourType, 0, 0, interlace], 8);
  return pngChunk('IHDR', b);
}

/** Zlib-compressed scanlines (filter 0) of a w×h image of one repeated pixel (bytes). */
export function pngRows(w: number, h: number, pixel: number[]): Buffer {
  const row = [0, ...Array.from({ length: w }, () => pixel).flat()];
  return deflateSync(Buffer.from(Array.from({ length: h }, () => row).flat()));
}

/** A PNG built chunk by chunk: signature, IHDR, the given chunks, IEND. */
export function pngOf(header: Buffer, ...chunks: Buffer[]): Buffer {
  return Buffer.concat([PNG_SIGNATURE, header, ...chunks, pngChunk('IEND', Buffer.alloc(0))]);
}

/** One TIFF tag: number, type (1 byte, 2 ascii, 3 short, 4 long) and values. */
export type TiffTag = [tag: number, type: 1 | 3 | 4, values: number[]];

/** A TIFF page: dimensions, samples and strips (one per plane), extra tags. */
export interface TiffPage {
  width: number;
  height: number;
  /** Bits per sample, the same for every sample. */
  bits: number;
  samples: number;
  /** 1 unsigned, 2 signed, 3 float. */
  sampleFormat: number;
  /** 0 white-is-zero, 1 black-is-zero, 2 RGB, 3 palette, 5 separated, 6 YCbCr, 8 CIELab, ... */
  photometric: number;
  /** Uncompressed strip data: one strip, or one per plane with PlanarConfiguration 2. */
  strips: Buffer[];
  tags?: TiffTag[];
}

/**
 * A baseline uncompressed TIFF written by hand, for layouts sharp does not write (float,
 * signed and 32-bit samples, raw sensor data, 5 samples, planar, CIELab, crafted sizes).
 * Several pages are chained IFDs.
 */
export function tiffOf(pages: TiffPage[], littleEndian = true): Buffer {
  const le = littleEndian;
  const u16 = (b: Buffer, v: number, o: number) =>
    le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o);
  const u32 = (b: Buffer, v: number, o: number) =>
    le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
  const parts: Buffer[] = [];
  let offset = 8;
  const head = Buffer.alloc(8);
  head.write(le ? 'II' : 'MM', 0, 'latin1');
  u16(head, 42, 2);
  parts.push(head);
  const ifdOffsets: number[] = [];
  const ifdPatches: { buf: Buffer; at: number }[] = [];
  for (const page of pages) {
    // Strip data first, then the IFD with its out-of-line values.
    const stripOffsets: number[] = [];
    for (const s of page.strips) {
      stripOffsets.push(offset);
      parts.push(s);
      offset += s.length;
      if (offset % 2) {
        parts.push(Buffer.alloc(1));
        offset += 1;
      }
    }
    const tags: TiffTag[] = [
      [256, 4, [page.width]],
      [257, 4, [page.height]],
      [258, 3, Array(page.samples).fill(page.bits)],
      [259, 3, [1]],
      [262, 3, [page.photometric]],
      [273, 4, stripOffsets],
      [277, 3, [page.samples]],
      [278, 4, [page.height]],
      [279, 4, page.strips.map((s) => s.length)],
      [284, 3, [page.strips.length > 1 ? 2 : 1]],
      [339, 3, Array(page.samples).fill(page.sampleFormat)],
      ...(page.tags ?? []),
    ];
    tags.sort((a, b) => a[0] - b[0]);
    const size = (t: TiffTag) => (t[1] === 3 ? 2 : t[1] === 4 ? 4 : 1) * t[2].length;
    const ifdStart = offset;
    const ifd = Buffer.alloc(2 + tags.length * 12 + 4);
    let extraAt = ifdStart + ifd.length;
    const extras: Buffer[] = [];
    u16(ifd, tags.length, 0);
    tags.forEach((t, i) => {
      const at = 2 + i * 12;
      u16(ifd, t[0], at);
      u16(ifd, t[1], at + 2);
      u32(ifd, t[2].length, at + 4);
      const value = Buffer.alloc(Math.max(4, size(t) + (size(t) % 2)));
      t[2].forEach((v, k) => {
        if (t[1] === 3) u16(value, v, k * 2);
        else if (t[1] === 4) u32(value, v, k * 4);
        else value[k] = v;
      });
      if (size(t) <= 4) value.copy(ifd, at + 8, 0, 4);
      else {
        u32(ifd, extraAt, at + 8);
        extras.push(value);
        extraAt += value.length;
      }
    });
    ifdOffsets.push(ifdStart);
    ifdPatches.push({ buf: ifd, at: ifd.length - 4 });
    parts.push(ifd, ...extras);
    offset = extraAt;
  }
  u32(head, ifdOffsets[0], 4);
  ifdPatches.forEach((p, i) => u32(p.buf, ifdOffsets[i + 1] ?? 0, p.at));
  return Buffer.concat(parts);
}

/** An ISO-BMFF box. */
export function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

/** An ISO-BMFF full box (version and flags). */
export function fullBox(type: string, version: number, flags: number, ...parts: Buffer[]) {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version << 24) | flags) >>> 0);
  return box(type, vf, ...parts);
}

const be16 = (v: number) => Buffer.from([v >> 8, v & 0xff]);
const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const latin1 = (s: string) => Buffer.from(s, 'latin1');

/** An hvcC box (HEVC decoder configuration, Main profile, no parameter sets). */
export const HVCC = box(
  'hvcC',
  Buffer.from([1, 0x01]),
  be32(0x60000000),
  Buffer.alloc(6),
  Buffer.from([90]),
  be16(0xf000),
  Buffer.from([0xfc, 0xfd, 0xf8, 0xf8]),
  be16(0),
  Buffer.from([0x0f, 0]),
);

/** An av1C box (AV1 decoder configuration, main profile). */
export const AV1C = box('av1C', Buffer.from([0x81, 0x00, 0x0c, 0x00]));

/**
 * A one-item HEIF file written by hand: ftyp with `brand`, a meta box whose primary item of
 * `itemType` ('hvc1' for HEIC, 'av01' for AVIF) has the `config` box and an ispe of w×h,
 * and an mdat holding `payload` as the item's data.
 */
export function heifOf(
  brand: string,
  itemType: string,
  config: Buffer,
  w: number,
  h: number,
  payload: Buffer,
): Buffer {
  const ftyp = box('ftyp', latin1(brand), be32(0), latin1('mif1'), latin1(brand));
  const meta = (dataAt: number) =>
    fullBox(
      'meta',
      0,
      0,
      fullBox('hdlr', 0, 0, be32(0), latin1('pict'), Buffer.alloc(12), Buffer.from([0])),
      fullBox('pitm', 0, 0, be16(1)),
      fullBox(
        'iloc',
        0,
        0,
        Buffer.from([0x44, 0x00]),
        be16(1),
        be16(1),
        be16(0),
        be16(1),
        be32(dataAt),
        be32(payload.length),
      ),
      fullBox(
        'iinf',
        0,
        0,
        be16(1),
        fullBox('infe', 2, 0, be16(1), be16(0), latin1(itemType), Buffer.from([0])),
      ),
      box(
        'iprp',
        box('ipco', config, fullBox('ispe', 0, 0, be32(w), be32(h))),
        fullBox('ipma', 0, 0, be32(1), be16(1), Buffer.from([2, 0x81, 0x02])),
      ),
    );
  const dataAt = ftyp.length + meta(0).length + 8;
  return Buffer.concat([ftyp, meta(dataAt), box('mdat', payload)]);
}
