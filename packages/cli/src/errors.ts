import { ApiRequestError } from '@imgcluster/client';

/** Exit codes: 0 done, 1 something failed (the API, a run, a file), 2 bad arguments. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The command line is wrong: answered with the command's usage and exit code 2. */
export class UsageError extends Error {
  readonly code = 'CLI_USAGE';
  constructor(
    message: string,
    /** The command whose usage to show; none for the general usage. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A command could not do its work for a reason the user can act on (exit code 1). */
export class CliError extends Error {
  readonly code = 'CLI_FAILED';
}

/**
 * True for a failure worth trying again: the network, a timeout, throttling or a 5xx answer.
 * Any other answer of the API (a 4xx) would come again.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof ApiRequestError) {
    return err.status >= 500 || err.status === 408 || err.status === 429;
  }
  // fetch reports every network-level failure as a TypeError with the socket error as cause.
  return err instanceof TypeError && err.cause !== undefined;
}

/** One line for a failure: "CODE (HTTP status): message", or the network error. */
export function errorSummary(err: unknown, api: string): string {
  if (err instanceof ApiRequestError) {
    const body = err.body as { error?: { message?: string } } | undefined;
    return `${err.code} (HTTP ${err.status}): ${body?.error?.message ?? err.message}`;
  }
  if (err instanceof TypeError && err.cause !== undefined) {
    const cause = err.cause as { code?: string; message?: string };
    return `cannot reach the API at ${api}: ${cause.code ?? cause.message ?? err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The issues of an API error, as "path: message". */
function issueLines(err: unknown): string[] {
  if (!(err instanceof ApiRequestError)) return [];
  const body = err.body as { error?: { issues?: { path: string; message: string }[] } };
  return (body?.error?.issues ?? []).map((issue) => `${issue.path}: ${issue.message}`);
}

/** The lines printed for a failed command: the summary, then each issue's path and message. */
export function describeError(err: unknown, api: string): string[] {
  return [`error: ${errorSummary(err, api)}`, ...issueLines(err).map((line) => `  ${line}`)];
}

/** The summary and the issues on one line (for one file of many). */
export function errorLine(err: unknown, api: string): string {
  return [errorSummary(err, api), ...issueLines(err)].join('; ');
}
