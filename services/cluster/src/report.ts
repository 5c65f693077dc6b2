import type { RunSpec } from '@imgcluster/config';
import type { Scores } from './scores.js';

/** What the report shows of one cluster; images are PNG bytes embedded as data URIs. */
export interface ReportCluster {
  index: number;
  size: number;
  meanDistance: number;
  samples: Buffer;
  attention: Buffer;
  decoded: Buffer;
  topLabels?: [string, number][];
}

/** Everything the report page needs. */
export interface ReportInput {
  runId: string;
  spec: RunSpec;
  images: number;
  rejected: { key: string; reason: string; message: string }[];
  stageSeconds: Record<string, number | undefined>;
  losses: number[];
  inertia: number;
  scores?: Scores;
  clusters: ReportCluster[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const img = (png: Buffer, alt: string) =>
  `<img loading="lazy" alt="${esc(alt)}" src="data:image/png;base64,${png.toString('base64')}">`;

/** A self-contained HTML page (no external resources) describing a finished run. */
export function renderReport(r: ReportInput): string {
  const rows = Object.entries(r.stageSeconds)
    .map(
      ([stage, s]) => `<tr><td>${stage}</td><td>${s === undefined ? '–' : s.toFixed(1)}</td></tr>`,
    )
    .join('');
  const scores = r.scores
    ? `<p class="scores">NMI <b>${r.scores.nmi.toFixed(3)}</b> · ARI <b>${r.scores.ari.toFixed(3)}</b>
       · accuracy <b>${r.scores.accuracy.toFixed(3)}</b> (${r.scores.labelled} labelled images)</p>`
    : '<p>No labels were given: no scores.</p>';
  const cards = r.clusters.map(clusterCard).join('\n');
  const rejected = r.rejected.length
    ? `<table><tr><th>key</th><th>reason</th><th>detail</th></tr>${r.rejected
        .slice(0, 200)
        .map((x) => `<tr><td>${esc(x.key)}</td><td>${x.reason}</td><td>${esc(x.message)}</td></tr>`)
        .join('')}</table>`
    : '<p>None.</p>';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>imgcluster run ${esc(r.runId)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 8px;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem}
.card .pics{display:flex;gap:.5rem;align-items:flex-start}
.card img{image-rendering:pixelated;max-width:100%}
.grid img{width:100%}
.scores b{font-size:1.1rem}
svg text{font-size:10px}
</style></head><body>
<h1>imgcluster run <code>${esc(r.runId)}</code>${r.spec.name ? ` — ${esc(r.spec.name)}` : ''}</h1>
<p>${r.images} images from <code>s3://${esc(r.spec.input.bucket)}/${esc(r.spec.input.prefix)}</code>,
resized to ${r.spec.image.size}×${r.spec.image.size}×${r.spec.image.channels};
code ${r.spec.image.size / 8}×${r.spec.image.size / 8}×${r.spec.model.filters[2]};
k = ${r.spec.kmeans.k}; ${r.spec.training.epochs} epochs; mean squared distance to centre
${(r.inertia / Math.max(1, r.images)).toFixed(4)}.</p>
${scores}
<h2>Cluster sizes</h2>
${sizeChart(r.clusters)}
<h2>Training loss</h2>
${lossChart(r.losses)}
<h2>Stages (seconds)</h2><table>${rows}</table>
<h2>Clusters</h2>
<p>Each card: the cluster's mean code decoded back to an image, its mean attention map
(max over code channels), and members nearest the centre first, then a random few.</p>
<div class="cards">${cards}</div>
<h2>Rejected images (${r.rejected.length})</h2>
${rejected}
</body></html>
`;
}

function clusterCard(c: ReportCluster): string {
  const labels = c.topLabels?.length
    ? `<div>labels: ${c.topLabels.map(([l, n]) => `${esc(l)} (${n})`).join(', ')}</div>`
    : '';
  return `<div class="card" id="cluster-${c.index}">
<div><b>cluster ${c.index}</b> · ${c.size} images · mean squared distance ${c.meanDistance.toFixed(4)}</div>
${labels}
<div class="pics"><figure>${img(c.decoded, `cluster ${c.index} decoded mean`)}
<figcaption>decoded mean</figcaption></figure>
<figure>${img(c.attention, `cluster ${c.index} attention`)}<figcaption>attention</figcaption></figure></div>
<div class="grid">${img(c.samples, `cluster ${c.index} members`)}</div>
</div>`;
}

function sizeChart(clusters: ReportCluster[]): string {
  const max = Math.max(1, ...clusters.map((c) => c.size));
  const barW = Math.max(6, Math.min(40, Math.floor(800 / Math.max(1, clusters.length))));
  const h = 160;
  const bars = clusters
    .map((c, i) => {
      const bh = Math.round((c.size / max) * (h - 20));
      const x = i * barW;
      return `<rect x="${x}" y="${h - bh - 12}" width="${barW - 2}" height="${bh}" fill="#3b6ea5">
<title>cluster ${c.index}: ${c.size}</title></rect><text x="${x}" y="${h}">${c.index}</text>`;
    })
    .join('');
  return `<svg id="size-chart" width="${clusters.length * barW}" height="${h}" role="img">${bars}</svg>`;
}

function lossChart(losses: number[]): string {
  if (losses.length === 0) return '<p>No training record.</p>';
  const w = 400;
  const h = 120;
  const max = Math.max(...losses);
  const min = Math.min(...losses);
  const span = max - min || 1;
  const points = losses
    .map((l, i) => {
      const x = losses.length === 1 ? w / 2 : (i / (losses.length - 1)) * (w - 10) + 5;
      const y = h - 10 - ((l - min) / span) * (h - 20);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
  return `<svg id="loss-chart" width="${w}" height="${h}" role="img">
<polyline fill="none" stroke="#c0392b" stroke-width="2" points="${points}"/>
<text x="5" y="10">${max.toPrecision(3)}</text><text x="5" y="${h - 2}">${min.toPrecision(3)}</text>
</svg><p>per-epoch mean squared error: ${losses.map((l) => l.toFixed(5)).join(', ')}</p>`;
}
