# One image for every CT Platform service; the command picks the service (ct serve api|exporters|
# scheduler|notifier|tenant-proxy, ct migrate, or any other ct command).
# Build: docker build -t ct-platform:0.1.0 .   (docker-compose builds and tags it from CT_VERSION)
#
# Node.js 24, the Active LTS line (supported until April 2028). The code also runs on Node.js 20.19
# and 22 (package.json "engines"), which development machines and the test suite use.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY lib/package.json lib/
COPY alerting/package.json alerting/
COPY api/package.json api/
COPY backup/package.json backup/
COPY exporters/package.json exporters/
COPY dashboards/package.json dashboards/
COPY client-portal/package.json client-portal/
COPY cli/package.json cli/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
# The backup module's child processes: pg_dump and pg_restore of the server's major version
# (PostgreSQL 15 in docker-compose.yml; a newer client also reads an older server), zstd for the
# dump stream. Debian 12 ships exactly these.
RUN apt-get update \
  && apt-get install -y --no-install-recommends postgresql-client-15 zstd ca-certificates \
  && rm -rf /var/lib/apt/lists/*
# The notifier's state folder (a named volume mounted there inherits this owner).
RUN mkdir -p /var/lib/ct-notifier && chown node:node /var/lib/ct-notifier
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production LOG_FORMAT=json PG_BIN_DIR=/usr/lib/postgresql/15/bin
USER node
ENTRYPOINT ["node", "cli/bin/ct.js"]
CMD ["serve", "all"]
