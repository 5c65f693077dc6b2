import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiRequestError, ImgclusterClient } from '@imgcluster/client';

// A stand-in API on loopback: the first `refusals` requests answer 429 with Retry-After.
let server: Server;
let url = '';
let refusals = 0;
const seen: { auth?: string }[] = [];
before(async () => {
  server = createServer((req, res) => {
    seen.push({ auth: req.headers.authorization });
    if (refusals > 0) {
      refusals--;
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ runs: [], total: 0, next: null }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('a 429 is sent again after its Retry-After, with the same key', async () => {
  seen.length = 0;
  refusals = 2;
  const client = new ImgclusterClient(url, { apiKey: 'ick_secret' });
  const page = await client.list();
  assert.deepEqual(page.runs, []);
  assert.equal(seen.length, 3);
  assert.ok(seen.every((s) => s.auth === 'Bearer ick_secret'));
});

test('past rateLimitRetries the 429 reaches the caller as RATE_LIMITED', async () => {
  seen.length = 0;
  refusals = 5;
  const client = new ImgclusterClient(url, { rateLimitRetries: 1 });
  await assert.rejects(
    client.list(),
    (err: unknown) => err instanceof ApiRequestError && err.code === 'RATE_LIMITED',
  );
  assert.equal(seen.length, 2);
  refusals = 0;
});
