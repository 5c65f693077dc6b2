/**
 * The shard format: one binary object holding a batch of equally shaped arrays.
 *
 *   bytes 0..3   magic "ICSH"
 *   bytes 4..7   format version, uint32 little-endian (1)
 *   bytes 8..11  header length H, uint32 little-endian
 *   bytes 12..   header: UTF-8 JSON { dtype, shape, keys }
 *   then zero padding to a multiple of 8, then the data, row-major, little-endian.
 *
 * shape[0] is the number of items and keys[i] names item i (the input object key).
 */

export type ShardDtype = 'uint8' | 'float32';

export interface ShardHeader {
  dtype: ShardDtype;
  /** [items, ...itemShape] */
  shape: number[];
  /** One key per item. */
  keys: string[];
}

export interface Shard<T extends Uint8Array | Float32Array = Uint8Array | Float32Array> {
  header: ShardHeader;
  data: T;
}

const MAGIC = 0x48534349; // "ICSH" read as little-endian uint32
const VERSION = 1;

/** The shard bytes are not a valid shard. */
export class ShardFormatError extends Error {
  readonly code = 'SHARD_INVALID';
}

/** Elements per item of a header's shape. */
export function itemSize(shape: number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/** Serialises a shard. */
export function encodeShard(header: ShardHeader, data: Uint8Array | Float32Array): Buffer {
  checkConsistent(header, data);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const dataOffset = align8(12 + json.length);
  const out = Buffer.alloc(dataOffset + data.byteLength);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(VERSION, 4);
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, dataOffset);
  return out;
}

/** Parses a shard; the returned data is a copy aligned for its dtype. */
export function decodeShard(bytes: Uint8Array): Shard {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || buf.readUInt32LE(0) !== MAGIC) throw new ShardFormatError('bad magic');
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) throw new ShardFormatError(`unsupported shard version ${version}`);

  const headerLength = buf.readUInt32LE(8);
  if (12 + headerLength > buf.length) throw new ShardFormatError('truncated header');
  const header = JSON.parse(buf.subarray(12, 12 + headerLength).toString('utf8')) as ShardHeader;

  const offset = align8(12 + headerLength);
  const raw = buf.subarray(offset);
  const data =
    header.dtype === 'uint8'
      ? new Uint8Array(raw)
      : new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  checkConsistent(header, data);
  return { header, data };
}

function checkConsistent(header: ShardHeader, data: Uint8Array | Float32Array): void {
  const expected = header.shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new ShardFormatError(`data has ${data.length} elements, shape says ${expected}`);
  }
  if (header.keys.length !== header.shape[0]) {
    throw new ShardFormatError(`${header.keys.length} keys for ${header.shape[0]} items`);
  }
  const isUint8 = data instanceof Uint8Array;
  if ((header.dtype === 'uint8') !== isUint8) {
    throw new ShardFormatError(`dtype ${header.dtype} does not match the data`);
  }
}

/** Bytes to read from a shard's start to learn where its data begins (see dataOffset). */
export const PREAMBLE_BYTES = 12;

/**
 * Where the data of a shard starts, from its first PREAMBLE_BYTES bytes: with it, one
 * item can be read with a ranged request instead of the whole shard.
 */
export function dataOffset(preamble: Uint8Array): number {
  const buf = Buffer.from(preamble.buffer, preamble.byteOffset, preamble.byteLength);
  if (buf.length < PREAMBLE_BYTES || buf.readUInt32LE(0) !== MAGIC) {
    throw new ShardFormatError('bad magic');
  }
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) throw new ShardFormatError(`unsupported shard version ${version}`);
  return align8(PREAMBLE_BYTES + buf.readUInt32LE(8));
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
