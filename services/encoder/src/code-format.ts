import type { RunSpec } from '@imgcluster/config';
import { float32ToFloat16 } from '@imgcluster/shard';

type CodeDtype = RunSpec['codes']['dtype'];

/**
 * The codes in the run's code format. A shard with a finite code beyond ±65504 (float16
 * would make it Infinity) is kept as float32 instead: its header says so and readers take
 * either. `dtype` is missing in runs submitted before the format could be chosen.
 */
export function storedCodes(
  codes: Float32Array,
  dtype: CodeDtype = 'float32',
): { dtype: CodeDtype; data: Float32Array | Uint16Array; overflow: number } {
  if (dtype === 'float32') return { dtype, data: codes, overflow: 0 };
  const halves = float32ToFloat16(codes);
  let overflow = 0;
  for (let i = 0; i < halves.length; i++) {
    if ((halves[i] & 0x7fff) === 0x7c00 && Number.isFinite(codes[i])) overflow++;
  }
  return overflow ? { dtype: 'float32', data: codes, overflow } : { dtype, data: halves, overflow };
}
