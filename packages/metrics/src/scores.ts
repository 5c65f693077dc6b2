import { contingency, type Contingency } from './contingency.js';
import { hungarian } from './hungarian.js';

/** Entropy (natural log) of a distribution given by counts summing to `n`. */
function entropy(counts: number[], n: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
  return h;
}

/** Mutual information (natural log) of the two labellings behind a contingency table. */
export function mutualInformation(ct: Contingency): number {
  const { table, classSizes, clusterSizes, n } = ct;
  const logN = Math.log(n);
  let mi = 0;
  for (let r = 0; r < table.length; r++) {
    for (let c = 0; c < table[r].length; c++) {
      const nij = table[r][c];
      if (nij === 0) continue;
      const l = Math.log(nij) + logN - Math.log(classSizes[r]) - Math.log(clusterSizes[c]);
      mi += (nij / n) * l;
    }
  }
  return Math.max(0, mi);
}

/**
 * Normalized mutual information with arithmetic normalisation, MI / ((H(truth) + H(pred)) / 2),
 * in [0, 1] (scikit-learn's default). Invariant to renaming labels. Both labellings with a
 * single label give 1; exactly one with a single label gives 0. Throws like {@link contingency}.
 */
export function nmi(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const ct = contingency(truth, pred);
  if (ct.classes.length === 1 && ct.clusters.length === 1) return 1;
  const mi = mutualInformation(ct);
  if (mi === 0) return 0;
  const norm = (entropy(ct.classSizes, ct.n) + entropy(ct.clusterSizes, ct.n)) / 2;
  return Math.min(1, mi / Math.max(norm, Number.EPSILON));
}

/** Number of unordered pairs among `x` items. */
function pairs(x: number): number {
  return (x * (x - 1)) / 2;
}

/**
 * Adjusted Rand index: pair-counting agreement corrected for chance, 1 for identical
 * partitions (up to renaming), about 0 for independent ones, possibly negative (down to -0.5).
 * Identical partitions, including one item or all-singletons on both sides, give exactly 1.
 * Throws like {@link contingency}.
 */
export function ari(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const ct = contingency(truth, pred);
  let together = 0;
  for (const row of ct.table) for (const nij of row) together += pairs(nij);
  let sameClass = 0;
  for (const a of ct.classSizes) sameClass += pairs(a);
  let sameCluster = 0;
  for (const b of ct.clusterSizes) sameCluster += pairs(b);
  const tp = together;
  const fn = sameClass - together;
  const fp = sameCluster - together;
  const tn = pairs(ct.n) - sameClass - sameCluster + together;
  if (fn === 0 && fp === 0) return 1;
  return (2 * (tp * tn - fn * fp)) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
}

/** Result of {@link matchClusters}. */
export interface ClusterMatch {
  /** Fraction of items whose cluster is mapped to their class, in [0, 1]. */
  accuracy: number;
  /** Predicted label -> ground-truth label, one-to-one; unmatched clusters are absent. */
  mapping: Map<number, number>;
}

/**
 * Best one-to-one mapping of clusters to classes, maximising the items that fall on a mapped
 * (cluster, class) pair (Hungarian method on the contingency table). With more clusters than
 * classes the extra clusters stay unmapped and count as errors; with fewer, some classes do.
 * Throws like {@link contingency}.
 */
export function matchClusters(truth: ArrayLike<number>, pred: ArrayLike<number>): ClusterMatch {
  const ct = contingency(truth, pred);
  const cost = ct.table.map((row) => row.map((v) => -v));
  const { assignment } = hungarian(cost);
  const mapping = new Map<number, number>();
  let hits = 0;
  assignment.forEach((c, r) => {
    if (c < 0) return;
    mapping.set(ct.clusters[c], ct.classes[r]);
    hits += ct.table[r][c];
  });
  return { accuracy: hits / ct.n, mapping };
}

/** Clustering accuracy: {@link matchClusters}' accuracy, in [0, 1]. */
export function clusterAccuracy(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  return matchClusters(truth, pred).accuracy;
}
