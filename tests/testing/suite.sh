# Sourced by the shell tests and bench scripts that run the real services:
#   source tests/testing/suite.sh
#   suite_init /tmp/engram-x        # WORK=a new temp dir; on exit: stop every started process, rm WORK
#   suite_keys "$ADMIN_KEY"         # WORK/keys.json with one admin key
#   suite_start_core "$BUILD"       # storage, hybrid, api; sets SG SH HG HH AG AH (ports)
# Ports default to free ones; set SG SH HG HH AG AH before suite_start_core to fix them.
# API_FLAGS, HYBRID_FLAGS: extra engram-api, engram-hybrid flags; API_CACERT: engram-api serves HTTPS (its --tls_cert in
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

# Waits for a service's "serving on grpc G http H" log line and sets the variables named by $2 and
# $3 to G and H: services started with port 0 get theirs from the kernel, so suites that run in
# parallel never race for a port (a port picked by free_port can be taken before it is bound).
await_ports() {  # log grpc_var http_var
  local _ line=""
  for _ in $(seq 1 600); do
    line=$(grep -m1 -oE "serving on grpc [0-9]+ http [0-9]+" "$1" 2>/dev/null) && break
    sleep 0.1
  done
  [[ -n "$line" ]] || { echo "$1: the service did not report its ports" >&2; suite_logs; exit 1; }
  local words
  read -ra words <<<"$line"
  printf -v "$2" %s "${words[3]}"
  printf -v "$3" %s "${words[5]}"
}

suite_start_core() {  # build_dir
  suite_start_storage "$1"
  suite_start_hybrid "$1"
  suite_start_api "$1"
}

# One service each, from build_dir, on the ports in SG SH / HG HH / AG AH (free ones when unset);
# appends its pid to `pids`. A bench restarts one on the same ports and data with a different build.
suite_start_storage() {  # build_dir
  "$1/storage-server/engram-storage" --data_dir="$WORK/storage" --listen_address=127.0.0.1 \
    --grpc_port="${SG:-0}" --http_port="${SH:-0}" >>"$WORK/storage.log" 2>&1 &
  pids+=($!)
  await_ports "$WORK/storage.log" SG SH
  wait_ready storage "$SH"
}

suite_start_hybrid() {  # build_dir
  # shellcheck disable=SC2086  # HYBRID_FLAGS is a list of flags
  "$1/services/hybrid/engram-hybrid" --storage_addr="127.0.0.1:$SG" --listen_address=127.0.0.1 \
    --grpc_port="${HG:-0}" --http_port="${HH:-0}" ${HYBRID_FLAGS:-} >>"$WORK/hybrid.log" 2>&1 &
  pids+=($!)
  await_ports "$WORK/hybrid.log" HG HH
  wait_ready hybrid "$HH"
}

suite_start_api() {  # build_dir
  # shellcheck disable=SC2086  # API_FLAGS is a list of flags
  "$1/services/api/engram-api" --storage_addr="127.0.0.1:$SG" --hybrid_addr="127.0.0.1:$HG" \
    --api_keys_file="$WORK/keys.json" --listen_address=127.0.0.1 --grpc_port="${AG:-0}" \
    --http_port="${AH:-0}" ${API_FLAGS:-} >>"$WORK/api.log" 2>&1 &
  pids+=($!)
  await_ports "$WORK/api.log" AG AH
  wait_ready api "$AH" "${API_CACERT:-}"
}
