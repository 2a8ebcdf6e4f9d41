# syntax=docker/dockerfile:1
# Switchboard container image. Build: docker build -t switchboard:0.1.0 .
# test/deploy/dockerfile.test.ts checks the shape of this file (stages, user, CMD, HEALTHCHECK).
# Node 24, the current LTS (Node 20 reached its end of life in April 2026; package.json engines).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: dev dependencies + tsc -> dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Lockfile first so the dependency layer is cached until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies and the compiled output only ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing the server imports needs one (bufferutil, ws's native frame unmasking, loads
# its prebuilt binary at run time, or falls back to JS where there is none), and it keeps the install hermetic.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# Sources of the /demo/ page, bundled on first request; served only with DEMO_ENABLED=true in production.
COPY demo ./demo
COPY client ./client
COPY deploy/docker/healthcheck.mjs ./healthcheck.mjs
# Files stay owned by root: the service user can read its code but not change it.
USER node
EXPOSE 8080
# Docker/Compose only; Kubernetes ignores HEALTHCHECK and uses the chart's probes.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "healthcheck.mjs"]
# node is PID 1 (no npm, no shell) so SIGTERM reaches the server's graceful drain directly.
CMD ["node", "--enable-source-maps", "dist/src/server.js"]
