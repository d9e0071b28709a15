#!/usr/bin/env bash
# Two engram-storage builds side by side in one suite, on the same data: a fresh suite
# (bench/suite_lib.sh, durable storage, the api's response cache off), 100K concepts of random
# vocabulary loaded through the api once, then ROUNDS rounds of: restart storage with binary A,
# measure each mode, restart it with B, measure again. Each line gives the mode's rate, p95 and
# the CPU per search of storage and of the api (from /proc, warm-up included). Use it to compare a
# storage change on the whole search path without reloading between the two.
#   bench/search_ab_bench.sh BUILD_DIR STORAGE_A STORAGE_B
#       ROUNDS (default 2), MODES (default search,search_keyword), CONCURRENCY (8), DURATION_S (5)
set -euo pipefail
BUILD_DIR="$1"
A_BIN="$2"
B_BIN="$3"
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
suite_load_bench 100000
ticks_per_s=$(getconf CLK_TCK)
start_storage() {  # binary: replaces pids[0] (storage) on the same data and ports
  kill -TERM "${pids[0]}"
  wait "${pids[0]}" 2>/dev/null || true
  "$1" --data_dir="$WORK/storage" --listen_address=127.0.0.1 --grpc_port="$SG" --http_port="$SH" \
    >>"$WORK/storage.log" 2>&1 &
  pids[0]=$!
  wait_ready storage "$SH"
}
IFS=, read -r -a modes <<< "$MODES"
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    if [[ $side == A ]]; then start_storage "$A_BIN"; else start_storage "$B_BIN"; fi
    for op in "${modes[@]}"; do
      storage0=$(cpu_ticks "${pids[0]}")
      api0=$(cpu_ticks "${pids[2]}")
      "${LOAD[@]}" --known_ids=100000 --ops="$op" --concurrency="$CONCURRENCY" \
        --duration_s="$DURATION_S" --warmup_s=1 --json="$WORK/$op.json" > /dev/null
      storage_ticks=$(($(cpu_ticks "${pids[0]}") - storage0))
      api_ticks=$(($(cpu_ticks "${pids[2]}") - api0))
      python3 - "$WORK/$op.json" "$round" "$side" "$op" "$storage_ticks" "$api_ticks" "$ticks_per_s" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["cells"][0]
calls = c["ops_per_s"] * (c["seconds"] + j["warmup_s"])  # warm-up included, at the same rate
per = lambda ticks: float(ticks) / float(sys.argv[7]) / max(calls, 1) * 1e6
print(f"round {sys.argv[2]} {sys.argv[3]} {sys.argv[4]}: {c['ops_per_s']:.0f} ops/s, p95 {c['p95_ms']:.1f} ms, "
      f"CPU per search: storage {per(sys.argv[5]):.0f} us, api {per(sys.argv[6]):.0f} us")
PY
    done
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
