# syntax=docker/dockerfile:1.7
#
# Images of imgcluster. One image runs every service; its command picks which one:
#
#   docker build -t imgcluster:local .
#   docker run --env-file .env imgcluster:local node --import tsx services/encoder/src/main.ts
#
# The trainer's GPU variant: CUDA 11.8 and cuDNN 8 (what libtensorflow 2.9, under
# @tensorflow/tfjs-node-gpu 4.22, was built for), Node 20 and the same application:
#
#   docker build --target trainer-gpu -t imgcluster-gpu:local .
#
# docker-compose.yml builds both. Every stage below `deps` is cached until package.json or
# package-lock.json changes, so a source edit rebuilds only the final COPY layers.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

FROM ${NODE_IMAGE} AS node-base

# Every workspace's package.json and nothing else: `npm ci` needs the workspaces, and this
# stage's output changes only when one of those files does.
FROM node-base AS manifests
WORKDIR /app
COPY packages ./packages
COPY services ./services
RUN find packages services -type f ! -name package.json -delete

# Production dependencies with install scripts off. The one script that matters downloads
# libtensorflow for @tensorflow/tfjs-node(-gpu); each variant below runs it for its own
# binding only. sharp, esbuild (for tsx) and msgpackr ship prebuilt platform packages.
# python3, make and g++ are for a binding that has to be compiled; they stay in this stage.
FROM node-base AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=manifests /app ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# CPU services: the native TensorFlow binding when it installs. It is optional: without it
# (no network, no prebuilt binary) the package is removed and the services run on
# WebAssembly; every service logs the backend it chose at start.
FROM deps AS deps-cpu
RUN rm -rf node_modules/@tensorflow/tfjs-node-gpu \
 && { npm rebuild @tensorflow/tfjs-node \
      || { echo "@tensorflow/tfjs-node did not install: the services will use WASM"; \
           rm -rf node_modules/@tensorflow/tfjs-node; }; }

# GPU trainer: the binding is the point of this image, so a failed install fails the build.
FROM deps AS deps-gpu
RUN rm -rf node_modules/@tensorflow/tfjs-node \
 && npm rebuild @tensorflow/tfjs-node-gpu

# The container's health check, for whichever service PID 1 runs (a first argument names
# the service instead, as the tests do):
# - api: GET /readyz answers 200, i.e. the API is up and reaches Redis and object storage.
# - a worker has no HTTP server; it touches HEARTBEAT_FILE every 10 s while its event loop
#   turns and Redis answers, and packages/runtime/heartbeat-check.mjs fails once that file
#   is older than 60 s (or missing: the worker has not started, or has stopped).
# It reads the configuration as the services do (loadEnv), so defaults come from one place.
FROM scratch AS healthcheck
COPY <<'EOF' /healthcheck.mjs
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadEnv } from '@imgcluster/config';

const TIMEOUT_MS = 5000;
const env = loadEnv();

function serviceOfPid1() {
  const command = readFileSync('/proc/1/cmdline', 'utf8');
  return command.match(/services\/([a-z-]+)\/src\/main\.ts/)?.[1];
}

async function apiReady() {
  const url = `http://127.0.0.1:${env.API_PORT}/readyz`;
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`GET /readyz answered ${res.status}: ${await res.text()}`);
}

function workerBeating() {
  const check = 'packages/runtime/heartbeat-check.mjs';
  const res = spawnSync(process.execPath, [check], { stdio: 'inherit', timeout: TIMEOUT_MS });
  if (res.status !== 0) throw new Error(`${check} failed`);
}

try {
  const service = process.argv[2] ?? serviceOfPid1();
  if (!service) throw new Error('PID 1 runs no imgcluster service');
  if (service === 'api') await apiReady();
  else workerBeating();
  process.exit(0);
} catch (err) {
  console.error(`unhealthy: ${err.message}`);
  process.exit(1);
}
EOF

# The GPU trainer. Node comes from the official Node image (its binary needs glibc 2.28,
# Ubuntu 22.04 has 2.35); the application is the same as in `runtime` below.
FROM ${CUDA_IMAGE} AS trainer-gpu
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid 10001 imgcluster \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin imgcluster
WORKDIR /app
COPY --from=deps-gpu /app ./
COPY package.json tsconfig.json ./
COPY packages ./packages
COPY services ./services
COPY --from=healthcheck /healthcheck.mjs /app/healthcheck.mjs
ENV HEARTBEAT_FILE=/tmp/imgcluster-heartbeat
# CUDA caches kernels it compiles at start; /tmp is writable (an emptyDir in Kubernetes).
ENV CUDA_CACHE_PATH=/tmp/cuda-cache
# COPY keeps the checkout's file modes; the service user must be able to read them.
RUN chmod -R a+rX /app/packages /app/services /app/package.json /app/tsconfig.json /app/healthcheck.mjs
USER 10001:10001
# start-period: loading libtensorflow and initialising the GPU takes a while.
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
  CMD ["node", "--import", "tsx", "/app/healthcheck.mjs"]
CMD ["node", "--import", "tsx", "services/trainer/src/main.ts"]

# The image of every service (the default target). The application files belong to root
# and are read-only to the service's user; nothing is written under /app.
FROM node-base AS runtime
RUN groupadd --system --gid 10001 imgcluster \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin imgcluster
WORKDIR /app
COPY --from=deps-cpu /app ./
COPY package.json tsconfig.json ./
COPY packages ./packages
COPY services ./services
COPY --from=healthcheck /healthcheck.mjs /app/healthcheck.mjs
# Inside a container the API must listen beyond loopback (envSchema's default is 127.0.0.1),
# and the workers' heartbeat needs a file for the health check.
ENV API_HOST=0.0.0.0 HEARTBEAT_FILE=/tmp/imgcluster-heartbeat
# COPY keeps the checkout's file modes; the service user must be able to read them.
RUN chmod -R a+rX /app/packages /app/services /app/package.json /app/tsconfig.json /app/healthcheck.mjs
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "--import", "tsx", "/app/healthcheck.mjs"]
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]
