import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, fit, normalizeRows, prepareCodes } from '../src/index.js';
import { blobs, samePartition } from './helpers.js';

test('normalizeRows scales rows to unit length; zero rows stay zero', () => {
  const x = new Float32Array([3, 4, 0, 0, -1, 0, 0, 2]);
  normalizeRows(x, 4, 2);
  assert.deepEqual(Array.from(x), Array.from(new Float32Array([0.6, 0.8, 0, 0, -1, 0, 0, 1])));
  assert.throws(
    () => normalizeRows(x, 5, 2),
    (e) => e instanceof KMeansError,
  );
});

test('prepareCodes: none (or unset) is the same array, l2 a normalised copy or in place', () => {
  const x = new Float32Array([0, 2, 2, 0]);
  assert.equal(prepareCodes(x, 2, 2, 'none'), x);
  assert.equal(prepareCodes(x, 2, 2, undefined), x);
  const copy = prepareCodes(x, 2, 2, 'l2');
  assert.notEqual(copy, x);
  assert.deepEqual(Array.from(copy), [0, 1, 1, 0]);
  assert.deepEqual(Array.from(x), [0, 2, 2, 0], 'the input is untouched');
  assert.equal(prepareCodes(x, 2, 2, 'l2', true), x);
  assert.deepEqual(Array.from(x), [0, 1, 1, 0]);
});

test('on normalised codes, groups that differ only in strength merge; directions separate', () => {
  // Two directions, each at two strengths: raw k-means with k = 2 splits by strength when
  // the strengths are far apart; on unit-length codes it splits by direction.
  const { points, truth } = blobs(400, 6, 2, 3, 0.02, 1);
  const n = 400;
  const dim = 6;
  const scaled = points.slice();
  for (let i = 0; i < n; i++) {
    const s = i % 4 < 2 ? 1 : 40;
    for (let d = 0; d < dim; d++) scaled[i * dim + d] *= s;
  }
  const unit = prepareCodes(scaled, n, dim, 'l2');
  assert.ok(samePartition(truth, fit(unit, n, dim, { k: 2, seed: 0 }).labels));
  const strength = Int32Array.from({ length: n }, (_, i) => (i % 4 < 2 ? 0 : 1));
  assert.ok(samePartition(strength, fit(scaled, n, dim, { k: 2, seed: 0 }).labels));
});
