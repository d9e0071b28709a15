# Sourced by bench scripts: starts engram-storage, engram-hybrid and engram-api from $BUILD_DIR
# as scripts/run-local.sh does (durable storage, an API key file, default limits) on fixed ports
# around PORT_BASE (default 56000), in WORK (a new temporary directory, removed on exit unless
# KEEP_WORK is set; tests/testing/suite.sh). Sets KEY (an admin key), API_GRPC=127.0.0.1:<port> and
# API_HTTP=http://127.0.0.1:<port>. API_FLAGS: extra engram-api flags. Defines suite_load_bench (load
# the search benchmarks' namespace and wait for its index), cpu_ticks (a process's CPU so far) and
# cpu_per_search (each service's CPU per search of an api_load_bench run).
# shellcheck shell=bash
PORT_BASE="${PORT_BASE:-56000}"
# shellcheck source=tests/testing/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/testing/suite.sh"
suite_init /tmp/engram-bench
KEY="ek_engram_bench_0123456789abcdef"
suite_keys "$KEY"
AG=$((PORT_BASE + 1)) AH=$((PORT_BASE + 11)) HG=$((PORT_BASE + 2)) HH=$((PORT_BASE + 12))
SG=$((PORT_BASE + 3)) SH=$((PORT_BASE + 13))
suite_start_core "$BUILD_DIR"
API_GRPC="127.0.0.1:$AG"
API_HTTP="http://127.0.0.1:$AH"
export KEY API_GRPC API_HTTP

# Loads N concepts of random vocabulary into namespace "bench" through the api (api_load_bench's
# load phase; extra arguments go to it), then waits until storage's HNSW index holds all N, so
# every measurement after it searches the same, fully indexed data.
suite_load_bench() {  # n [api_load_bench flags...]
  local n="$1" indexed=0
  shift
  "$BUILD_DIR/bench/api_load_bench" --target="$API_GRPC" --load="$n" "$@" --ops=get \
    --concurrency=1 --duration_s=1 > "$WORK/load.txt"
  for _ in $(seq 1 600); do
    indexed=$(curl -fsS "http://127.0.0.1:$SH/metrics" |
      awk '/^engram_storage_indexed_vectors\{namespace="bench"\}/ {print int($2)}')
    [[ "${indexed:-0}" -ge "$n" ]] && break
    sleep 1
  done
  echo "indexed: ${indexed:-0}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of a process, in ticks

# "storage N us, hybrid N us, api N us": each service's CPU ticks over an api_load_bench run
# divided by the searches it made, warm-ups included (each at its cell's measured rate).
cpu_per_search() {  # results.json storage_ticks hybrid_ticks api_ticks
  python3 - "$@" "$(getconf CLK_TCK)" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
calls = sum(c["ops_per_s"] * (c["seconds"] + j["warmup_s"]) for c in j["cells"])
us = [float(t) / float(sys.argv[5]) / max(calls, 1) * 1e6 for t in sys.argv[2:5]]
print(f"storage {us[0]:.0f} us, hybrid {us[1]:.0f} us, api {us[2]:.0f} us (~{calls:.0f} searches)")
PY
}
