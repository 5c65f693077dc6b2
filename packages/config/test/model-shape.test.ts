import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codeShapeOf, DENSE_DEFAULTS, modelShape, runSpecSchema } from '@imgcluster/config';

const input = { bucket: 'datasets' };

test('conv codes are (size/8)² × filters[2]; dense codes are 1 × 1 × codeSize', () => {
  const conv = runSpecSchema.parse({ input, image: { size: 64 }, model: { filters: [8, 8, 4] } });
  assert.equal(conv.model.architecture, 'conv');
  assert.deepEqual(codeShapeOf(conv), [8, 8, 4]);
  assert.deepEqual(modelShape(conv.model).hidden, []);

  const dense = runSpecSchema.parse({ input, model: { architecture: 'dense' } });
  assert.deepEqual(codeShapeOf(dense), [1, 1, DENSE_DEFAULTS.codeSize]);
  assert.deepEqual(modelShape(dense.model).hidden, [...DENSE_DEFAULTS.hidden]);

  const mine = runSpecSchema.parse({
    input,
    model: { architecture: 'dense', hidden: [128, 64], codeSize: 6 },
  });
  assert.deepEqual(codeShapeOf(mine), [1, 1, 6]);
  assert.deepEqual(modelShape(mine.model).hidden, [128, 64]);
});

test('dense-only settings on a conv model, and bad widths, are refused with their path', () => {
  const cases: [unknown, string][] = [
    [{ hidden: [10] }, 'model.hidden'],
    [{ codeSize: 4 }, 'model.codeSize'],
    [{ architecture: 'dense', hidden: [] }, 'model.hidden'],
    [{ architecture: 'dense', hidden: [10, 0] }, 'model.hidden.1'],
    [{ architecture: 'dense', codeSize: 2.5 }, 'model.codeSize'],
    [{ architecture: 'mlp' }, 'model.architecture'],
  ];
  for (const [model, path] of cases) {
    const r = runSpecSchema.safeParse({ input, model });
    assert.equal(r.success, false, JSON.stringify(model));
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    assert.ok(paths.includes(path), `${JSON.stringify(model)}: ${paths.join(', ')}`);
  }
});

test('kmeans.mixture is "none" unless asked, and takes only its two values', () => {
  assert.equal(runSpecSchema.parse({ input }).kmeans.mixture, 'none');
  assert.equal(
    runSpecSchema.parse({ input, kmeans: { mixture: 'gaussian' } }).kmeans.mixture,
    'gaussian',
  );
  assert.equal(runSpecSchema.safeParse({ input, kmeans: { mixture: 'full' } }).success, false);
});

test('the dense preset: N2D-like autoencoder, raw codes, UMAP on 20,000, a mixture', () => {
  const spec = runSpecSchema.parse({ input, preset: 'dense' });
  assert.equal(spec.model.architecture, 'dense');
  assert.deepEqual(codeShapeOf(spec), [1, 1, 10]);
  assert.equal(spec.training.batchSize, 256);
  assert.equal(spec.kmeans.normalize, 'none');
  assert.equal(spec.kmeans.mixture, 'gaussian');
  assert.equal(spec.kmeans.manifold.method, 'umap');
  assert.equal(spec.kmeans.manifold.sample, 20_000);
  assert.deepEqual(runSpecSchema.parse(spec), spec);
});
