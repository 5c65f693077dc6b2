import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTO_MANIFOLD_MAX_DIM, manifoldFor, PRESETS, runSpecSchema } from '@imgcluster/config';

const input = { bucket: 'datasets' };

test('a preset fills in its settings; settings given beside it win', () => {
  const spec = runSpecSchema.parse({ input, preset: 'quality' });
  assert.equal(spec.preset, 'quality');
  assert.equal(spec.kmeans.manifold.sample, PRESETS.quality.kmeans.manifold.sample);
  assert.equal(spec.kmeans.manifold.method, 'umap');
  assert.equal(spec.kmeans.manifold.dims, 10, 'what the preset does not set keeps its default');
  assert.equal(spec.kmeans.k, 10);

  const mine = runSpecSchema.parse({
    input,
    preset: 'quality',
    training: { epochs: 2 },
    kmeans: { normalize: 'none', manifold: { method: 'none' } },
  });
  assert.equal(mine.training.epochs, 2);
  assert.equal(mine.kmeans.normalize, 'none');
  assert.equal(mine.kmeans.manifold.method, 'none');
  assert.equal(
    mine.kmeans.manifold.sample,
    PRESETS.quality.kmeans.manifold.sample,
    'a sibling the spec leaves out still comes from the preset',
  );
  // A stored spec parses to itself: the preset changes nothing the second time.
  assert.deepEqual(runSpecSchema.parse(mine), mine);
});

test('the default preset is the defaults; no preset is the same', () => {
  const named = runSpecSchema.parse({ input, preset: 'default' });
  const { preset, ...rest } = named;
  assert.equal(preset, 'default');
  assert.deepEqual(rest, runSpecSchema.parse({ input }));
});

test('an unknown preset is refused, naming the field', () => {
  const r = runSpecSchema.safeParse({ input, preset: 'fastest' });
  assert.equal(r.success, false);
  assert.deepEqual(r.error!.issues[0].path, ['preset']);
  const poisoned = JSON.parse('{"input":{"bucket":"b"},"preset":"quality","__proto__":{"x":1}}');
  const p = runSpecSchema.safeParse(poisoned);
  assert.equal(p.success, false, 'an own __proto__ key is an unknown key');
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test('manifold "auto" lays out codes up to AUTO_MANIFOLD_MAX_DIM floats, "umap" any', () => {
  const kmeans = runSpecSchema.parse({ input }).kmeans;
  assert.equal(kmeans.manifold.method, 'auto');
  assert.equal(manifoldFor(kmeans, 128), true);
  assert.equal(manifoldFor(kmeans, AUTO_MANIFOLD_MAX_DIM), true);
  assert.equal(manifoldFor(kmeans, AUTO_MANIFOLD_MAX_DIM + 1), false);
  const umap = { ...kmeans, manifold: { ...kmeans.manifold, method: 'umap' as const } };
  assert.equal(manifoldFor(umap, 2888), true);
  const none = { ...kmeans, manifold: { ...kmeans.manifold, method: 'none' as const } };
  assert.equal(manifoldFor(none, 128), false);
  // A spec stored before the setting existed has no manifold.
  const { manifold: _, ...older } = kmeans;
  assert.equal(manifoldFor(older as typeof kmeans, 128), false);
});
