import { tf, trainStep } from '@imgcluster/model';

/**
 * Pixels of one forward/backward pass at most. Every layer's activations and gradients of a
 * pass are held at once, and the wasm heap never shrinks, so a batch of 64 images at
 * 152×152 (about 1.5 M pixels) would alone grow the trainer past 2 GB. A larger batch is
 * split into chunks whose gradients are summed into one optimiser step. Default about 16
 * images at 152×152; small images are never split.
 */
export const PASS_PIXELS = 16 * 152 * 152;

/**
 * One optimiser step on `n` images of `side`×`side`×`channels` (floats in [0, 1]). The
 * same step as trainStep (mean squared error over the whole batch, one Adam update) up to
 * float rounding; when the batch fits in one pass it is exactly trainStep.
 */
export async function trainBatch(
  model: tf.LayersModel,
  pixels: Float32Array,
  n: number,
  side: number,
  channels: number,
  passPixels = PASS_PIXELS,
): Promise<number> {
  const perPass = Math.max(1, Math.floor(passPixels / (side * side)));
  if (n <= perPass) return trainStep(model, pixels);

  const optimizer = model.optimizer;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const itemFloats = side * side * channels;
  let sums: tf.Tensor[] | undefined;
  let loss = 0;
  for (let start = 0; start < n; start += perPass) {
    const m = Math.min(perPass, n - start);
    const x = tf.tensor4d(pixels.subarray(start * itemFloats, (start + m) * itemFloats), [
      m,
      side,
      side,
      channels,
    ]);
    const { value, grads } = tf.variableGrads(() => {
      const y = model.apply(x, { training: true }) as tf.Tensor4D;
      // This chunk's share of the batch mean: the sum over chunks is the batch's loss.
      return tf.mul(tf.losses.meanSquaredError(x, y), m / n) as tf.Scalar;
    }, variables);
    loss += (await value.data())[0];
    value.dispose();
    x.dispose();
    const ordered = variables.map((v) => grads[v.name]);
    if (!sums) {
      sums = ordered;
    } else {
      const next = sums.map((s, i) => tf.add(s, ordered[i]));
      tf.dispose([...sums, ...ordered]);
      sums = next;
    }
  }
  // Keys in the variables' order: Adam keeps its moments by position.
  const named: Record<string, tf.Tensor> = {};
  variables.forEach((v, i) => (named[v.name] = sums![i]));
  optimizer.applyGradients(named);
  tf.dispose(sums!);
  return loss;
}
