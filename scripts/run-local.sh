#!/usr/bin/env bash
# Starts the Engram suite on localhost with an embedded data directory (./engram-data).
# Today the suite is engram-storage; engram-hybrid and engram-api join as they land.
# Ctrl-C stops everything cleanly; starting again keeps the data.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
DATA_DIR="${ENGRAM_DATA_DIR:-$PWD/engram-data}"
STORAGE_GRPC="${ENGRAM_STORAGE_GRPC_PORT:-50053}"
STORAGE_HTTP="${ENGRAM_STORAGE_HTTP_PORT:-9103}"
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

echo ">> waiting for engram-storage to be ready"
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$STORAGE_HTTP/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "engram-storage exited" >&2; exit 1; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$STORAGE_HTTP/readyz"; echo
cat <<INFO

Engram is running (data in $DATA_DIR):
  engram-storage  gRPC 127.0.0.1:$STORAGE_GRPC (engram.storage.v1.Storage, health, reflection)
                  HTTP http://127.0.0.1:$STORAGE_HTTP/{healthz,readyz,metrics}

Try:
  curl -s http://127.0.0.1:$STORAGE_HTTP/metrics | grep '^engram_storage_concepts'

Press Ctrl-C to stop.
INFO
wait
