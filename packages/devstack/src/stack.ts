import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Storage } from '@imgcluster/storage';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import {
  freePort,
  localEnv,
  LOCAL_S3_CREDENTIALS,
  startRedis,
  startS3,
  startService,
  waitForHttp,
  type LocalRedis,
  type LocalS3,
  type Managed,
  type ServiceName,
} from './servers.js';

/** How many processes of each service to start (default one each). */
export type Replicas = Partial<Record<ServiceName, number>>;

/** Extras for fault tests. */
export interface StackOptions {
  /** Put a fault proxy between the services and the S3 server (the stack's own client
   *  talks to the server directly). */
  faultProxy?: boolean;
}

/** Everything the demo and the end-to-end tests run on, all on 127.0.0.1. */
export interface LocalStack {
  redis: LocalRedis;
  s3: LocalS3;
  /** Present when started with `faultProxy`. */
  proxy?: FaultProxy;
  apiUrl: string;
  env: Record<string, string>;
  storage: Storage;
  services: { name: ServiceName; process: Managed; logFile: string }[];
  logDir: string;
  /** Starts one more process of a service (e.g. to replace a killed one). */
  addService(name: ServiceName): Managed;
  /**
   * Where a service process serves /metrics, /healthz and /readyz: the API's own URL, or
   * the port a worker picked (METRICS_PORT=0) as its log says once it listens (an info
   * line: LOG_LEVEL info or lower).
   */
  metricsUrl(service: LocalStack['services'][number], timeoutMs?: number): Promise<string>;
  /** Stops every service, then the servers. */
  stop(): Promise<void>;
}

/** Starts Redis, the S3 server and the services as separate processes. */
export async function startStack(
  dir: string,
  replicas: Replicas = {},
  extraEnv: Record<string, string> = {},
  options: StackOptions = {},
): Promise<LocalStack> {
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const redis = await startRedis(join(dir, 'redis'));
  const s3 = await startS3(join(dir, 's3'));
  const proxy = options.faultProxy ? await startFaultProxy(s3.endpoint) : undefined;
  const apiPort = await freePort();
  const env = localEnv(redis, s3, {
    API_PORT: String(apiPort),
    // Several workers run side by side: each picks a free port for metrics and probes.
    METRICS_PORT: '0',
    ...(proxy ? { S3_ENDPOINT: proxy.endpoint } : {}),
    ...extraEnv,
  });
  const storage = new Storage({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    ...LOCAL_S3_CREDENTIALS,
  });
  await storage.ensureBucket(env.S3_BUCKET);

  const services: LocalStack['services'] = [];
  const counters = new Map<ServiceName, number>();
  const addService = (name: ServiceName) => {
    const n = (counters.get(name) ?? 0) + 1;
    counters.set(name, n);
    const logFile = join(logDir, `${name}-${n}.log`);
    const process = startService(name, env, logFile);
    services.push({ name, process, logFile });
    return process;
  };
  const order: ServiceName[] = ['api', 'preprocess', 'trainer', 'encoder', 'cluster'];
  for (const name of order) {
    for (let i = 0; i < (replicas[name] ?? 1); i++) addService(name);
  }

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const stop = async () => {
    await Promise.all(services.map((s) => s.process.stop(15_000)));
    storage.close();
    await proxy?.close();
    await s3.stop();
    await redis.stop();
  };
  try {
    await waitForHttp(`${apiUrl}/healthz`, 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const metricsUrl = async (service: LocalStack['services'][number], timeoutMs = 60_000) =>
    service.name === 'api' ? apiUrl : listeningUrl(service.logFile, timeoutMs);
  return {
    redis,
    s3,
    proxy,
    apiUrl,
    env,
    storage,
    services,
    logDir,
    addService,
    metricsUrl,
    stop,
  };
}

/** The URL a worker's log says its metrics and probe server listens on. */
async function listeningUrl(logFile: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    for (const line of text.split('\n')) {
      if (!line.includes('metrics and probes listening')) continue;
      const url = (JSON.parse(line) as { url?: string }).url;
      if (url) return url;
    }
    if (Date.now() > deadline)
      throw new Error(`${logFile}: no metrics server within ${timeoutMs} ms`);
    await sleep(100);
  }
}
