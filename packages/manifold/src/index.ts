/**
 * A manifold step before clustering: UMAP fitted on a sample of the codes, and every code
 * (the run's and new images') placed in its layout through its nearest sample codes.
 */
export { ManifoldError, type ManifoldErrorCode } from './errors.js';
export {
  embed,
  fitManifold,
  MIN_MANIFOLD_POINTS,
  type Manifold,
  type ManifoldOptions,
  type ManifoldProgress,
} from './umap.js';
export { decodeManifold, encodeManifold } from './file.js';
