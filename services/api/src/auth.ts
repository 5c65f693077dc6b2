import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TENANT_NAME } from '@imgcluster/client';
import { ConfigError, type Env } from '@imgcluster/config';
import { DEFAULT_TENANT } from '@imgcluster/queues';
import { ApiError } from './errors.js';

/**
 * API keys and tenants. Keys are configured as `tenant:sha256-hex` entries (API_KEYS,
 * API_KEYS_FILE); a request names its key with `Authorization: Bearer <key>` and acts for the
 * key's tenant. With no keys configured the API is open and every request acts for
 * DEFAULT_TENANT. Only /v1 routes need a key: /healthz, /readyz, /metrics and /docs stay
 * open, and /admin/queues has its own credential (ADMIN_PASSWORD).
 */

/** One configured key: its tenant, the SHA-256 of the key, and a short id for rate limits. */
export interface ApiKeyEntry {
  tenant: string;
  hash: Buffer;
  /** The first 16 hex digits of the hash: names the credential without revealing it. */
  id: string;
}

/** Who a request acts for. */
export interface Caller {
  tenant: string;
  /** What rate limits count by: `key:<id>` for a key, `ip:<address>` while the API is open. */
  credential: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every request (the default tenant on open routes). */
    caller: Caller;
  }
}

const ENTRY = /^([^:\s]+):([0-9a-fA-F]{64})$/;

/**
 * Reads key entries from text: entries separated by commas, spaces or new lines, `#` to the
 * end of a line a comment. A malformed entry throws ConfigError naming `source` and the
 * entry's line, never its content.
 */
export function parseApiKeys(text: string, source: string): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  for (const [n, line] of text.split(/\r?\n/).entries()) {
    for (const item of line.replace(/#.*/, '').split(/[\s,]+/)) {
      if (item === '') continue;
      const match = ENTRY.exec(item);
      if (!match || !TENANT_NAME.test(match[1])) {
        throw new ConfigError(
          `${source}, line ${n + 1}: an entry is not tenant:sha256-hex (tenant: lower-case ` +
            'letters, digits and hyphens; the hash: 64 hex digits, ' +
            'as `imgcluster keys create` prints)',
        );
      }
      const hex = match[2].toLowerCase();
      entries.push({ tenant: match[1], hash: Buffer.from(hex, 'hex'), id: hex.slice(0, 16) });
    }
  }
  return entries;
}

/** The keys of API_KEYS and API_KEYS_FILE together; a key listed for two tenants is refused. */
export async function loadApiKeys(env: Pick<Env, 'API_KEYS' | 'API_KEYS_FILE'>) {
  const entries = parseApiKeys(env.API_KEYS, 'API_KEYS');
  if (env.API_KEYS_FILE !== '') {
    let text: string;
    try {
      text = await readFile(env.API_KEYS_FILE, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      throw new ConfigError(`API_KEYS_FILE: cannot read ${env.API_KEYS_FILE}: ${code}`);
    }
    entries.push(...parseApiKeys(text, `API_KEYS_FILE ${env.API_KEYS_FILE}`));
  }
  const owners = new Map<string, string>();
  for (const e of entries) {
    const hex = e.hash.toString('hex');
    const owner = owners.get(hex);
    if (owner !== undefined && owner !== e.tenant) {
      throw new ConfigError(`API_KEYS: one key is listed for tenants ${owner} and ${e.tenant}`);
    }
    owners.set(hex, e.tenant);
  }
  return new ApiKeyring(entries);
}

/** The configured keys; empty means the API is open. */
export class ApiKeyring {
  constructor(readonly entries: readonly ApiKeyEntry[]) {}

  /** True when no key is configured: every request acts for DEFAULT_TENANT. */
  get open(): boolean {
    return this.entries.length === 0;
  }

  /** The tenants that have keys, sorted. */
  get tenants(): string[] {
    return [...new Set(this.entries.map((e) => e.tenant))].sort();
  }

  /**
   * The entry of a presented key, or undefined. The key's SHA-256 is compared with every
   * entry in constant time and without stopping at a match, so the time taken says nothing
   * about which entry matched, or how much of one.
   */
  find(key: string): ApiKeyEntry | undefined {
    const given = createHash('sha256').update(key, 'utf8').digest();
    let found: ApiKeyEntry | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(given, entry.hash) && found === undefined) found = entry;
    }
    return found;
  }
}

/** True for requests that need a key: every /v1 route (and unknown paths under /v1). */
export function needsKey(request: FastifyRequest): boolean {
  const path = request.routeOptions.url ?? request.url.split('?')[0];
  return path === '/v1' || path.startsWith('/v1/');
}

const BEARER = /^Bearer +([\x21-\x7e]{1,512}) *$/i;

/**
 * Adds the hook that sets `request.caller` on every request and refuses /v1 requests without
 * a valid key (401 API_KEY_REQUIRED or API_KEY_INVALID) when keys are configured.
 */
export function registerAuth(app: FastifyInstance, keyring: ApiKeyring): void {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request, reply) => {
    if (keyring.open || !needsKey(request)) {
      request.caller = { tenant: DEFAULT_TENANT, credential: `ip:${request.ip}` };
      return;
    }
    const header = request.headers.authorization;
    void reply.header('www-authenticate', 'Bearer realm="imgcluster"');
    if (header === undefined || header === '') {
      throw new ApiError(
        'API_KEY_REQUIRED',
        'this API needs a key: send Authorization: Bearer <key> (IMGCLUSTER_API_KEY for the CLI)',
        [{ path: 'headers.authorization', message: 'missing' }],
      );
    }
    const match = BEARER.exec(header);
    const entry = match ? keyring.find(match[1]) : undefined;
    if (!entry) {
      throw new ApiError(
        'API_KEY_INVALID',
        match ? 'the API key is not valid' : 'the Authorization header is not Bearer <key>',
        [{ path: 'headers.authorization', message: match ? 'unknown key' : 'not Bearer <key>' }],
      );
    }
    reply.removeHeader('www-authenticate');
    request.caller = { tenant: entry.tenant, credential: `key:${entry.id}` };
  });
}

/**
 * Where a tenant's objects live in the input buckets: with keys configured, each tenant's keys
 * start with `<tenant>/` (its root), so one tenant's uploads, runs and assignments can name
 * only its own objects; while the API is open there is no such rule (undefined).
 */
export function tenantRoot(keyring: ApiKeyring, caller: Caller): string | undefined {
  return keyring.open ? undefined : `${caller.tenant}/`;
}

/**
 * Refuses an object key or key prefix outside the caller's root (403 OUTSIDE_TENANT_PREFIX,
 * naming the field). The check depends only on the caller and the value, so the answer
 * tells nothing about other tenants' objects.
 */
export function checkInTenantRoot(
  root: string | undefined,
  value: string,
  path: string,
  what = 'object keys',
): void {
  if (root === undefined || value.startsWith(root)) return;
  throw new ApiError(
    'OUTSIDE_TENANT_PREFIX',
    `with this API key, ${what} must start with ${JSON.stringify(root)}`,
    [{ path, message: `must start with ${JSON.stringify(root)}` }],
  );
}
