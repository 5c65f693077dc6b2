import type { ClusterSummary } from '@imgcluster/client';
import type { RunStatus, StageStatus } from '@imgcluster/queues';
import { formatNumber, formatTable, formatTime } from './format.js';
import { stageNote } from './progress.js';

/** Everything about one run on one screen: state, input, images, every stage, errors. */
export function statusScreen(s: RunStatus): string[] {
  const rows: [string, string][] = [['run', s.id]];
  if (s.name) rows.push(['name', s.name]);
  rows.push(['state', s.retries ? `${s.state} (retried ${s.retries}×)` : s.state]);
  rows.push(['created', formatTime(s.createdAt)]);
  if (s.finishedAt) {
    const took = (Date.parse(s.finishedAt) - Date.parse(s.createdAt)) / 1000;
    rows.push(['finished', `${formatTime(s.finishedAt)} (${took.toFixed(1)} s after submission)`]);
  }
  const input = s.spec?.input;
  if (input) {
    const labels = s.spec.labels ? `, labels ${s.spec.labels.key}` : '';
    rows.push(['input', `${input.bucket}/${input.prefix}${labels}`]);
  }
  const images = imagesLine(s.stages.preprocess);
  if (images) rows.push(['images', images]);
  if (s.error) rows.push(['error', s.error]);
  const width = 'finished'.length;

  const stages = Object.entries(s.stages) as [string, StageStatus][];
  const table = formatTable(
    ['stage', 'state', 'done', 'total', 'seconds', ''],
    stages.map(([name, st]) => [
      name,
      st.state,
      String(st.done),
      String(st.total),
      st.seconds === undefined ? '-' : st.seconds.toFixed(1),
      stageNote(name, st),
    ]),
    ['left', 'left', 'right', 'right', 'right', 'left'],
  );
  return [...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`), '', ...table];
}

function imagesLine(st: StageStatus): string | undefined {
  const d = st.detail as { accepted?: number; rejected?: number; reasons?: Record<string, number> };
  if (!d || (d.accepted === undefined && d.rejected === undefined)) return undefined;
  if (!d.accepted && !d.rejected) return undefined;
  const reasons = Object.entries(d.reasons ?? {})
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return `${d.accepted ?? 0} accepted, ${d.rejected ?? 0} rejected${reasons ? ` (${reasons})` : ''}`;
}

/** The clusters as a table: size, share of all images, mean distance, top three labels. */
export function clustersTable(clusters: ClusterSummary[]): string[] {
  const total = clusters.reduce((sum, c) => sum + c.size, 0);
  const withLabels = clusters.some((c) => c.labels && Object.keys(c.labels).length > 0);
  const rows = clusters.map((c) => {
    const row = [
      String(c.cluster),
      String(c.size),
      total > 0 ? `${((100 * c.size) / total).toFixed(1)}%` : '-',
      formatNumber(c.meanDistance),
    ];
    if (withLabels) row.push(topLabels(c.labels ?? {}, c.size));
    return row;
  });
  const headers = [
    'cluster',
    'size',
    'share',
    'mean distance',
    ...(withLabels ? ['top labels'] : []),
  ];
  return formatTable(headers, rows, ['right', 'right', 'right', 'right', 'left']);
}

/** `Trouser 95%, Dress 3%`: the most common labels of a cluster, at most `n`. */
export function topLabels(labels: Record<string, number>, size: number, n = 3): string {
  return Object.entries(labels)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([label, count]) => `${label} ${size > 0 ? Math.round((100 * count) / size) : 0}%`)
    .join(', ');
}

/** A run as GET /v1/runs lists it. */
export interface RunListItem {
  id: string;
  name?: string;
  state: string;
  createdAt: string;
  error?: string;
  stages: Record<string, { state: string; done: number; total: number }>;
}

/** Runs as a table: id, state, created, the stage under way, name. */
export function runsTable(runs: RunListItem[]): string[] {
  return formatTable(
    ['id', 'state', 'created', 'stage', 'name'],
    runs.map((r) => [r.id, r.state, formatTime(r.createdAt), currentStage(r), r.name ?? '']),
  );
}

function currentStage(r: RunListItem): string {
  const open = Object.entries(r.stages).find(([, st]) => st.state !== 'succeeded');
  if (!open) return 'done';
  const [name, st] = open;
  return st.total ? `${name} ${st.done}/${st.total}` : name;
}
