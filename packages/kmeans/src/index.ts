/**
 * @imgcluster/kmeans: seeded, deterministic k-means for image codes in plain TypeScript:
 * k-means++ seeding, a blocked distance kernel, streaming mini-batch k-means, and Lloyd's
 * algorithm as a reference, and diagonal Gaussian mixtures fitted from a k-means result.
 */
export { KMeansError, type KMeansErrorCode } from './errors.js';
export { permutation, Rng, type RngState } from './rng.js';
export {
  allocPoints,
  assign,
  freePoints,
  pairwiseSquaredDistances,
  squaredNorms,
  type Assignment,
  type AssignBuffers,
  type AssignOptions,
} from './distance.js';
export { defaultThreads, kernel, Kernel, KernelPool } from './kernel.js';
export { kmeansPlusPlus, type KMeansPlusPlusOptions } from './kmeanspp.js';
export {
  MiniBatchKMeans,
  type MiniBatchKMeansOptions,
  type MiniBatchKMeansState,
  type PartialFitResult,
  type StopReason,
} from './minibatch.js';
export { fit, type FitOptions, type FitResult } from './fit.js';
export { lloyd, type LloydResult } from './lloyd.js';
export { normalizeRows, prepareCodes, type CodeNormalization } from './normalize.js';
export { symmetricEigen } from './pruning.js';
export {
  DEFAULT_RESTARTS,
  DEFAULT_SILHOUETTE_SAMPLE,
  elbowOf,
  selectK,
  selectKSteps,
  silhouette,
  type KRange,
  type KScore,
  type KSelectionResult,
  type KStep,
  type SelectKOptions,
} from './select-k.js';
export {
  fitMixture,
  mixtureAssign,
  mixtureFromJson,
  mixtureToJson,
  MixtureStats,
  VARIANCE_FLOOR,
  type DiagonalMixture,
  type MixtureFitOptions,
  type MixtureFitResult,
  type MixtureJson,
} from './mixture.js';
