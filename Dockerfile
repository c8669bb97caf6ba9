# One image for every CT Platform service; the command picks the service (ct serve api|exporters|
# scheduler|notifier). Build: docker build -t ct-platform .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY lib/package.json lib/
COPY cli/package.json cli/
COPY api/package.json api/
COPY exporters/package.json exporters/
COPY backup/package.json backup/
COPY alerting/package.json alerting/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# pg_dump/pg_restore must be at least the server's major version (PostgreSQL 15 in docker-compose.yml);
# zstd compresses backups in the stream.
RUN apt-get update \
  && apt-get install -y --no-install-recommends postgresql-client-15 zstd ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production LOG_FORMAT=json
USER node
ENTRYPOINT ["node", "cli/bin/ct.js"]
CMD ["serve", "all"]
