import { constants, gunzipSync } from 'node:zlib';

/**
 * What the leading bytes of an input say it is, before any decoder sees it. Only inputs that
 * start like one of the accepted formats are ever handed to the decoder: everything else
 * (SVG and other markup, text, PDF, unknown binary) is refused from these bytes alone, so no
 * other parser of the decoder's build (librsvg, ...) ever runs on untrusted input.
 */
export type Sniffed =
  /** Starts like a format the decoder reads and we accept; the decoder has the last word. */
  | { kind: 'decodable'; format: DecodableFormat }
  /** A known image (or camera raw) format that this build does not decode. */
  | { kind: 'unsupported'; format: string }
  /** Not an image format we know of; `what` names it when it is recognisable. */
  | { kind: 'unknown'; what?: string };

/** Formats handed to the decoder (HEIF covers HEIC and AVIF; the header decides further). */
export type DecodableFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'heif';

type Signature = { name: string; at: number; bytes: readonly number[] | string };

/** Accepted formats, as the decoder recognises them. */
const DECODABLE: ReadonlyArray<Signature & { name: DecodableFormat }> = [
  { name: 'jpeg', at: 0, bytes: [0xff, 0xd8] },
  { name: 'png', at: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { name: 'gif', at: 0, bytes: 'GIF87a' },
  { name: 'gif', at: 0, bytes: 'GIF89a' },
  { name: 'tiff', at: 0, bytes: [0x49, 0x49, 0x2a, 0x00] },
  { name: 'tiff', at: 0, bytes: [0x4d, 0x4d, 0x00, 0x2a] },
  { name: 'tiff', at: 0, bytes: [0x49, 0x49, 0x2b, 0x00] }, // BigTIFF
  { name: 'tiff', at: 0, bytes: [0x4d, 0x4d, 0x00, 0x2b] },
];

/** Image formats this build cannot decode, named so that they are reported as such. */
const UNSUPPORTED: readonly Signature[] = [
  { name: 'psd', at: 0, bytes: '8BPS' },
  { name: 'ico', at: 0, bytes: [0x00, 0x00, 0x01, 0x00] },
  { name: 'cur', at: 0, bytes: [0x00, 0x00, 0x02, 0x00] },
  { name: 'pdf', at: 0, bytes: '%PDF-' },
  { name: 'postscript', at: 0, bytes: '%!PS' },
  { name: 'jp2', at: 4, bytes: [0x6a, 0x50, 0x20, 0x20] },
  { name: 'j2k', at: 0, bytes: [0xff, 0x4f, 0xff, 0x51] },
  { name: 'jxl', at: 0, bytes: [0xff, 0x0a] },
  { name: 'jxl', at: 4, bytes: 'JXL ' },
  { name: 'exr', at: 0, bytes: [0x76, 0x2f, 0x31, 0x01] },
  { name: 'hdr', at: 0, bytes: '#?RADIANCE' },
  { name: 'hdr', at: 0, bytes: '#?RGBE' },
  { name: 'fits', at: 0, bytes: 'SIMPLE  =' },
  { name: 'vips', at: 0, bytes: [0x08, 0xf2, 0xa6, 0xb6] },
  { name: 'vips', at: 0, bytes: [0xb6, 0xa6, 0xf2, 0x08] },
  { name: 'qoi', at: 0, bytes: 'qoif' },
  { name: 'dds', at: 0, bytes: 'DDS ' },
  { name: 'xcf', at: 0, bytes: 'gimp xcf' },
  { name: 'dicom', at: 128, bytes: 'DICM' },
  { name: 'raw (Olympus ORF)', at: 0, bytes: 'IIRO' },
  { name: 'raw (Olympus ORF)', at: 0, bytes: 'IIRS' },
  { name: 'raw (Olympus ORF)', at: 0, bytes: 'MMOR' },
  { name: 'raw (Panasonic RW2)', at: 0, bytes: [0x49, 0x49, 0x55, 0x00] },
  { name: 'raw (Fujifilm RAF)', at: 0, bytes: 'FUJIFILMCCD-RAW' },
  { name: 'raw (Canon CRW)', at: 6, bytes: 'HEAPCCDR' },
  { name: 'raw (Sigma X3F)', at: 0, bytes: 'FOVb' },
  { name: 'raw (Minolta MRW)', at: 0, bytes: [0x00, 0x4d, 0x52, 0x4d] },
];

/** ISO-BMFF brands of HEIF images (HEIC, AVIF and the generic image brands). */
const HEIF_BRANDS = new Set([
  'heic',
  'heix',
  'hevc',
  'hevx',
  'heim',
  'heis',
  'hevm',
  'hevs',
  'mif1',
  'msf1',
  'mif2',
  'avif',
  'avis',
  'avio',
  'miaf',
]);

function matches(input: Uint8Array, { at, bytes }: Signature): boolean {
  const want = typeof bytes === 'string' ? Array.from(bytes, (c) => c.charCodeAt(0)) : bytes;
  if (input.length < at + want.length) return false;
  return want.every((b, i) => input[at + i] === b);
}

function ascii(input: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...input.subarray(start, Math.min(end, input.length)));
}

/** Names what the leading bytes of `input` are. */
export function sniffFormat(input: Uint8Array): Sniffed {
  const decodable = DECODABLE.find((s) => matches(input, s));
  if (decodable) return { kind: 'decodable', format: decodable.name };
  if (isWebp(input)) return { kind: 'decodable', format: 'webp' };
  const bmff = isoBrands(input);
  if (bmff) {
    if (bmff.some((b) => HEIF_BRANDS.has(b))) return { kind: 'decodable', format: 'heif' };
    if (bmff.includes('crx ')) return { kind: 'unsupported', format: 'raw (Canon CR3)' };
    if (bmff.includes('jxl ')) return { kind: 'unsupported', format: 'jxl' };
    return { kind: 'unknown', what: `ISO media file (brands ${bmff.join(', ').trim()})` };
  }
  if (isBmp(input)) return { kind: 'unsupported', format: 'bmp' };
  const named = UNSUPPORTED.find((s) => matches(input, s));
  if (named) return { kind: 'unsupported', format: named.name };
  if (isNetpbm(input)) return { kind: 'unsupported', format: 'netpbm' };
  if (input[0] === 0x1f && input[1] === 0x8b) {
    return looksLikeSvg(gunzipHead(input))
      ? { kind: 'unsupported', format: 'svg' }
      : { kind: 'unknown', what: 'gzip-compressed data' };
  }
  if (looksLikeSvg(input)) return { kind: 'unsupported', format: 'svg' };
  return { kind: 'unknown' };
}

/** RIFF container of type WEBP. */
function isWebp(input: Uint8Array): boolean {
  return matches(input, { name: '', at: 0, bytes: 'RIFF' }) && ascii(input, 8, 12) === 'WEBP';
}

/** The major and compatible brands of an ISO-BMFF 'ftyp' box at the start, or undefined. */
function isoBrands(input: Uint8Array): string[] | undefined {
  if (input.length < 16 || ascii(input, 4, 8) !== 'ftyp') return undefined;
  const size = ((input[0] << 24) | (input[1] << 16) | (input[2] << 8) | input[3]) >>> 0;
  const end = Math.min(size >= 16 ? size : 16, input.length, 4096);
  const brands = [ascii(input, 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(input, at, at + 4));
  return brands;
}

/** BMP: "BM" followed, at byte 14, by one of the known DIB header sizes (little-endian). */
function isBmp(input: Uint8Array): boolean {
  if (input.length < 18 || input[0] !== 0x42 || input[1] !== 0x4d) return false;
  const dib = input[14] | (input[15] << 8) | (input[16] << 16) | (input[17] << 24);
  return [12, 40, 52, 56, 64, 108, 124].includes(dib);
}

/** PBM/PGM/PPM/PAM/PFM: "P1".."P7", "PF" or "Pf", then whitespace. */
function isNetpbm(input: Uint8Array): boolean {
  if (input.length < 3 || input[0] !== 0x50) return false;
  const kind = String.fromCharCode(input[1]);
  return /[1-7Ff]/.test(kind) && [0x09, 0x0a, 0x0d, 0x20].includes(input[2]);
}

/** How much of a text file is looked at for its first element. */
const SVG_SCAN_BYTES = 64 * 1024;

/**
 * Markup (UTF-8, UTF-16 or Latin-1) whose first element is <svg>, after any byte order mark,
 * white space, XML declaration, processing instructions, comments and document type.
 */
function looksLikeSvg(input: Uint8Array): boolean {
  let text = Buffer.from(input.subarray(0, SVG_SCAN_BYTES))
    .toString('latin1')
    .replace(/\0/g, '')
    .replace(/^(\xef\xbb\xbf|\xfe\xff|\xff\xfe)/, '');
  for (;;) {
    text = text.trimStart();
    if (text.startsWith('<?')) text = after(text, '?>');
    else if (text.startsWith('<!--')) text = after(text, '-->');
    else if (/^<!doctype/i.test(text)) {
      if (/^<!doctype\s+svg\b/i.test(text)) return true;
      const bracket = text.indexOf('[');
      const close = text.indexOf('>');
      text = bracket >= 0 && bracket < close ? after(after(text, ']'), '>') : after(text, '>');
    } else break;
  }
  return /^<(svg:)?svg[\s>/]/i.test(text);
}

/** What follows the first `end` in `text` ('' when there is none). */
function after(text: string, end: string): string {
  const at = text.indexOf(end);
  return at < 0 ? '' : text.slice(at + end.length);
}

/** The start of a gzip stream, decompressed (at most a few MB from its first 4 KB). */
function gunzipHead(input: Uint8Array): Uint8Array {
  try {
    return gunzipSync(input.subarray(0, 4096), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return new Uint8Array(0);
  }
}
