import { z } from 'zod';

/**
 * Every environment variable a service reads, declared once. The zod schema is
 * both the validation and the documentation: each field says its unit and default.
 */
export const envSchema = z.object({
  /** Redis connection URL used by BullMQ and run status. Default redis://127.0.0.1:6379. */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** S3 endpoint URL; empty means AWS S3 in S3_REGION. Example http://minio:9000. */
  S3_ENDPOINT: z.string().url().optional(),
  /** S3 region. Default us-east-1. */
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** S3 access key id; empty means the SDK's default credential chain. */
  S3_ACCESS_KEY_ID: z.string().optional(),
  /** S3 secret access key; empty means the SDK's default credential chain. */
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  /** Bucket that holds every run's artifacts. Default imgcluster. */
  S3_BUCKET: z.string().min(3).default('imgcluster'),
  /** Path-style bucket addressing (MinIO and most S3-compatible servers). Default true. */
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Attempts per object-storage request (exponential backoff between). Default 5. */
  S3_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** An object-storage request idle this long fails as a timeout and is retried, in ms. Default 30000. */
  S3_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** TCP port the API listens on. Default 8080. */
  API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Address the API binds. Default 127.0.0.1. */
  API_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Largest file PUT /v1/uploads accepts, in bytes (the API holds one in memory while it
   * stores it). Default 52428800 (50 MiB), at most 1 GiB.
   */
  UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(2 ** 30)
    .default(50 * 2 ** 20),
  /**
   * Password of the queue dashboard at /admin/queues (HTTP basic auth, user `admin`). Unset
   * means the dashboard is off. At least 12 characters.
   */
  ADMIN_PASSWORD: z.string().min(12).optional(),
  /**
   * POST /v1/runs/:id/assign answers at once for up to this many images; more become an
   * assign job whose result is polled. Default 64.
   */
  ASSIGN_SYNC_MAX: z.coerce.number().int().min(1).max(10_000).default(64),
  /** pino log level. Default info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** TensorFlow.js backend: auto picks tensorflow-gpu, tensorflow, wasm, cpu in that order. */
  TF_BACKEND: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /** Jobs one worker process runs at once (preprocess and encode). Default 1. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** BullMQ job lock duration in ms; a job whose lock lapses is taken over. Default 30000. */
  JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  /** How often BullMQ looks for stalled jobs, in ms. Default 30000. */
  STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(30_000),
  /** How long a stopping service waits for its running jobs, in ms. Default 60000. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
  /**
   * A file a worker service touches every 10 s while its event loop runs and its Redis
   * connection is up, for container health checks (`node packages/runtime/heartbeat-check.mjs`).
   * Default: none.
   */
  HEARTBEAT_FILE: z.string().default(''),
  /** Attempts per job before it fails for good. Default 3. */
  JOB_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  /** Memory the trainer may use to cache image shards between epochs, in MiB. Default 1024. */
  TRAIN_CACHE_MB: z.coerce.number().int().min(0).default(1024),
  /** Memory the cluster worker may use to cache code shards, in MiB. Default 1024. */
  CLUSTER_CACHE_MB: z.coerce.number().int().min(0).default(1024),

  // ---- API access and limits (keys, tenants, rate limiting, request limits) ----
  /**
   * API keys as `tenant:sha256-hex-of-key` entries, separated by commas, spaces or new lines
   * (`imgcluster keys create --tenant NAME` makes one). With API_KEYS_FILE or this set, every
   * /v1 route needs `Authorization: Bearer <key>`; with neither, the API is open and every
   * request acts as tenant `default`. Default: none.
   */
  API_KEYS: z.string().default(''),
  /** A file of API key entries like API_KEYS, one a line (`#` starts a comment). Default: none. */
  API_KEYS_FILE: z.string().default(''),
  /** Largest JSON request body, in bytes (uploads have UPLOAD_MAX_BYTES). Default 1048576. */
  API_BODY_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 2 ** 20)
    .default(2 ** 20),
  /**
   * Requests one credential (an API key; a client address while the API is open) may make to
   * /v1 routes per RATE_LIMIT_WINDOW_MS, counted in Redis across API replicas; more answer
   * 429 RATE_LIMITED. 0 turns rate limiting off. Default 0.
   */
  RATE_LIMIT_MAX: z.coerce.number().int().min(0).max(1_000_000).default(0),
  /** The rate-limiting window, in ms. Default 60000. */
  RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000).max(86_400_000).default(60_000),
  /** Most input images one run may have; a larger run fails when planned. Default 1000000. */
  RUN_MAX_IMAGES: z.coerce.number().int().min(1).max(100_000_000).default(1_000_000),
  /** Largest `kmeans.k` (and `kmeans.kRange.max`) a run may ask for, 2..1000. Default 1000. */
  RUN_MAX_K: z.coerce.number().int().min(2).max(1000).default(1000),
  /** Largest `image.size` a run may ask for, in pixels, 16..512. Default 512. */
  RUN_MAX_IMAGE_SIZE: z.coerce.number().int().min(16).max(512).default(512),
  /**
   * Most trainable weights a run's autoencoder may have (a dense one grows with the image's
   * pixels times its first width; training holds about four floats per weight). Default
   * 25000000 (N2D's widths at 32×32 grey have 3.6 million).
   */
  RUN_MAX_MODEL_WEIGHTS: z.coerce.number().int().min(1000).max(1_000_000_000).default(25_000_000),
  // ---- end of API access and limits ----

  // ---- observability: metrics and probe server, Redis policy ----
  /**
   * TCP port of a worker service's HTTP server for /metrics (Prometheus), /healthz and
   * /readyz; 0 picks a free port and logs it. The API serves the same paths on API_PORT.
   * Default 9464.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /**
   * Address a worker's metrics and probe server binds; 0.0.0.0 in a container. Default
   * 127.0.0.1.
   */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Start even though Redis's maxmemory-policy is not noeviction (a loud warning instead of a
   * refusal). Eviction can drop queued jobs and locks: only for throwaway setups. Default false.
   */
  REDIS_ALLOW_EVICTION: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  // ---- end of observability ----
});

export type Env = z.infer<typeof envSchema>;

/** Thrown at start-up when an environment variable is malformed. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Parses the environment once; a bad value fails with a message naming the variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined && value !== '') cleaned[name] = value;
  }

  const parsed = envSchema.safeParse(cleaned);
  if (parsed.success) return parsed.data;

  const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
}
