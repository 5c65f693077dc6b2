/**
 * @imgcluster/kmeans: seeded, deterministic k-means for image codes in plain TypeScript:
 * k-means++ seeding, a blocked distance kernel, streaming mini-batch k-means, and Lloyd's
 * algorithm as a reference.
 */
export { KMeansError, type KMeansErrorCode } from './errors.js';
export { permutation, Rng, type RngState } from './rng.js';
export {
  assign,
  pairwiseSquaredDistances,
  squaredNorms,
  type Assignment,
  type AssignBuffers,
} from './distance.js';
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
