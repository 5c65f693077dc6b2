import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assign,
  fitMixture,
  KMeansError,
  mixtureAssign,
  mixtureFromJson,
  mixtureToJson,
  MixtureStats,
  Rng,
  VARIANCE_FLOOR,
} from '../src/index.js';

/**
 * Two 2-D groups: a tight one (sd 0.1) at the origin and a wide one (sd 1) centred at x = 1.5.
 * Returns the points, their true group and the nearest-centroid labels of the true centres.
 */
function tightAndWide(n: number, seed: number) {
  const rng = new Rng(seed);
  const x = new Float32Array(2 * n * 2);
  const truth: number[] = [];
  for (let i = 0; i < 2 * n; i++) {
    const wide = i % 2;
    const sd = wide ? 1 : 0.1;
    x[2 * i] = (wide ? 1.5 : 0) + sd * rng.gaussian();
    x[2 * i + 1] = sd * rng.gaussian();
    truth.push(wide);
  }
  const centres = new Float32Array([0, 0, 1.5, 0]);
  const nearest = Array.from(assign(x, 2 * n, 2, centres, 2).labels);
  return { x, truth, nearest, n: 2 * n };
}

/** Yields `x` (n rows of dim) in batches of `size` rows with their labels. */
function batched(x: Float32Array, n: number, dim: number, labels: number[], size: number) {
  return async function* () {
    for (let s = 0; s < n; s += size) {
      const m = Math.min(size, n - s);
      yield { x: x.subarray(s * dim, (s + m) * dim), n: m, labels: labels.slice(s, s + m) };
    }
  };
}

const agreement = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).filter((v, i) => v === b[i]).length / a.length;

describe('fitMixture', () => {
  it('recovers the spread and share of each group from hard labels', async () => {
    const { x, nearest, n } = tightAndWide(2000, 1);
    const fit = await fitMixture(2, 2, batched(x, n, 2, nearest, n));
    const m = fit.mixture;
    assert.equal(fit.converged, true);
    assert.ok(Math.abs(m.weights[0] - 0.5) < 0.05, `weight ${m.weights[0]}`);
    assert.ok(Math.abs(m.means[0]) < 0.05 && Math.abs(m.means[2] - 1.5) < 0.15);
    assert.ok(Math.abs(Math.sqrt(m.variances[0]) - 0.1) < 0.02, `tight sd ${m.variances[0]}`);
    assert.ok(Math.abs(Math.sqrt(m.variances[2]) - 1) < 0.1, `wide sd ${m.variances[2]}`);
  });

  it('puts points where k-means cannot: wide-group points close to the tight group', async () => {
    const { x, truth, nearest, n } = tightAndWide(2000, 2);
    const fit = await fitMixture(2, 2, batched(x, n, 2, nearest, n));
    const byMixture = mixtureAssign(fit.mixture, x, n).labels;
    const kmeansRight = agreement(nearest, truth);
    const mixtureRight = agreement(byMixture, truth);
    assert.ok(
      mixtureRight > kmeansRight + 0.05,
      `mixture ${mixtureRight} against nearest centre ${kmeansRight}`,
    );
  });

  it('gives the same mixture whether the data comes in one batch or many', async () => {
    const { x, nearest, n } = tightAndWide(500, 3);
    const whole = await fitMixture(2, 2, batched(x, n, 2, nearest, n));
    const shards = await fitMixture(2, 2, batched(x, n, 2, nearest, 77));
    assert.equal(whole.iterations, shards.iterations);
    whole.mixture.means.forEach((v, i) => assert.ok(Math.abs(v - shards.mixture.means[i]) < 1e-9));
  });

  it('reports every pass, stops at maxIterations, and lets the callback stop it', async () => {
    const { x, nearest, n } = tightAndWide(300, 4);
    const seen: number[] = [];
    const capped = await fitMixture(2, 2, batched(x, n, 2, nearest, n), {
      maxIterations: 2,
      tolerance: -Infinity,
      onIteration: (i, ll) => {
        assert.ok(Number.isFinite(ll));
        seen.push(i);
      },
    });
    assert.deepEqual(seen, [1, 2]);
    assert.equal(capped.converged, false);
    await assert.rejects(
      fitMixture(2, 2, batched(x, n, 2, nearest, n), {
        onIteration: () => {
          throw new Error('cancelled');
        },
      }),
      /cancelled/,
    );
  });

  it('floors variances, so a group of identical points still has a density', async () => {
    const x = new Float32Array([1, 1, 1, 1, 1, 1, 5, 5, 6, 6, 7, 7]);
    const fit = await fitMixture(2, 2, batched(x, 6, 2, [0, 0, 0, 1, 1, 1], 6));
    assert.equal(fit.mixture.variances[0], VARIANCE_FLOOR);
    const { labels, logLikelihood } = mixtureAssign(fit.mixture, x, 6);
    assert.deepEqual(Array.from(labels), [0, 0, 0, 1, 1, 1]);
    assert.ok(Number.isFinite(logLikelihood));
  });
});

describe('MixtureStats', () => {
  it('refuses a label outside 0..k-1 and an E step without a mixture', () => {
    const stats = new MixtureStats(2, 1, null);
    assert.throws(
      () => stats.addLabelled(new Float32Array([0, 1]), 2, [0, 2]),
      (e: unknown) => e instanceof KMeansError && e.code === 'KMEANS_INVALID_ARGUMENT',
    );
    assert.throws(
      () => stats.add(new Float32Array([0]), 1),
      (e: unknown) => e instanceof KMeansError && e.code === 'KMEANS_NOT_INITIALIZED',
    );
    assert.throws(() => new MixtureStats(0, 1, null), /k = 0/);
  });
});

describe('mixtureToJson / mixtureFromJson', () => {
  it('round-trips a mixture and assigns the same way after reading it back', async () => {
    const { x, nearest, n } = tightAndWide(200, 5);
    const { mixture } = await fitMixture(2, 2, batched(x, n, 2, nearest, n));
    const back = mixtureFromJson(JSON.parse(JSON.stringify(mixtureToJson(mixture))), 2);
    assert.deepEqual(
      Array.from(mixtureAssign(back, x, n).labels),
      Array.from(mixtureAssign(mixture, x, n).labels),
    );
  });

  it('says what is wrong with a damaged file', async () => {
    const { x, nearest, n } = tightAndWide(100, 6);
    const { mixture } = await fitMixture(2, 2, batched(x, n, 2, nearest, n));
    const good = mixtureToJson(mixture);
    const cases: [unknown, number, RegExp][] = [
      [null, 2, /k is missing/],
      [good, 3, /dim 2 is not the run's 3/],
      [{ ...good, weights: [1] }, 2, /weights has not 2 values/],
      [{ ...good, weights: [1, -1] }, 2, /weight is not a positive number/],
      [
        {
          ...good,
          variances: [
            [1, 1],
            [1, 0],
          ],
        },
        2,
        /variances\[1\]\[1\] is not a positive/,
      ],
      [{ ...good, means: [[1, 1]] }, 2, /means has not 2 rows/],
    ];
    for (const [json, dim, message] of cases) {
      assert.throws(
        () => mixtureFromJson(json, dim),
        (e: unknown) => e instanceof KMeansError && message.test(e.message),
        String(message),
      );
    }
  });
});
