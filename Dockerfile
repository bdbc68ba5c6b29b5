FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
EXPOSE 3000
# Roles: all (default), api, worker. Migrations run at start of the `all` role, or `paperboy migrate`.
ENTRYPOINT ["node", "bin/paperboy.js"]
CMD ["all"]
