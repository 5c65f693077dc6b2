/**
 * A member's original image is a user's upload served from the API's own origin: its stored
 * content type is kept only when it names a raster image, and browsers are told not to sniff.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fabricateRun, INPUT_BUCKET, startHarness, testPng, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

test('an input stored as HTML or SVG is served as bytes, a PNG as a PNG', async () => {
  const run = await fabricateRun(h.ctx, 'default', 'served/');
  // Cluster 0 holds rows 0 and 2, nearest first: rank 0 is keys[0], rank 1 keys[2].
  const url = (rank: number) => `/v1/runs/${run.id}/clusters/0/members/${rank}/image`;

  const png = await h.app.inject({ method: 'GET', url: url(0) });
  assert.equal(png.statusCode, 200);
  assert.equal(png.headers['content-type'], 'image/png');
  assert.equal(png.headers['x-content-type-options'], 'nosniff');

  const bytes = await testPng(2);
  for (const stored of ['text/html', 'image/svg+xml', 'text/html; charset=utf-8']) {
    await h.ctx.storage.put(INPUT_BUCKET, run.keys[2], bytes, stored);
    const res = await h.app.inject({ method: 'GET', url: url(1) });
    assert.equal(res.statusCode, 200, stored);
    assert.equal(res.headers['content-type'], 'application/octet-stream', stored);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', stored);
    assert.deepEqual(res.rawPayload, bytes, 'the bytes themselves are unchanged');
  }
});
