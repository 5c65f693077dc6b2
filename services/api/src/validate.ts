import type { z, ZodError } from 'zod';
import { ApiError, type ApiIssue } from './errors.js';

/**
 * Parses one part of a request (`body`, `query`, `params`) with its schema; a bad value
 * answers 400 VALIDATION_FAILED with every issue's path, e.g. `body.kmeans.k`.
 */
export function parse<T extends z.ZodTypeAny>(
  schema: T,
  value: unknown,
  where: string,
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ApiError('VALIDATION_FAILED', `invalid ${where}`, zodIssues(result.error, where));
}

function zodIssues(error: ZodError, where: string): ApiIssue[] {
  return error.issues.map((i) => ({
    path: [where, ...i.path].join('.'),
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
}
