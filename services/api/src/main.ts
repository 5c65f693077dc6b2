import { createContext } from '@imgcluster/runtime';
import { buildApp } from './app.js';

// The REST API: submit, poll, cancel and download. It only enqueues work and reads status.
const ctx = createContext('api');
await ctx.storage.ensureBucket(ctx.bucket);
const app = await buildApp(ctx);
ctx.beforeClose.push(() => app.close());
const address = await app.listen({ port: ctx.env.API_PORT, host: ctx.env.API_HOST });
ctx.log.info({ address }, 'api listening');
