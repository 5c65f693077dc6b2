/**
 * Saving and loading models as TensorFlow.js layers-format files held in memory:
 * `model.json` (topology plus a weightsManifest that points at `weights.bin`) and `weights.bin`.
 */
import {
  compileAutoencoder,
  DEFAULT_FILTERS,
  DEFAULT_LEARNING_RATE,
  joinAutoencoder,
  type AutoencoderParts,
  type ResolvedModelConfig,
} from './autoencoder.js';
import { ModelFormatError } from './errors.js';
import { registerGradientFixes } from './gradients.js';
import { tf } from './tf.js';

/** One saved model: the bytes of `model.json` and of `weights.bin`. */
export interface ModelFiles {
  /** UTF-8 JSON: format, modelTopology, weightsManifest (→ weights.bin), trainingConfig. */
  modelJson: Buffer;
  /** The weight values, little-endian, in manifest order. */
  weights: Buffer;
}

/** Files of a saved autoencoder. */
export interface AutoencoderFiles {
  /** The encoder alone (no optimiser state). */
  encoder: ModelFiles;
  /** The decoder alone (no optimiser state). */
  decoder: ModelFiles;
  /** The whole autoencoder with training config and Adam state; present in checkpoints. */
  autoencoder?: ModelFiles;
}

/** Options of saveModel(). */
export interface SaveModelOptions {
  /** Also save the optimiser's state (e.g. Adam moments); default false. */
  includeOptimizer?: boolean;
}

/** Name of the weights file that model.json's weightsManifest refers to. */
export const WEIGHTS_FILE = 'weights.bin';

/** Concatenates tfjs weight data (one buffer or several) into one Buffer. */
function weightBytes(data: tf.io.WeightData | undefined): Buffer {
  if (data == null) return Buffer.alloc(0);
  const parts = Array.isArray(data) ? data : [data];
  return Buffer.concat(parts.map((p) => Buffer.from(new Uint8Array(p))));
}

/** Serialises `model` to layers-format files (see SaveModelOptions; default weights only). */
export async function saveModel(
  model: tf.LayersModel,
  options: SaveModelOptions = {},
): Promise<ModelFiles> {
  let files: ModelFiles | null = null;
  const handler = tf.io.withSaveHandler(async (artifacts) => {
    const json: Record<string, unknown> = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
    };
    if (artifacts.trainingConfig != null) json.trainingConfig = artifacts.trainingConfig;
    if (artifacts.userDefinedMetadata != null) {
      json.userDefinedMetadata = artifacts.userDefinedMetadata;
    }
    files = {
      modelJson: Buffer.from(JSON.stringify(json), 'utf8'),
      weights: weightBytes(artifacts.weightData),
    };
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  });
  await model.save(handler, { includeOptimizer: options.includeOptimizer ?? false });
  if (files == null) throw new ModelFormatError('model.save produced no artifacts');
  return files;
}

/** Bytes one weight entry occupies in weights.bin, or null when not fixed-size. */
function specBytes(spec: tf.io.WeightsManifestEntry): number | null {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization;
  if (q != null) return count * (q.dtype === 'uint8' ? 1 : 2);
  const sizes: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
  return sizes[spec.dtype] != null ? count * sizes[spec.dtype] : null;
}

/** Parses model.json and checks it against the weights' size; throws ModelFormatError. */
function parseModelJson(modelJson: Buffer, weightsLength: number): tf.io.ModelArtifacts {
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(modelJson.toString('utf8')) as tf.io.ModelJSON;
  } catch (err) {
    throw new ModelFormatError('model.json is not valid JSON', { cause: err });
  }
  if (json == null || typeof json !== 'object' || json.modelTopology == null) {
    throw new ModelFormatError('model.json has no modelTopology');
  }
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest) || manifest.some((g) => g.paths?.join() !== WEIGHTS_FILE)) {
    throw new ModelFormatError(`model.json weightsManifest must refer only to ${WEIGHTS_FILE}`);
  }
  const weightSpecs = manifest.flatMap((g) => g.weights);
  const sizes = weightSpecs.map(specBytes);
  if (sizes.every((s) => s != null)) {
    const total = (sizes as number[]).reduce((a, b) => a + b, 0);
    if (total !== weightsLength) {
      throw new ModelFormatError(`weights.bin has ${weightsLength} bytes, manifest needs ${total}`);
    }
  }
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    trainingConfig: json.trainingConfig,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs,
  };
}

/**
 * Loads a model saved by saveModel (or any single-file layers model) from memory. A model
 * saved with its training config comes back compiled, with optimiser state when it was saved.
 */
export async function loadModel(modelJson: Buffer, weights: Buffer): Promise<tf.LayersModel> {
  const artifacts = parseModelJson(modelJson, weights.length);
  const copy = new Uint8Array(weights.length);
  copy.set(weights);
  artifacts.weightData = copy.buffer;
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ModelFormatError(`cannot load model: ${msg}`, { cause: err });
  }
}

/** Options of saveAutoencoder(). */
export interface SaveAutoencoderOptions {
  /** Also save the whole autoencoder with Adam state, for resuming training; default false. */
  checkpoint?: boolean;
}

/**
 * Saves encoder and decoder separately; with `checkpoint` also the whole compiled autoencoder
 * including its Adam state (iteration count and moments).
 */
export async function saveAutoencoder(
  parts: Pick<AutoencoderParts, 'autoencoder' | 'encoder' | 'decoder'>,
  options: SaveAutoencoderOptions = {},
): Promise<AutoencoderFiles> {
  const files: AutoencoderFiles = {
    encoder: await saveModel(parts.encoder),
    decoder: await saveModel(parts.decoder),
  };
  if (options.checkpoint) {
    files.autoencoder = await saveModel(parts.autoencoder, { includeOptimizer: true });
  }
  return files;
}

/** Options of loadAutoencoder(). */
export interface LoadAutoencoderOptions {
  /** Adam learning rate when no saved optimiser config is restored; default 1e-3. */
  learningRate?: number;
}

/** Nested model `name` of a loaded autoencoder; throws ModelFormatError when absent. */
function nestedModel(model: tf.LayersModel, name: string): tf.LayersModel {
  let layer: tf.layers.Layer;
  try {
    layer = model.getLayer(name);
  } catch (err) {
    throw new ModelFormatError(`autoencoder has no '${name}' part`, { cause: err });
  }
  if (!(layer instanceof tf.LayersModel)) {
    throw new ModelFormatError(`autoencoder part '${name}' is not a model`);
  }
  return layer;
}

/** Reads the filters of a conv layer, or null when the layer is absent. */
function convFilters(model: tf.LayersModel, name: string): number | null {
  try {
    return Number(model.getLayer(name).getConfig().filters);
  } catch {
    return null;
  }
}

/** Learning rate of a compiled model's optimiser, or null when unknown. */
function optimizerLearningRate(model: tf.LayersModel): number | null {
  const opt = (model as { optimizer?: tf.Optimizer }).optimizer;
  const lr = opt?.getConfig().learningRate;
  return typeof lr === 'number' ? lr : null;
}

/** Units of each `enc_dense<i>` layer of a dense encoder, in order ([] for a conv one). */
function denseWidths(encoder: tf.LayersModel): number[] {
  const widths: number[] = [];
  for (let i = 1; ; i++) {
    let units: number;
    try {
      units = Number(encoder.getLayer(`enc_dense${i}`).getConfig().units);
    } catch {
      return widths;
    }
    widths.push(units);
  }
}

/** Reconstructs the ModelConfig of loaded encoder/decoder models from their layers. */
export function describeModels(
  encoder: tf.LayersModel,
  decoder: tf.LayersModel,
  learningRate: number,
): ResolvedModelConfig {
  const [, s, , c] = encoder.inputs[0].shape as number[];
  const code = encoder.outputs[0].shape as number[];
  if (c !== 1 && c !== 3) {
    throw new ModelFormatError('models are not an imgcluster encoder/decoder pair');
  }
  const hidden = denseWidths(encoder);
  if (hidden.length > 0) {
    return {
      architecture: 'dense',
      imageSize: s,
      channels: c,
      filters: [...DEFAULT_FILTERS],
      codeChannels: code[3],
      hidden,
      learningRate,
    };
  }
  const f1 = convFilters(encoder, 'enc_conv1') ?? convFilters(decoder, 'dec_conv3');
  const f2 = convFilters(encoder, 'enc_conv2') ?? convFilters(decoder, 'dec_conv2');
  const f3 = convFilters(decoder, 'dec_conv1') ?? code[3];
  if (f1 == null || f2 == null) {
    throw new ModelFormatError('models are not an imgcluster encoder/decoder pair');
  }
  return {
    architecture: 'conv',
    imageSize: s,
    channels: c,
    filters: [f1, f2, f3],
    codeChannels: code[3],
    hidden: [],
    learningRate,
  };
}

/**
 * Restores an autoencoder. From a checkpoint (files.autoencoder) the weights, Adam moments
 * and iteration count all come back, so training resumes where it stopped; from encoder and
 * decoder files only the weights come back and a fresh Adam starts.
 */
export async function loadAutoencoder(
  files: AutoencoderFiles,
  options: LoadAutoencoderOptions = {},
): Promise<AutoencoderParts> {
  registerGradientFixes();
  const fallbackLr = options.learningRate ?? DEFAULT_LEARNING_RATE;
  if (files.autoencoder) {
    const autoencoder = await loadModel(files.autoencoder.modelJson, files.autoencoder.weights);
    const encoder = nestedModel(autoencoder, 'encoder');
    const decoder = nestedModel(autoencoder, 'decoder');
    const lr = optimizerLearningRate(autoencoder);
    if (lr == null) compileAutoencoder(autoencoder, fallbackLr);
    const config = describeModels(encoder, decoder, lr ?? fallbackLr);
    return { autoencoder, encoder, decoder, config };
  }
  const encoder = await loadModel(files.encoder.modelJson, files.encoder.weights);
  const decoder = await loadModel(files.decoder.modelJson, files.decoder.weights);
  const autoencoder = joinAutoencoder(encoder, decoder, fallbackLr);
  return { autoencoder, encoder, decoder, config: describeModels(encoder, decoder, fallbackLr) };
}
