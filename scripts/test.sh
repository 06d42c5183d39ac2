#!/usr/bin/env bash
# Runs every test: installs what is needed, type-checks, builds, then the
# mocha suites; ends with the plain summary line "N passed, N failed".
# Where Docker cannot start, everything else still runs and each Docker
# suite counts as one failure, with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/setup-code-server.sh || exit 1

log=$(mktemp)
# Each pass's failures again, printed just above the summary: CI shows only the end of the output.
recap=$(mktemp)
trap 'rm -f "$log" "$recap"' EXIT

# Why the Docker suites cannot run here (setup-docker.sh's last words), or empty.
docker_problem=""
bash scripts/setup-docker.sh 2>&1 | tee "$log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  docker_problem=$(grep -v '^[[:space:]]*$' "$log" | tail -1)
  docker_problem=${docker_problem:-scripts/setup-docker.sh failed without a message}
fi

passed=0; failed=0; status=0

# The format, lint and type checks are not mocha tests; a failure counts as one failed.
check() { # name, command...
  local name=$1; shift
  echo "== $name"
  if ! "$@"; then
    failed=$((failed+1)); status=1
    echo "-- $name failed (its output is at the top)" >>"$recap"
  fi
}
check "format (prettier)" npx prettier --check --log-level warn .
check "lint (eslint)" npx eslint .
check "typecheck (tsc per layer)" bash scripts/typecheck.sh

# Adds up a runner's mocha-style "N passing" / "N failing" lines.
count() { # name, command...
  local name=$1; shift
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -Eo '^ *[0-9]+ passing' "$log" | grep -Eo '[0-9]+' | tail -1)
  f=$(grep -Eo '^ *[0-9]+ failing' "$log" | grep -Eo '[0-9]+' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "${f:-0}" -gt 0 ]; then
    { echo "-- $name"; sed -n '/^ *[0-9][0-9]* failing/,$p' "$log" | head -80; } >>"$recap"
  fi
  if [ "$rc" -ne 0 ]; then
    status=1
    [ -z "$f" ] && failed=$((failed+1)) # the suite died before reporting
  fi
}

# A suite that needs the Docker engine: run with it, or one failure that says why not.
count_docker() { # name, command...
  if [ -z "$docker_problem" ]; then count "$@"; return; fi
  echo "== $1"
  echo "  not run, counted as 1 failing: Docker cannot start here: $docker_problem"
  failed=$((failed+1)); status=1
}

mocha() { npx mocha --require tsx/cjs --reporter spec --no-color "$@"; }
# The same server suites again with the docker provider, and what only Docker has to prove.
mocha_docker() { ASTRAFORGE_TEST_SANDBOX=docker npx mocha --require tsx/cjs --reporter spec --no-color "$@"; }
count "server, client and unit tests" mocha 'test/server/**/*.test.ts' 'test/client/**/*.test.ts' 'test/unit/**/*.test.ts'
count_docker "server suites against the docker provider (a real Docker engine)" mocha_docker 'test/server/**/*.test.ts'
count_docker "docker provider tests (a real Docker engine)" mocha_docker 'test/docker/**/*.test.ts'
# The shared server suites again with the kubernetes provider, against one cluster double for the pass.
mocha_kube() { ASTRAFORGE_TEST_SANDBOX=kubernetes KUBECONFIG= npx mocha --require tsx/cjs --require test/helpers/kube/clusterFixture.ts --reporter spec --no-color "$@"; }
count "server suites against the kubernetes provider (API server and controller doubles)" mocha_kube \
  test/server/sandboxApi.contract.test.ts test/server/sandboxIsolation.test.ts test/server/runs.test.ts \
  test/server/codexAgent.test.ts test/server/deepAgent.test.ts test/server/sessionLifecycle.test.ts
count "extension host tests (a real VS Code: code-server)" npx tsx test/extension/runInCodeServer.ts
count "end to end (Playwright, headless Chromium)" mocha 'test/e2e/**/*.test.ts'

if [ -s "$recap" ]; then
  echo "== what failed (each pass's report again)"
  cat "$recap"
fi
[ -n "$docker_problem" ] && echo "The Docker suites did not run: $docker_problem"
echo "$passed passed, $failed failed"
exit $status
