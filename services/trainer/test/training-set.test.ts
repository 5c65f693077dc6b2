import { test } from 'node:test';
import assert from 'node:assert/strict';
import { permutation, trainingShards } from '../src/training-set.js';

test('all accepted images are trained on when maxImages is unset', () => {
  const accepted = new Map([
    [2, 10],
    [0, 5],
    [1, 0],
  ]);
  assert.deepEqual(
    trainingShards(accepted, {
      training: {},
    }),
    [
      { index: 0, count: 5 },
      { index: 2, count: 10 },
    ],
  );
});

test('maxImages cuts the sample inside the last shard it reaches', () => {
  const accepted = new Map([
    [0, 100],
    [1, 100],
    [2, 100],
  ]);
  const spec = {
    training: { maxImages: 150 },
  };
  assert.deepEqual(trainingShards(accepted, spec), [
    { index: 0, count: 100 },
    { index: 1, count: 50 },
  ]);
});

test('permutation is a deterministic permutation', () => {
  const a = permutation(1000, 7);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    [...Array(1000).keys()],
  );
  assert.deepEqual(a, permutation(1000, 7));
  assert.notDeepEqual(a, permutation(1000, 8));
});
