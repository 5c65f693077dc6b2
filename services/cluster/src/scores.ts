import { ari, clusterAccuracy, nmi } from '@imgcluster/metrics';
import type { LabelRow } from './assign-pass.js';

/** Scores of a clustering against ground truth, and each cluster's label make-up. */
export interface Scores {
  /** Images that had a ground-truth label. */
  labelled: number;
  nmi: number;
  ari: number;
  accuracy: number;
  /** Per cluster: count of each true label. */
  composition: Record<string, number>[];
}

/**
 * Scores the clusters against a { key: label } object. Images without a label are left
 * out; labels are only ever used here, never for training.
 */
export function scoreAgainst(
  truth: Record<string, string | number>,
  rows: Pick<LabelRow, 'key' | 'cluster'>[],
  k: number,
): Scores | undefined {
  const names = new Map<string, number>();
  const t: number[] = [];
  const p: number[] = [];
  const composition: Record<string, number>[] = Array.from({ length: k }, () => ({}));
  for (const row of rows) {
    const label = truth[row.key];
    if (label === undefined) continue;
    const name = String(label);
    if (!names.has(name)) names.set(name, names.size);
    t.push(names.get(name)!);
    p.push(row.cluster);
    composition[row.cluster][name] = (composition[row.cluster][name] ?? 0) + 1;
  }
  if (t.length === 0) return undefined;
  return {
    labelled: t.length,
    nmi: nmi(t, p),
    ari: ari(t, p),
    accuracy: clusterAccuracy(t, p),
    composition,
  };
}
