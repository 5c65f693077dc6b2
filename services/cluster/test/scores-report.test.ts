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

test('the report embeds every picture and escapes keys', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
  const html = renderReport({
    runId: 'run_abc123',
    spec: runSpecSchema.parse({ input: { bucket: 'data' } }),
    images: 3,
    rejected: [{ key: '<script>x.png', reason: 'corrupt', message: 'truncated' }],
    stageSeconds: { plan: 0.1, cluster: undefined },
    losses: [0.2, 0.1],
    inertia: 3,
    clusters: [0, 1].map((index) => ({
      index,
      size: 1,
      meanDistance: 1,
      samples: png,
      attention: png,
      decoded: png,
    })),
  });
  assert.equal(html.match(/data:image\/png;base64,/g)?.length, 6);
  assert.ok(!html.includes('<script>'));
  assert.ok(html.includes('id="size-chart"') && html.includes('id="loss-chart"'));
  assert.ok(!/src="http/.test(html), 'the report loads nothing from elsewhere');
});
