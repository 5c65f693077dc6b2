import { z } from 'zod';
import { PRESET_NAMES, withPreset } from './presets.js';

/** S3 keys are UTF-8: a string with a lone surrogate half cannot be one. */
const wellFormed = (v: string) =>
  !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v);
/** An object key: 1 to 1024 characters of valid Unicode. */
export const objectKey = z.string().min(1).max(1024).refine(wellFormed, 'must be valid Unicode');
/** A key prefix: like a key, but may be empty (the whole bucket). */
export const keyPrefix = z.string().max(1024).refine(wellFormed, 'must be valid Unicode');
/** An S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens. */
export const bucketName = z
  .string()
  .min(3)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'must be a valid S3 bucket name');

/** The k values tried when `kmeans.k` is "auto" and `kmeans.kRange` is not given. */
export const DEFAULT_K_RANGE = { min: 2, max: 20 } as const;
/**
 * Most k values one `kmeans.kRange` may cover: choosing k costs three fits per value, on one
 * cluster worker that every run shares.
 */
export const K_RANGE_MAX_VALUES = 50;

/** The run settings themselves, without the preset step (see {@link runSpecSchema}). */
const runSpecObject = z
  .object({
    /** Optional human-readable name of the run. */
    name: z.string().max(200).optional(),
    /**
     * A named set of settings the run starts from (see PRESETS); settings given beside it
     * win. The stored spec keeps the name and every value it resolved to. Default: none
     * (the defaults below).
     */
    preset: z.enum(PRESET_NAMES).optional(),
    /** Where the images are: every object under bucket/prefix is an input image. */
    input: z
      .object({
        bucket: bucketName,
        /** Key prefix; '' means the whole bucket. */
        prefix: keyPrefix.default(''),
      })
      .strict(),
    /**
     * Optional ground truth for scoring only (never used for training): a JSON object
     * mapping input object key to a label (string or integer).
     */
    labels: z
      .object({
        bucket: bucketName.optional(),
        key: objectKey.refine(
          (key) => !key.split('/').some((part) => part === '.' || part === '..'),
          "must not have '.' or '..' segments",
        ),
      })
      .strict()
      .optional(),
    /** Size every image is resized to. */
    image: z
      .object({
        /** Side in pixels; a multiple of 8 so three 2x poolings divide it. Default 32. */
        size: z
          .number()
          .int()
          .min(16)
          .max(512)
          .refine((v) => v % 8 === 0, 'must be a multiple of 8')
          .default(32),
        /** 1 = greyscale, 3 = RGB. Default 1. */
        channels: z.union([z.literal(1), z.literal(3)]).default(1),
      })
      .strict()
      .default({}),
    /**
     * Autoencoder shape. "conv" (the default): three convolutions whose filters are `filters`
     * (the last is the code depth), codes of (size/8)² × filters[2] floats. "dense": fully
     * connected layers of widths `hidden` down to a code of `codeSize` floats (N2D's shape;
     * slower to train, see docs/quality.md).
     */
    model: z
      .object({
        architecture: z.enum(['conv', 'dense']).default('conv'),
        filters: z
          .tuple([
            z.number().int().min(1).max(256),
            z.number().int().min(1).max(256),
            z.number().int().min(1).max(256),
          ])
          .default([16, 8, 8]),
        /** Dense only: widths of the encoder's hidden layers. Default [500, 500, 2000]. */
        hidden: z.array(z.number().int().min(1).max(4096)).min(1).max(8).optional(),
        /** Dense only: floats per code. Default 10. */
        codeSize: z.number().int().min(1).max(1024).optional(),
      })
      .strict()
      .refine((m) => m.architecture === 'dense' || m.hidden === undefined, {
        message: 'hidden is only used with architecture "dense"',
        path: ['hidden'],
      })
      .refine((m) => m.architecture === 'dense' || m.codeSize === undefined, {
        message: 'codeSize is only used with architecture "dense"',
        path: ['codeSize'],
      })
      .default({}),
    /** How the encoder stores the codes it hands to the cluster stage. */
    codes: z
      .object({
        /**
         * Number format of the code shards: 'float16' (IEEE half) halves their storage and
         * transfer, at about three significant digits per value. Default 'float32'.
         */
        dtype: z.enum(['float32', 'float16']).default('float32'),
      })
      .strict()
      .default({}),
    training: z
      .object({
        /** Passes over the training images. Default 5. */
        epochs: z.number().int().min(1).max(500).default(5),
        /** Images per gradient step. Default 64. */
        batchSize: z.number().int().min(1).max(4096).default(64),
        /** Adam learning rate. Default 0.001. */
        learningRate: z.number().positive().max(1).default(1e-3),
        /** Train on at most this many images (a seeded sample); all are encoded. Default: all. */
        maxImages: z.number().int().min(1).optional(),
        /** Seed for shuffling and sampling. Default 0. */
        seed: z.number().int().min(0).default(0),
        /**
         * Also checkpoint every this many steps inside an epoch (0: only at epoch ends), so
         * a restarted trainer loses at most this many steps. Default 100.
         */
        checkpointSteps: z.number().int().min(0).max(1_000_000).default(100),
      })
      .strict()
      .default({}),
    kmeans: z
      .object({
        /**
         * Number of clusters, or "auto": the cluster stage tries every k of `kRange` on a
         * sample of the codes and keeps the one with the highest mean silhouette. Default 10.
         */
        k: z
          .union([z.number().int().min(2).max(1000), z.literal('auto')], {
            errorMap: (issue, ctx) => ({
              message:
                issue.code === 'invalid_union'
                  ? 'must be an integer from 2 to 1000, or "auto"'
                  : ctx.defaultError,
            }),
          })
          .default(10),
        /**
         * With k "auto", the k values tried, both ends included, at most 50 of them. Default
         * 2..20; the cluster stage lowers max to one below the number of images when there are
         * fewer.
         */
        kRange: z
          .object({
            min: z.number().int().min(2).max(1000).default(DEFAULT_K_RANGE.min),
            max: z.number().int().min(2).max(1000).default(DEFAULT_K_RANGE.max),
          })
          .strict()
          .refine((r) => r.max >= r.min, {
            message: `kRange.max (${DEFAULT_K_RANGE.max} unless given) must be at least kRange.min`,
            path: ['max'],
          })
          .refine((r) => r.max - r.min < K_RANGE_MAX_VALUES, {
            message: `kRange may cover at most ${K_RANGE_MAX_VALUES} values of k (each costs three fits)`,
            path: ['max'],
          })
          .optional(),
        /**
         * How codes are prepared for clustering: "none" as encoded, "l2" each scaled to unit
         * length (k-means then compares the codes' directions). New images get the same.
         * Default "l2".
         */
        normalize: z.enum(['none', 'l2']).default('l2'),
        /**
         * An optional manifold step between the codes and k-means: with method "umap" a UMAP
         * layout is fitted on a sample of the (normalised) codes, every code is placed in it
         * through its nearest sample codes, and k-means clusters those places. New images
         * are placed the same way. "auto" (the default) is "umap" for codes of at most
         * AUTO_MANIFOLD_MAX_DIM floats and "none" for wider ones, where placing every code
         * would cost minutes (see manifoldFor).
         */
        manifold: z
          .object({
            method: z.enum(['auto', 'none', 'umap']).default('auto'),
            /** Width of the layout. Default 10. */
            dims: z.number().int().min(2).max(64).default(10),
            /** Neighbours each code is tied to (lowered to the sample size − 1). Default 15. */
            neighbors: z.number().int().min(2).max(200).default(15),
            /** Codes the layout is fitted on, drawn across all shards. Default 10,000. */
            sample: z.number().int().min(10).max(50_000).default(10_000),
          })
          .strict()
          .default({}),
        /**
         * "gaussian": after k-means, a Gaussian mixture with one diagonal covariance per
         * cluster is fitted by EM from the k-means clusters, and every image (new ones too)
         * goes to its most probable component; clusters may then differ in spread and shape.
         * Default "none" (nearest centroid).
         */
        mixture: z.enum(['none', 'gaussian']).default('none'),
        /** Codes per mini-batch step. Default 1024. */
        batchSize: z.number().int().min(16).max(65536).default(1024),
        /** Cap on mini-batch steps. Default 500. */
        maxSteps: z.number().int().min(1).max(100_000).default(500),
        /** Seed for k-means++ and batch sampling. Default 0. */
        seed: z.number().int().min(0).default(0),
      })
      .strict()
      .refine((m) => m.kRange === undefined || m.k === 'auto', {
        message: 'kRange is only used with k "auto"',
        path: ['kRange'],
      })
      .default({}),
    /** Input images per preprocess/encode job. Default 1000. */
    shardSize: z.number().int().min(1).max(20_000).default(1000),
  })
  .strict();

/**
 * What a user submits with POST /v1/runs. Every field but `input` has a default; a `preset`
 * fills in its settings first, then the given ones override them.
 */
export const runSpecSchema = z.preprocess(withPreset, runSpecObject);

/**
 * Widest code (floats) that manifold method "auto" lays out: at 32×32 images and 8 code
 * channels codes have 128 floats, at 64×64 512; placing n codes costs n × sample distances
 * of this width.
 */
export const AUTO_MANIFOLD_MAX_DIM = 512;

/** Whether a run with these k-means settings and codes of `codeDim` floats has a manifold. */
export function manifoldFor(kmeans: RunSpec['kmeans'], codeDim: number): boolean {
  const method = kmeans.manifold?.method ?? 'none';
  return method === 'umap' || (method === 'auto' && codeDim <= AUTO_MANIFOLD_MAX_DIM);
}

/** Default hidden widths and code size of the "dense" architecture. */
export const DENSE_DEFAULTS = { hidden: [500, 500, 2000], codeSize: 10 } as const;

/** The autoencoder settings of `model` with the dense defaults filled in where they apply. */
export function modelShape(model: RunSpec['model']): {
  architecture: 'conv' | 'dense';
  filters: [number, number, number];
  hidden: number[];
  codeSize: number;
} {
  const dense = model.architecture === 'dense';
  return {
    architecture: model.architecture,
    filters: model.filters,
    hidden: dense ? [...(model.hidden ?? DENSE_DEFAULTS.hidden)] : [],
    codeSize: dense ? (model.codeSize ?? DENSE_DEFAULTS.codeSize) : model.filters[2],
  };
}

/** Trainable weights (biases included) of the autoencoder a spec describes, encoder and decoder. */
export function modelWeights(spec: Pick<RunSpec, 'image' | 'model'>): number {
  const m = modelShape(spec.model);
  const pixels = spec.image.size * spec.image.size * spec.image.channels;
  if (m.architecture === 'dense') {
    const widths = [pixels, ...m.hidden, m.codeSize];
    let half = 0;
    for (let i = 1; i < widths.length; i++) half += widths[i - 1] * widths[i];
    const encoderBiases = widths.slice(1).reduce((a, b) => a + b, 0);
    const decoderBiases = widths.slice(0, -1).reduce((a, b) => a + b, 0);
    return 2 * half + encoderBiases + decoderBiases;
  }
  const c = spec.image.channels;
  const [f1, f2, f3] = m.filters;
  const conv = (cin: number, cout: number) => 9 * cin * cout + cout;
  const encoder = conv(c, f1) + conv(f1, f2) + conv(f2, f3);
  const decoder = conv(f3, f3) + conv(f3, f2) + conv(f2, f1) + conv(f1, c);
  return encoder + decoder;
}

/** Shape [h, w, depth] of one image's code for these settings (dense codes are [1, 1, size]). */
export function codeShapeOf(spec: Pick<RunSpec, 'image' | 'model'>): [number, number, number] {
  const { architecture, codeSize } = modelShape(spec.model);
  const side = architecture === 'dense' ? 1 : spec.image.size / 8;
  return [side, side, codeSize];
}

export type RunSpecInput = z.input<typeof runSpecObject>;
export type RunSpec = z.infer<typeof runSpecObject>;

/** The pipeline's stages, in order. */
export const STAGES = ['plan', 'preprocess', 'train', 'encode', 'cluster'] as const;
export type Stage = (typeof STAGES)[number];

export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

export const STAGE_STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type StageState = (typeof STAGE_STATES)[number];
