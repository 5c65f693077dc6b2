import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  float16ToFloat32,
  float32ToFloat16,
  fromFloat16Bits,
  toFloat16Bits,
} from '../src/float16.js';

/** Value and its half bit pattern, exact both ways. */
const EXACT: [number, number][] = [
  [0, 0x0000],
  [-0, 0x8000],
  [1, 0x3c00],
  [-2, 0xc000],
  [0.5, 0x3800],
  [1 + 2 ** -10, 0x3c01],
  [65504, 0x7bff],
  [-65504, 0xfbff],
  [2 ** -14, 0x0400],
  [2 ** -24, 0x0001],
  [1023 * 2 ** -24, 0x03ff],
  [Infinity, 0x7c00],
  [-Infinity, 0xfc00],
  [1 / 3 - ((1 / 3) % 2 ** -12), 0x3555],
];

test('exact values map to their known bit patterns and back', () => {
  for (const [value, bits] of EXACT) {
    assert.equal(toFloat16Bits(value), bits, `toFloat16Bits(${value})`);
    assert.ok(Object.is(fromFloat16Bits(bits), value), `fromFloat16Bits(0x${bits.toString(16)})`);
  }
});

test('rounding is to nearest, ties to even', () => {
  // Between 1 (0x3c00) and 1 + 2^-10 (0x3c01): the tie goes to the even 0x3c00.
  assert.equal(toFloat16Bits(1 + 2 ** -11), 0x3c00);
  assert.equal(toFloat16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01);
  // Between 0x3c01 and 0x3c02: the tie goes to the even 0x3c02.
  assert.equal(toFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(toFloat16Bits(1 + 3 * 2 ** -11 - 2 ** -20), 0x3c01);
  // A carry out of the mantissa moves to the next exponent: 2 - 2^-12 rounds to 2.
  assert.equal(toFloat16Bits(2 - 2 ** -12), 0x4000);
  assert.equal(toFloat16Bits(0.1), 0x2e66);
  assert.equal(toFloat16Bits(-3.14159), 0xc248);
});

test('overflow goes to Infinity from 65520 on, below it to 65504', () => {
  assert.equal(toFloat16Bits(65520), 0x7c00);
  assert.equal(toFloat16Bits(-65520), 0xfc00);
  assert.equal(toFloat16Bits(65519.99), 0x7bff);
  assert.equal(toFloat16Bits(65505), 0x7bff);
  assert.equal(toFloat16Bits(1e10), 0x7c00);
  assert.equal(toFloat16Bits(3.4e38), 0x7c00);
});

test('subnormals round to nearest even, and underflow to signed zero', () => {
  assert.equal(toFloat16Bits(2 ** -25), 0x0000); // tie between 0 and 2^-24: even is 0
  assert.equal(toFloat16Bits(2 ** -25 + 2 ** -40), 0x0001);
  assert.equal(toFloat16Bits(3 * 2 ** -25), 0x0002); // tie between 1 and 2 units: even is 2
  assert.equal(toFloat16Bits(5 * 2 ** -25), 0x0002); // tie between 2 and 3 units: even is 2
  assert.equal(toFloat16Bits(-(2 ** -26)), 0x8000);
  assert.equal(toFloat16Bits(1e-30), 0x0000);
  assert.equal(toFloat16Bits(1.4e-45), 0x0000); // a float32 subnormal
  // Just below the smallest normal rounds up into it.
  assert.equal(toFloat16Bits(2 ** -14 - 2 ** -26), 0x0400);
  assert.equal(toFloat16Bits(2 ** -14 - 2 ** -24), 0x03ff);
});

test('NaN stays NaN both ways', () => {
  const bits = toFloat16Bits(NaN);
  assert.equal(bits & 0x7c00, 0x7c00);
  assert.notEqual(bits & 0x03ff, 0);
  assert.ok(Number.isNaN(fromFloat16Bits(0x7e00)));
  assert.ok(Number.isNaN(fromFloat16Bits(0xfc01)));
});

test('every half survives widening and narrowing unchanged', () => {
  const all = new Uint16Array(0x10000).map((_, i) => i);
  const wide = float16ToFloat32(all);
  const back = float32ToFloat16(wide);
  for (let h = 0; h < 0x10000; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    // A signalling NaN comes back quiet; every other half comes back bit for bit.
    const want = isNaN ? h | 0x0200 : h;
    if (back[h] !== want) assert.fail(`0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
    if (!isNaN && toFloat16Bits(wide[h]) !== h) assert.fail(`scalar 0x${h.toString(16)}`);
  }
});

test('bulk narrowing matches the nearest half of random floats', () => {
  const values = new Float32Array(10_000);
  let seed = 7;
  for (let i = 0; i < values.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    // Magnitudes from the subnormals (below 2^-14) to 2^12, both signs.
    values[i] = (seed / 2 ** 32 - 0.5) * 2 ** ((seed % 40) - 28);
  }
  const halves = float32ToFloat16(values);
  const wide = float16ToFloat32(halves);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    const h = halves[i];
    // No half is nearer than the chosen one: check both neighbours.
    const err = Math.abs(wide[i] - x);
    for (const other of [h - 1, h + 1]) {
      if ((other & 0x7fff) >= 0x7c00 || other < 0 || other > 0xffff) continue;
      if ((other & 0x8000) !== (h & 0x8000)) continue;
      assert.ok(Math.abs(fromFloat16Bits(other) - x) >= err, `value ${x}`);
    }
  }
});

test('short output buffers are refused', () => {
  assert.throws(() => float32ToFloat16(new Float32Array(3), new Uint16Array(2)), RangeError);
  assert.throws(() => float16ToFloat32(new Uint16Array(3), new Float32Array(2)), RangeError);
});
