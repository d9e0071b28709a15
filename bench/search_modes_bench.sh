#!/usr/bin/env bash
# Text search through the whole suite by mode, side by side in one run (issue 12 "costs"): a fresh
# suite (bench/suite_lib.sh, durable storage), 100K concepts of random vocabulary loaded through
# the api, then api_load_bench with distinct queries (the response cache off) for
#   search          the default mode, HYBRID (hybrid embeds; storage: vector + BM25, fused)
#   search_meaning  mode VECTOR (what a text search was before keyword search)
#   search_keyword  mode KEYWORD (api -> storage BM25, nothing embedded)
#   bench/search_modes_bench.sh [BUILD_DIR]      CONCURRENCY (default 1,8,32), DURATION_S (4)
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
"${LOAD[@]}" --load=100000 --ops=get --concurrency=1 --duration_s=1 > "$WORK/load.txt"
# Wait for the HNSW indexer so every mode searches the same, fully indexed data.
for _ in $(seq 1 600); do
  indexed=$(curl -fsS "http://127.0.0.1:$SH/metrics" |
    awk '/^engram_storage_indexed_vectors\{namespace="bench"\}/ {print int($2)}')
  [[ "${indexed:-0}" -ge 100000 ]] && break
  sleep 1
done
echo "indexed: ${indexed:-0}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"${LOAD[@]}" --known_ids=100000 --ops=search,search_meaning,search_keyword \
  --concurrency="$CONCURRENCY" --duration_s="$DURATION_S" --warmup_s=1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
