/**
 * Tenant isolation: two tenants with API keys, each with uploads, a queued run, a succeeded
 * run and a queued assignment. Every /v1 route that names a run answers the other tenant's
 * ids with 404, word for word as for an id that does not exist, and changes nothing; the run
 * list shows each tenant only its own runs, page by page; uploads, run inputs and assigned
 * keys stay under the tenant's own prefix. Against a real redis-server and S3 server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiKeyEntry, newApiKey } from '@imgcluster/client';
import { API_ROUTES, fastifyUrl, type RouteDoc } from '../src/openapi.js';
import { errorBodySchema } from '../src/response-schemas.js';
import {
  bearer,
  fabricateRun,
  INPUT_BUCKET,
  jobPayloads,
  startHarness,
  testPng,
  type FabricatedRun,
  type Harness,
} from './harness.js';

const TENANTS = ['acme', 'globex'] as const;
type Tenant = (typeof TENANTS)[number];

/** What one tenant owns. */
interface Owned {
  key: string;
  queued: string;
  done: FabricatedRun;
  assignment: string;
}

let h: Harness;
const owned = {} as Record<Tenant, Owned>;

before(async () => {
  const keys = { acme: newApiKey(), globex: newApiKey() };
  h = await startHarness({
    API_KEYS: TENANTS.map((t) => apiKeyEntry(t, keys[t])).join(','),
    ASSIGN_SYNC_MAX: '1',
  });
  for (const tenant of TENANTS) {
    const auth = bearer(keys[tenant]);
    for (const n of [0, 1, 2]) {
      const put = await h.app.inject({
        method: 'PUT',
        url: `/v1/uploads/${INPUT_BUCKET}/${tenant}/photos/${n}.png`,
        headers: { ...auth, 'content-type': 'image/png' },
        payload: await testPng(n),
      });
      assert.equal(put.statusCode, 201, put.body);
    }
    const submitted = await h.app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: auth,
      payload: { input: { bucket: INPUT_BUCKET, prefix: `${tenant}/photos/` } },
    });
    assert.equal(submitted.statusCode, 202, submitted.body);
    const done = await fabricateRun(h.ctx, tenant, `${tenant}/done/`);
    // Two keys with ASSIGN_SYNC_MAX 1: queued as an assignment (no worker takes it here).
    const queued = await h.app.inject({
      method: 'POST',
      url: `/v1/runs/${done.id}/assign`,
      headers: auth,
      payload: { keys: done.keys.slice(0, 2) },
    });
    assert.equal(queued.statusCode, 202, queued.body);
    owned[tenant] = {
      key: keys[tenant],
      queued: submitted.json().id,
      done,
      assignment: queued.json().assignment,
    };
  }
});

after(() => h?.stop());

/** The URL of a documented route with every path parameter filled in. */
function urlOf(route: RouteDoc, ids: Record<string, string>): string {
  return fastifyUrl(route).replace(/:([a-z]+)|\*/g, (_, name: string | undefined) => {
    const value = ids[name ?? route.rest!];
    assert.ok(value !== undefined, `no value for ${name ?? route.rest} in ${route.path}`);
    return value;
  });
}

/** Parameters naming what `tenant` owns, for every route. */
function idsOf(tenant: Tenant, run: 'queued' | 'done'): Record<string, string> {
  const o = owned[tenant];
  return {
    id: run === 'queued' ? o.queued : o.done.id,
    c: '0',
    rank: '0',
    aid: o.assignment,
    path: 'manifest.json',
    key: `${tenant}/photos/0.png`,
    bucket: INPUT_BUCKET,
  };
}

/** A body each route would accept from the run's owner. */
function bodyFor(route: RouteDoc, tenant: Tenant): Record<string, unknown> | undefined {
  if (route.operationId === 'assignImages') return { keys: [owned[tenant].done.keys[0]] };
  return undefined;
}

/** The same answer with the ids taken out: "no run X" and "no run Y" read alike. */
function shape(body: string, ...ids: string[]): unknown {
  let text = body;
  for (const id of ids) text = text.split(id).join('<id>');
  return JSON.parse(text);
}

const runRoutes = API_ROUTES.filter((r) => r.path.startsWith('/v1/runs/{id}'));

describe('another tenant’s ids answer like missing ones', () => {
  test('every route that names a run: 404 as for a missing id, for both runs', async () => {
    assert.ok(runRoutes.length >= 13, `${runRoutes.length} run routes`);
    const missing = 'run_zzzzzzzzzzzzzz';
    for (const [me, them] of [
      ['acme', 'globex'],
      ['globex', 'acme'],
    ] as [Tenant, Tenant][]) {
      for (const run of ['queued', 'done'] as const) {
        for (const route of runRoutes) {
          const theirs = idsOf(them, run);
          const request = {
            method: route.method.toUpperCase() as 'GET',
            headers: bearer(owned[me].key),
            ...(bodyFor(route, me) ? { payload: bodyFor(route, me) } : {}),
          };
          const res = await h.app.inject({ ...request, url: urlOf(route, theirs) });
          const ref = await h.app.inject({
            ...request,
            url: urlOf(route, { ...theirs, id: missing }),
          });
          const what = `${me} ${route.method} ${route.path} on ${them}'s ${run} run`;
          assert.equal(res.statusCode, 404, `${what}: ${res.body}`);
          assert.equal(errorBodySchema.parse(res.json()).error.code, 'RUN_NOT_FOUND', what);
          assert.deepEqual(shape(res.body, theirs.id), shape(ref.body, missing), what);
          assert.deepEqual(
            Object.keys(res.headers).sort(),
            Object.keys(ref.headers).sort(),
            `${what}: headers`,
          );
        }
      }
    }
  });

  test('the owner reaches the same URLs (so the ids above were real)', async () => {
    for (const tenant of TENANTS) {
      for (const route of runRoutes) {
        if (route.method === 'delete' || route.operationId === 'retryRun') continue;
        const ids = idsOf(tenant, 'done');
        const res = await h.app.inject({
          method: route.method.toUpperCase() as 'GET',
          url: urlOf(route, ids),
          headers: bearer(owned[tenant].key),
          ...(bodyFor(route, tenant) ? { payload: bodyFor(route, tenant) } : {}),
        });
        const what = `${tenant} ${route.method} ${route.path}`;
        // The queued assignment has no results yet: 409, not 404.
        const expected = route.operationId === 'getAssignmentResults' ? 409 : 200;
        assert.equal(res.statusCode, expected, `${what}: ${res.body.slice(0, 300)}`);
      }
    }
  });

  test('nothing the other tenant sent changed a run', async () => {
    for (const tenant of TENANTS) {
      const queued = await h.ctx.store.get(owned[tenant].queued);
      assert.equal(queued?.state, 'queued', `${tenant}'s queued run was not cancelled`);
      assert.equal(queued?.tenant, tenant);
      const done = await h.ctx.store.get(owned[tenant].done.id);
      assert.equal(done?.state, 'succeeded');
    }
  });
});

describe('the run list', () => {
  test('shows each tenant only its own runs, on every page', async () => {
    // Three more runs each, submitted in turns, so the tenants' runs interleave in time.
    for (let n = 0; n < 3; n++) {
      for (const tenant of TENANTS) {
        const res = await h.app.inject({
          method: 'POST',
          url: '/v1/runs',
          headers: bearer(owned[tenant].key),
          payload: {
            name: `${tenant}-${n}`,
            input: { bucket: INPUT_BUCKET, prefix: `${tenant}/` },
          },
        });
        assert.equal(res.statusCode, 202, res.body);
      }
    }
    for (const tenant of TENANTS) {
      const mine = new Set(
        [owned[tenant].queued, owned[tenant].done.id].concat(
          (await h.ctx.store.list(undefined, 100, tenant)).ids,
        ),
      );
      assert.equal(mine.size, 5);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { statusCode: number; body: string; json(): unknown } = await h.app.inject({
          method: 'GET',
          url: `/v1/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          headers: bearer(owned[tenant].key),
        });
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json() as { runs: { id: string }[]; total: number; next: string | null };
        assert.equal(page.total, 5, `${tenant}: total counts only its runs`);
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.next;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.deepEqual(new Set(seen), mine, `${tenant} sees exactly its runs`);
      assert.equal(seen.length, 5, 'no run twice');
      assert.equal(pages, 3);
    }
  });
});

describe('objects stay under the tenant’s prefix', () => {
  const acme = () => bearer(owned.acme.key);

  const expectOutside = (res: { statusCode: number; body: string }, path: string) => {
    assert.equal(res.statusCode, 403, res.body);
    const body = errorBodySchema.parse(JSON.parse(res.body));
    assert.equal(body.error.code, 'OUTSIDE_TENANT_PREFIX');
    assert.equal(body.error.issues?.[0].path, path);
    assert.match(body.error.message, /must start with "acme\/"/);
  };

  test('uploads and listings', async () => {
    for (const key of ['globex/photos/9.png', 'acmex/9.png', 'photos/9.png']) {
      const res = await h.app.inject({
        method: 'PUT',
        url: `/v1/uploads/${INPUT_BUCKET}/${key}`,
        headers: acme(),
        payload: 'x',
      });
      expectOutside(res, 'params.key');
      assert.equal(await h.ctx.storage.exists(INPUT_BUCKET, key), false);
    }
    for (const prefix of ['globex/', '', 'acme']) {
      const res = await h.app.inject({
        method: 'GET',
        url: `/v1/uploads/${INPUT_BUCKET}?prefix=${encodeURIComponent(prefix)}`,
        headers: acme(),
      });
      expectOutside(res, 'query.prefix');
    }
    const own = await h.app.inject({
      method: 'GET',
      url: `/v1/uploads/${INPUT_BUCKET}?prefix=acme/photos/`,
      headers: acme(),
    });
    assert.equal(own.statusCode, 200);
    assert.deepEqual(
      own.json().objects.map((o: { key: string }) => o.key),
      ['acme/photos/0.png', 'acme/photos/1.png', 'acme/photos/2.png'],
    );
  });

  test('a run cannot read another tenant’s objects', async () => {
    const submit = (payload: object) =>
      h.app.inject({ method: 'POST', url: '/v1/runs', headers: acme(), payload });
    expectOutside(
      await submit({ input: { bucket: INPUT_BUCKET, prefix: 'globex/photos/' } }),
      'body.input.prefix',
    );
    expectOutside(await submit({ input: { bucket: INPUT_BUCKET } }), 'body.input.prefix');
    expectOutside(
      await submit({ input: { bucket: INPUT_BUCKET, prefix: 'acme' } }),
      'body.input.prefix',
    );
    expectOutside(
      await submit({
        input: { bucket: INPUT_BUCKET, prefix: 'acme/photos/' },
        labels: { key: 'globex/labels.json' },
      }),
      'body.labels.key',
    );
    const dots = await submit({ input: { bucket: INPUT_BUCKET, prefix: 'acme/../globex/' } });
    assert.equal(dots.statusCode, 400);
    assert.equal(dots.json().error.issues[0].path, 'body.input.prefix');
    const artifacts = await submit({ input: { bucket: h.ctx.bucket, prefix: 'acme/' } });
    assert.equal(artifacts.statusCode, 400);
    assert.equal(artifacts.json().error.issues[0].path, 'body.input.bucket');
  });

  test('assigning keys: only the tenant’s own objects', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/runs/${owned.acme.done.id}/assign`,
      headers: acme(),
      payload: { keys: [owned.acme.done.keys[0], owned.globex.done.keys[0]] },
    });
    expectOutside(res, 'body.keys.1');
  });
});

describe('queued work', () => {
  test('job payloads in Redis carry object keys, never image bytes', async () => {
    // Three files with ASSIGN_SYNC_MAX 1: stored first, then queued by key.
    const form = (await Promise.all([0, 1, 2].map((n) => testPng(n)))).map((png, n) => [
      Buffer.from(
        `--b\r\nContent-Disposition: form-data; name="images"; filename="f${n}.png"\r\n` +
          'Content-Type: image/png\r\n\r\n',
      ),
      png,
      Buffer.from('\r\n'),
    ]);
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/runs/${owned.acme.done.id}/assign`,
      headers: { ...bearer(owned.acme.key), 'content-type': 'multipart/form-data; boundary=b' },
      payload: Buffer.concat([...form.flat(), Buffer.from('--b--\r\n')]),
    });
    assert.equal(res.statusCode, 202, res.body);
    const assignment = res.json().assignment as string;

    const payloads = await jobPayloads(h.ctx);
    assert.ok(payloads.size >= 5, `${payloads.size} jobs`);
    for (const [key, data] of payloads) {
      assert.ok(data.length < 4096, `${key}: ${data.length} bytes of job data`);
      assert.ok(!/iVBORw0KGgo|\\u0089PNG|"type":"Buffer"/.test(data), `${key} holds image bytes`);
    }
    const job = [...payloads].find(([k]) => k.includes(assignment));
    assert.ok(job, 'the assign job is queued');
    const inputs = JSON.parse(job[1]).inputs as { bucket: string; key: string; name: string }[];
    assert.deepEqual(
      inputs.map((i) => i.name),
      ['f0.png', 'f1.png', 'f2.png'],
    );
    for (const input of inputs) {
      assert.deepEqual(Object.keys(input).sort(), ['bucket', 'key', 'name']);
      assert.ok(await h.ctx.storage.exists(input.bucket, input.key), input.key);
    }
  });
});
