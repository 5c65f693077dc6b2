import { readFile } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { DatasetError } from './errors.js';

/** IDX magic numbers: 0x08 = unsigned byte data, then the number of dimensions. */
export const IDX_MAGIC = { images: 0x00000803, labels: 0x00000801 } as const;

/** Header and pixel/label bytes of one IDX file. */
export interface IdxFile {
  /** Dimensions from the header, e.g. [n, 28, 28] or [n]. */
  dims: number[];
  /** The uint8 data that was read (possibly only the first items, see readIdxFile). */
  data: Uint8Array;
}

function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Decompresses at least the first `maxBytes` bytes of a gzip buffer (all when undefined). */
async function gunzipPrefix(buf: Buffer, maxBytes: number, path: string): Promise<Buffer> {
  const gunzip = createGunzip();
  gunzip.end(buf);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of gunzip) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (total >= maxBytes) break;
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new DatasetError('dataset_corrupt', `${path}: cannot decompress (${why})`, path);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Parses an IDX header and returns the dims and the data that follows it. Throws DatasetError
 * 'dataset_bad_magic' when the magic is not `magic`, 'dataset_bad_header' when the header is cut.
 */
export function parseIdx(buf: Uint8Array, magic: number, path = '<buffer>'): IdxFile {
  if (buf.length < 4) throw new DatasetError('dataset_bad_header', `${path}: no IDX header`, path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    const hex = (v: number): string => `0x${v.toString(16).padStart(8, '0')}`;
    const msg = `${path}: bad IDX magic ${hex(found)}, expected ${hex(magic)}`;
    throw new DatasetError('dataset_bad_magic', msg, path);
  }
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new DatasetError('dataset_bad_header', `${path}: IDX header is cut short`, path);
  }
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { dims, data: buf.subarray(headerBytes) };
}

/**
 * Reads a gzipped (or plain) IDX file, decompressing only what is needed for the first
 * `maxItems` items (all when undefined); `itemBytes` is the size of one item.
 */
export async function readIdxFile(
  path: string,
  magic: number,
  itemBytes: number,
  maxItems?: number,
): Promise<IdxFile> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const msg =
        `${path} not found: install Fashion-MNIST with ` +
        '`apt-get install dataset-fashion-mnist`, or pass the folder holding it as `dir`';
      throw new DatasetError('dataset_missing', msg, path);
    }
    throw err;
  }
  const headerBytes = 4 + 4 * (magic & 0xff);
  const want = maxItems === undefined ? Infinity : headerBytes + maxItems * itemBytes;
  const bytes = isGzip(raw) ? await gunzipPrefix(raw, want, path) : raw;
  return parseIdx(bytes, magic, path);
}
