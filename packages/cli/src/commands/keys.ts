import { apiKeyEntry, newApiKey, TENANT_NAME } from '@imgcluster/client';
import { writeLines, type Command } from '../context.js';
import { EXIT, UsageError } from '../errors.js';

/**
 * `keys create --tenant NAME`: a new random API key and its API_KEYS entry. The key goes to
 * stdout once and is kept nowhere; the entry holds only its SHA-256.
 */
export const keys: Command = async ({ io, args, options }) => {
  if (args.action !== 'create') {
    throw new UsageError(`unknown action ${JSON.stringify(args.action)}: use create`, 'keys');
  }
  const tenant = options.tenant as string;
  if (!TENANT_NAME.test(tenant)) {
    throw new UsageError(
      '--tenant must be 1 to 40 lower-case letters, digits and hyphens, ' +
        `got ${JSON.stringify(tenant)}`,
      'keys',
    );
  }
  const key = newApiKey();
  writeLines(io.stdout, [`key: ${key}`, `entry: ${apiKeyEntry(tenant, key)}`]);
  writeLines(io.stderr, [
    `Give the key to tenant ${tenant} (as IMGCLUSTER_API_KEY); it is not shown again.`,
    'Add the entry as a line of API_KEYS_FILE (or to API_KEYS) where the API runs, and',
    'restart it.',
  ]);
  return EXIT.ok;
};
