# syntax=docker/dockerfile:1
# Stage 1: production dependencies only. Build tools stay in this stage; native add-ons that have
# no prebuilt binary (msgpackr-extract is optional) compile here, never in the runtime image.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the runtime. Sources run through tsx (a production dependency), so there is no build
# output to copy; files belong to root and the process runs as `node`, so it cannot change them.
FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
# Keeps a worker's heap flat on long sends (see BENCHMARKS.md); raise it for very large editions.
ENV NODE_OPTIONS="--max-old-space-size=192 --max-semi-space-size=4"
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY public ./public
COPY data ./data
USER node
EXPOSE 3000 9464
# /readyz on the ops port when METRICS_PORT is set (the worker role's only listener), else on PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=process.env.METRICS_PORT||process.env.PORT||3000;fetch('http://127.0.0.1:'+p+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Roles: all (default), api, worker; `migrate` applies migrations and exits.
ENTRYPOINT ["node", "bin/paperboy.js"]
CMD ["all"]
