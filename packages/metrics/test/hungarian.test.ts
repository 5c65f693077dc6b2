import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsError, hungarian } from '../src/index.js';

const code = (c: string) => (e: unknown) => e instanceof MetricsError && e.code === c;

/** Minimum cost over all one-to-one assignments of min(rows, cols) pairs, by enumeration. */
function bruteForce(cost: number[][]): number {
  const rows = cost.length;
  const cols = cost[0].length;
  const used = new Array<boolean>(cols).fill(false);
  let best = Infinity;
  const go = (r: number, skipsLeft: number, acc: number) => {
    if (r === rows) {
      best = Math.min(best, acc);
      return;
    }
    if (skipsLeft > 0) go(r + 1, skipsLeft - 1, acc);
    for (let c = 0; c < cols; c++) {
      if (used[c]) continue;
      used[c] = true;
      go(r + 1, skipsLeft, acc + cost[r][c]);
      used[c] = false;
    }
  };
  go(0, Math.max(0, rows - cols), 0);
  return best;
}

/** Checks that an assignment is one-to-one, uses min(rows, cols) pairs and has the stated cost. */
function checkValid(cost: number[][], assignment: number[], total: number): void {
  const cols = cost[0].length;
  const taken = assignment.filter((c) => c >= 0);
  assert.equal(taken.length, Math.min(cost.length, cols));
  assert.equal(new Set(taken).size, taken.length);
  const sum = assignment.reduce((s, c, r) => (c >= 0 ? s + cost[r][c] : s), 0);
  assert.ok(Math.abs(sum - total) < 1e-9);
}

test('classic 3x3 example has minimum cost 5', () => {
  const cost = [
    [4, 1, 3],
    [2, 0, 5],
    [3, 2, 2],
  ];
  const r = hungarian(cost);
  assert.deepEqual(r.assignment, [1, 0, 2]);
  assert.equal(r.cost, 5);
});

test('matches brute force on random square and rectangular matrices', () => {
  let s = 99;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let trial = 0; trial < 300; trial++) {
    const rows = 1 + Math.floor(rnd() * 6);
    const cols = 1 + Math.floor(rnd() * 6);
    const integer = trial % 2 === 0;
    const cost = Array.from({ length: rows }, () =>
      Array.from({ length: cols }, () => (integer ? Math.floor(rnd() * 5) : rnd() * 100 - 50)),
    );
    const r = hungarian(cost);
    checkValid(cost, r.assignment, r.cost);
    assert.ok(Math.abs(r.cost - bruteForce(cost)) < 1e-9, `trial ${trial}`);
  }
});

test('rectangular shapes leave rows out with -1; empty input gives cost 0', () => {
  const tall = hungarian([[5], [1], [3]]);
  assert.deepEqual(tall.assignment, [-1, 0, -1]);
  assert.equal(tall.cost, 1);
  const wide = hungarian([[5, 1, 3]]);
  assert.deepEqual(wide.assignment, [1]);
  assert.deepEqual(hungarian([]), { assignment: [], cost: 0 });
  assert.deepEqual(hungarian([[], []]), { assignment: [-1, -1], cost: 0 });
});

test('maximising with negated costs', () => {
  const gain = [
    [10, 2],
    [9, 1],
    [0, 8],
  ];
  const r = hungarian(gain.map((row) => row.map((v) => -v)));
  assert.deepEqual(r.assignment, [0, -1, 1]);
  assert.equal(-r.cost, 18);
});

test('ragged or non-finite cost matrices throw coded errors', () => {
  assert.throws(() => hungarian([[1, 2], [3]]), code('METRICS_INVALID_COST'));
  assert.throws(() => hungarian([[1, NaN]]), code('METRICS_INVALID_COST'));
  assert.throws(() => hungarian([[Infinity]]), code('METRICS_INVALID_COST'));
});
