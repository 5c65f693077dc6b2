/**
 * The imgcluster autoencoders. 'conv' (the default): three conv + 2×2 max-pool stages down to
 * a code of shape [S/8, S/8, codeChannels], and three conv + 2× upsampling stages back to the
 * image. 'dense': the image flattened through fully connected ReLU layers (`hidden`) down to a
 * linear code of `codeChannels` floats, shaped [1, 1, codeChannels] so that it travels like a
 * conv code of one position, and the mirror image back to a linear output (decoded pictures
 * are clamped to [0, 1]); N2D's autoencoder has this shape.
 */
import { ModelConfigError, ModelInputError } from './errors.js';
import { registerGradientFixes } from './gradients.js';
import { tf } from './tf.js';

/** The two autoencoder families. */
export type Architecture = 'conv' | 'dense';

/** Autoencoder shape and training settings. */
export interface ModelConfig {
  /** 'conv' (default) or 'dense'. */
  architecture?: Architecture;
  /** Side of the square input images in pixels; must be a positive multiple of 8. */
  imageSize: number;
  /** Colour channels per pixel: 1 (grey) or 3 (RGB). */
  channels: 1 | 3;
  /** Filters of the three encoder convs (decoder mirrors them); default [16, 8, 8]. */
  filters?: [number, number, number];
  /**
   * Channels of the code: the third encoder conv's filters (default filters[2]), or the
   * width of a dense code (default DEFAULT_DENSE_CODE).
   */
  codeChannels?: number;
  /** Widths of a dense encoder's hidden layers (the decoder mirrors them); default [500, 500, 2000]. */
  hidden?: number[];
  /** Adam learning rate; default 1e-3. */
  learningRate?: number;
  /** Seed for the weight initialisers; default unseeded (random). */
  seed?: number;
}

/** ModelConfig with every default filled in. */
export interface ResolvedModelConfig {
  /** 'conv' or 'dense'. */
  architecture: Architecture;
  /** Image side in pixels (multiple of 8). */
  imageSize: number;
  /** Colour channels: 1 or 3. */
  channels: 1 | 3;
  /** Filters of the three encoder convs. */
  filters: [number, number, number];
  /** Channels of the code. */
  codeChannels: number;
  /** Hidden widths of a dense autoencoder ([] for conv). */
  hidden: number[];
  /** Adam learning rate. */
  learningRate: number;
  /** Initialiser seed, when one was given. */
  seed?: number;
}

/** The trainable autoencoder and its two halves, which share its weights. */
export interface AutoencoderParts {
  /** decoder(encoder(image)), compiled with MSE loss and Adam. */
  autoencoder: tf.LayersModel;
  /** image [n,S,S,C] in [0,1] → code [n,S/8,S/8,codeChannels]. */
  encoder: tf.LayersModel;
  /** code [n,S/8,S/8,codeChannels] → image [n,S,S,C] in [0,1]. */
  decoder: tf.LayersModel;
  /** The configuration the models were built with. */
  config: ResolvedModelConfig;
}

/** Default filters of the three conv stages. */
export const DEFAULT_FILTERS: [number, number, number] = [16, 8, 8];
/** Default hidden widths of the dense autoencoder (N2D's). */
export const DEFAULT_DENSE_HIDDEN = [500, 500, 2000];
/** Default code width of the dense autoencoder. */
export const DEFAULT_DENSE_CODE = 10;
/** Default Adam learning rate. */
export const DEFAULT_LEARNING_RATE = 1e-3;

/** Whether v is a positive integer. */
function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Validates cfg and fills in defaults; throws ModelConfigError on bad values. */
export function resolveModelConfig(cfg: ModelConfig): ResolvedModelConfig {
  if (!isPosInt(cfg.imageSize) || cfg.imageSize % 8 !== 0) {
    throw new ModelConfigError(`imageSize must be a positive multiple of 8, got ${cfg.imageSize}`);
  }
  if (cfg.channels !== 1 && cfg.channels !== 3) {
    throw new ModelConfigError(`channels must be 1 or 3, got ${String(cfg.channels)}`);
  }
  const filters = cfg.filters ?? DEFAULT_FILTERS;
  if (!Array.isArray(filters) || filters.length !== 3 || !filters.every(isPosInt)) {
    throw new ModelConfigError(`filters must be three positive integers, got ${String(filters)}`);
  }
  const architecture = cfg.architecture ?? 'conv';
  if (architecture !== 'conv' && architecture !== 'dense') {
    throw new ModelConfigError(
      `architecture must be 'conv' or 'dense', got ${String(architecture)}`,
    );
  }
  const dense = architecture === 'dense';
  const hidden = dense ? (cfg.hidden ?? DEFAULT_DENSE_HIDDEN) : [];
  if (!Array.isArray(hidden) || (dense && hidden.length === 0) || !hidden.every(isPosInt)) {
    throw new ModelConfigError(`hidden must be positive integers, got ${String(hidden)}`);
  }
  const codeChannels = cfg.codeChannels ?? (dense ? DEFAULT_DENSE_CODE : filters[2]);
  if (!isPosInt(codeChannels)) {
    throw new ModelConfigError(`codeChannels must be a positive integer, got ${codeChannels}`);
  }
  const learningRate = cfg.learningRate ?? DEFAULT_LEARNING_RATE;
  if (!(typeof learningRate === 'number' && learningRate > 0 && Number.isFinite(learningRate))) {
    throw new ModelConfigError(`learningRate must be a positive number, got ${learningRate}`);
  }
  const out: ResolvedModelConfig = {
    architecture,
    imageSize: cfg.imageSize,
    channels: cfg.channels,
    filters: [filters[0], filters[1], filters[2]],
    codeChannels,
    hidden: [...hidden],
    learningRate,
  };
  if (cfg.seed !== undefined) out.seed = cfg.seed;
  return out;
}

/** Shape [h, w, k] of one image's code: [S/8, S/8, k] for conv, [1, 1, k] for dense. */
export function codeShape(cfg: ModelConfig): [number, number, number] {
  const r = resolveModelConfig(cfg);
  const side = r.architecture === 'dense' ? 1 : r.imageSize / 8;
  return [side, side, r.codeChannels];
}

/** Number of floats in one image's code: (S/8)² × codeChannels, or codeChannels for dense. */
export function codeSize(cfg: ModelConfig): number {
  const [h, w, k] = codeShape(cfg);
  return h * w * k;
}

/** A 3×3 'same' conv layer with a deterministic initialiser when a seed is given. */
function conv(name: string, filters: number, activation: 'relu' | 'sigmoid', seed?: number) {
  const kernelInitializer =
    seed === undefined ? 'glorotUniform' : tf.initializers.glorotUniform({ seed });
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize: 3,
    padding: 'same',
    activation,
    kernelInitializer,
  });
}

/** Seed of the i-th layer, or undefined when unseeded. */
function layerSeed(cfg: ResolvedModelConfig, i: number): number | undefined {
  return cfg.seed === undefined ? undefined : cfg.seed + i;
}

/** A fully connected layer with a deterministic initialiser when a seed is given. */
function dense(name: string, units: number, activation: 'relu' | 'linear', seed?: number) {
  const kernelInitializer =
    seed === undefined ? 'glorotUniform' : tf.initializers.glorotUniform({ seed });
  return tf.layers.dense({ name, units, activation, kernelInitializer });
}

/** Applies `layers` in turn to `x`. */
function chain(x: tf.SymbolicTensor, layers: tf.layers.Layer[]): tf.SymbolicTensor {
  return layers.reduce((h, layer) => layer.apply(h) as tf.SymbolicTensor, x);
}

/** The dense encoder: flatten → (dense relu) per hidden width → dense linear → [1, 1, k]. */
function buildDenseEncoder(cfg: ResolvedModelConfig): tf.LayersModel {
  const { imageSize: s, channels, hidden, codeChannels: k } = cfg;
  const input = tf.input({ name: 'image', shape: [s, s, channels] });
  const out = chain(input, [
    tf.layers.flatten({ name: 'enc_flatten' }),
    ...hidden.map((units, i) => dense(`enc_dense${i + 1}`, units, 'relu', layerSeed(cfg, i))),
    dense('enc_code', k, 'linear', layerSeed(cfg, hidden.length)),
    tf.layers.reshape({ name: 'enc_shape', targetShape: [1, 1, k] }),
  ]);
  return tf.model({ name: 'encoder', inputs: input, outputs: out });
}

/** The dense decoder: the encoder's mirror, ending in a linear layer of S·S·C values. */
function buildDenseDecoder(cfg: ResolvedModelConfig): tf.LayersModel {
  const { imageSize: s, channels, hidden, codeChannels: k } = cfg;
  const input = tf.input({ name: 'code', shape: [1, 1, k] });
  const widths = [...hidden].reverse();
  const out = chain(input, [
    tf.layers.flatten({ name: 'dec_flatten' }),
    ...widths.map((units, i) => dense(`dec_dense${i + 1}`, units, 'relu', layerSeed(cfg, 10 + i))),
    dense('dec_out', s * s * channels, 'linear', layerSeed(cfg, 10 + widths.length)),
    tf.layers.reshape({ name: 'dec_shape', targetShape: [s, s, channels] }),
  ]);
  return tf.model({ name: 'decoder', inputs: input, outputs: out });
}

/** The encoder: (conv relu → maxpool 2) × 3, or the dense encoder. */
export function buildEncoder(cfg: ResolvedModelConfig): tf.LayersModel {
  if (cfg.architecture === 'dense') return buildDenseEncoder(cfg);
  const { imageSize: s, channels, filters, codeChannels } = cfg;
  const input = tf.input({ name: 'image', shape: [s, s, channels] });
  const widths = [filters[0], filters[1], codeChannels];
  let x = input;
  widths.forEach((f, i) => {
    x = conv(`enc_conv${i + 1}`, f, 'relu', layerSeed(cfg, i)).apply(x) as tf.SymbolicTensor;
    const pool = tf.layers.maxPooling2d({ name: `enc_pool${i + 1}`, poolSize: 2, strides: 2 });
    x = pool.apply(x) as tf.SymbolicTensor;
  });
  return tf.model({ name: 'encoder', inputs: input, outputs: x });
}

/** The decoder: (conv relu → upsample 2) × 3 → conv sigmoid to `channels`, or the dense one. */
export function buildDecoder(cfg: ResolvedModelConfig): tf.LayersModel {
  if (cfg.architecture === 'dense') return buildDenseDecoder(cfg);
  const { imageSize: s, channels, filters, codeChannels } = cfg;
  const input = tf.input({ name: 'code', shape: [s / 8, s / 8, codeChannels] });
  const widths = [filters[2], filters[1], filters[0]];
  let x = input;
  widths.forEach((f, i) => {
    x = conv(`dec_conv${i + 1}`, f, 'relu', layerSeed(cfg, 10 + i)).apply(x) as tf.SymbolicTensor;
    const up = tf.layers.upSampling2d({ name: `dec_up${i + 1}`, size: [2, 2] });
    x = up.apply(x) as tf.SymbolicTensor;
  });
  const out = conv('dec_out', channels, 'sigmoid', layerSeed(cfg, 20)).apply(x);
  return tf.model({ name: 'decoder', inputs: input, outputs: out as tf.SymbolicTensor });
}

/** Compiles `model` for training with MSE loss and Adam at `learningRate`. */
export function compileAutoencoder(model: tf.LayersModel, learningRate: number): void {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });
}

/** Joins encoder and decoder into a compiled autoencoder that shares their weights. */
export function joinAutoencoder(
  encoder: tf.LayersModel,
  decoder: tf.LayersModel,
  learningRate: number = DEFAULT_LEARNING_RATE,
): tf.LayersModel {
  const shape = encoder.inputs[0].shape.slice(1) as number[];
  const input = tf.input({ name: 'image', shape });
  const code = encoder.apply(input) as tf.SymbolicTensor;
  const output = decoder.apply(code) as tf.SymbolicTensor;
  const model = tf.model({ name: 'autoencoder', inputs: input, outputs: output });
  compileAutoencoder(model, learningRate);
  return model;
}

/** Builds the autoencoder for cfg (see ModelConfig for defaults); registers gradient fixes. */
export function buildAutoencoder(cfg: ModelConfig): AutoencoderParts {
  const config = resolveModelConfig(cfg);
  registerGradientFixes();
  const encoder = buildEncoder(config);
  const decoder = buildDecoder(config);
  const autoencoder = joinAutoencoder(encoder, decoder, config.learningRate);
  return { autoencoder, encoder, decoder, config };
}

/** Input shape [S, S, C] of a model whose first input is an image batch. */
export function modelImageShape(model: tf.LayersModel): [number, number, number] {
  const shape = model.inputs[0].shape;
  if (shape.length !== 4 || shape.slice(1).some((d) => d == null)) {
    throw new ModelInputError(`model input shape ${JSON.stringify(shape)} is not [n,h,w,c]`);
  }
  return [shape[1] as number, shape[2] as number, shape[3] as number];
}

/** Float copy of uint8 pixels scaled to [0, 1] (v / 255). */
export function pixelsToFloat32(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255;
  return out;
}

/** Checks that a flat batch holds n × size × size × channels values. */
function checkBatchLength(length: number, n: number, size: number, channels: number): void {
  if (!isPosInt(n) || length !== n * size * size * channels) {
    throw new ModelInputError(
      `batch of ${length} values does not match n=${n} × ${size}×${size}×${channels}`,
    );
  }
}

/** Uint8 pixel batch [n,S,S,C] (row-major, channels last) → float32 tensor in [0, 1]. */
export function pixelsToTensor(
  pixels: Uint8Array,
  n: number,
  imageSize: number,
  channels: number,
): tf.Tensor4D {
  checkBatchLength(pixels.length, n, imageSize, channels);
  return tf.tensor4d(pixelsToFloat32(pixels), [n, imageSize, imageSize, channels], 'float32');
}

/** Float batch in [0,1] → tensor shaped for `model`'s input; n is inferred from the length. */
function batchTensor(model: tf.LayersModel, batch: Float32Array): tf.Tensor4D {
  const [h, w, c] = modelImageShape(model);
  const n = batch.length / (h * w * c);
  if (!Number.isInteger(n) || n < 1) {
    const per = `${h}×${w}×${c}`;
    throw new ModelInputError(`batch of ${batch.length} floats is not a multiple of ${per}`);
  }
  return tf.tensor4d(batch, [n, h, w, c], 'float32');
}

/**
 * One optimiser step of `model` (a compiled autoencoder) on a batch of images in [0, 1]
 * (a Float32Array of n×S×S×C values or a [n,S,S,C] tensor, which stays the caller's);
 * resolves to the batch's MSE loss before the update.
 */
export async function trainStep(
  model: tf.LayersModel,
  batch: Float32Array | tf.Tensor4D,
): Promise<number> {
  const x = batch instanceof Float32Array ? batchTensor(model, batch) : batch;
  try {
    const loss = await model.trainOnBatch(x, x);
    return Array.isArray(loss) ? loss[0] : loss;
  } finally {
    if (x !== batch) x.dispose();
  }
}
