import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeK,
  imagesNeededForK,
  kRangeForImages,
  requestedKRange,
  runSpecSchema,
} from '../src/index.js';

const kmeansOf = (kmeans: unknown) =>
  runSpecSchema.parse({ input: { bucket: 'data' }, kmeans }).kmeans;

/** The issues of a refused kmeans block, as `path: message`. */
function issues(kmeans: unknown): string[] {
  const r = runSpecSchema.safeParse({ input: { bucket: 'data' }, kmeans });
  assert.equal(r.success, false, JSON.stringify(kmeans));
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('an integer k parses as before, with no kRange', () => {
  const rest = {
    normalize: 'l2',
    manifold: { method: 'auto', dims: 10, neighbors: 15, sample: 10_000 },
    mixture: 'none',
    batchSize: 1024,
    maxSteps: 500,
    seed: 0,
  };
  assert.deepEqual(kmeansOf({ k: 7 }), { k: 7, ...rest });
  assert.deepEqual(kmeansOf(undefined), { k: 10, ...rest });
  assert.match(issues({ k: 1 })[0], /^kmeans\.k: /);
  assert.match(issues({ k: 1001 })[0], /^kmeans\.k: /);
  assert.deepEqual(issues({ k: 'AUTO' }), [
    'kmeans.k: must be an integer from 2 to 1000, or "auto"',
  ]);
});

test('k "auto" takes an optional kRange whose ends default to 2 and 20', () => {
  assert.deepEqual(kmeansOf({ k: 'auto' }).kRange, undefined);
  assert.deepEqual(kmeansOf({ k: 'auto', kRange: {} }).kRange, { min: 2, max: 20 });
  assert.deepEqual(kmeansOf({ k: 'auto', kRange: { max: 40 } }).kRange, { min: 2, max: 40 });
  assert.deepEqual(kmeansOf({ k: 'auto', kRange: { min: 5, max: 5 } }).kRange, {
    min: 5,
    max: 5,
  });
});

test('a bad kRange is refused naming the field', () => {
  assert.match(issues({ k: 'auto', kRange: { min: 1 } })[0], /^kmeans\.kRange\.min: /);
  assert.match(issues({ k: 'auto', kRange: { max: 1001 } })[0], /^kmeans\.kRange\.max: /);
  assert.match(issues({ k: 'auto', kRange: { min: 2.5 } })[0], /^kmeans\.kRange\.min: /);
  assert.deepEqual(issues({ k: 'auto', kRange: { min: 9, max: 4 } }), [
    'kmeans.kRange.max: kRange.max (20 unless given) must be at least kRange.min',
  ]);
  assert.deepEqual(issues({ k: 'auto', kRange: { min: 2, max: 52 } }), [
    'kmeans.kRange.max: kRange may cover at most 50 values of k (each costs three fits)',
  ]);
  const widest = { input: { bucket: 'data' }, kmeans: { k: 'auto', kRange: { min: 2, max: 51 } } };
  assert.equal(runSpecSchema.safeParse(widest).success, true);
  assert.deepEqual(issues({ k: 'auto', kRange: { min: 2, max: 4, step: 1 } }).length, 1);
  assert.deepEqual(issues({ k: 8, kRange: { min: 2, max: 4 } }), [
    'kmeans.kRange: kRange is only used with k "auto"',
  ]);
});

test('what a k setting needs and how messages name it', () => {
  const auto = kmeansOf({ k: 'auto' });
  const ranged = kmeansOf({ k: 'auto', kRange: { min: 4, max: 30 } });
  const fixed = kmeansOf({ k: 12 });
  assert.deepEqual(requestedKRange(auto), { min: 2, max: 20 });
  assert.equal(imagesNeededForK(fixed), 12);
  assert.equal(imagesNeededForK(auto), 3);
  assert.equal(imagesNeededForK(ranged), 5);
  assert.equal(describeK(fixed), 'k = 12');
  assert.equal(describeK(auto), 'k = auto (2..20)');
  assert.equal(describeK(ranged), 'k = auto (4..30)');
  assert.deepEqual(kRangeForImages(auto, 1000), { min: 2, max: 20 });
  assert.deepEqual(kRangeForImages(auto, 10), { min: 2, max: 9 });
  assert.deepEqual(kRangeForImages(auto, 3), { min: 2, max: 2 });
  assert.equal(kRangeForImages(auto, 2), null);
  assert.equal(kRangeForImages(ranged, 4), null);
});
