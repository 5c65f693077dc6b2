import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys: how they look, how they are hashed, and the line that configures one on the API.
 * The API keeps only the SHA-256 of each key (API_KEYS or API_KEYS_FILE, lines of
 * `tenant:hex`), so its configuration holds nothing that opens it.
 */

/** A tenant's name: 1 to 40 lower-case letters, digits and hyphens; a letter or digit first. */
export const TENANT_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** Every key starts with this, so a leaked one is easy to search for. */
export const API_KEY_PREFIX = 'ick_';

/** A new random key: the prefix and 32 random bytes in base64url (256 bits). */
export function newApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The SHA-256 of a key, as 64 lower-case hex digits: what the API is configured with. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The API_KEYS / API_KEYS_FILE entry of a key: `tenant:sha256-hex`. */
export function apiKeyEntry(tenant: string, key: string): string {
  if (!TENANT_NAME.test(tenant)) {
    throw new Error(
      `tenant ${JSON.stringify(tenant)} is not a valid name: 1 to 40 lower-case letters, ` +
        'digits and hyphens, starting with a letter or digit',
    );
  }
  return `${tenant}:${hashApiKey(key)}`;
}
