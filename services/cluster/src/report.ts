import { codeShapeOf, modelShape, type RunSpec } from '@imgcluster/config';
import type { Scores } from './scores.js';

/** A picture of the report: its path relative to the run's artifact root, and its size. */
export interface ReportPicture {
  path: string;
  width: number;
  height: number;
}

/** What the report shows of one cluster. */
export interface ReportCluster {
  index: number;
  size: number;
  meanDistance: number;
  samples: ReportPicture;
  attention: ReportPicture;
  decoded: ReportPicture;
  /** Count of each true label among the members, when labels were given. */
  labels?: Record<string, number>;
}

/** One input image beside what the autoencoder made of it. */
export interface ReportExample {
  key: string;
  cluster: number;
  distance: number;
  input: ReportPicture;
  reconstruction: ReportPicture;
  attention: ReportPicture;
}

/** The score of each k tried when k was chosen automatically. */
export interface KSelection {
  chosen: number;
  /** What the score is, e.g. "silhouette on a 10,000-image sample". */
  criterion: string;
  curve: { k: number; score: number }[];
}

/** Everything the report page needs. */
export interface ReportInput {
  runId: string;
  spec: RunSpec;
  createdAt?: string;
  finishedAt?: string;
  images: number;
  rejected: { key: string; reason: string; message: string }[];
  stageSeconds: Record<string, number | undefined>;
  training?: {
    backend: string;
    trainImages: number;
    epochs: { epoch: number; loss: number; seconds: number; images: number }[];
    /** Mean loss over windows of steps, across all epochs. */
    curve?: { step: number; loss: number }[];
  };
  kmeans: { steps: number; stopReason: string | null; fitSeconds: number };
  kSelection?: KSelection;
  inertia: number;
  scores?: Scores;
  clusters: ReportCluster[];
  examples: ReportExample[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (n: number) => n.toLocaleString('en-US');

/** Pictures load lazily and keep their place (width and height given) until they do. */
function img(p: ReportPicture, alt: string, cls: string): string {
  return `<img class="${cls}" loading="lazy" decoding="async" width="${p.width}" height="${p.height}" alt="${esc(alt)}" src="${esc(p.path)}">`;
}

/**
 * The report of a finished run: one HTML page that loads nothing from elsewhere. Its
 * pictures are the run's artifacts, named relative to the artifact root, so the page works
 * both served by the API and from a downloaded copy of the artifacts. Pictures load
 * lazily, so a run of hundreds of clusters opens as fast as one of ten.
 */
export function renderReport(r: ReportInput): string {
  const sections: [string, string, string][] = [
    ['settings', 'Settings', settings(r)],
    ['timings', 'Timings', timings(r)],
    ['scores', 'Scores', scores(r)],
    ['sizes', 'Cluster sizes', sizeChart(r.clusters, r.scores !== undefined)],
  ];
  if (r.kSelection) sections.push(['k-selection', 'Choosing k', kSelection(r.kSelection)]);
  sections.push(
    ['training', 'Training loss', trainingLoss(r)],
    ['reconstructions', 'Inputs and reconstructions', examples(r.examples)],
    ['clusters', `Clusters (${r.clusters.length})`, clusterCards(r.clusters)],
    ['rejected', `Rejected images (${fmt(r.rejected.length)})`, rejected(r.rejected)],
  );
  const nav = sections.map(([id, title]) => `<a href="#${id}">${esc(title)}</a>`).join(' · ');
  const body = sections
    .map(([id, title, html]) => `<section id="${id}"><h2>${esc(title)}</h2>\n${html}\n</section>`)
    .join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgcluster run ${esc(r.runId)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem auto;color:#222;max-width:1280px;padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
nav{font-size:.9rem;margin:.5rem 0 1rem} nav a{color:#3b6ea5}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 8px;font-size:.85rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.kv{columns:2 320px} .kv div{font-size:.85rem;break-inside:avoid} .kv code{color:#555}
.big{font-size:1.3rem;font-weight:600;margin-right:1.5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem}
.card header{font-size:.9rem;margin-bottom:.4rem} .card .labels{font-size:.8rem;color:#555}
.pics{display:flex;gap:.6rem;align-items:flex-start} figure{margin:0;font-size:.75rem;color:#555}
img{image-rendering:pixelated;max-width:100%;height:auto;background:#f4f4f4}
.examples td{vertical-align:top;font-size:.75rem}
svg{max-width:100%;height:auto} svg text{font-size:10px;fill:#444} svg text.label{font-size:8px}
</style></head><body>
<h1>imgcluster run <code>${esc(r.runId)}</code>${r.spec.name ? ` — ${esc(r.spec.name)}` : ''}</h1>
<div>${fmt(r.images)} images from <code>s3://${esc(r.spec.input.bucket)}/${esc(r.spec.input.prefix)}</code>
into ${r.clusters.length} clusters${r.finishedAt ? `, finished ${esc(r.finishedAt)}` : ''}.</div>
<nav>${nav}</nav>
${body}
</body></html>
`;
}

function settings(r: ReportInput): string {
  const [side, , depth] = codeShapeOf(r.spec);
  const shape = modelShape(r.spec.model);
  const autoencoder =
    shape.architecture === 'dense'
      ? `dense ${shape.hidden.join('/')} → ${shape.codeSize} (model.filters unused; one code ` +
        'position, so every attention map is one value)'
      : `conv ${shape.filters.join('/')}`;
  const derived: [string, string][] = [
    ['autoencoder', autoencoder],
    ['code shape', `${side}×${side}×${depth}`],
    ['training backend', r.training?.backend ?? '–'],
    ['images trained on', r.training ? fmt(r.training.trainImages) : '–'],
    ['k-means steps', `${fmt(r.kmeans.steps)} (${r.kmeans.stopReason ?? 'step limit'})`],
  ];
  const rows = [
    ...flatten(r.spec as unknown as Record<string, unknown>),
    ...derived.map(([k, v]) => [k, v] as [string, string]),
  ];
  return `<div class="kv">${rows
    .map(([k, v]) => `<div><code>${esc(k)}</code> ${esc(v)}</div>`)
    .join('')}</div>`;
}

/** A nested settings object as `a.b.c = value` rows. */
function flatten(obj: Record<string, unknown>, prefix = ''): [string, string][] {
  return Object.entries(obj).flatMap(([k, v]): [string, string][] => {
    const name = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      return flatten(v as Record<string, unknown>, name);
    return [[name, Array.isArray(v) ? v.join(', ') : String(v)]];
  });
}

function timings(r: ReportInput): string {
  const entries = Object.entries(r.stageSeconds);
  const total = entries.reduce((a, [, s]) => a + (s ?? 0), 0);
  const rows = entries
    .map(
      ([stage, s]) =>
        `<tr><td>${esc(stage)}</td><td class="n">${s === undefined ? '–' : s.toFixed(1)}</td></tr>`,
    )
    .join('');
  const when =
    r.createdAt && r.finishedAt
      ? `<p>Submitted ${esc(r.createdAt)}, finished ${esc(r.finishedAt)}.</p>`
      : '';
  return `${when}<table><tr><th>stage</th><th>seconds</th></tr>${rows}
<tr><th>all stages</th><th class="n">${total.toFixed(1)}</th></tr></table>`;
}

function scores(r: ReportInput): string {
  const msd = `<p>Mean squared distance of a code to its cluster's centre: <b>${(r.inertia / Math.max(1, r.images)).toFixed(4)}</b>.</p>`;
  if (!r.scores) return `${msd}<p>No labels were given, so there are no scores.</p>`;
  const s = r.scores;
  return `<p><span class="big">NMI ${s.nmi.toFixed(3)}</span><span class="big">ARI ${s.ari.toFixed(3)}</span>
<span class="big">accuracy ${s.accuracy.toFixed(3)}</span></p>
<p>Against the labels of ${fmt(s.labelled)} images (labels are used for these scores only,
never for training). Accuracy maps each cluster to its majority label.</p>${msd}`;
}

/** The label most members of a cluster carry, and its share. */
function majority(labels: Record<string, number> | undefined) {
  if (!labels) return undefined;
  const entries = Object.entries(labels).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = entries.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return undefined;
  return { label: entries[0][0], share: entries[0][1] / total, top: entries.slice(0, 3), total };
}

function sizeChart(clusters: ReportCluster[], labelled: boolean): string {
  const k = clusters.length;
  const max = Math.max(1, ...clusters.map((c) => c.size));
  const barW = Math.max(4, Math.min(40, Math.floor(960 / Math.max(1, k))));
  const named = labelled && barW >= 24;
  const h = named ? 196 : 180;
  const left = 40;
  const plot = 150;
  const every = Math.ceil(k / 40);
  const base = plot + 8;
  const bars = clusters
    .map((c, i) => {
      const bh = Math.max(1, Math.round((c.size / max) * plot));
      const x = left + i * barW;
      const m = majority(c.labels);
      const tip = `cluster ${c.index}: ${fmt(c.size)} images${m ? `, ${Math.round(m.share * 100)}% ${m.label}` : ''}`;
      const tick = i % every === 0 ? `<text x="${x}" y="${base + 12}">${c.index}</text>` : '';
      const name =
        named && m
          ? `<text class="label" x="${x}" y="${base + 24}">${esc(m.label.slice(0, Math.floor(barW / 4.6)))}</text>`
          : '';
      return `${tick}${name}<a href="#cluster-${c.index}"><rect class="bar" x="${x}" y="${base - bh}" width="${Math.max(1, barW - 1)}" height="${bh}" fill="#3b6ea5"><title>${esc(tip)}</title></rect></a>`;
    })
    .join('');
  const width = left + k * barW + 10;
  const axis = `<text x="0" y="${base - plot + 8}">${fmt(max)}</text><text x="0" y="${base}">0</text>`;
  const note = named
    ? ' Under each bar its majority label; hover a bar for its share.'
    : labelled
      ? ' Hover a bar for its majority label.'
      : '';
  return `<svg id="size-chart" viewBox="0 0 ${width} ${h}" width="${width}" height="${h}" role="img" aria-label="images per cluster">${axis}${bars}</svg>
<p>Images per cluster; a bar links to its cluster.${note}</p>`;
}

/** A line chart of (x, y) points with its extremes marked on both axes. */
function lineChart(id: string, points: [number, number][], xLabel: string, mark?: number): string {
  const w = 520;
  const h = 180;
  const pad = { l: 56, r: 10, t: 10, b: 30 };
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => pad.l + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const sy = (y: number) =>
    h - pad.b - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const line = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
  const dots = points
    .map(
      ([x, y]) =>
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="${x === mark ? 5 : 2.5}" fill="${x === mark ? '#c0392b' : '#3b6ea5'}"><title>${xLabel} ${x}: ${y.toPrecision(4)}</title></circle>`,
    )
    .join('');
  return `<svg id="${id}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img">
<line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#999"/>
<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#999"/>
<polyline fill="none" stroke="#3b6ea5" stroke-width="1.5" points="${line}"/>${dots}
<text x="2" y="${sy(y1) + 4}">${y1.toPrecision(3)}</text><text x="2" y="${sy(y0) + 4}">${y0.toPrecision(3)}</text>
<text x="${sx(x0)}" y="${h - 12}">${x0}</text><text x="${sx(x1) - 20}" y="${h - 12}">${x1}</text>
<text x="${w / 2 - 20}" y="${h - 1}">${esc(xLabel)}</text></svg>`;
}

function kSelection(s: KSelection): string {
  const points = s.curve.map((p) => [p.k, p.score] as [number, number]);
  return `${lineChart('k-chart', points, 'k', s.chosen)}
<p>k = <b>${s.chosen}</b> was chosen by ${esc(s.criterion)}; the red point marks it.</p>`;
}

function trainingLoss(r: ReportInput): string {
  const t = r.training;
  if (!t || t.epochs.length === 0) return '<p>No training record.</p>';
  const curve =
    t.curve && t.curve.length > 1
      ? lineChart(
          'loss-chart',
          t.curve.map((p) => [p.step, p.loss]),
          'step',
        )
      : lineChart(
          'loss-chart',
          t.epochs.map((e) => [e.epoch, e.loss]),
          'epoch',
        );
  const rows = t.epochs
    .map(
      (e) =>
        `<tr><td class="n">${e.epoch}</td><td class="n">${e.loss.toFixed(5)}</td><td class="n">${fmt(e.images)}</td><td class="n">${e.seconds.toFixed(1)}</td></tr>`,
    )
    .join('');
  return `${curve}<p>Mean squared reconstruction error (pixels scaled to 0..1)${t.curve && t.curve.length > 1 ? ', averaged over windows of steps' : ' per epoch'}.</p>
<table><tr><th>epoch</th><th>loss</th><th>images</th><th>seconds</th></tr>${rows}</table>`;
}

function examples(list: ReportExample[]): string {
  if (list.length === 0) return '<p>No examples.</p>';
  const cells = list
    .map(
      (
        e,
        i,
      ) => `<td>${img(e.input, `example ${i} input`, 'example')}<br>${img(e.reconstruction, `example ${i} reconstruction`, 'example')}<br>${img(e.attention, `example ${i} attention`, 'example')}
<div><a href="#cluster-${e.cluster}">cluster ${e.cluster}</a><br>${esc(shortKey(e.key))}</div></td>`,
    )
    .join('');
  return `<p>Top to bottom: the image as the model saw it, the autoencoder's reconstruction of
it, and its attention map (each code position's largest channel; brighter is stronger).</p>
<table class="examples"><tr>${cells}</tr></table>`;
}

function shortKey(key: string): string {
  const base = key.split('/').pop() ?? key;
  return base.length > 24 ? `…${base.slice(-23)}` : base;
}

function clusterCards(clusters: ReportCluster[]): string {
  const cards = clusters
    .map((c) => {
      const m = majority(c.labels);
      const labels = m
        ? `<div class="labels">majority <b>${esc(m.label)}</b> ${Math.round(m.share * 100)}% · ${m.top
            .map(([l, n]) => `${esc(l)} ${fmt(n)}`)
            .join(', ')}</div>`
        : '';
      return `<article class="card" id="cluster-${c.index}" data-cluster="${c.index}">
<header><b>cluster ${c.index}</b> · ${fmt(c.size)} images · mean squared distance ${c.meanDistance.toFixed(4)}${labels}</header>
<div class="pics"><figure>${img(c.decoded, `cluster ${c.index} decoded mean`, 'decoded')}<figcaption>decoded mean</figcaption></figure>
<figure>${img(c.attention, `cluster ${c.index} attention`, 'attention')}<figcaption>mean attention</figcaption></figure></div>
${img(c.samples, `cluster ${c.index} members`, 'samples')}
</article>`;
    })
    .join('\n');
  return `<p>Each card: the cluster's mean code decoded back into an image, its mean attention map
(each code position's largest channel, averaged over members), and members: nearest the
centre first, then a random few.</p>
<div class="cards">${cards}</div>`;
}

function rejected(list: ReportInput['rejected']): string {
  if (list.length === 0) return '<p>None.</p>';
  const shown = list.slice(0, 200);
  const more =
    list.length > shown.length
      ? `<p>First ${shown.length} shown; all are in <code>shard-index.json</code>.</p>`
      : '';
  return `<table><tr><th>key</th><th>reason</th><th>detail</th></tr>${shown
    .map(
      (x) => `<tr><td>${esc(x.key)}</td><td>${esc(x.reason)}</td><td>${esc(x.message)}</td></tr>`,
    )
    .join('')}</table>${more}`;
}
