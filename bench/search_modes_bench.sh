#!/usr/bin/env bash
# Text search through the whole suite by mode, side by side in one run (issue 12 "costs"): a fresh
# suite (bench/suite_lib.sh, durable storage), 100K concepts of random vocabulary loaded through
# the api, then api_load_bench with distinct queries (the response cache off) for
#   search          the default mode, HYBRID (hybrid embeds; storage: vector + BM25, fused)
#   search_meaning  mode VECTOR (what a text search was before keyword search)
#   search_keyword  mode KEYWORD (api -> storage BM25, nothing embedded)
# Each op runs on its own, and the CPU each service spent per search in it (from /proc, over the
# whole op: warm-up and every concurrency) is printed after the table, so where a search's time
# goes can be read per service even when the shared machine's load moves the rates.
#   bench/search_modes_bench.sh [BUILD_DIR]      CONCURRENCY (default 1,8,32), DURATION_S (4),
#                                                QUANTIZATION (none or int8; default none)
set -euo pipefail
BUILD_DIR="${1:-build}"
CONCURRENCY="${CONCURRENCY:-1,8,32}"
DURATION_S="${DURATION_S:-4}"
API_FLAGS="--cache_ttl_ms=0 --key_rate=0 ${API_FLAGS:-}"
# shellcheck source=bench/suite_lib.sh
source "$(dirname "$0")/suite_lib.sh"
export ENGRAM_API_KEY="$KEY"
LOAD=("$BUILD_DIR/bench/api_load_bench" --target="$API_GRPC")
echo "load: 100,000 concepts"
suite_load_bench 100000 --quantization="${QUANTIZATION:-none}"
cpu_report=()
echo "| op | concurrency | ops/s | p50 ms | p95 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|---|"
for op in search search_meaning search_keyword; do
  before=()
  for i in 0 1 2; do before+=("$(cpu_ticks "${pids[i]}")"); done
  "${LOAD[@]}" --known_ids=100000 --ops="$op" --concurrency="$CONCURRENCY" \
    --duration_s="$DURATION_S" --warmup_s=1 --json="$WORK/$op.json" | grep -E "^\| $op "
  ticks=()
  for i in 0 1 2; do ticks+=($(($(cpu_ticks "${pids[i]}") - before[i]))); done
  cpu_report+=("$op, CPU per search: $(cpu_per_search "$WORK/$op.json" "${ticks[@]}")")
done
printf '%s\n' "${cpu_report[@]}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
