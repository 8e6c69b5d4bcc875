# RaftGuard in a container: the CLI (`raftguard run --config …`, `raftguard replay …`).
# node:26 is the active LTS line (Node "Lithium", LTS since October 2026); the code itself supports Node >= 20.
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY proxy ./proxy
COPY proto ./proto
COPY test/bench ./test/bench
RUN npm ci && npm prune --omit=dev

FROM node:26-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
COPY config ./config
ENV NODE_ENV=production
ENTRYPOINT ["node", "/app/bin/raftguard.js"]
CMD ["help"]
