/**
 * Training and encoding throughput of the imgcluster autoencoder in this process, with the
 * same protocol as the PyTorch twin (scripts/bench/torch_autoencoder.py): a fixed batch,
 * two warm-up calls, then repeated calls for at least a given time. Also exports a model's
 * weights and a batch so the twin can be checked against it.
 */
import { writeFileSync } from 'node:fs';
import {
  buildAutoencoder,
  encodeBatch,
  initBackend,
  pixelsToFloat32,
  tf,
  trainStep,
  type AutoencoderParts,
  type BackendInfo,
} from '@imgcluster/model';
import { benchPixels as modelBenchPixels } from '../../packages/model/bench-pixels.js';

/** Shape of the benchmark's model and batch. */
export interface ModelBenchConfig {
  size: number;
  channels: 1 | 3;
  batch: number;
  /** Minimum seconds of repeated calls per figure. */
  seconds: number;
}

const WARMUP_CALLS = 2;

/** Conv layers in the order the PyTorch twin loads them. */
const CONV_LAYERS = {
  encoder: ['enc_conv1', 'enc_conv2', 'enc_conv3'],
  decoder: ['dec_conv1', 'dec_conv2', 'dec_conv3', 'dec_out'],
} as const;

/** Selects the backend the services would use (TF_BACKEND, default auto). */
export async function startModelBackend(): Promise<BackendInfo> {
  const choice = (process.env.TF_BACKEND ?? 'auto') as Parameters<typeof initBackend>[0];
  return initBackend(choice);
}

/** The benchmark batch of a configuration (the model benchmark's own input). */
export function benchPixels(cfg: ModelBenchConfig): Uint8Array {
  return modelBenchPixels(cfg.batch, cfg.size, cfg.channels);
}

/** Calls fn (one batch per call) for at least `seconds`; returns images per second. */
async function rate(fn: () => unknown, batch: number, seconds: number): Promise<number> {
  for (let i = 0; i < WARMUP_CALLS; i++) await fn();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await fn();
    calls++;
  }
  return (calls * batch) / ((performance.now() - t0) / 1000);
}

/** Builds a seeded autoencoder for cfg. */
export function benchModel(cfg: ModelBenchConfig): AutoencoderParts {
  return buildAutoencoder({ imageSize: cfg.size, channels: cfg.channels, seed: 0 });
}

/** Train-step and encode throughput of one model on one batch, measured on demand. */
export class ModelBench {
  private readonly x: tf.Tensor4D;

  constructor(
    private readonly parts: AutoencoderParts,
    private readonly pixels: Uint8Array,
    private readonly cfg: ModelBenchConfig,
  ) {
    const { batch, size, channels } = cfg;
    this.x = tf.tensor4d(pixelsToFloat32(pixels), [batch, size, size, channels]);
  }

  /** Images per second of train steps (Adam, MSE) on the batch. */
  train(seconds = this.cfg.seconds): Promise<number> {
    return rate(() => trainStep(this.parts.autoencoder, this.x), this.cfg.batch, seconds);
  }

  /** Images per second of encodeBatch (uint8 pixels in, codes and attention out). */
  encode(seconds = this.cfg.seconds): Promise<number> {
    const { batch, size, channels } = this.cfg;
    const run = () => encodeBatch(this.parts.encoder, this.pixels, batch, size, channels);
    return rate(run, batch, seconds);
  }

  dispose(): void {
    this.x.dispose();
    this.parts.autoencoder.dispose();
  }
}

/** Writes the conv weights as float32 little-endian: per layer, kernel [3,3,in,out], bias. */
export function writeWeights(parts: AutoencoderParts, file: string): void {
  const chunks: Buffer[] = [];
  const layers = [
    ...CONV_LAYERS.encoder.map((n) => parts.encoder.getLayer(n)),
    ...CONV_LAYERS.decoder.map((n) => parts.decoder.getLayer(n)),
  ];
  for (const layer of layers) {
    for (const w of layer.getWeights()) {
      const values = Float32Array.from(w.dataSync());
      const bytes = Buffer.alloc(values.length * 4);
      values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
      chunks.push(bytes);
    }
  }
  writeFileSync(file, Buffer.concat(chunks));
}

/** Codes of the batch and the losses of `steps` train steps, for the twin's check. */
export async function checkFigures(
  parts: AutoencoderParts,
  pixels: Uint8Array,
  cfg: ModelBenchConfig,
  steps: number,
): Promise<{ codes: Float32Array; losses: number[] }> {
  const { codes } = encodeBatch(parts.encoder, pixels, cfg.batch, cfg.size, cfg.channels);
  const x = tf.tensor4d(pixelsToFloat32(pixels), [cfg.batch, cfg.size, cfg.size, cfg.channels]);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(await trainStep(parts.autoencoder, x));
  x.dispose();
  return { codes, losses };
}
