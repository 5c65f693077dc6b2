import sharp, { type Metadata } from 'sharp';
import { assertChannels, assertInt, ImageArgumentError } from './errors.js';
import { sniffUnsupportedFormat } from './sniff.js';

/** Why an input was refused; stable strings meant for logs, metrics and API answers. */
export type RejectReason =
  'empty' | 'not_an_image' | 'unsupported_format' | 'too_large' | 'corrupt';

/** Every RejectReason, for exhaustive metrics labels. */
export const REJECT_REASONS: readonly RejectReason[] = [
  'empty',
  'not_an_image',
  'unsupported_format',
  'too_large',
  'corrupt',
];

/** Decoded formats that are accepted ('avif' is reported by the decoder as 'heif'). */
export const ACCEPTED_FORMATS: readonly string[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'];

/** Options for preprocessImage. */
export interface PreprocessOptions {
  /** Output side in pixels; the output is always size×size (1..8192). */
  size: number;
  /** Output channels: 1 = greyscale (luminance), 3 = sRGB. */
  channels: 1 | 3;
  /** Largest accepted width×height from the header, in pixels (default 100e6). */
  maxInputPixels?: number;
  /**
   * How a non-square image becomes square (default 'cover'): 'cover' keeps the aspect ratio and
   * crops the centre; 'fill' stretches the whole image.
   */
  fit?: 'cover' | 'fill';
  /** Colour that transparent pixels are composited onto (default 'white'). */
  background?: 'white' | 'black';
  /**
   * Decoder strictness (default 'warning', the strictest): 'truncated' rejects only cut-off
   * files, 'error' also rejects decode errors, 'warning' also rejects damaged data segments.
   */
  failOn?: 'truncated' | 'error' | 'warning';
}

/** A decoded image: exactly size*size*channels bytes, row-major, channels interleaved (HWC). */
export interface PreprocessOk {
  ok: true;
  /** size*size*channels bytes, HWC order. */
  pixels: Uint8Array;
  /** Decoded container format: jpeg, png, webp, gif, tiff, avif or heif. */
  format: string;
  /** Width of the stored image in pixels, before EXIF orientation. */
  width: number;
  /** Height of the stored image in pixels, before EXIF orientation. */
  height: number;
}

/** A refused input, with a stable reason and a human-readable message. */
export interface PreprocessRejected {
  ok: false;
  reason: RejectReason;
  message: string;
}

/** Result of preprocessImage. */
export type PreprocessResult = PreprocessOk | PreprocessRejected;

/** Default for PreprocessOptions.maxInputPixels: 100 megapixels. */
export const DEFAULT_MAX_INPUT_PIXELS = 100e6;

const MAX_SIZE = 8192;

function reject(reason: RejectReason, message: string): PreprocessRejected {
  return { ok: false, reason, message };
}

/** Maps a decoder error to a reason; `input` is used to name known-but-unreadable formats. */
function classifyError(err: unknown, input: Uint8Array): PreprocessRejected {
  const message = err instanceof Error ? err.message : String(err);
  const firstLine = message.split('\n')[0];
  if (/pixel limit/i.test(message)) return reject('too_large', firstLine);
  if (/empty/i.test(message) && input.length === 0) return reject('empty', firstLine);
  if (/unsupported image format/i.test(message)) {
    const known = sniffUnsupportedFormat(input);
    if (known !== undefined) {
      return reject('unsupported_format', `${known} images cannot be decoded by this build`);
    }
    return reject('not_an_image', 'input is not in any known image format');
  }
  return reject('corrupt', firstLine);
}

function validateOptions(input: unknown, opts: PreprocessOptions): void {
  if (!(input instanceof Uint8Array)) {
    throw new ImageArgumentError('input must be a Buffer or Uint8Array');
  }
  if (opts === null || typeof opts !== 'object') {
    throw new ImageArgumentError('options are required');
  }
  assertInt('size', opts.size, 1, MAX_SIZE);
  assertChannels(opts.channels);
  if (opts.maxInputPixels !== undefined) {
    assertInt('maxInputPixels', opts.maxInputPixels, 1, Number.MAX_SAFE_INTEGER);
  }
  if (opts.fit !== undefined && opts.fit !== 'cover' && opts.fit !== 'fill') {
    throw new ImageArgumentError(`fit must be 'cover' or 'fill', got ${String(opts.fit)}`);
  }
  if (opts.background !== undefined && !['white', 'black'].includes(opts.background)) {
    throw new ImageArgumentError(`background must be 'white' or 'black'`);
  }
  if (opts.failOn !== undefined && !['truncated', 'error', 'warning'].includes(opts.failOn)) {
    throw new ImageArgumentError(`failOn must be 'truncated', 'error' or 'warning'`);
  }
}

/** Reports the format name, calling AV1-coded HEIF 'avif'. */
function formatName(meta: Metadata): string {
  return meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format;
}

/**
 * Checks the header: format allowlist (HEIF only when AV1-coded, as HEVC decoding is not
 * built in), known dimensions, pixel limit. Returns null when acceptable.
 */
export function checkHeader(meta: Metadata, maxPixels: number): PreprocessRejected | null {
  if (!ACCEPTED_FORMATS.includes(meta.format)) {
    return reject('unsupported_format', `format '${meta.format}' is not accepted`);
  }
  if (meta.format === 'heif' && meta.compression !== 'av1') {
    const kind = meta.compression ?? 'unknown';
    return reject('unsupported_format', `HEIF with ${kind} coding cannot be decoded`);
  }
  const { width, height } = meta;
  if (!width || !height) return reject('corrupt', 'header has no width or height');
  if (width * height > maxPixels) {
    return reject('too_large', `${width}x${height} exceeds ${maxPixels} pixels`);
  }
  return null;
}

/**
 * Decodes one untrusted image and returns size×size×channels uint8 pixels (HWC).
 * Steps: EXIF orientation applied, converted to sRGB (or luminance for 1 channel), alpha
 * composited onto `background`, resized with `fit`. Multi-page inputs use the first page.
 * Never throws for bad bytes (returns ok: false); throws ImageArgumentError for bad arguments.
 */
export async function preprocessImage(
  input: Buffer | Uint8Array,
  opts: PreprocessOptions,
): Promise<PreprocessResult> {
  validateOptions(input, opts);
  if (input.length === 0) return reject('empty', 'input has zero bytes');
  const maxPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const failOn = opts.failOn ?? 'warning';
  let meta: Metadata;
  try {
    meta = await sharp(input, { failOn, limitInputPixels: false }).metadata();
  } catch (err) {
    return classifyError(err, input);
  }
  const refused = checkHeader(meta, maxPixels);
  if (refused) return refused;
  try {
    const pixels = await decode(input, opts, failOn, maxPixels);
    const want = opts.size * opts.size * opts.channels;
    if (pixels.length !== want) {
      return reject('corrupt', `decoder produced ${pixels.length} bytes, expected ${want}`);
    }
    return { ok: true, pixels, format: formatName(meta), width: meta.width!, height: meta.height! };
  } catch (err) {
    return classifyError(err, input);
  }
}

async function decode(
  input: Uint8Array,
  opts: PreprocessOptions,
  failOn: NonNullable<PreprocessOptions['failOn']>,
  maxPixels: number,
): Promise<Uint8Array> {
  const background = opts.background === 'black' ? '#000000' : '#ffffff';
  let pipeline = sharp(input, { failOn, limitInputPixels: Math.floor(maxPixels), pages: 1 })
    .autoOrient()
    .flatten({ background })
    .resize(opts.size, opts.size, { fit: opts.fit ?? 'cover', position: 'centre' });
  pipeline = opts.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
  const { data } = await pipeline
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
