# One image for every imgcluster service; the command picks the service:
#   docker run imgcluster node --import tsx services/api/src/main.ts
# Build the GPU trainer variant with: --build-arg BASE=nvidia/cuda:12.2.2-cudnn8-runtime-ubuntu22.04
#   --build-arg TFJS_NATIVE=@tensorflow/tfjs-node-gpu@4.22.0 (Node 20 is installed on top of it).
ARG BASE=node:20-bookworm-slim

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages ./packages
COPY services ./services
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund
ARG TFJS_NATIVE=@tensorflow/tfjs-node@4.22.0
# The native TensorFlow binding downloads libtensorflow at install time; the image build
# has network access, so it is installed here (the code falls back to WASM without it).
RUN if [ -n "$TFJS_NATIVE" ]; then npm install --no-save --no-audit --no-fund "$TFJS_NATIVE" || true; fi

FROM ${BASE} AS runtime
RUN if ! command -v node >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && \
      curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && \
      apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
ENV NODE_ENV=production API_HOST=0.0.0.0
COPY --from=deps /app /app
RUN useradd --system --uid 10001 imgcluster
USER 10001
EXPOSE 8080
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]
