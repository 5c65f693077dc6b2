import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunk, shuffled } from '../src/plan.js';

test('chunk keeps every key once, in shards of at most the given size', () => {
  const keys = Array.from({ length: 2503 }, (_, i) => `k${i}`);
  const shards = chunk(keys, 1000);
  assert.deepEqual(
    shards.map((s) => s.keys.length),
    [1000, 1000, 503],
  );
  assert.deepEqual(
    shards.map((s) => s.index),
    [0, 1, 2],
  );
  assert.deepEqual(
    shards.flatMap((s) => s.keys),
    keys,
  );
});

test('the shuffle is seeded and mixes families across shards', () => {
  const keys = [
    ...Array.from({ length: 500 }, (_, i) => `a/${i}`),
    ...Array.from({ length: 500 }, (_, i) => `b/${i}`),
  ];
  const mixed = shuffled(keys, 3);
  assert.deepEqual(mixed, shuffled(keys, 3));
  assert.deepEqual([...mixed].sort(), [...keys].sort());
  const firstShardA = mixed.slice(0, 250).filter((k) => k.startsWith('a/')).length;
  assert.ok(firstShardA > 90 && firstShardA < 160, `first shard has ${firstShardA} of family a`);
});
