import sharp, { type Metadata } from 'sharp';
import { assertChannels, assertInt, ImageArgumentError } from './errors.js';
import { sniffFormat } from './sniff.js';

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
  /** Largest accepted encoded input, in bytes (default 256 MiB). */
  maxInputBytes?: number;
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

/** Default for PreprocessOptions.maxInputBytes: 256 MiB. */
export const DEFAULT_MAX_INPUT_BYTES = 256 * 2 ** 20;

const MAX_SIZE = 8192;

function reject(reason: RejectReason, message: string): PreprocessRejected {
  return { ok: false, reason, message };
}

/**
 * Decoder messages that mean "valid, but a variant this build does not decode" rather than
 * damaged data (12-bit and lossless JPEG, TIFF sample layouts, colour spaces without a route
 * to sRGB, HEIF codecs without a plugin).
 */
const UNSUPPORTED_MESSAGES = [
  /unsupported jpeg (data precision|process)/i,
  /tiff2vips: (samples out of range|unsupported)/i,
  /no known route from/i,
  /no decoding plugin|unsupported codec|unsupported feature/i,
];

/** Maps a decoder error to a reason. */
function classifyError(err: unknown): PreprocessRejected {
  const message = err instanceof Error ? err.message : String(err);
  const firstLine = message.split('\n')[0];
  if (/pixel limit/i.test(message)) return reject('too_large', firstLine);
  if (UNSUPPORTED_MESSAGES.some((re) => re.test(message))) {
    return reject('unsupported_format', firstLine);
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
  if (opts.maxInputBytes !== undefined) {
    assertInt('maxInputBytes', opts.maxInputBytes, 1, Number.MAX_SAFE_INTEGER);
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
 * Colour spaces (as the decoder names them) that convert to sRGB and luminance, with the
 * number of colour channels each has; one more channel is alpha. Not here, so refused:
 * 'multiband' (raw sensor data, separations of other than 4 inks) and CIELab TIFFs (8-bit
 * CIELab came back black from the decoder where its colour is a mid-tone violet).
 */
const COLOUR_CHANNELS: Readonly<Record<string, number>> = {
  srgb: 3,
  rgb16: 3,
  scrgb: 3,
  'b-w': 1,
  grey16: 1,
  cmyk: 4,
};

/**
 * Sample formats accepted per colour space: 8 and 16-bit unsigned integers everywhere, float
 * only as linear-light scRGB (0..1), the one float layout with a defined range. Signed, 32-bit
 * integer and other float samples have no defined mapping to 8-bit colour and are refused.
 */
function depthAccepted(space: string, depth: string): boolean {
  if (space === 'scrgb') return depth === 'float';
  return depth === 'uchar' || depth === 'ushort';
}

/**
 * Checks the header: format allowlist (HEIF only when AV1-coded, as HEVC decoding is not
 * built in), known dimensions, pixel limit, a colour space, sample format and channel count
 * that convert to 8-bit sRGB. Returns null when acceptable.
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
  const space = meta.space ?? 'srgb';
  const colour = COLOUR_CHANNELS[space];
  if (colour === undefined) {
    return reject('unsupported_format', `colour space '${space}' is not converted to sRGB here`);
  }
  const depth = meta.depth ?? 'uchar';
  if (!depthAccepted(space, depth)) {
    return reject(
      'unsupported_format',
      `${depth} samples in colour space '${space}' are not decoded`,
    );
  }
  const channels = meta.channels ?? colour;
  if (channels > colour + 1) {
    return reject(
      'unsupported_format',
      `${channels} channels: channels beyond ${colour} colour and 1 alpha are not decoded`,
    );
  }
  return null;
}

/**
 * Decodes one untrusted image and returns size×size×channels uint8 pixels (HWC).
 * Steps: the leading bytes must be those of an accepted format (nothing else reaches the
 * decoder), the header is checked (checkHeader), EXIF orientation applied, converted to sRGB
 * (or luminance for 1 channel), alpha composited onto `background`, resized with `fit`.
 * Multi-page inputs use the first page. Never throws for bad bytes (returns ok: false); throws
 * ImageArgumentError for bad arguments.
 */
export async function preprocessImage(
  input: Buffer | Uint8Array,
  opts: PreprocessOptions,
): Promise<PreprocessResult> {
  validateOptions(input, opts);
  if (input.length === 0) return reject('empty', 'input has zero bytes');
  const maxBytes = opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
  if (input.length > maxBytes) {
    return reject('too_large', `${input.length} bytes exceeds ${maxBytes} bytes`);
  }
  const sniffed = sniffFormat(input);
  if (sniffed.kind === 'unsupported') {
    return reject('unsupported_format', `${sniffed.format} images cannot be decoded by this build`);
  }
  if (sniffed.kind === 'unknown') {
    const what = sniffed.what ? ` (${sniffed.what})` : '';
    return reject('not_an_image', `input is not in any known image format${what}`);
  }
  const maxPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const failOn = opts.failOn ?? 'warning';
  let meta: Metadata;
  try {
    meta = await cleanly(() => sharp(input, { failOn, limitInputPixels: false }).metadata());
  } catch (err) {
    return classifyError(err);
  }
  const refused = checkHeader(meta, maxPixels);
  if (refused) return refused;
  try {
    const pixels = await cleanly(() => decode(input, meta, opts, failOn, maxPixels));
    const want = opts.size * opts.size * opts.channels;
    if (pixels.length !== want) {
      return reject('corrupt', `decoder produced ${pixels.length} bytes, expected ${want}`);
    }
    return { ok: true, pixels, format: formatName(meta), width: meta.width!, height: meta.height! };
  } catch (err) {
    return classifyError(err);
  }
}

/**
 * Readers-writer lock over this module's decoder calls. The decoder keeps one error buffer
 * for the whole process: when several decodes fail at once, one error's text can carry the
 * others' messages and another's be empty (measured: 99 of 210 failures in 30 rounds of 7 at
 * once got another file's message). Reasons come from that text, so a failed call is run once
 * more alone, holding every other decode of this module off, and its own message is used.
 */
class DecoderLock {
  private shared = 0;
  private exclusive = false;
  private exclusiveWaiting = 0;
  private wakers: (() => void)[] = [];

  private wait(): Promise<void> {
    return new Promise((resolve) => this.wakers.push(resolve));
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive || this.exclusiveWaiting > 0) await this.wait();
    this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
      this.wake();
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.exclusiveWaiting++;
    try {
      while (this.exclusive || this.shared > 0) await this.wait();
    } finally {
      this.exclusiveWaiting--;
    }
    this.exclusive = true;
    try {
      return await fn();
    } finally {
      this.exclusive = false;
      this.wake();
    }
  }
}

const decoderLock = new DecoderLock();

/** Runs a decoder call; a failure is run again alone, so its error is its own (DecoderLock). */
async function cleanly<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await decoderLock.withShared(fn);
  } catch {
    return decoderLock.withExclusive(fn);
  }
}

async function decode(
  input: Uint8Array,
  meta: Metadata,
  opts: PreprocessOptions,
  failOn: NonNullable<PreprocessOptions['failOn']>,
  maxPixels: number,
): Promise<Uint8Array> {
  const background = opts.background === 'black' ? '#000000' : '#ffffff';
  let pipeline = sharp(input, {
    failOn,
    limitInputPixels: Math.floor(maxPixels),
    pages: 1,
  }).autoOrient();
  if (meta.hasAlpha) pipeline = pipeline.flatten({ background });
  pipeline = pipeline.resize(opts.size, opts.size, {
    fit: opts.fit ?? 'cover',
    position: 'centre',
  });
  pipeline = opts.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
  const { data } = await pipeline
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
