import { assertInt, ImageArgumentError } from './errors.js';
import { encodePng } from './png.js';

/** Heat ramp stops as [position 0..1, r, g, b]: dark blue → blue → teal → yellow. */
const RAMP: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 16, 16, 72],
  [0.35, 32, 96, 160],
  [0.65, 64, 176, 120],
  [1, 252, 232, 40],
];

/** Maps t in 0..1 (clamped; NaN counts as 0) to an sRGB [r, g, b] on the heat ramp. */
export function heatColour(t: number): [number, number, number] {
  const x = Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t));
  let i = 1;
  while (i < RAMP.length - 1 && x > RAMP[i][0]) i++;
  const [p0, r0, g0, b0] = RAMP[i - 1];
  const [p1, r1, g1, b1] = RAMP[i];
  const f = (x - p0) / (p1 - p0);
  const mix = (a: number, b: number): number => Math.round(a + (b - a) * f);
  return [mix(r0, r1), mix(g0, g1), mix(b0, b1)];
}

/** Options for heatmapPng. */
export interface HeatmapOptions {
  /** Longer output side in pixels, reached by nearest-neighbour upscaling (default: h or w). */
  scaleTo?: number;
  /** Value drawn as the coldest colour (default: smallest finite value). */
  min?: number;
  /** Value drawn as the hottest colour (default: largest finite value). */
  max?: number;
}

function finiteRange(values: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? [0, 0] : [lo, hi];
}

/** Normalises values to 0..1 between min and max; a flat map (max <= min) becomes all 0. */
export function normalise(values: Float32Array, min?: number, max?: number): Float32Array {
  const [lo0, hi0] = finiteRange(values);
  const lo = min ?? lo0;
  const hi = max ?? hi0;
  const out = new Float32Array(values.length);
  if (!(hi > lo)) return out;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = Number.isFinite(v) ? Math.min(1, Math.max(0, (v - lo) / (hi - lo))) : 0;
  }
  return out;
}

/**
 * Renders an h×w map (e.g. attention) as an RGB PNG on the heat ramp, values normalised to
 * 0..1 between min and max; NaN and infinite values draw as the coldest colour.
 */
export async function heatmapPng(
  values: Float32Array,
  h: number,
  w: number,
  opts: HeatmapOptions = {},
): Promise<Buffer> {
  assertInt('h', h, 1, 32768);
  assertInt('w', w, 1, 32768);
  if (!(values instanceof Float32Array) || values.length !== h * w) {
    throw new ImageArgumentError(`values must be a Float32Array of ${h}x${w} = ${h * w}`);
  }
  const longer = Math.max(h, w);
  assertInt('scaleTo', opts.scaleTo ?? longer, 1, 32768);
  const factor = (opts.scaleTo ?? longer) / longer;
  const outW = Math.max(1, Math.round(w * factor));
  const outH = Math.max(1, Math.round(h * factor));
  const t = normalise(values, opts.min, opts.max);
  const lut = t.length > 0 ? Array.from(t, (v) => heatColour(v)) : [];
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const sy = Math.floor((y * h) / outH);
    for (let x = 0; x < outW; x++) {
      const rgb = lut[sy * w + Math.floor((x * w) / outW)];
      out.set(rgb, (y * outW + x) * 3);
    }
  }
  return encodePng(out, outW, outH, 3);
}
