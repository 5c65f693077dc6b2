import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * An HTTP proxy on 127.0.0.1 in front of the local S3 server that can fail requests on
 * demand, for fault tests: answer 503 (what a busy S3 server says), reset the connection,
 * hold the request without answering (a hung server; the client's timeout must fire), or
 * answer 403 AccessDenied (a permanent error: retrying cannot help).
 */
export type FaultKind = 'error' | 'reset' | 'hang' | 'deny';

export interface FaultPlan {
  kind: FaultKind;
  /** Share of requests that fail, 0..1. Default 1. */
  rate?: number;
  /** Faults stop after this many ms (default: until cleared). */
  forMs?: number;
}

export interface FaultProxy {
  endpoint: string;
  port: number;
  /** Requests seen and requests failed on purpose, since start. */
  readonly stats: { requests: number; failed: number };
  /** Starts failing requests as planned. */
  inject(plan: FaultPlan): void;
  /** Stops failing requests. */
  clear(): void;
  close(): Promise<void>;
}

/** A held request is dropped after this long, so nothing hangs past a test. */
const HANG_LIMIT_MS = 60_000;

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let plan: (FaultPlan & { until: number }) | undefined;
  const stats = { requests: 0, failed: 0 };
  const sockets = new Set<Socket>();
  // Deterministic choice of which requests fail at a rate below 1.
  let draw = 0x2545f491;
  const nextDraw = () => {
    draw ^= draw << 13;
    draw ^= draw >>> 17;
    draw ^= draw << 5;
    return (draw >>> 0) / 2 ** 32;
  };

  const activeFault = (): FaultKind | undefined => {
    if (!plan) return undefined;
    if (Date.now() > plan.until) {
      plan = undefined;
      return undefined;
    }
    return nextDraw() < (plan.rate ?? 1) ? plan.kind : undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstreamReq = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', () => res.destroy());
    req.pipe(upstreamReq);
  };

  const server = createServer((req, res) => {
    stats.requests++;
    const fault = activeFault();
    if (!fault) return forward(req, res);
    stats.failed++;
    if (fault === 'reset') {
      req.socket.destroy();
    } else if (fault === 'hang') {
      req.resume();
      setTimeout(() => req.socket.destroy(), HANG_LIMIT_MS).unref();
    } else {
      const [status, code, message] =
        fault === 'deny'
          ? [403, 'AccessDenied', 'injected fault: access denied']
          : [503, 'ServiceUnavailable', 'injected fault: please retry'];
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/xml', connection: 'close' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code>` +
            `<Message>${message}</Message></Error>`,
        );
      });
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats,
    inject(next) {
      plan = { ...next, until: next.forMs === undefined ? Infinity : Date.now() + next.forMs };
    },
    clear() {
      plan = undefined;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
