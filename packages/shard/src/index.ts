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
 *
 * dtype 'float16' stores IEEE half precision (uint16 bit patterns, little-endian): half the
 * bytes of float32 for about three significant decimal digits. decodeShard widens it to a
 * Float32Array, so readers see float32 whatever was stored; decodeShardRaw keeps the halves
 * (a Uint16Array) and widenShard widens them later, for holding many shards in memory.
 */
import { float16ToFloat32, float32ToFloat16 } from './float16.js';

export { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from './float16.js';

export type ShardDtype = 'uint8' | 'float16' | 'float32';

/** The stored data of a shard: uint8 as Uint8Array, float16 as half bits, float32 as floats. */
export type ShardData = Uint8Array | Uint16Array | Float32Array;

export interface ShardHeader {
  dtype: ShardDtype;
  /** [items, ...itemShape] */
  shape: number[];
  /** One key per item. */
  keys: string[];
}

export interface Shard<T extends ShardData = Uint8Array | Float32Array> {
  header: ShardHeader;
  data: T;
}

const MAGIC = 0x48534349; // "ICSH" read as little-endian uint32
const VERSION = 1;

/** Bytes per value of each dtype. */
const BYTES: Record<ShardDtype, number> = { uint8: 1, float16: 2, float32: 4 };

/** The array type that holds each dtype's stored data. */
const ARRAY_TYPE = { uint8: Uint8Array, float16: Uint16Array, float32: Float32Array } as const;

/** The shard bytes are not a valid shard. */
export class ShardFormatError extends Error {
  readonly code = 'SHARD_INVALID';
}

/** Elements per item of a header's shape. */
export function itemSize(shape: number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * Serialises a shard. For dtype 'float16' the data is either a Float32Array, rounded to the
 * nearest half (ties to even, beyond ±65504 to ±Infinity), or a Uint16Array of half bits.
 */
export function encodeShard(header: ShardHeader, data: ShardData): Buffer {
  if (header.dtype === 'float16' && data instanceof Float32Array) data = float32ToFloat16(data);
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

/**
 * Parses a shard; the returned data is a copy aligned for its dtype, float16 widened to a
 * Float32Array (exactly: every half is a float32).
 */
export function decodeShard(bytes: Uint8Array): Shard {
  return widenShard(decodeShardRaw(bytes));
}

/** Parses a shard like decodeShard, but leaves float16 data as a Uint16Array of half bits. */
export function decodeShardRaw(bytes: Uint8Array): Shard<ShardData> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || buf.readUInt32LE(0) !== MAGIC) throw new ShardFormatError('bad magic');
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) throw new ShardFormatError(`unsupported shard version ${version}`);

  const headerLength = buf.readUInt32LE(8);
  if (12 + headerLength > buf.length) throw new ShardFormatError('truncated header');
  const header = JSON.parse(buf.subarray(12, 12 + headerLength).toString('utf8')) as ShardHeader;

  const offset = align8(12 + headerLength);
  const raw = buf.subarray(offset);
  if (!Object.hasOwn(BYTES, header.dtype)) {
    throw new ShardFormatError(`unknown dtype ${JSON.stringify(header.dtype)}`);
  }
  if (raw.byteLength % BYTES[header.dtype] !== 0) {
    throw new ShardFormatError(`${raw.byteLength} data bytes is not a whole number of values`);
  }
  const copy = () => raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const data =
    header.dtype === 'uint8'
      ? new Uint8Array(raw)
      : header.dtype === 'float16'
        ? new Uint16Array(copy())
        : new Float32Array(copy());
  checkConsistent(header, data);
  return { header, data };
}

/** A shard with float16 data widened to float32; other shards are returned as they are. */
export function widenShard(shard: Shard<ShardData>): Shard {
  const { header, data } = shard;
  if (data instanceof Uint16Array) return { header, data: float16ToFloat32(data) };
  return { header, data };
}

function checkConsistent(header: ShardHeader, data: ShardData): void {
  if (!Object.hasOwn(ARRAY_TYPE, header.dtype)) {
    throw new ShardFormatError(`unknown dtype ${JSON.stringify(header.dtype)}`);
  }
  const expected = header.shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new ShardFormatError(`data has ${data.length} elements, shape says ${expected}`);
  }
  if (header.keys.length !== header.shape[0]) {
    throw new ShardFormatError(`${header.keys.length} keys for ${header.shape[0]} items`);
  }
  if (!(data instanceof ARRAY_TYPE[header.dtype])) {
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
