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
