#!/usr/bin/env bash
# The whole Kubernetes path on a real kind cluster, for machines that can
# pull images (it cannot run on the project's own machines: no registry):
#   1. a kind cluster (or the one named by KIND_CLUSTER if it exists),
#   2. agent-sandbox's controller and extensions (AGENT_SANDBOX_VERSION),
#   3. the server and sandbox images built here and loaded into kind,
#   4. the secret, then `kubectl apply -k server/deploy/kubernetes`,
#   5. the server's rollout, a port-forward, and a session through the API:
#      create (a claim from the warm pool), exec with state kept between
#      calls, a file written and read back, a claim visible with our labels,
#      delete (the claim goes), and the runtime API on a sandbox pod,
#   6. the cluster deleted unless KEEP_CLUSTER=1.
# Needs docker, kind, kubectl, curl, node and openssl on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-astraforge-e2e}
AGENT_SANDBOX_VERSION=${AGENT_SANDBOX_VERSION:-v1.0.2}
NS=astraforge
TAG=0.1.0
PORT=${E2E_PORT:-18787}
API_KEY=$(openssl rand -hex 24)
created_cluster=0
forward_pid=

step() { printf '\n== %s\n' "$*"; }
fail() { echo "e2e-kind: $*" >&2; exit 1; }
cleanup() {
  [ -n "$forward_pid" ] && kill "$forward_pid" 2>/dev/null || true
  if [ "$created_cluster" = 1 ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

for tool in docker kind kubectl curl node openssl; do command -v "$tool" >/dev/null || fail "$tool is missing"; done

step "kind cluster $CLUSTER"
if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 120s
  created_cluster=1
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

step "agent-sandbox $AGENT_SANDBOX_VERSION (controller and extensions)"
base="https://github.com/kubernetes-sigs/agent-sandbox/releases/download/$AGENT_SANDBOX_VERSION"
# Releases from v1.0 name the core manifest sandbox.yaml; earlier ones manifest.yaml.
kubectl apply -f "$base/sandbox.yaml" 2>/dev/null || kubectl apply -f "$base/manifest.yaml"
kubectl apply -f "$base/extensions.yaml"
kubectl -n agent-sandbox-system rollout status deploy --timeout=180s 2>/dev/null \
  || kubectl -n agent-sandbox-system rollout status statefulset --timeout=180s
kubectl wait --for=condition=Established crd/sandboxclaims.extensions.agents.x-k8s.io --timeout=60s

step "images (built here, loaded into kind)"
node scripts/build.mjs --server-only
docker build -f server/deploy/images/sandbox.Dockerfile -t "astraforge/sandbox:$TAG" .
docker build -f server/deploy/images/server.Dockerfile -t "astraforge/server:$TAG" .
kind load docker-image --name "$CLUSTER" "astraforge/sandbox:$TAG" "astraforge/server:$TAG"

step "namespace, secret, kustomize"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" create secret generic astraforge-server --from-literal=api-key="$API_KEY" \
  ${OPENAI_API_KEY:+--from-literal=model-api-key="$OPENAI_API_KEY"} --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -k server/deploy/kubernetes
kubectl -n "$NS" rollout status deploy/astraforge-server --timeout=180s
kubectl -n "$NS" wait --for=jsonpath='{.status.readyReplicas}'=2 sandboxwarmpool/astraforge-runc --timeout=180s \
  || echo "e2e-kind: the runc warm pool is not full yet; sessions start cold"

step "a session through the API"
kubectl -n "$NS" port-forward svc/astraforge-server "$PORT:8787" >/dev/null 2>&1 &
forward_pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
api() { curl -fsS -H "Authorization: Bearer $API_KEY" -H 'content-type: application/json' "$@"; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(eval("v"+process.argv[1]))})' "$1"; }
sid=$(api -X POST -d '{}' "http://127.0.0.1:$PORT/v1/sessions" | json .id)
echo "session $sid"
kubectl -n "$NS" get sandboxclaim "af-$sid" -o jsonpath='{.metadata.labels.astraforge\.dev/session}' | grep -qx "$sid" || fail "no claim af-$sid"
out=$(api -X POST -d '{"cmd":"cd /tmp && export E2E=ok"}' "http://127.0.0.1:$PORT/v1/sessions/$sid/exec" | json .exit_code)
[ "$out" = 0 ] || fail "exec failed"
out=$(api -X POST -d '{"cmd":"echo $E2E $(pwd) $(id -u)"}' "http://127.0.0.1:$PORT/v1/sessions/$sid/exec" | json .output)
[ "$out" = "ok /tmp 1000" ] || fail "state between execs: got '$out'"
api -X POST -d '{"path":"hello.txt","text":"from kind"}' "http://127.0.0.1:$PORT/v1/sessions/$sid/fs/write" >/dev/null
out=$(api "http://127.0.0.1:$PORT/v1/sessions/$sid/fs/read?path=hello.txt" | json .content_base64 | base64 -d)
[ "$out" = "from kind" ] || fail "file round trip: got '$out'"

step "the runtime API on the session's pod"
# The claim names its Sandbox (the claim's name when cold, the warm pool's when adopted); the Sandbox its pod.
sandbox=$(kubectl -n "$NS" get sandboxclaim "af-$sid" -o jsonpath='{.status.sandbox.name}')
pod=$(kubectl -n "$NS" get sandbox "$sandbox" -o jsonpath='{.metadata.annotations.agents\.x-k8s\.io/pod-name}' 2>/dev/null || true)
[ -n "$pod" ] || pod=$sandbox # a cold Sandbox's pod bears its name
if kubectl -n "$NS" get pod "$pod" >/dev/null 2>&1; then
  out=$(kubectl -n "$NS" exec "$pod" -- python3 -c 'import json,urllib.request,os;r=urllib.request.urlopen(urllib.request.Request("http://"+os.environ["POD_IP"]+":8888/execute",data=json.dumps({"command":"cat hello.txt"}).encode(),headers={"content-type":"application/json"}));print(json.load(r)["stdout"])')
  [ "$out" = "from kind" ] || fail "runtime API: got '$out'"
else
  echo "e2e-kind: no pod $pod found for Sandbox $sandbox; runtime API check skipped"
fi

step "delete: the claim goes"
api -X DELETE "http://127.0.0.1:$PORT/v1/sessions/$sid" >/dev/null
kubectl -n "$NS" wait --for=delete "sandboxclaim/af-$sid" --timeout=60s

echo
echo "e2e-kind: passed"
