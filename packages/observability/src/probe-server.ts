import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceMetrics } from './metrics.js';

/** Whether a service can do its work now, and what each check found ('ok' or why not). */
export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

/** Options of a worker's metrics and probe server. */
export interface ProbeServerOptions {
  /** Address to bind: 127.0.0.1 for local runs, 0.0.0.0 in containers. */
  host: string;
  /** Port to bind; 0 picks a free one (see ProbeServer.port). */
  port: number;
  metrics: ServiceMetrics;
  /** Called for every GET /readyz. */
  readiness: () => Promise<Readiness>;
}

/** A listening probe server. */
export interface ProbeServer {
  /** The port it listens on (the one picked when asked for 0). */
  port: number;
  /** http://host:port, with 127.0.0.1 for a server bound to every address. */
  url: string;
  close(): Promise<void>;
}

/** The probe server could not listen (port taken, address not on this machine). */
export class ProbeServerError extends Error {
  readonly code = 'PROBE_SERVER_FAILED';
}

/**
 * Starts the small HTTP server of a worker service:
 * - `GET /metrics`: the Prometheus text of the process's registry;
 * - `GET /healthz`: 200 whenever the event loop turns (an answer at all is the signal);
 * - `GET /readyz`: 200 when every readiness check passes, else 503 with what failed.
 *
 * It never keeps the process alive on its own (the server is unref'd).
 */
export async function startProbeServer(options: ProbeServerOptions): Promise<ProbeServer> {
  const started = Date.now();
  const server = createServer((req, res) => {
    void answer(req, res, options, started);
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${options.host}:${options.port}`;
      const hint =
        err.code === 'EADDRINUSE'
          ? ' (another process uses it: set METRICS_PORT to a free port, or 0 for any)'
          : '';
      reject(new ProbeServerError(`metrics server cannot listen on ${where}: ${err.code}${hint}`));
    });
    server.listen(options.port, options.host, () => resolve());
  });
  server.unref();

  const port = (server.address() as AddressInfo).port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    port,
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  options: ProbeServerOptions,
  started: number,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, { error: `${req.method} is not allowed: use GET` });
  }
  try {
    if (path === '/metrics') {
      const { body, contentType } = await options.metrics.render();
      res.writeHead(200, { 'content-type': contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/healthz') {
      return send(res, 200, { ok: true, uptimeSeconds: Math.round((Date.now() - started) / 1000) });
    }
    if (path === '/readyz') {
      const readiness = await options.readiness();
      return send(res, readiness.ready ? 200 : 503, readinessBody(readiness));
    }
    return send(res, 404, { error: `no route ${path}: try /metrics, /healthz or /readyz` });
  } catch (err) {
    return send(res, 500, { error: (err as Error).message });
  }
}

/**
 * The JSON answer of a readiness probe: `ok`, the checks, and when not ready `error`, the
 * failed checks in one line (e.g. "redis: no answer within 2000 ms").
 */
export function readinessBody(readiness: Readiness) {
  const failed = Object.entries(readiness.checks).filter(([, v]) => v !== 'ok');
  return {
    ok: readiness.ready,
    checks: readiness.checks,
    ...(readiness.ready ? {} : { error: failed.map(([k, v]) => `${k}: ${v}`).join('; ') }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
