#!/usr/bin/env bash
# The example clients (clients/, docs/clients.md) against the real suite: engram-storage,
# engram-hybrid and engram-api on ephemeral ports with a temporary data dir and keys file, then one
# example, which checks every result it gets. Run by ctest (tests/clients/CMakeLists.txt) as:
#   run_clients_test.sh <build dir> <source dir> python|node|curl [tls]
#     tls: engram-api serves TLS with a certificate from a CA made here; the example gets the CA
#     ($ENGRAM_CA_FILE)
#   run_clients_test.sh <build dir> <source dir> npm-ci    (installs clients/node's pinned packages)
# It fails, never skips, when a tool is missing: scripts/bootstrap.sh test installs them.
set -euo pipefail
BUILD="$(cd "${1:?usage: run_clients_test.sh BUILD_DIR SOURCE_DIR python|node|curl|npm-ci}" && pwd)"
SRC="$(cd "${2:?source dir}" && pwd)"
CLIENT="${3:?client: python, node, curl or npm-ci}"

missing() { echo "$1 not found: run scripts/bootstrap.sh test (it installs it)" >&2; exit 1; }
need() { command -v "$1" >/dev/null || missing "$1"; }
need curl
need python3   # free_port, and the curl example reads JSON with it

case "$CLIENT" in
  npm-ci)
    need node; need npm
    cd "$SRC/clients/node"
    # npm ci deletes and reinstalls node_modules; skip it when the installed tree is this lock's.
    stamp=node_modules/.engram-lock.sha256
    want="$(sha256sum package-lock.json | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then echo "node_modules matches package-lock.json"; exit 0; fi
    npm ci --no-audit --no-fund --ignore-scripts
    echo "$want" >"$stamp"
    exit 0
    ;;
  python)
    need protoc
    [[ -x /usr/bin/grpc_python_plugin ]] || missing "/usr/bin/grpc_python_plugin (protobuf-compiler-grpc)"
    /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null ||
      missing "python3-grpcio / python3-protobuf (import grpc, google.protobuf in /usr/bin/python3)"
    ;;
  node)
    need node
    [[ -d "$SRC/clients/node/node_modules/@grpc/grpc-js" && -d "$SRC/clients/node/node_modules/@grpc/proto-loader" ]] ||
      { echo "clients/node/node_modules is not installed: run '$0 $1 $2 npm-ci' (ctest's clients_node_npm_ci)" >&2; exit 1; }
    ;;
  curl) ;;
  *) echo "unknown client '$CLIENT': python, node, curl or npm-ci" >&2; exit 2 ;;
esac
for bin in storage-server/engram-storage services/hybrid/engram-hybrid services/api/engram-api; do
  [[ -x "$BUILD/$bin" ]] || { echo "$BUILD/$bin not built" >&2; exit 1; }
done

# shellcheck source=tests/testing/suite.sh
source "$SRC/tests/testing/suite.sh"
suite_init /tmp/engram-clients-"$CLIENT"
ADMIN_KEY="ek_clients_admin_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
suite_keys "$ADMIN_KEY"
SCHEME=http
CURL_TLS=()
if [[ "${4:-}" == tls ]]; then
  # engram-api with TLS (docs/operations.md#tls), its certificate from a CA made here; the example
  # gets the CA as $ENGRAM_CA_FILE, as docs/clients.md shows.
  need openssl
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=clients test CA" -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=engram-api" \
    -keyout "$WORK/api.key" -out "$WORK/api.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/api.ext"
  openssl x509 -req -in "$WORK/api.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
    -days 1 -extfile "$WORK/api.ext" -out "$WORK/api.crt" 2>/dev/null
  API_FLAGS="--tls_cert=$WORK/api.crt --tls_key=$WORK/api.key" API_CACERT="$WORK/ca.crt"
  export ENGRAM_CA_FILE="$WORK/ca.crt"
  SCHEME=https
  CURL_TLS=(--cacert "$WORK/ca.crt")
fi
suite_start_core "$BUILD"

# The examples take the address and key from the environment, as documented in docs/clients.md.
export ENGRAM_ADDR="127.0.0.1:$AG" ENGRAM_HTTP_URL="$SCHEME://127.0.0.1:$AH" ENGRAM_API_KEY="$ADMIN_KEY"
status=0
case "$CLIENT" in
  python)
    "$SRC/clients/python/gen.sh" "$WORK/py-stubs"
    PYTHONPATH="$WORK/py-stubs" /usr/bin/python3 "$SRC/clients/python/engram_example.py" || status=$?
    ;;
  node)
    node "$SRC/clients/node/engram_example.mjs" || status=$?
    ;;
  curl)
    bash "$SRC/clients/curl/engram_example.sh" || status=$?
    ;;
esac
if ((status != 0)); then
  echo "the $CLIENT example failed (exit $status); the servers' logs:" >&2
  suite_logs
  exit 1
fi
# The example deleted its namespace: only the suite's own namespaces are left.
leftover=$(curl -fsS "${CURL_TLS[@]}" -H "Authorization: Bearer $ADMIN_KEY" "$ENGRAM_HTTP_URL/v1/namespaces" |
  python3 -c 'import json, sys; print(" ".join(n["name"] for n in json.load(sys.stdin).get("namespaces", []) if n["name"].startswith("example-")))')
[[ -z "$leftover" ]] || { echo "the $CLIENT example left namespace(s) behind: $leftover" >&2; exit 1; }
echo "clients: the $CLIENT example passed against the real suite"
