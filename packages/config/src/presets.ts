/**
 * Named starting points for a run's settings. A spec naming a preset gets the preset's
 * settings wherever it gives none itself; objects merge key by key, anything else (numbers,
 * strings, arrays) is taken whole from the spec. Scores measured with each preset on
 * Fashion-MNIST are in docs/quality.md.
 */
export const PRESETS = {
  /** The schema's own defaults, named so a spec can say it wants them. */
  default: {},
  /**
   * Steadier groups for a minute or two more: the UMAP layout fitted on 20,000 codes instead
   * of 10,000 (and used whatever the code width). On 70,000 Fashion-MNIST codes, over five
   * layouts, NMI 0.634 (0.628..0.640) against 0.628 (0.616..0.641) (docs/quality.md).
   */
  quality: {
    kmeans: { normalize: 'l2', manifold: { method: 'umap', sample: 20_000 } },
  },
  /**
   * The best groups measured, for a much longer training: N2D's recipe. A dense autoencoder
   * (hidden widths 500/500/2000, 10-float codes, 25 epochs of 256 images) instead of the
   * convolutional one, its codes laid out by UMAP as they are (no L2 step) on 20,000 codes,
   * then k-means refined by a diagonal Gaussian mixture. Scores and times in
   * docs/quality.md.
   */
  dense: {
    model: { architecture: 'dense' },
    training: { epochs: 25, batchSize: 256 },
    kmeans: {
      normalize: 'none',
      mixture: 'gaussian',
      manifold: { method: 'umap', sample: 20_000 },
    },
  },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as [PresetName, ...PresetName[]];

/**
 * A submitted spec with its preset's settings filled in under the given ones. Anything that
 * is not an object naming a known preset is returned unchanged (validation reports it).
 */
export function withPreset(input: unknown): unknown {
  if (!isPlainObject(input)) return input;
  const name = input.preset;
  if (typeof name !== 'string' || !Object.hasOwn(PRESETS, name)) return input;
  return mergeUnder(PRESETS[name as PresetName], input);
}

/** `over` with `under`'s values wherever `over` has none; plain objects merge recursively. */
function mergeUnder(under: unknown, over: unknown): unknown {
  if (over === undefined) return under;
  if (!isPlainObject(under) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    // Defined, not assigned: a key named __proto__ stays a key (and fails validation).
    Object.defineProperty(out, key, {
      value: mergeUnder(Object.hasOwn(under, key) ? under[key] : undefined, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
