#!/usr/bin/env bash
# End-to-end WordNet import benchmark: starts engram-storage, engram-hybrid and engram-api from
# BUILD_DIR exactly as scripts/run-local.sh does (durable storage, an API key file, default limits:
# --key_rate=1000), runs `engramctl import wordnet` into a fresh data directory and prints the
# wall time and engramctl's summary line. Used for docs/benchmarks.md ("WordNet import").
#
#   bench/wordnet_import.sh [BUILD_DIR] [extra engramctl import flags...]
#
# Environment: WORDNET_DIR (default /usr/share/wordnet), API_FLAGS (extra engram-api flags),
# PORT_BASE (default 56000), KEEP_WORK=1 to keep the data directory (bench/suite_lib.sh).
set -euo pipefail
BUILD_DIR="${1:-build}"
shift || true
WORDNET_DIR="${WORDNET_DIR:-/usr/share/wordnet}"
# shellcheck source=bench/suite_lib.sh
source "$(dirname "$0")/suite_lib.sh"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
ENGRAM_API_KEY="$KEY" "$BUILD_DIR/cli/engramctl/engramctl" --addr=127.0.0.1:$((PORT_BASE + 1)) \
  --namespace=wordnet --timeout=120 import wordnet "$WORDNET_DIR" "$@" 2> "$WORK/import.err"
end=$(date +%s.%N)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'wall: %.1f s\n' "$(echo "$end - $start" | bc)"
grep -aE "^(concepts|associations): [0-9]+ in " "$WORK/import.err" || true
curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$((PORT_BASE + 11))/v1/namespaces/wordnet"
echo
