FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Keeps a worker's heap flat on long sends (see BENCHMARKS.md); raise it for very large editions.
ENV NODE_OPTIONS="--max-old-space-size=192 --max-semi-space-size=4"
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
EXPOSE 3000
# Roles: all (default), api, worker. Migrations run at start of the `all` role, or `paperboy migrate`.
ENTRYPOINT ["node", "bin/paperboy.js"]
CMD ["all"]
