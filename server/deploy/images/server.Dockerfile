# The AstraForge server image for server/deploy/kubernetes, from Debian's
# packages: Node.js 20 (Debian trixie's; the server needs 20.18 or later),
# the bundled server, and the modules it loads at run time (the Kubernetes
# client, dockerode, Codex). Build from the repository's root, after
# `node scripts/build.mjs --server-only`:
#   docker build -f server/deploy/images/server.Dockerfile -t astraforge/server:0.1.0 .
FROM debian:trixie-slim AS modules
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/astraforge
COPY package.json package-lock.json ./
# Only the run-time externals of the bundle (scripts/build.mjs), at the versions the lockfile pins.
RUN node -e 'const p=require("./package.json"),l=require("./package-lock.json").packages;const d={};for(const n of ["@kubernetes/client-node","dockerode","@openai/codex"])d[n]=l["node_modules/"+n].version;require("fs").writeFileSync("package.json",JSON.stringify({name:"astraforge-server",private:true,dependencies:d}))' \
 && rm package-lock.json \
 && npm install --omit=dev --no-audit --no-fund

FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git nodejs tar \
 && rm -rf /var/lib/apt/lists/* /var/log/* \
 && groupadd -g 10001 astraforge && useradd -u 10001 -g 10001 -d /data -M -s /usr/sbin/nologin astraforge \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=modules /opt/astraforge/node_modules /opt/astraforge/node_modules
COPY server/dist/main.js server/dist/main.js.map server/dist/af-runner /opt/astraforge/server/dist/
USER 10001:10001
ENV NODE_ENV=production
EXPOSE 8787
ENTRYPOINT ["node", "/opt/astraforge/server/dist/main.js"]
CMD ["--host", "0.0.0.0", "--data-dir", "/data", "--sandbox", "kubernetes"]
