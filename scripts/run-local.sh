#!/usr/bin/env bash
# Starts the Engram suite on localhost with an embedded data directory (./engram-data).
# Today the suite is engram-storage and engram-hybrid; engram-api and engram-control join as they land.
# Ctrl-C stops everything cleanly; starting again keeps the data.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
DATA_DIR="${ENGRAM_DATA_DIR:-$PWD/engram-data}"
STORAGE_GRPC="${ENGRAM_STORAGE_GRPC_PORT:-50053}"
STORAGE_HTTP="${ENGRAM_STORAGE_HTTP_PORT:-9103}"
HYBRID_GRPC="${ENGRAM_HYBRID_GRPC_PORT:-50052}"
HYBRID_HTTP="${ENGRAM_HYBRID_HTTP_PORT:-9102}"
mkdir -p "$DATA_DIR"

pids=()
stop() {
  echo
  echo ">> stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM

"$BUILD_DIR/storage-server/engram-storage" --data_dir="$DATA_DIR/storage" \
  --grpc_port="$STORAGE_GRPC" --http_port="$STORAGE_HTTP" --listen_address=127.0.0.1 &
pids+=($!)

"$BUILD_DIR/services/hybrid/engram-hybrid" --storage_addr="127.0.0.1:$STORAGE_GRPC" \
  --grpc_port="$HYBRID_GRPC" --http_port="$HYBRID_HTTP" --listen_address=127.0.0.1 &
pids+=($!)

wait_ready() {  # name, http port, pid
  echo ">> waiting for $1 to be ready"
  for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "$1 exited" >&2; stop; fi
    sleep 0.1
  done
  echo "$1 did not become ready: $(curl -s "http://127.0.0.1:$2/readyz")" >&2
  stop
}
wait_ready engram-storage "$STORAGE_HTTP" "${pids[0]}"
wait_ready engram-hybrid "$HYBRID_HTTP" "${pids[1]}"
cat <<INFO

Engram is running (data in $DATA_DIR):
  engram-storage  gRPC 127.0.0.1:$STORAGE_GRPC (engram.storage.v1.Storage, health, reflection)
                  HTTP http://127.0.0.1:$STORAGE_HTTP/{healthz,readyz,metrics}
  engram-hybrid   gRPC 127.0.0.1:$HYBRID_GRPC (engram.hybrid.v1.Hybrid: Embed, Learn, Search, Reason)
                  HTTP http://127.0.0.1:$HYBRID_HTTP/{healthz,readyz,metrics}

Try:
  curl -s http://127.0.0.1:$STORAGE_HTTP/metrics | grep '^engram_storage_concepts'
  curl -s http://127.0.0.1:$HYBRID_HTTP/readyz
(The public REST/gRPC API, engram-api, and the engramctl CLI are the next issue.)

Press Ctrl-C to stop.
INFO
wait
