import { DEFAULT_K_RANGE, type RunSpec } from './run-spec.js';

type KMeansSpec = Pick<RunSpec['kmeans'], 'k' | 'kRange'>;

/** The k values a run with k "auto" asks for: `kRange`, or the default 2..20. */
export function requestedKRange(kmeans: KMeansSpec): { min: number; max: number } {
  return { ...DEFAULT_K_RANGE, ...kmeans.kRange };
}

/**
 * The fewest images a run's k setting works with: k itself, or for k "auto" one more than the
 * smallest k tried (the silhouette needs a cluster of two images at least).
 */
export function imagesNeededForK(kmeans: KMeansSpec): number {
  return kmeans.k === 'auto' ? requestedKRange(kmeans).min + 1 : kmeans.k;
}

/**
 * The k values tried for k "auto" over `images` codes: the requested range with its max
 * lowered to `images - 1`; null when even the range's min needs more images.
 */
export function kRangeForImages(
  kmeans: KMeansSpec,
  images: number,
): { min: number; max: number } | null {
  const { min, max } = requestedKRange(kmeans);
  if (images < min + 1) return null;
  return { min, max: Math.min(max, images - 1) };
}

/** The k setting as messages name it: `k = 10`, or `k = auto (2..20)`. */
export function describeK(kmeans: KMeansSpec): string {
  if (kmeans.k !== 'auto') return `k = ${kmeans.k}`;
  const { min, max } = requestedKRange(kmeans);
  return `k = auto (${min}..${max})`;
}
