export {
  JOB_DURATION_BUCKETS,
  QUEUE_COUNT_TIMEOUT_MS,
  QUEUE_STATES,
  REQUEST_DURATION_BUCKETS,
  serviceMetrics,
  ServiceMetrics,
  type JobOutcome,
  type PreprocessedCounts,
} from './metrics.js';
export {
  ProbeServerError,
  readinessBody,
  startProbeServer,
  type ProbeServer,
  type ProbeServerOptions,
  type Readiness,
} from './probe-server.js';
