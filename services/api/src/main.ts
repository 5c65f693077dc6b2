import { createContext } from '@imgcluster/runtime';
import { buildApp } from './app.js';

// The REST API: submit, poll, cancel and download. It only enqueues work and reads status.
const ctx = await createContext('api');
await ctx.storage.ensureBucket(ctx.bucket);
// Runs recorded before runs had tenants belong to the default tenant (a no-op once done).
const adopted = await ctx.store.adoptUntenantedRuns();
if (adopted > 0) ctx.log.info({ runs: adopted }, 'runs without a tenant given to "default"');
const app = await buildApp(ctx);
ctx.beforeClose.push(() => app.close());
const address = await app.listen({ port: ctx.env.API_PORT, host: ctx.env.API_HOST });
ctx.log.info({ address }, 'api listening');
