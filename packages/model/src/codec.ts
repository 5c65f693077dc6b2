/** Images ↔ codes with the encoder and decoder halves of the autoencoder. */
import { ModelInputError } from './errors.js';
import { modelImageShape, pixelsToTensor } from './autoencoder.js';
import { tf } from './tf.js';

/** Result of encodeBatch(). */
export interface EncodedBatch {
  /** n × codeSize floats: each image's code, flattened [h, w, k] row-major. */
  codes: Float32Array;
  /** n × h × w floats: each code's maximum over its k channels. */
  attention: Float32Array;
}

/** Default images per encoder/decoder forward pass. */
export const DEFAULT_PREDICT_BATCH = 64;

/** Output shape [h, w, k] of a model whose first output is a 4-D tensor. */
function outputShape(model: tf.LayersModel): [number, number, number] {
  const shape = (model.outputs[0] as tf.SymbolicTensor).shape;
  if (shape.length !== 4 || shape.slice(1).some((d) => d == null)) {
    throw new ModelInputError(`model output shape ${JSON.stringify(shape)} is not [n,h,w,c]`);
  }
  return [shape[1] as number, shape[2] as number, shape[3] as number];
}

/** Runs model.predict on x and returns its single 4-D output (caller disposes). */
function predict4d(model: tf.LayersModel, x: tf.Tensor, batchSize: number): tf.Tensor4D {
  const y = model.predict(x, { batchSize });
  if (Array.isArray(y)) {
    tf.dispose(y);
    throw new ModelInputError('model has more than one output');
  }
  return y as tf.Tensor4D;
}

/**
 * Encodes n uint8 images [n, imageSize, imageSize, channels] (0..255, channels last) into
 * codes and per-position attention (max over code channels). Leaves no tensors behind.
 */
export function encodeBatch(
  encoder: tf.LayersModel,
  pixels: Uint8Array,
  n: number,
  imageSize: number,
  channels: number,
  batchSize: number = DEFAULT_PREDICT_BATCH,
): EncodedBatch {
  const [h, w, c] = modelImageShape(encoder);
  if (h !== imageSize || w !== imageSize || c !== channels) {
    throw new ModelInputError(
      `encoder expects ${h}×${w}×${c} images, got ${imageSize}×${imageSize}×${channels}`,
    );
  }
  return tf.tidy(() => {
    const x = pixelsToTensor(pixels, n, imageSize, channels);
    const code = predict4d(encoder, x, batchSize);
    const attention = tf.max(code, -1);
    const out = {
      codes: new Float32Array(code.dataSync()),
      attention: new Float32Array(attention.dataSync()),
    };
    tf.dispose([x, code, attention]);
    return out;
  });
}

/** Float in [0,1] → byte 0..255 (rounded, clamped). */
function toByte(v: number): number {
  const b = Math.round(v * 255);
  return b < 0 ? 0 : b > 255 ? 255 : b;
}

/**
 * Decodes n flattened codes (n × codeSize floats, as from encodeBatch) into uint8 images
 * [n, S, S, C] (0..255, channels last). Leaves no tensors behind.
 */
export function decodeCodes(
  decoder: tf.LayersModel,
  codes: Float32Array,
  n: number,
  batchSize: number = DEFAULT_PREDICT_BATCH,
): Uint8Array {
  const [h, w, k] = modelImageShape(decoder);
  if (!Number.isInteger(n) || n < 1 || codes.length !== n * h * w * k) {
    const per = `${h}×${w}×${k}`;
    throw new ModelInputError(`${codes.length} code values do not match n=${n} × ${per}`);
  }
  const [oh, ow, oc] = outputShape(decoder);
  return tf.tidy(() => {
    const z = tf.tensor4d(codes, [n, h, w, k], 'float32');
    const img = predict4d(decoder, z, batchSize);
    const values = img.dataSync();
    tf.dispose([z, img]);
    const out = new Uint8Array(n * oh * ow * oc);
    for (let i = 0; i < out.length; i++) out[i] = toByte(values[i]);
    return out;
  });
}
