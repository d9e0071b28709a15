#!/usr/bin/env bash
# Starts the Engram suite on localhost with an embedded data directory (./engram-data):
# engram-storage, engram-hybrid, engram-api and engram-control (the admin UI), waits until all are ready, loads a demo knowledge
# set on the first run (WordNet's nouns when wordnet-base is installed, a small built-in set
# otherwise) and prints what to try. Ctrl-C stops everything cleanly; starting again keeps the data
# (and the development API key).
#
# Environment: ENGRAM_DATA_DIR, ENGRAM_{STORAGE,HYBRID,API}_{GRPC,HTTP}_PORT, ENGRAM_CONTROL_HTTP_PORT, ENGRAM_DEMO=none|small|wordnet,
# ENGRAM_WORDNET_LIMIT (synsets to import; default all).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
DATA_DIR="${ENGRAM_DATA_DIR:-$PWD/engram-data}"
STORAGE_GRPC="${ENGRAM_STORAGE_GRPC_PORT:-50053}"
STORAGE_HTTP="${ENGRAM_STORAGE_HTTP_PORT:-9103}"
HYBRID_GRPC="${ENGRAM_HYBRID_GRPC_PORT:-50052}"
HYBRID_HTTP="${ENGRAM_HYBRID_HTTP_PORT:-9102}"
API_GRPC="${ENGRAM_API_GRPC_PORT:-50051}"
API_HTTP="${ENGRAM_API_HTTP_PORT:-8080}"
CONTROL_HTTP="${ENGRAM_CONTROL_HTTP_PORT:-8090}"
WORDNET_DIR=/usr/share/wordnet
mkdir -p "$DATA_DIR"

# A development API key (admin on every namespace), created once and kept with the data.
KEYS_FILE="$DATA_DIR/api-keys.json"
if [[ ! -s "$KEYS_FILE" ]]; then
  dev_key="ek_dev_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  umask 077
  printf '{"keys": [{"name": "local-dev", "key": "%s", "role": "admin", "namespaces": ["*"]}]}\n' \
    "$dev_key" > "$KEYS_FILE"
  umask 022
fi
DEV_KEY="$(sed -n 's/.*"key": "\([^"]*\)".*/\1/p' "$KEYS_FILE" | head -1)"

pids=()
stop() {
  trap - INT TERM
  echo
  echo ">> stopping"
  # api first (it drains its requests), then hybrid, then storage.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM

wait_ready() {  # name, http port, pid
  echo ">> waiting for $1 to be ready"
  for _ in $(seq 1 1200); do
    if curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then echo "$1 exited; see its log above" >&2; stop; fi
    sleep 0.1
  done
  echo "$1 did not become ready: $(curl -s "http://127.0.0.1:$2/readyz")" >&2
  stop
}

"$BUILD_DIR/storage-server/engram-storage" --data_dir="$DATA_DIR/storage" \
  --grpc_port="$STORAGE_GRPC" --http_port="$STORAGE_HTTP" --listen_address=127.0.0.1 &
pids+=($!)
wait_ready engram-storage "$STORAGE_HTTP" "${pids[0]}"

"$BUILD_DIR/services/hybrid/engram-hybrid" --storage_addr="127.0.0.1:$STORAGE_GRPC" \
  --grpc_port="$HYBRID_GRPC" --http_port="$HYBRID_HTTP" --listen_address=127.0.0.1 \
  --model_dir="$BUILD_DIR/models" &
pids+=($!)
wait_ready engram-hybrid "$HYBRID_HTTP" "${pids[1]}"

"$BUILD_DIR/services/api/engram-api" --storage_addr="127.0.0.1:$STORAGE_GRPC" \
  --hybrid_addr="127.0.0.1:$HYBRID_GRPC" --api_keys_file="$KEYS_FILE" \
  --grpc_port="$API_GRPC" --http_port="$API_HTTP" --listen_address=127.0.0.1 &
pids+=($!)
wait_ready engram-api "$API_HTTP" "${pids[2]}"

"$BUILD_DIR/services/control/engram-control" --storage_addr="127.0.0.1:$STORAGE_GRPC" \
  --storage_http_addr="127.0.0.1:$STORAGE_HTTP" --hybrid_addr="127.0.0.1:$HYBRID_GRPC" \
  --hybrid_http_port="$HYBRID_HTTP" --api_http_addr="127.0.0.1:$API_HTTP" --api_keys_file="$KEYS_FILE" \
  --http_port="$CONTROL_HTTP" --listen_address=127.0.0.1 &
pids+=($!)
wait_ready engram-control "$CONTROL_HTTP" "${pids[3]}"

ENGRAMCTL="$BUILD_DIR/cli/engramctl/engramctl"
export ENGRAM_ADDR="127.0.0.1:$API_GRPC" ENGRAM_API_KEY="$DEV_KEY"

# Demo knowledge, once: WordNet's noun graph when installed, otherwise a small built-in set.
demo="${ENGRAM_DEMO:-auto}"
if [[ "$demo" == auto ]]; then
  if [[ -r "$WORDNET_DIR/data.noun" ]]; then demo=wordnet; else demo=small; fi
fi
DEMO_NS=default
if [[ "$demo" == wordnet ]]; then
  DEMO_NS=wordnet
  if [[ ! -e "$DATA_DIR/.wordnet-imported" ]]; then  # the import is idempotent: rerun if interrupted
    # 82K synsets load in seconds; the ~113K associations are one durable Associate call each and
    # take minutes, so the import runs in the background while the suite is already usable.
    echo ">> importing WordNet nouns from $WORDNET_DIR into namespace 'wordnet' in the background"
    echo "   (first run only; progress in $DATA_DIR/wordnet-import.log)"
    limit=()
    [[ -n "${ENGRAM_WORDNET_LIMIT:-}" ]] && limit=(--limit="$ENGRAM_WORDNET_LIMIT")
    ( "$ENGRAMCTL" --namespace=wordnet import wordnet "$WORDNET_DIR" "${limit[@]}" \
        > "$DATA_DIR/wordnet-import.log" 2>&1 && touch "$DATA_DIR/.wordnet-imported" \
        && echo ">> WordNet import finished: $(tail -1 "$DATA_DIR/wordnet-import.log")" ) &
  fi
elif [[ "$demo" == small && ! -e "$DATA_DIR/.small-demo-imported" ]]; then
  echo ">> learning a small demo set into namespace 'default'"
  "$ENGRAMCTL" --namespace=default learn --file=scripts/demo-knowledge.txt && touch "$DATA_DIR/.small-demo-imported"
fi

# Example questions that the demo knowledge answers well (the built-in hashing embedder matches
# words and word pieces, not meaning: see docs/hybrid.md).
if [[ "$DEMO_NS" == wordnet ]]; then
  search_example="stringed musical instrument"
  reason_example="What is a pine tree?"
else
  search_example="large sea mammal"
  reason_example="Is a whale an animal?"
fi

cat <<INFO

Engram is running (data in $DATA_DIR):
  engram-api      REST  http://127.0.0.1:$API_HTTP   (OpenAPI: /openapi.json; /healthz /readyz /metrics)
                  gRPC  127.0.0.1:$API_GRPC          (engram.v1.Engram, health, reflection)
  engram-hybrid   gRPC  127.0.0.1:$HYBRID_GRPC   HTTP http://127.0.0.1:$HYBRID_HTTP/{healthz,readyz,metrics}
  engram-storage  gRPC  127.0.0.1:$STORAGE_GRPC   HTTP http://127.0.0.1:$STORAGE_HTTP/{healthz,readyz,metrics}

Admin UI (engram-control): http://127.0.0.1:$CONTROL_HTTP/   (log in with the development key below)

Development API key (admin, kept in $KEYS_FILE):
  export ENGRAM_API_KEY=$DEV_KEY ENGRAM_ADDR=127.0.0.1:$API_GRPC

Try (REST):
  curl -s -H "Authorization: Bearer \$ENGRAM_API_KEY" -X POST http://127.0.0.1:$API_HTTP/v1/namespaces/default/concepts \\
       -d '{"content": "A whale is a mammal"}'
  curl -s -H "Authorization: Bearer \$ENGRAM_API_KEY" -X POST http://127.0.0.1:$API_HTTP/v1/namespaces/$DEMO_NS/search \\
       -d '{"query": "$search_example", "k": 5}'
  curl -s -H "Authorization: Bearer \$ENGRAM_API_KEY" -X POST http://127.0.0.1:$API_HTTP/v1/namespaces/$DEMO_NS/reason \\
       -d '{"query": "$reason_example"}'

Try (engramctl, $ENGRAMCTL):
  $ENGRAMCTL learn "Whales eat krill"
  $ENGRAMCTL -n $DEMO_NS search "$search_example"
  $ENGRAMCTL -n $DEMO_NS reason "$reason_example"
  $ENGRAMCTL -n $DEMO_NS neighbors <id from a search> --direction OUT
  $ENGRAMCTL -n $DEMO_NS paths <source id> <target id>
  $ENGRAMCTL stats

Press Ctrl-C to stop.
INFO
wait
