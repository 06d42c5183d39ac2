# The sandbox image of the kubernetes provider's SandboxTemplates, from
# Debian's packages (the same toolchain as the Docker provider's image:
# bash, git, coreutils, python3, nodejs), with af-runner built here, static,
# against Debian's libseccomp. Build from the repository's root:
#   docker build -f server/deploy/images/sandbox.Dockerfile -t astraforge/sandbox:0.1.0 .
FROM debian:bookworm-slim AS runner
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libseccomp-dev \
 && rm -rf /var/lib/apt/lists/*
COPY server/runner/ /src/
RUN gcc -O2 -Wall -Wextra -Werror -static -o /af-runner /src/af-runner.c /src/command-filter.c -lseccomp

# The Codex CLI for the codex agent (a static binary; the server mounts it on other providers,
# a pod's image carries it at the same path).
FROM debian:bookworm-slim AS codex
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates npm && rm -rf /var/lib/apt/lists/*
COPY package-lock.json /tmp/lock.json
RUN v=$(node -e 'console.log(require("/tmp/lock.json").packages["node_modules/@openai/codex"].version)') \
 && mkdir /codex && cd /codex && npm install --no-audit --no-fund "@openai/codex@$v" \
 && cp "$(find /codex/node_modules -path '*/vendor/*-unknown-linux-musl/bin/codex' | head -1)" /codex/codex

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates coreutils findutils git grep nodejs procps python3 sed tar \
 && rm -rf /var/lib/apt/lists/* /var/log/* \
 && groupadd -g 1000 sandbox \
 && useradd -u 1000 -g 1000 -d /home/sandbox -s /bin/bash -M sandbox \
 && mkdir -p /workspace /home/sandbox /run/astraforge/podinfo /opt/astraforge/bin \
 && chown 1000:1000 /workspace /home/sandbox
COPY --from=runner /af-runner /opt/astraforge/bin/af-runner
COPY --from=codex /codex/codex /.astraforge/bin/codex
COPY server/deploy/images/sandbox-entrypoint.sh /opt/astraforge/bin/entrypoint
COPY server/deploy/images/runtime_api.py /opt/astraforge/bin/runtime_api.py
USER 1000:1000
WORKDIR /workspace
ENV HOME=/home/sandbox LANG=C.UTF-8 TERM=dumb
EXPOSE 7070 8888
ENTRYPOINT ["/opt/astraforge/bin/entrypoint"]
CMD ["--shell", "/bin/bash", "--listen", "7070", "--token-file", "/run/astraforge/podinfo/annotations"]
