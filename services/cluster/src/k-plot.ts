import sharp from 'sharp';
import type { KSelectionRecord } from './choose-k.js';

/** Size of the k-selection plot, in pixels. */
export const K_PLOT_WIDTH = 640;
export const K_PLOT_HEIGHT = 440;

const PAD = { l: 70, r: 20, t: 52, b: 40 };
const GAP = 46;
const CHOSEN = '#c0392b';
const LINE = '#3b6ea5';

type Curve = KSelectionRecord['curve'];

/**
 * The k-selection curve as an SVG picture: mean silhouette against k above, inertia against k
 * below, on one k axis; the chosen k is a red line and red points, the inertia's elbow a dashed
 * grey line. Plain shapes and text only, so any SVG rasteriser draws it the same.
 */
export function kSelectionSvg(
  s: Pick<KSelectionRecord, 'curve' | 'chosen' | 'elbow'> & { stoppedAt?: number | null },
): string {
  const ks = s.curve.map((p) => p.k);
  const [k0, k1] = [Math.min(...ks), Math.max(...ks)];
  const plotW = K_PLOT_WIDTH - PAD.l - PAD.r;
  const panelH = (K_PLOT_HEIGHT - PAD.t - PAD.b - GAP) / 2;
  const x = (k: number) => PAD.l + (k1 === k0 ? 0.5 : (k - k0) / (k1 - k0)) * plotW;

  const top = PAD.t;
  const bottom = PAD.t + panelH + GAP;
  const parts = [
    `<rect width="${K_PLOT_WIDTH}" height="${K_PLOT_HEIGHT}" fill="#ffffff"/>`,
    `<text x="12" y="20" font-size="13" font-weight="bold">Choosing k: k = ${s.chosen} (highest mean silhouette); elbow of the inertia at k = ${s.elbow}${s.stoppedAt ? `; stopped before k = ${s.stoppedAt} (too few distinct codes)` : ''}</text>`,
    panel(s.curve, 'silhouette', 'mean silhouette', top, panelH, x, s.chosen),
    panel(s.curve, 'inertia', 'inertia (sample)', bottom, panelH, x, s.chosen),
  ];
  const span = `y1="${top}" y2="${bottom + panelH}"`;
  parts.push(
    `<line x1="${x(s.elbow)}" x2="${x(s.elbow)}" ${span} stroke="#888" stroke-dasharray="4 3"/>`,
    `<line x1="${x(s.chosen)}" x2="${x(s.chosen)}" ${span} stroke="${CHOSEN}" stroke-width="1.5"/>`,
    `<text x="${x(s.chosen) + 4}" y="${top + panelH + GAP / 2 - 6}" font-size="11" fill="${CHOSEN}">chosen</text>`,
  );
  if (s.elbow !== s.chosen) {
    parts.push(
      `<text x="${x(s.elbow) + 4}" y="${top + panelH + GAP / 2 + 12}" font-size="11" fill="#666">elbow</text>`,
    );
  }
  const every = Math.max(1, Math.ceil((k1 - k0 + 1) / 20));
  for (const k of ks) {
    if ((k - k0) % every !== 0 && k !== s.chosen) continue;
    const colour = k === s.chosen ? CHOSEN : '#444';
    parts.push(
      `<text x="${x(k)}" y="${bottom + panelH + 16}" font-size="11" text-anchor="middle" fill="${colour}">${k}</text>`,
    );
  }
  parts.push(
    `<text x="${PAD.l + plotW / 2}" y="${K_PLOT_HEIGHT - 6}" font-size="12" text-anchor="middle">k</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${K_PLOT_WIDTH}" height="${K_PLOT_HEIGHT}" viewBox="0 0 ${K_PLOT_WIDTH} ${K_PLOT_HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" fill="#222">${parts.join('')}</svg>`;
}

/** The plot as a PNG (the SVG rasterised by sharp). */
export async function kSelectionPng(
  s: Pick<KSelectionRecord, 'curve' | 'chosen' | 'elbow'>,
): Promise<Buffer> {
  return sharp(Buffer.from(kSelectionSvg(s)))
    .png()
    .toBuffer();
}

/** One panel: a line of `field` against k with its range on the left axis. */
function panel(
  curve: Curve,
  field: 'silhouette' | 'inertia',
  label: string,
  top: number,
  height: number,
  x: (k: number) => number,
  chosen: number,
): string {
  const values = curve.map((p) => p[field]);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const y = (v: number) => top + height - (hi === lo ? 0.5 : (v - lo) / (hi - lo)) * height;
  const left = PAD.l;
  const right = K_PLOT_WIDTH - PAD.r;
  const points = curve.map((p) => `${x(p.k).toFixed(1)},${y(p[field]).toFixed(1)}`).join(' ');
  const dots = curve
    .map((p) => {
      const mine = p.k === chosen;
      return `<circle cx="${x(p.k).toFixed(1)}" cy="${y(p[field]).toFixed(1)}" r="${mine ? 5 : 3}" fill="${mine ? CHOSEN : LINE}"/>`;
    })
    .join('');
  return [
    `<rect x="${left}" y="${top}" width="${right - left}" height="${height}" fill="none" stroke="#bbb"/>`,
    `<text x="${left}" y="${top - 6}" font-size="12">${label}</text>`,
    `<text x="${left - 6}" y="${top + 10}" font-size="11" text-anchor="end">${short(hi)}</text>`,
    `<text x="${left - 6}" y="${top + height}" font-size="11" text-anchor="end">${short(lo)}</text>`,
    `<polyline points="${points}" fill="none" stroke="${LINE}" stroke-width="2"/>`,
    dots,
  ].join('');
}

/** A number in at most about six characters: 0.734, 1.25e+4. */
function short(v: number): string {
  return Math.abs(v) >= 1e4 ? v.toExponential(2) : Number(v.toPrecision(3)).toString();
}
