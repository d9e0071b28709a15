# Sourced by bench scripts: starts engram-storage, engram-hybrid and engram-api from $BUILD_DIR
# as scripts/run-local.sh does (durable storage, an API key file, default limits) on fixed ports
# around PORT_BASE (default 56000), in BENCH_DIR (default a new temporary directory, removed on
# exit unless KEEP_BENCH_DIR is set). Sets KEY (an admin key), API_GRPC=127.0.0.1:<port> and
# API_HTTP=http://127.0.0.1:<port>. API_FLAGS: extra engram-api flags.
# shellcheck shell=bash
PORT_BASE="${PORT_BASE:-56000}"
BENCH_DIR="${BENCH_DIR:-$(mktemp -d /tmp/engram-bench.XXXXXX)}"
KEY="ek_engram_bench_0123456789abcdef"
mkdir -p "$BENCH_DIR"
printf '{"keys":[{"name":"bench","key":"%s","role":"admin","namespaces":["*"]}]}\n' "$KEY" \
  > "$BENCH_DIR/keys.json"

pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
  [[ -z "${KEEP_BENCH_DIR:-}" ]] && rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
wait_ready() {  # port
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$1/readyz" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready on $1" >&2
  return 1
}

"$BUILD_DIR/storage-server/engram-storage" --data_dir="$BENCH_DIR/storage" \
  --grpc_port=$((PORT_BASE + 3)) --http_port=$((PORT_BASE + 13)) --listen_address=127.0.0.1 \
  > "$BENCH_DIR/storage.log" 2>&1 &
pids+=($!)
wait_ready $((PORT_BASE + 13))
"$BUILD_DIR/services/hybrid/engram-hybrid" --storage_addr=127.0.0.1:$((PORT_BASE + 3)) \
  --grpc_port=$((PORT_BASE + 2)) --http_port=$((PORT_BASE + 12)) --listen_address=127.0.0.1 \
  > "$BENCH_DIR/hybrid.log" 2>&1 &
pids+=($!)
wait_ready $((PORT_BASE + 12))
# shellcheck disable=SC2086
"$BUILD_DIR/services/api/engram-api" --storage_addr=127.0.0.1:$((PORT_BASE + 3)) \
  --hybrid_addr=127.0.0.1:$((PORT_BASE + 2)) --api_keys_file="$BENCH_DIR/keys.json" \
  --grpc_port=$((PORT_BASE + 1)) --http_port=$((PORT_BASE + 11)) --listen_address=127.0.0.1 \
  ${API_FLAGS:-} > "$BENCH_DIR/api.log" 2>&1 &
pids+=($!)
wait_ready $((PORT_BASE + 11))

API_GRPC="127.0.0.1:$((PORT_BASE + 1))"
API_HTTP="http://127.0.0.1:$((PORT_BASE + 11))"
export KEY API_GRPC API_HTTP
