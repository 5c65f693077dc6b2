/**
 * Every error the API answers with: a stable code, its HTTP status and a message. Codes
 * are never reused for another meaning. INPUT_BUCKET_NOT_FOUND is a 400 where a request
 * body names the bucket (POST /v1/runs) and a 404 where the URL does (GET /v1/uploads).
 */
export const API_ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'the request is not valid' },
  INVALID_JSON: { status: 400, message: 'the request body is not valid JSON' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send the body as application/json' },
  BODY_TOO_LARGE: { status: 413, message: 'the request body is too large' },
  INPUT_BUCKET_NOT_FOUND: { status: 400, message: 'the input bucket does not exist' },
  LABELS_NOT_FOUND: { status: 400, message: 'the labels object does not exist' },
  RUN_NOT_FOUND: { status: 404, message: 'no run with this id' },
  ARTIFACT_NOT_FOUND: { status: 404, message: 'the run has no such artifact' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no such route' },
  RUN_FINISHED: { status: 409, message: 'the run has already finished' },
  RUN_NOT_FINISHED: { status: 409, message: 'the run has not succeeded (yet)' },
  CLUSTER_NOT_FOUND: { status: 404, message: 'the run has no such cluster' },
  MEMBER_NOT_FOUND: { status: 404, message: 'the cluster has no such member' },
  RUN_NOT_RETRYABLE: { status: 409, message: 'only a failed or cancelled run can be retried' },
  UPLOAD_BUCKET_RESERVED: {
    status: 400,
    message: 'the artifact bucket only holds run artifacts: upload into another bucket',
  },
  UPLOAD_TOO_LARGE: { status: 413, message: 'the file is larger than UPLOAD_MAX_BYTES' },
  ADMIN_AUTH_REQUIRED: {
    status: 401,
    message: 'the queue dashboard needs the admin user and ADMIN_PASSWORD (HTTP basic auth)',
  },
  DASHBOARD_DISABLED: { status: 404, message: 'the queue dashboard is off: set ADMIN_PASSWORD' },
  NO_IMAGES: { status: 400, message: 'the request has no images to assign' },
  TOO_MANY_IMAGES: { status: 413, message: 'too many images in one request' },
  ASSIGNMENT_NOT_FOUND: { status: 404, message: 'the run has no such assignment' },
  ASSIGNMENT_NOT_FINISHED: { status: 409, message: 'the assignment has not finished (yet)' },
  API_KEY_REQUIRED: {
    status: 401,
    message: 'this API needs a key: send Authorization: Bearer <key>',
  },
  API_KEY_INVALID: { status: 401, message: 'the API key is not valid' },
  OUTSIDE_TENANT_PREFIX: {
    status: 403,
    message: "with this API key, object keys and prefixes must start with the tenant's name",
  },
  RATE_LIMITED: {
    status: 429,
    message: 'too many requests with this credential: wait the seconds in Retry-After',
  },
  STORAGE_UNAVAILABLE: { status: 503, message: 'object storage did not answer' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** One problem in a request: where (a JSON path such as body.kmeans.k) and what. */
export interface ApiIssue {
  path: string;
  message: string;
}

/** An error the API reports as { error: { code, message, issues? } }. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    readonly issues?: ApiIssue[],
    /** Overrides the code's usual status (see INPUT_BUCKET_NOT_FOUND). */
    status?: number,
  ) {
    super(message ?? API_ERRORS[code].message);
    this.status = status ?? API_ERRORS[code].status;
  }

  toBody() {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.issues ? { issues: this.issues } : {}),
      },
    };
  }
}
