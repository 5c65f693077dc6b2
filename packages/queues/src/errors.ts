import { UnrecoverableError } from 'bullmq';

/** A failure that retrying cannot fix (bad spec, missing input): the job fails at once. */
export class PermanentJobError extends UnrecoverableError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The run was cancelled while the job ran; the job stops without retrying. */
export class RunCancelledError extends UnrecoverableError {
  readonly code = 'RUN_CANCELLED';
  constructor(runId: string) {
    super(`run ${runId} was cancelled`);
  }
}

/**
 * The job's process is shutting down: the handler stopped at a safe point (after saving what
 * it needs to resume) and the job goes back to its queue at once, for another worker or the
 * restarted one, without counting as a failed attempt.
 */
export class JobReleasedError extends Error {
  readonly code = 'JOB_RELEASED';
  constructor(what: string) {
    super(`${what} released: the worker is shutting down`);
    this.name = 'JobReleasedError';
  }
}
