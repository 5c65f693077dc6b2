import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

/**
 * Where secrets can turn up in a log line, for pino's redaction: credentials and passwords
 * at the top level or one level down (a logged config or options object), and the request
 * headers that carry credentials. Keep it in step with what services log; maskSecrets()
 * covers whole configuration objects by variable name.
 */
export const REDACT_PATHS = [
  'S3_SECRET_ACCESS_KEY',
  '*.S3_SECRET_ACCESS_KEY',
  'secretAccessKey',
  '*.secretAccessKey',
  'ADMIN_PASSWORD',
  '*.ADMIN_PASSWORD',
  'API_KEYS',
  '*.API_KEYS',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
];

/** Paths whose values are URLs that may carry a password (redis://user:pass@host). */
const URL_PATHS = ['REDIS_URL', '*.REDIS_URL', 'redisUrl', '*.redisUrl'];

/**
 * The one logger factory: JSON lines on stdout (or `destination`), one event per line, with
 * the service name and an ISO time. Services make child loggers per job carrying runId,
 * stage and shard. Secrets at REDACT_PATHS are replaced with "[redacted]" and passwords in
 * Redis URLs are masked.
 */
export function createLogger(
  service: string,
  level = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [...REDACT_PATHS, ...URL_PATHS],
      censor: (value: unknown, path: string[]) => (isUrlPath(path) ? maskUrl(value) : REDACTED),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

function isUrlPath(path: string[]): boolean {
  const last = path.at(-1) ?? '';
  return last === 'REDIS_URL' || last === 'redisUrl';
}

/** A URL with its password (and a user name that may be a token) replaced. */
export function maskUrl(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    const url = new URL(value);
    if (!url.password && !url.username) return value;
    if (url.password) url.password = 'redacted';
    else url.username = 'redacted';
    return url.toString();
  } catch {
    return REDACTED;
  }
}

/** Names of settings whose values are secrets (passwords, secret keys, API keys, tokens). */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|(^|_)KEYS?$/;

/**
 * A copy of a configuration object (environment variables by name) fit for a log line:
 * values of secret-looking names are "[redacted]", URLs lose their passwords. Unlike the
 * logger's fixed paths, this catches settings added later under such names.
 */
export function maskSecrets(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined || value === '') out[name] = value;
    else if (SECRET_NAME.test(name.toUpperCase())) out[name] = REDACTED;
    else if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      out[name] = maskUrl(value);
    } else out[name] = value;
  }
  return out;
}
