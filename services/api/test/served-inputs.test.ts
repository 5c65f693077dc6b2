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

test('a key the storage server refuses is a 400 naming the key, and storage keeps serving', async () => {
  // The local server's file names cap a key segment at 233 bytes; the API allows 255.
  const res = await h.app.inject({
    method: 'PUT',
    url: `/v1/uploads/${INPUT_BUCKET}/long/${'x'.repeat(250)}.png`,
    payload: await testPng(1),
    headers: { 'content-type': 'image/png' },
  });
  assert.equal(res.statusCode, 400, res.body);
  const error = JSON.parse(res.body).error;
  assert.equal(error.code, 'VALIDATION_FAILED');
  assert.equal(error.issues[0].path, 'params.key');
  const ok = await h.app.inject({
    method: 'PUT',
    url: `/v1/uploads/${INPUT_BUCKET}/long/short.png`,
    payload: await testPng(1),
    headers: { 'content-type': 'image/png' },
  });
  assert.equal(ok.statusCode, 201, ok.body);
});

test('with object storage down, routes that read it answer 503 STORAGE_UNAVAILABLE', async () => {
  const run = await fabricateRun(h.ctx, 'default', 'outage/');
  // Fewer retries, so each request gives up quickly once the server is gone.
  const quick = await h.another({ S3_MAX_ATTEMPTS: '1', S3_TIMEOUT_MS: '2000' });
  await h.s3.stop();
  for (const url of [
    `/v1/runs/${run.id}/artifacts`,
    `/v1/runs/${run.id}/artifacts/spec.json`,
    `/v1/runs/${run.id}/report`,
    `/v1/runs/${run.id}/clusters`,
    `/v1/runs/${run.id}/clusters/0/members`,
    `/v1/runs/${run.id}/clusters/0/members/0/image`,
    `/v1/runs/${run.id}/clusters/0/members/0/thumbnail`,
  ]) {
    const res = await quick.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 503, `${url}: ${res.body}`);
    assert.equal(JSON.parse(res.body).error.code, 'STORAGE_UNAVAILABLE', url);
  }
  const assign = await quick.app.inject({
    method: 'POST',
    url: `/v1/runs/${run.id}/assign`,
    payload: { keys: [run.keys[0]] },
  });
  assert.equal(assign.statusCode, 503, assign.body);
});
