/**
 * @imgcluster/metrics: scores of a clustering against ground-truth labels (NMI, ARI, cluster
 * accuracy) and the contingency table and Hungarian assignment behind them.
 */
export { MetricsError, type MetricsErrorCode } from './errors.js';
export { contingency, type Contingency } from './contingency.js';
export { hungarian, type HungarianResult } from './hungarian.js';
export {
  ari,
  clusterAccuracy,
  matchClusters,
  mutualInformation,
  nmi,
  type ClusterMatch,
} from './scores.js';
