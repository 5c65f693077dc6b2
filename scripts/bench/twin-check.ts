/**
 * Proves that the PyTorch twin is the same network as ours: loaded with our weights and
 * given our batch, it must produce the same codes and the same losses over a few Adam steps.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchModel, checkFigures, writeWeights, type ModelBenchConfig } from './model-rates.js';
import { runTorchTwin } from './torch.js';

/** What the comparison found. */
export interface TwinCheck {
  passed: boolean;
  params: number;
  twinParams: number;
  /** Largest absolute difference between the two models' codes of the batch. */
  codeDiff: number;
  /** Largest absolute difference between the losses of the first train steps. */
  lossDiff: number;
  losses: number[];
  twinLosses: number[];
}

/** Train steps compared; Adam's moments make any difference in the update show by then. */
const STEPS = 3;
const TOLERANCE = 1e-4;

/** Runs the check with `python`; `dir` receives the batch, weights and codes files. */
export async function checkTwin(
  python: string,
  cfg: ModelBenchConfig,
  pixels: Uint8Array,
  twinArgs: string[],
  dir: string,
): Promise<TwinCheck> {
  const files = {
    pixels: join(dir, 'pixels.bin'),
    weights: join(dir, 'weights.bin'),
    codes: join(dir, 'codes.bin'),
  };
  writeFileSync(files.pixels, pixels);
  const model = benchModel(cfg);
  const params = model.autoencoder.countParams();
  writeWeights(model, files.weights);
  const ours = await checkFigures(model, pixels, cfg, STEPS);
  model.autoencoder.dispose();

  const twin = await runTorchTwin<{ params: number; check: { losses: number[] } }>(
    python,
    [...twinArgs, '--pixels', files.pixels, '--weights', files.weights],
    120_000,
    ['--check-out', files.codes, '--check-steps', String(STEPS)],
  );
  const raw = readFileSync(files.codes);
  const codes = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  let codeDiff = codes.length === ours.codes.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(codes.length, ours.codes.length); i++) {
    codeDiff = Math.max(codeDiff, Math.abs(codes[i] - ours.codes[i]));
  }
  const lossDiff = Math.max(...ours.losses.map((l, i) => Math.abs(l - twin.check.losses[i])));
  return {
    passed: params === twin.params && codeDiff < TOLERANCE && lossDiff < TOLERANCE,
    params,
    twinParams: twin.params,
    codeDiff,
    lossDiff,
    losses: ours.losses,
    twinLosses: twin.check.losses,
  };
}
