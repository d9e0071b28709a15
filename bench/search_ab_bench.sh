#!/usr/bin/env bash
# Two builds side by side in one suite, on the same data: a fresh suite (bench/suite_lib.sh from
# BUILD_DIR, durable storage, the api's response cache off), 100K concepts of random vocabulary
# loaded through the api once, then ROUNDS rounds of: restart the SERVICES with build A's binaries,
# measure each mode, restart them with build B's, measure again. Each line gives the mode's rate,
# p95 and the CPU per search of each service (from /proc, warm-up included). Use it to compare a
# change on the whole search path without reloading between the two.
#   bench/search_ab_bench.sh BUILD_DIR BUILD_A BUILD_B      (build directories, or copies of their
#       storage-server/engram-storage, services/hybrid/engram-hybrid, services/api/engram-api)
#   SERVICES (storage, hybrid, api; comma-separated; default storage), ROUNDS (default 2),
#   MODES (default search,search_keyword), CONCURRENCY (8), DURATION_S (5), QUANTIZATION (none
#   or int8, the namespace's vectors; default none)
set -euo pipefail
BUILD_DIR="$1"
A_DIR="$2"
B_DIR="$3"
SERVICES="${SERVICES:-storage}"
ROUNDS="${ROUNDS:-2}"
MODES="${MODES:-search,search_keyword}"
CONCURRENCY="${CONCURRENCY:-8}"
DURATION_S="${DURATION_S:-5}"
API_FLAGS="--cache_ttl_ms=0 --key_rate=0 ${API_FLAGS:-}"
# shellcheck source=bench/suite_lib.sh
source "$(dirname "$0")/suite_lib.sh"
export ENGRAM_API_KEY="$KEY"
LOAD=("$BUILD_DIR/bench/api_load_bench" --target="$API_GRPC")
echo "load: 100,000 concepts"
suite_load_bench 100000 --quantization="${QUANTIZATION:-none}"
# Restarts one service from build directory $2 on the same data and ports (pids[0..2] are storage,
# hybrid and api, in the order suite_start_core started them).
restart() {  # service build_dir
  local i
  case "$1" in storage) i=0 ;; hybrid) i=1 ;; api) i=2 ;; *) echo "unknown service $1" >&2; exit 2 ;; esac
  kill -TERM "${pids[i]}"
  wait "${pids[i]}" 2>/dev/null || true
  "suite_start_$1" "$2"  # appends the new pid
  pids[i]=${pids[-1]}
  unset 'pids[-1]'
}
IFS=, read -r -a services <<< "$SERVICES"
IFS=, read -r -a modes <<< "$MODES"
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    dir=$A_DIR
    [[ $side == B ]] && dir=$B_DIR
    for service in "${services[@]}"; do restart "$service" "$dir"; done
    for op in "${modes[@]}"; do
      before=()
      for i in 0 1 2; do before+=("$(cpu_ticks "${pids[i]}")"); done
      "${LOAD[@]}" --known_ids=100000 --ops="$op" --concurrency="$CONCURRENCY" \
        --duration_s="$DURATION_S" --warmup_s=1 --json="$WORK/$op.json" > /dev/null
      ticks=()
      for i in 0 1 2; do ticks+=($(($(cpu_ticks "${pids[i]}") - before[i]))); done
      rate=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['cells'][0]
print(f\"{c['ops_per_s']:.0f} ops/s, p95 {c['p95_ms']:.1f} ms\")" "$WORK/$op.json")
      echo "round $round $side $op: $rate, CPU per search: $(cpu_per_search "$WORK/$op.json" "${ticks[@]}")"
    done
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
