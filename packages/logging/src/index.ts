import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The one logger factory: JSON lines on stdout, one event per line. Services make
 * child loggers per job carrying runId, stage and shard.
 */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const options: LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['*.S3_SECRET_ACCESS_KEY', '*.secretAccessKey', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  return pino(options);
}
