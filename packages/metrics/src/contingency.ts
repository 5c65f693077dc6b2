import { MetricsError } from './errors.js';

/** Contingency table of two labellings of the same items. */
export interface Contingency {
  /** Distinct ground-truth labels, ascending; row `r` of `table` is `classes[r]`. */
  classes: number[];
  /** Distinct predicted labels, ascending; column `c` of `table` is `clusters[c]`. */
  clusters: number[];
  /** `table[r][c]`: items of class `classes[r]` put in cluster `clusters[c]`. */
  table: number[][];
  /** Items per class (row sums). */
  classSizes: number[];
  /** Items per cluster (column sums). */
  clusterSizes: number[];
  /** Number of items. */
  n: number;
}

/** Distinct values of `a`, ascending, with a map from value to rank. */
function index(a: ArrayLike<number>): { values: number[]; rank: Map<number, number> } {
  const set = new Set<number>();
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (!Number.isFinite(v)) {
      throw new MetricsError('METRICS_INVALID_LABEL', `label at ${i} is ${v}`);
    }
    set.add(v);
  }
  const values = [...set].sort((x, y) => x - y);
  return { values, rank: new Map(values.map((v, r) => [v, r])) };
}

/**
 * Counts how the items of each ground-truth class spread over the predicted clusters. Labels
 * are any finite numbers (need not be 0..k-1 or contiguous). Throws METRICS_LENGTH_MISMATCH,
 * METRICS_EMPTY for zero items, METRICS_INVALID_LABEL for NaN or Infinity.
 */
export function contingency(truth: ArrayLike<number>, pred: ArrayLike<number>): Contingency {
  if (truth.length !== pred.length) {
    throw new MetricsError(
      'METRICS_LENGTH_MISMATCH',
      `truth has ${truth.length} labels, pred has ${pred.length}`,
    );
  }
  if (truth.length === 0) throw new MetricsError('METRICS_EMPTY', 'no labels to compare');
  const t = index(truth);
  const p = index(pred);
  const table = t.values.map(() => new Array<number>(p.values.length).fill(0));
  const classSizes = new Array<number>(t.values.length).fill(0);
  const clusterSizes = new Array<number>(p.values.length).fill(0);
  for (let i = 0; i < truth.length; i++) {
    const r = t.rank.get(truth[i]) as number;
    const c = p.rank.get(pred[i]) as number;
    table[r][c]++;
    classSizes[r]++;
    clusterSizes[c]++;
  }
  return {
    classes: t.values,
    clusters: p.values,
    table,
    classSizes,
    clusterSizes,
    n: truth.length,
  };
}
