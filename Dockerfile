# syntax=docker/dockerfile:1
# Fleetway: the API and the worker share this image (`serve`, `api` or `worker`).
# Node 24, the active LTS line (Node 20 reached its end of life in April 2026). The test suite
# runs on both in CI (.ci/run).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency install scripts, and no `prepare` build before the sources exist.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    FLEETWAY_MIGRATIONS_DIR=/app/migrations
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The control plane's own revisions are read from src/control/migrations at start-up.
COPY src/control/migrations ./src/control/migrations
# The tenant migration set; mount or bake your own over /app/migrations.
COPY migrations ./migrations
COPY openapi ./openapi
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/fleetway.js"]
CMD ["serve"]
