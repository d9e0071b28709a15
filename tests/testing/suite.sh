# Sourced by the shell tests and bench scripts that run the real services:
#   source tests/testing/suite.sh
#   suite_init /tmp/engram-x        # WORK=a new temp dir; on exit: stop every started process, rm WORK
#   suite_keys "$ADMIN_KEY"         # WORK/keys.json with one admin key
#   suite_start_core "$BUILD"       # storage, hybrid, api; sets SG SH HG HH AG AH (ports)
# Ports default to free ones; set SG SH HG HH AG AH before suite_start_core to fix them.
# API_FLAGS: extra engram-api flags; API_CACERT: engram-api serves HTTPS (its --tls_cert in
# API_FLAGS), verified against this CA. KEEP_WORK=1 keeps WORK. Every started pid goes in `pids`.
# shellcheck shell=bash

suite_init() {  # prefix
  WORK="$(mktemp -d "$1".XXXXXX)"
  pids=()
  trap suite_cleanup EXIT
}

suite_cleanup() {  # stops the processes in `pids`, newest first, then removes WORK
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

suite_logs() {  # the tail of every service log, on stderr
  local f
  for f in "$WORK"/*.log; do echo "== $f"; tail -20 "$f"; done >&2
}

wait_ready() {  # name http_port [ca_file: the port is HTTPS]
  local _ url="http://127.0.0.1:$2/readyz" tls=()
  if [[ -n "${3:-}" ]]; then url="https://127.0.0.1:$2/readyz" tls=(--cacert "$3"); fi
  for _ in $(seq 1 600); do
    curl -fsS "${tls[@]}" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 not ready: $(curl -s "${tls[@]}" "$url")" >&2
  suite_logs
  exit 1
}

suite_keys() {  # admin_key [extra key objects, JSON, comma-led]
  printf '{"keys": [{"name": "admin", "key": "%s", "role": "admin", "namespaces": ["*"]}%s]}\n' \
    "$1" "${2:-}" >"$WORK/keys.json"
}

suite_start_core() {  # build_dir
  local build="$1"
  SG=${SG:-$(free_port)} SH=${SH:-$(free_port)} HG=${HG:-$(free_port)} HH=${HH:-$(free_port)}
  AG=${AG:-$(free_port)} AH=${AH:-$(free_port)}
  "$build/storage-server/engram-storage" --data_dir="$WORK/storage" --listen_address=127.0.0.1 \
    --grpc_port="$SG" --http_port="$SH" >"$WORK/storage.log" 2>&1 &
  pids+=($!)
  wait_ready storage "$SH"
  "$build/services/hybrid/engram-hybrid" --storage_addr="127.0.0.1:$SG" --listen_address=127.0.0.1 \
    --grpc_port="$HG" --http_port="$HH" >"$WORK/hybrid.log" 2>&1 &
  pids+=($!)
  wait_ready hybrid "$HH"
  # shellcheck disable=SC2086  # API_FLAGS is a list of flags
  "$build/services/api/engram-api" --storage_addr="127.0.0.1:$SG" --hybrid_addr="127.0.0.1:$HG" \
    --api_keys_file="$WORK/keys.json" --listen_address=127.0.0.1 --grpc_port="$AG" \
    --http_port="$AH" ${API_FLAGS:-} >"$WORK/api.log" 2>&1 &
  pids+=($!)
  wait_ready api "$AH" "${API_CACERT:-}"
}
