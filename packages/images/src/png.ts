import sharp from 'sharp';
import { assertChannels, assertInt, ImageArgumentError } from './errors.js';

const MAX_SIDE = 32768;

/**
 * Encodes raw uint8 HWC pixels as PNG. 1-channel input stays a 1-channel greyscale PNG;
 * 3-channel input is written as sRGB. Throws ImageArgumentError when the length is wrong.
 */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
): Promise<Buffer> {
  assertInt('width', width, 1, MAX_SIDE);
  assertInt('height', height, 1, MAX_SIDE);
  assertChannels(channels);
  if (!(pixels instanceof Uint8Array) || pixels.length !== width * height * channels) {
    throw new ImageArgumentError(
      `pixels must be ${width}x${height}x${channels} = ${width * height * channels} bytes`,
    );
  }
  const image = sharp(pixels, { raw: { width, height, channels } });
  const coloured = channels === 1 ? image.toColourspace('b-w') : image.toColourspace('srgb');
  return coloured.png().toBuffer();
}

/** Options for gridPng. */
export interface GridOptions {
  /** Tiles per row (at least 1); fewer are used when there are fewer images than cols. */
  cols: number;
  /** Gap between tiles and around the border, in output pixels (default 0). */
  pad?: number;
  /** Integer nearest-neighbour upscale of every tile (default 1), e.g. 3 turns 32 px into 96 px. */
  scale?: number;
  /** Grey level 0..255 of the padding and of empty cells (default 255, white). */
  padValue?: number;
}

/** Output geometry of a contact sheet. */
interface GridLayout {
  cols: number;
  rows: number;
  tile: number;
  pad: number;
  width: number;
  height: number;
}

function gridLayout(count: number, size: number, opts: GridOptions): GridLayout {
  const cols = Math.max(1, Math.min(opts.cols, count));
  const rows = Math.max(1, Math.ceil(count / cols));
  const tile = size * (opts.scale ?? 1);
  const pad = opts.pad ?? 0;
  const width = cols * tile + (cols + 1) * pad;
  const height = rows * tile + (rows + 1) * pad;
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw new ImageArgumentError(`grid of ${width}x${height} px is larger than ${MAX_SIDE}`);
  }
  return { cols, rows, tile, pad, width, height };
}

/** Copies one size×size tile into the sheet at (x0, y0), upscaled by `scale` (nearest). */
function blitTile(
  out: Uint8Array,
  outWidth: number,
  img: Uint8Array,
  size: number,
  channels: number,
  scale: number,
  x0: number,
  y0: number,
): void {
  const tile = size * scale;
  for (let y = 0; y < tile; y++) {
    const srcRow = Math.floor(y / scale) * size;
    const dstRow = ((y0 + y) * outWidth + x0) * channels;
    for (let x = 0; x < tile; x++) {
      const src = (srcRow + Math.floor(x / scale)) * channels;
      const dst = dstRow + x * channels;
      for (let c = 0; c < channels; c++) out[dst + c] = img[src + c];
    }
  }
}

/**
 * Lays out size×size×channels images as a contact sheet PNG, row by row. An empty list gives a
 * single empty cell. Throws ImageArgumentError when an image has the wrong length.
 */
export async function gridPng(
  images: readonly Uint8Array[],
  size: number,
  channels: 1 | 3,
  opts: GridOptions,
): Promise<Buffer> {
  assertInt('size', size, 1, MAX_SIDE);
  assertChannels(channels);
  assertInt('cols', opts.cols, 1, MAX_SIDE);
  assertInt('pad', opts.pad ?? 0, 0, 1024);
  assertInt('scale', opts.scale ?? 1, 1, 64);
  assertInt('padValue', opts.padValue ?? 255, 0, 255);
  const want = size * size * channels;
  images.forEach((img, i) => {
    if (!(img instanceof Uint8Array) || img.length !== want) {
      const shape = `${size}x${size}x${channels}`;
      throw new ImageArgumentError(`image ${i} must be ${want} bytes (${shape})`);
    }
  });
  const layout = gridLayout(images.length, size, opts);
  const out = new Uint8Array(layout.width * layout.height * channels).fill(opts.padValue ?? 255);
  images.forEach((img, i) => {
    const x0 = layout.pad + (i % layout.cols) * (layout.tile + layout.pad);
    const y0 = layout.pad + Math.floor(i / layout.cols) * (layout.tile + layout.pad);
    blitTile(out, layout.width, img, size, channels, opts.scale ?? 1, x0, y0);
  });
  return encodePng(out, layout.width, layout.height, channels);
}

/** Width and height of a PNG, read from its header. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (png.length < 24 || signature.some((b, i) => png[i] !== b)) {
    throw new ImageArgumentError('not a PNG');
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
