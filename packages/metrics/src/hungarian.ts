import { MetricsError } from './errors.js';

/** Result of {@link hungarian}. */
export interface HungarianResult {
  /** Column given to each row, or -1 for rows left out (only when rows > columns). */
  assignment: number[];
  /** Sum of the costs of the chosen cells. */
  cost: number;
}

/** Throws METRICS_INVALID_COST unless `cost` is a rectangular matrix of finite numbers. */
function checkCost(cost: number[][]): number {
  const cols = cost.length === 0 ? 0 : cost[0].length;
  for (const row of cost) {
    if (!Array.isArray(row) || row.length !== cols) {
      throw new MetricsError('METRICS_INVALID_COST', 'cost matrix rows differ in length');
    }
    for (const v of row) {
      if (!Number.isFinite(v)) throw new MetricsError('METRICS_INVALID_COST', `cost ${v}`);
    }
  }
  return cols;
}

/**
 * Minimum-cost one-to-one assignment of rows to columns (Hungarian method with potentials,
 * O(r^2 c) for r <= c). Rectangular matrices are fine: min(rows, cols) pairs are chosen, the
 * other rows get -1 (or the other columns stay unused). To maximise, pass negated values. An
 * empty matrix gives an empty assignment with cost 0. Throws METRICS_INVALID_COST on ragged
 * rows or non-finite values.
 */
export function hungarian(cost: number[][]): HungarianResult {
  const rows = cost.length;
  const cols = checkCost(cost);
  if (rows === 0 || cols === 0) return { assignment: new Array(rows).fill(-1), cost: 0 };
  if (rows > cols) {
    const transposed = Array.from({ length: cols }, (_, j) => cost.map((row) => row[j]));
    const colToRow = solveWide(transposed);
    const assignment = new Array<number>(rows).fill(-1);
    colToRow.forEach((r, c) => (assignment[r] = c));
    return { assignment, cost: total(cost, assignment) };
  }
  const assignment = solveWide(cost);
  return { assignment, cost: total(cost, assignment) };
}

/** Sum of the chosen cells. */
function total(cost: number[][], assignment: number[]): number {
  let s = 0;
  assignment.forEach((c, r) => {
    if (c >= 0) s += cost[r][c];
  });
  return s;
}

/**
 * Shortest-augmenting-path Hungarian method for rows <= cols: adds one row at a time, growing
 * a tree of tight edges with Dijkstra-like slack updates, then flips the augmenting path.
 * Returns the column of each row.
 */
function solveWide(a: number[][]): number[] {
  const n = a.length;
  const m = a[0].length;
  // Index 0 is a virtual column used as the root of each search; rows and columns are 1-based.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const owner = new Int32Array(m + 1); // row matched to each column, 0 = free
  const prevCol = new Int32Array(m + 1);
  const slack = new Float64Array(m + 1);
  const visited = new Uint8Array(m + 1);
  for (let row = 1; row <= n; row++) {
    owner[0] = row;
    let col = 0;
    slack.fill(Infinity);
    visited.fill(0);
    do {
      visited[col] = 1;
      const r = owner[col];
      let delta = Infinity;
      let next = 0;
      for (let j = 1; j <= m; j++) {
        if (visited[j]) continue;
        const reduced = a[r - 1][j - 1] - u[r] - v[j];
        if (reduced < slack[j]) {
          slack[j] = reduced;
          prevCol[j] = col;
        }
        if (slack[j] < delta) {
          delta = slack[j];
          next = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (visited[j]) {
          u[owner[j]] += delta;
          v[j] -= delta;
        } else {
          slack[j] -= delta;
        }
      }
      col = next;
    } while (owner[col] !== 0);
    while (col !== 0) {
      const p = prevCol[col];
      owner[col] = owner[p];
      col = p;
    }
  }
  const assignment = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (owner[j] !== 0) assignment[owner[j] - 1] = j - 1;
  return assignment;
}
