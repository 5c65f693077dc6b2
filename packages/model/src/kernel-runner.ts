/**
 * Runs one backend's kernels directly on tensor infos, outside the engine (no tape, no tensor
 * bookkeeping), for replacement kernels that are built from other kernels.
 */
import { tf } from './tf.js';

type Infos = Record<string, tf.TensorInfo>;

/** Runs kernels of one backend and frees the intermediates it made. */
export class KernelRunner {
  private readonly temps: tf.TensorInfo[] = [];

  constructor(
    readonly backendName: string,
    readonly backend: tf.KernelBackend,
  ) {}

  /** Runs kernel `name`; the result is freed by dispose() unless it is kept there. */
  run(name: string, inputs: Infos, attrs: tf.NamedAttrMap): tf.TensorInfo {
    const kernel = tf.getKernel(name, this.backendName);
    if (kernel == null) throw new Error(`kernel ${name} is not registered for ${this.backendName}`);
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs }) as tf.TensorInfo;
    return this.track(out);
  }

  /** Makes dispose() free `info`, which the caller allocated on this runner's backend. */
  track(info: tf.TensorInfo): tf.TensorInfo {
    this.temps.push(info);
    return info;
  }

  /** Frees `info` now instead of at dispose(). */
  release(info: tf.TensorInfo): void {
    const at = this.temps.indexOf(info);
    if (at >= 0) this.temps.splice(at, 1);
    this.backend.disposeData(info.dataId);
  }

  /**
   * Forward stride-1 conv of NHWC `x`, zero-padded by [top, bottom, left, right] (default
   * none: 'valid'); the conv kernel pads on the fly, without a padded copy of x.
   */
  conv(
    x: tf.TensorInfo,
    filter: tf.TensorInfo,
    [t, b, l, r]: number[] = [0, 0, 0, 0],
  ): tf.TensorInfo {
    const pad = [
      [0, 0],
      [t, b],
      [l, r],
      [0, 0],
    ];
    const attrs = { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] };
    return this.run('Conv2D', { x, filter }, attrs);
  }

  /** Zero-pads every axis by its [before, after] pair; returns x itself when all are 0. */
  pad(x: tf.TensorInfo, paddings: number[][]): tf.TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  /** Zero-pads H and W of an NHWC tensor by [top, bottom, left, right]. */
  padSpatial(x: tf.TensorInfo, [t, b, l, r]: number[]): tf.TensorInfo {
    return this.pad(x, [
      [0, 0],
      [t, b],
      [l, r],
      [0, 0],
    ]);
  }

  /** Frees every intermediate except `keep`. */
  dispose(keep?: tf.TensorInfo): void {
    for (const info of this.temps) if (info !== keep) this.backend.disposeData(info.dataId);
    this.temps.length = 0;
  }
}
