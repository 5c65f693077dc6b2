import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSpecSchema } from '@imgcluster/config';
import { scoreAgainst } from '../src/scores.js';
import { renderReport } from '../src/report.js';

test('scores skip unlabelled keys and count each cluster’s labels', () => {
  const rows = [
    { key: 'a', cluster: 0, distance: 1 },
    { key: 'b', cluster: 0, distance: 1 },
    { key: 'c', cluster: 1, distance: 1 },
    { key: 'd', cluster: 1, distance: 1 },
    { key: 'x', cluster: 1, distance: 1 },
  ];
  const s = scoreAgainst({ a: 'cat', b: 'cat', c: 'dog', d: 'dog' }, rows, 2)!;
  assert.equal(s.labelled, 4);
  assert.ok(Math.abs(s.nmi - 1) < 1e-12);
  assert.ok(Math.abs(s.accuracy - 1) < 1e-12);
  assert.deepEqual(s.composition, [{ cat: 2 }, { dog: 2 }]);
  assert.equal(scoreAgainst({}, rows, 2), undefined);
});

const pic = (path: string) => ({ path, width: 96, height: 96 });

function reportOf(k: number, extra: Partial<Parameters<typeof renderReport>[0]> = {}) {
  return renderReport({
    runId: 'run_abc123',
    spec: runSpecSchema.parse({ input: { bucket: 'data' } }),
    images: 3 * k,
    rejected: [{ key: '<script>x.png', reason: 'corrupt', message: 'truncated' }],
    stageSeconds: { plan: 0.1, cluster: undefined },
    training: {
      backend: 'wasm',
      trainImages: 3 * k,
      epochs: [
        { epoch: 1, loss: 0.2, seconds: 1, images: 3 * k },
        { epoch: 2, loss: 0.1, seconds: 1, images: 3 * k },
      ],
    },
    kmeans: { steps: 10, stopReason: 'converged', fitSeconds: 1 },
    inertia: 3,
    clusters: Array.from({ length: k }, (_, index) => ({
      index,
      size: 3,
      meanDistance: 1,
      samples: pic(`clusters/${index}-samples.png`),
      attention: pic(`clusters/${index}-attention.png`),
      decoded: pic(`clusters/${index}-decoded.png`),
      labels: { '<b>boot</b>': 2, shirt: 1 },
    })),
    examples: [
      {
        key: 'in/a.png',
        cluster: 0,
        distance: 0.5,
        input: pic('examples/00-input.png'),
        reconstruction: pic('examples/00-reconstruction.png'),
        attention: pic('examples/00-attention.png'),
      },
    ],
    ...extra,
  });
}

test('the report names every picture by its artifact path, lazily loaded, and escapes text', () => {
  const html = reportOf(2);
  const imgs = html.match(/<img [^>]*>/g) ?? [];
  assert.equal(imgs.length, 2 * 3 + 3);
  for (const tag of imgs) {
    assert.match(tag, /loading="lazy"/);
    assert.match(tag, /width="96" height="96"/);
    assert.match(tag, /src="(clusters|examples)\/[^"]+\.png"/);
  }
  assert.ok(!html.includes('<script>') && !html.includes('<b>boot</b>'));
  assert.ok(html.includes('majority <b>&#60;b&#62;boot&#60;/b&#62;</b> 67%'));
  assert.equal(html.match(/<rect class="bar"/g)?.length, 2);
  assert.ok(html.includes('id="loss-chart"'));
  assert.ok(!html.includes('id="k-chart"'), 'no k-selection curve when k was given');
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'the report loads nothing from elsewhere');
});

test('the report shows the k-selection curve, and stays small at 200 clusters', () => {
  const html = reportOf(200, {
    kSelection: {
      chosen: 12,
      criterion: 'silhouette',
      curve: [8, 12, 16].map((k) => ({ k, score: 1 / k })),
    },
  });
  assert.ok(html.includes('id="k-chart"'));
  assert.equal(html.match(/<rect class="bar"/g)?.length, 200);
  assert.equal(html.match(/<article class="card"/g)?.length, 200);
  // Pictures are separate files: the page itself stays a few hundred KB at most.
  assert.ok(html.length < 400_000, `${html.length} characters`);
});
