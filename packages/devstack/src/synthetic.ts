import sharp from 'sharp';
import { Rng } from '@imgcluster/kmeans';
import type { Storage } from '@imgcluster/storage';

/**
 * A synthetic image collection for scale runs: ten families of patterns that look clearly
 * different (stripes at three angles, rings, checkerboards, soft blobs, gradients, triangles,
 * cloudy noise, dots). Inside its family every image has its own colours, position, scale,
 * angle and pixel noise, so no two are alike. Image `i` of a collection depends only on
 * (seed, i): any image can be rebuilt exactly, in any order, in any process.
 */

/** The families, in the order images cycle through them (image i is family i mod 10). */
export const SYNTHETIC_FAMILIES = [
  'stripes-0',
  'stripes-60',
  'stripes-120',
  'rings',
  'checker',
  'blobs',
  'gradient',
  'triangle',
  'clouds',
  'dots',
] as const;
export type SyntheticFamily = (typeof SYNTHETIC_FAMILIES)[number];

/** Version of the drawing code; a stored collection made by another version is not reused. */
export const SYNTHETIC_VERSION = 1;

/** How a collection is drawn. */
export interface SyntheticOptions {
  /** Seed of the whole collection. Default 0. */
  seed?: number;
  /** Side of every (square) image in pixels, 16..1024. Default 160. */
  side?: number;
  /** Share of images stored as PNG, 0..1; the others are JPEG. Default 0.3. */
  pngShare?: number;
}

/** One drawn image: raw RGB pixels (side×side×3, row-major) and how it is stored. */
export interface SyntheticImage {
  index: number;
  family: SyntheticFamily;
  format: 'png' | 'jpeg';
  side: number;
  pixels: Uint8Array;
}

/** Thrown for options out of range (a programmer error, never a property of the data). */
export class SyntheticArgumentError extends Error {
  readonly code = 'SYNTHETIC_INVALID_ARGUMENT';
}

/** Thrown when the target prefix holds objects that are not part of the collection. */
export class SyntheticPrefixInUseError extends Error {
  readonly code = 'SYNTHETIC_PREFIX_IN_USE';
}

const DEFAULT_SIDE = 160;
const DEFAULT_PNG_SHARE = 0.3;
const JPEG_QUALITY = 85;
/** Images per key folder (see syntheticKey). */
const FOLDER_SIZE = 1000;
/** Largest collection: keys have room for 7-digit indices. */
export const SYNTHETIC_MAX_IMAGES = 9_999_999;

/** The family of image `index`: the families take turns, so every family has the same size. */
export function syntheticFamily(index: number): SyntheticFamily {
  return SYNTHETIC_FAMILIES[index % SYNTHETIC_FAMILIES.length];
}

/** Draws image `index` of the collection; the same (options, index) always gives the same image. */
export function renderSynthetic(index: number, options: SyntheticOptions = {}): SyntheticImage {
  const { seed, side, pngShare } = checkedOptions(options);
  if (!Number.isInteger(index) || index < 0 || index > SYNTHETIC_MAX_IMAGES) {
    throw new SyntheticArgumentError(`index must be an integer in [0, ${SYNTHETIC_MAX_IMAGES}]`);
  }
  const rng = imageRng(seed, index);
  const familyIndex = index % SYNTHETIC_FAMILIES.length;
  const format = rng.next() < pngShare ? 'png' : 'jpeg';

  const field = new Float32Array(side * side);
  DRAW[familyIndex](field, side, rng);
  const pixels = colourise(field, side, familyIndex, rng);
  return { index, family: SYNTHETIC_FAMILIES[familyIndex], format, side, pixels };
}

/** The stored format of image `index` (without drawing it). */
export function syntheticFormat(index: number, options: SyntheticOptions = {}): 'png' | 'jpeg' {
  const { seed, pngShare } = checkedOptions(options);
  return imageRng(seed, index).next() < pngShare ? 'png' : 'jpeg';
}

/** One generator per image, seeded from (seed, index): images are independent of each other. */
function imageRng(seed: number, index: number): Rng {
  return new Rng((Math.imul(seed + 1, 0x9e3779b1) + index) >>> 0);
}

/** Encodes a drawn image in its format (PNG or JPEG). */
export async function encodeSynthetic(image: SyntheticImage): Promise<Buffer> {
  const raw = sharp(image.pixels, { raw: { width: image.side, height: image.side, channels: 3 } });
  if (image.format === 'png') return raw.png({ compressionLevel: 4 }).toBuffer();
  return raw.jpeg({ quality: JPEG_QUALITY }).toBuffer();
}

/**
 * Object key of image `index` under `prefix`: folders of 1000 images
 * (`<prefix>0042/0042137.jpg`), as a large collection is usually stored. The local S3
 * server reads a whole folder for every page of a listing, so one flat folder of 200,000
 * objects would make listing it slow.
 */
export function syntheticKey(prefix: string, index: number, format: 'png' | 'jpeg'): string {
  const folder = String(Math.floor(index / FOLDER_SIZE)).padStart(4, '0');
  const ext = format === 'png' ? 'png' : 'jpg';
  return `${prefix}${folder}/${String(index).padStart(7, '0')}.${ext}`;
}

/** Where and how large a collection to upload. */
export interface SyntheticTarget extends SyntheticOptions {
  bucket: string;
  /**
   * Folder of the collection, ending in '/': the images go under `<root>images/`, the
   * labels (`labels.json`) and the description (`collection.json`) beside that folder.
   */
  root: string;
  /** Number of images, 1..9,999,999. */
  count: number;
  /** Images drawn, encoded and uploaded at once. Default 16. */
  concurrency?: number;
}

/** Progress of an upload. */
export interface SyntheticProgress {
  done: number;
  total: number;
  /** Encoded bytes uploaded so far. */
  bytes: number;
  seconds: number;
}

/** An uploaded collection. */
export interface SyntheticSet {
  bucket: string;
  /** Prefix of the images (the run's `input.prefix`). */
  prefix: string;
  /** Key of the labels file: { "<image key>": "<family>" }. */
  labelsKey: string;
  /** Key of the collection's description, written last. */
  descriptionKey: string;
  count: number;
  /** Encoded bytes of all images. */
  bytes: number;
  formats: { png: number; jpeg: number };
  /** True when a complete collection with the same settings was already there. */
  reused: boolean;
  /** Seconds spent drawing and uploading (or checking, when reused). */
  seconds: number;
}

/** What `collection.json` holds; a stored collection is reused only when all of it matches. */
interface SyntheticDescription {
  version: number;
  seed: number;
  side: number;
  pngShare: number;
  count: number;
  prefix: string;
  labelsKey: string;
  bytes: number;
  formats: { png: number; jpeg: number };
}

/**
 * Draws `count` images and uploads them (PNG or JPEG objects) with a labels file beside
 * them mapping each key to its family, so a run can be scored against the families. The
 * description is written last: when it is there with the same settings and the prefix
 * holds exactly the collection's keys, the stored collection is reused instead of drawn
 * again. Objects of an unfinished upload of the same collection are overwritten; any other
 * object under the prefix fails the upload with SyntheticPrefixInUseError, before drawing.
 * `onProgress` is called about twice a second and at the end.
 */
export async function uploadSynthetic(
  storage: Storage,
  target: SyntheticTarget,
  onProgress: (p: SyntheticProgress) => void = () => undefined,
): Promise<SyntheticSet> {
  const options = checkedOptions(target);
  const { count, bucket, root } = target;
  if (!Number.isInteger(count) || count < 1 || count > SYNTHETIC_MAX_IMAGES) {
    throw new SyntheticArgumentError(`count must be an integer in [1, ${SYNTHETIC_MAX_IMAGES}]`);
  }
  if (root !== '' && !root.endsWith('/')) {
    throw new SyntheticArgumentError(`root must be '' or end with '/', got ${root}`);
  }
  const started = Date.now();
  const prefix = `${root}images/`;
  const labelsKey = `${root}labels.json`;
  const descriptionKey = `${root}collection.json`;
  await storage.ensureBucket(bucket);

  const expected = new Set<string>();
  for (let i = 0; i < count; i++)
    expected.add(syntheticKey(prefix, i, syntheticFormat(i, options)));
  const listed = await storage.list(bucket, prefix);
  const foreign = listed.filter((o) => !expected.has(o.key));
  if (foreign.length > 0) {
    throw new SyntheticPrefixInUseError(
      `s3://${bucket}/${prefix} holds ${foreign.length} objects of another collection ` +
        `(e.g. ${foreign[0].key}); choose another root`,
    );
  }
  const stored = await storage.getJsonIfExists<SyntheticDescription>(bucket, descriptionKey);
  const wanted = { version: SYNTHETIC_VERSION, ...options, count, prefix, labelsKey };
  const complete = listed.length === count && stored !== undefined && matches(stored, wanted);
  if (complete && (await storage.exists(bucket, labelsKey))) {
    const seconds = (Date.now() - started) / 1000;
    const { bytes, formats } = stored;
    onProgress({ done: count, total: count, bytes, seconds });
    return {
      bucket,
      prefix,
      labelsKey,
      descriptionKey,
      count,
      bytes,
      formats,
      reused: true,
      seconds,
    };
  }

  const labels: Record<string, string> = {};
  const formats = { png: 0, jpeg: 0 };
  let bytes = 0;
  let next = 0;
  let done = 0;
  let failed = false;
  let reported = started;
  const report = () => {
    reported = Date.now();
    onProgress({ done, total: count, bytes, seconds: (reported - started) / 1000 });
  };
  const worker = async () => {
    while (next < count && !failed) {
      const index = next++;
      const image = renderSynthetic(index, options);
      const body = await encodeSynthetic(image);
      const key = syntheticKey(prefix, index, image.format);
      try {
        await storage.put(bucket, key, body, image.format === 'png' ? 'image/png' : 'image/jpeg');
      } catch (err) {
        failed = true;
        throw err;
      }
      labels[key] = image.family;
      formats[image.format]++;
      bytes += body.length;
      done++;
      if (Date.now() - reported >= 500) report();
    }
  };
  await Promise.all(Array.from({ length: target.concurrency ?? 16 }, worker));
  report();

  await storage.putJson(bucket, labelsKey, labels);
  const description: SyntheticDescription = { ...wanted, bytes, formats };
  await storage.putJson(bucket, descriptionKey, description);
  const seconds = (Date.now() - started) / 1000;
  return {
    bucket,
    prefix,
    labelsKey,
    descriptionKey,
    count,
    bytes,
    formats,
    reused: false,
    seconds,
  };
}

function matches(
  stored: SyntheticDescription,
  wanted: Omit<SyntheticDescription, 'bytes' | 'formats'>,
) {
  return (Object.keys(wanted) as (keyof typeof wanted)[]).every((k) => stored[k] === wanted[k]);
}

function checkedOptions(options: SyntheticOptions): Required<SyntheticOptions> {
  const seed = options.seed ?? 0;
  const side = options.side ?? DEFAULT_SIDE;
  const pngShare = options.pngShare ?? DEFAULT_PNG_SHARE;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new SyntheticArgumentError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if (!Number.isInteger(side) || side < 16 || side > 1024) {
    throw new SyntheticArgumentError(`side must be an integer in [16, 1024], got ${side}`);
  }
  if (!(pngShare >= 0 && pngShare <= 1)) {
    throw new SyntheticArgumentError(`pngShare must be in [0, 1], got ${pngShare}`);
  }
  return { seed, side, pngShare };
}

// ---------------------------------------------------------------------------------------
// Drawing: each family fills a field of values in [0, 1] (0 = background, 1 = foreground);
// colourise then maps it to two colours and adds pixel noise.

type Draw = (field: Float32Array, side: number, rng: Rng) => void;

const uniform = (rng: Rng, lo: number, hi: number) => lo + (hi - lo) * rng.next();
const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
const DEG = Math.PI / 180;

/**
 * Parallel stripes whose brightness changes along `angle` degrees (± a few; 0 draws upright
 * stripes), with a random period, phase and edge softness.
 */
function stripes(angle: number): Draw {
  return (field, side, rng) => {
    const theta = (angle + 6 * rng.gaussian()) * DEG;
    const period = uniform(rng, 10, 26);
    const phase = uniform(rng, 0, 2 * Math.PI);
    const edge = uniform(rng, 1, 4);
    const fx = (Math.cos(theta) * 2 * Math.PI) / period;
    const fy = (Math.sin(theta) * 2 * Math.PI) / period;
    for (let y = 0, p = 0; y < side; y++) {
      for (let x = 0; x < side; x++, p++) {
        field[p] = clamp01(0.5 + 0.5 * edge * Math.sin(x * fx + y * fy + phase));
      }
    }
  };
}

/** Concentric rings around a point near the centre. */
const rings: Draw = (field, side, rng) => {
  const cx = side * uniform(rng, 0.3, 0.7);
  const cy = side * uniform(rng, 0.3, 0.7);
  const k = (2 * Math.PI) / uniform(rng, 10, 24);
  const phase = uniform(rng, 0, 2 * Math.PI);
  const edge = uniform(rng, 1, 4);
  for (let y = 0, p = 0; y < side; y++) {
    for (let x = 0; x < side; x++, p++) {
      const r = Math.sqrt((x - cx) ** 2 + (y - cy) ** 2);
      field[p] = clamp01(0.5 + 0.5 * edge * Math.sin(r * k + phase));
    }
  }
};

/** A checkerboard with a random cell size, slightly rotated and shifted. */
const checker: Draw = (field, side, rng) => {
  const theta = uniform(rng, -25, 25) * DEG;
  const k = Math.PI / uniform(rng, 12, 30);
  const ox = uniform(rng, 0, side);
  const oy = uniform(rng, 0, side);
  const c = Math.cos(theta) * k;
  const s = Math.sin(theta) * k;
  for (let y = 0, p = 0; y < side; y++) {
    for (let x = 0; x < side; x++, p++) {
      const u = (x - ox) * c + (y - oy) * s;
      const v = (y - oy) * c - (x - ox) * s;
      field[p] = clamp01(0.5 + 6 * Math.sin(u) * Math.sin(v));
    }
  }
};

/** Three to six soft round blobs of different sizes. */
const blobs: Draw = (field, side, rng) => {
  field.fill(0);
  const n = 3 + rng.nextInt(4);
  for (let b = 0; b < n; b++) {
    const cx = side * uniform(rng, 0.1, 0.9);
    const cy = side * uniform(rng, 0.1, 0.9);
    const sigma = side * uniform(rng, 0.05, 0.12);
    const inv = 1 / (2 * sigma * sigma);
    const reach = 3 * sigma;
    const x0 = Math.max(0, Math.floor(cx - reach));
    const x1 = Math.min(side - 1, Math.ceil(cx + reach));
    const y0 = Math.max(0, Math.floor(cy - reach));
    const y1 = Math.min(side - 1, Math.ceil(cy + reach));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const d2 = (x - cx) ** 2 + (y - cy) ** 2;
        const g = Math.exp(-d2 * inv);
        const p = y * side + x;
        if (g > field[p]) field[p] = g;
      }
    }
  }
};

/** A smooth linear ramp in a random direction, with a random curve. */
const gradient: Draw = (field, side, rng) => {
  const theta = uniform(rng, 0, 2 * Math.PI);
  const gamma = Math.exp(uniform(rng, -0.7, 0.7));
  const c = Math.cos(theta) / (side * Math.SQRT2);
  const s = Math.sin(theta) / (side * Math.SQRT2);
  const mid = side / 2;
  // The curve from a table: one power per table entry instead of one per pixel.
  const curve = Float32Array.from({ length: 1024 }, (_, i) => (i / 1023) ** gamma);
  for (let y = 0, p = 0; y < side; y++) {
    for (let x = 0; x < side; x++, p++) {
      field[p] = curve[Math.round(1023 * clamp01(0.5 + (x - mid) * c + (y - mid) * s))];
    }
  }
};

/** One filled triangle (nearly equilateral), rotated, at a random place and size. */
const triangle: Draw = (field, side, rng) => {
  const cx = side * uniform(rng, 0.35, 0.65);
  const cy = side * uniform(rng, 0.35, 0.65);
  const radius = side * uniform(rng, 0.22, 0.4);
  const turn = uniform(rng, 0, 2 * Math.PI);
  const corners = [0, 1, 2].map((i) => {
    const a = turn + (i * 2 * Math.PI) / 3 + 0.15 * rng.gaussian();
    return [cx + radius * Math.cos(a), cy + radius * Math.sin(a)];
  });
  // Each edge as a line a·x + b·y + c whose value is the signed distance, positive inside.
  const edges = [0, 1, 2].map((i) => {
    const [x0, y0] = corners[i];
    const [x1, y1] = corners[(i + 1) % 3];
    const len = Math.hypot(x1 - x0, y1 - y0);
    const a = (y0 - y1) / len;
    const b = (x1 - x0) / len;
    const c = -(a * x0 + b * y0);
    const sign = a * cx + b * cy + c > 0 ? 1 : -1;
    return [a * sign, b * sign, c * sign];
  });
  const [[a0, b0, c0], [a1, b1, c1], [a2, b2, c2]] = edges;
  for (let y = 0, p = 0; y < side; y++) {
    for (let x = 0; x < side; x++, p++) {
      const inside = Math.min(a0 * x + b0 * y + c0, a1 * x + b1 * y + c1, a2 * x + b2 * y + c2);
      field[p] = clamp01(0.5 + inside / 1.5);
    }
  }
};

/** Cloudy value noise: random values on a coarse grid, smoothly interpolated. */
const clouds: Draw = (field, side, rng) => {
  const cell = uniform(rng, 8, 20);
  const n = Math.ceil(side / cell) + 2;
  const grid = new Float32Array(n * n);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.next();
  const contrast = uniform(rng, 1.2, 2.2);
  for (let y = 0, p = 0; y < side; y++) {
    const gy = y / cell;
    const iy = Math.floor(gy);
    const ty = smooth(gy - iy);
    for (let x = 0; x < side; x++, p++) {
      const gx = x / cell;
      const ix = Math.floor(gx);
      const tx = smooth(gx - ix);
      const top = grid[iy * n + ix] * (1 - tx) + grid[iy * n + ix + 1] * tx;
      const bottom = grid[(iy + 1) * n + ix] * (1 - tx) + grid[(iy + 1) * n + ix + 1] * tx;
      field[p] = clamp01(0.5 + contrast * (top * (1 - ty) + bottom * ty - 0.5));
    }
  }
};

const smooth = (t: number) => t * t * (3 - 2 * t);

/** Round dots on a rotated square lattice. */
const dots: Draw = (field, side, rng) => {
  const spacing = uniform(rng, 16, 30);
  const radius = spacing * uniform(rng, 0.2, 0.38);
  const theta = uniform(rng, 0, Math.PI / 2);
  const ox = uniform(rng, 0, spacing);
  const oy = uniform(rng, 0, spacing);
  const c = Math.cos(theta) / spacing;
  const s = Math.sin(theta) / spacing;
  for (let y = 0, p = 0; y < side; y++) {
    for (let x = 0; x < side; x++, p++) {
      const u = (x - ox) * c + (y - oy) * s;
      const v = (y - oy) * c - (x - ox) * s;
      const du = u - Math.round(u);
      const dv = v - Math.round(v);
      const d = Math.sqrt(du * du + dv * dv) * spacing;
      field[p] = clamp01(0.5 + (radius - d) / 1.2);
    }
  }
};

const DRAW: readonly Draw[] = [
  stripes(0),
  stripes(60),
  stripes(120),
  rings,
  checker,
  blobs,
  gradient,
  triangle,
  clouds,
  dots,
];

/**
 * Paints a field with a foreground colour whose hue leans to the family's own (± 30°, so
 * neighbouring families overlap) over a dark, greyish background of any hue, plus a little
 * per-pixel luminance noise.
 */
function colourise(field: Float32Array, side: number, family: number, rng: Rng): Uint8Array {
  const hue = (family * 360) / SYNTHETIC_FAMILIES.length + uniform(rng, -30, 30);
  const fg = hsv(hue, uniform(rng, 0.55, 1), uniform(rng, 0.65, 1));
  const bg = hsv(uniform(rng, 0, 360), uniform(rng, 0, 0.4), uniform(rng, 0.05, 0.45));
  const noise = uniform(rng, 0, 12);
  const dr = fg[0] - bg[0];
  const dg = fg[1] - bg[1];
  const db = fg[2] - bg[2];
  // A cheap xorshift for the per-pixel noise, seeded from the image's generator.
  let state = rng.nextUint32() | 1;
  // Clamped storage rounds and clips to 0..255 (a plain Uint8Array would wrap around).
  const out = new Uint8ClampedArray(side * side * 3);
  for (let p = 0, o = 0; p < field.length; p++, o += 3) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const jitter = ((state >>> 0) / 4294967296 - 0.5) * 2 * noise;
    const v = field[p];
    out[o] = bg[0] + v * dr + jitter;
    out[o + 1] = bg[1] + v * dg + jitter;
    out[o + 2] = bg[2] + v * db + jitter;
  }
  return new Uint8Array(out.buffer);
}

/** HSV (hue in degrees, saturation and value in 0..1) to RGB in 0..255. */
function hsv(hue: number, s: number, v: number): [number, number, number] {
  const h = ((hue % 360) + 360) % 360;
  const f = (n: number) => {
    const k = (n + h / 60) % 6;
    return 255 * v * (1 - s * Math.max(0, Math.min(k, 4 - k, 1)));
  };
  return [f(5), f(3), f(1)];
}
