/** The benchmark's result table: each figure next to its baseline, the ratio and the goal. */

/** One line of the table. */
export interface ResultRow {
  figure: string;
  /** Our throughput, images per second (undefined when the part was skipped). */
  ours?: number;
  /** The baseline's throughput, images per second. */
  baseline?: number;
  /** ours / baseline. */
  ratio?: number;
  /** The ratio aimed for. */
  goal: number;
  met?: boolean;
  /** Why there are no figures, when skipped. */
  note?: string;
}

/** A row with ratio and verdict filled in. */
export function row(figure: string, ours: number, baseline: number, goal: number): ResultRow {
  const ratio = ours / baseline;
  return { figure, ours, baseline, ratio, goal, met: ratio >= goal };
}

/** A row for a part that did not run. */
export function skippedRow(figure: string, goal: number, note: string): ResultRow {
  return { figure, goal, note };
}

const num = (v: number | undefined) =>
  v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1);

/** The table as text, one row per line, columns aligned. */
export function formatTable(rows: ResultRow[]): string {
  const head = ['figure', 'ours img/s', 'baseline img/s', 'ratio', 'goal', 'met?'];
  const body = rows.map((r) => [
    r.figure,
    num(r.ours),
    num(r.baseline),
    r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}x`,
    `>= ${r.goal}x`,
    r.note ? `skipped: ${r.note}` : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]),
      )
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
