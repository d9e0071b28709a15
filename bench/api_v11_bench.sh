#!/usr/bin/env bash
# API v1.1 benchmark (issue 11): loads WordNet's noun graph (82,115 concepts, 113,123 associations)
# into a fresh suite (bench/suite_lib.sh), then measures, RUNS times each (default 5), medians:
#   * ListConcepts: every page at pageSize 1000, over gRPC (engramctl list --output json) and REST
#     (curl following nextPageToken);
#   * ExportNamespace: engramctl export to a file (gRPC) and curl of GET :export (REST NDJSON);
#   * ReasonStream: time to the first SSE event and to the end, vs the unary Reason, same questions.
#   bench/api_v11_bench.sh [BUILD_DIR]
set -euo pipefail
BUILD_DIR="${1:-build}"
RUNS="${RUNS:-5}"
WORDNET_DIR="${WORDNET_DIR:-/usr/share/wordnet}"
API_FLAGS="--cache_ttl_ms=0 ${API_FLAGS:-}"  # unary Reason answers computed, never cached
# shellcheck source=bench/suite_lib.sh
source "$(dirname "$0")/suite_lib.sh"
CTL=("$BUILD_DIR/cli/engramctl/engramctl" --addr="$API_GRPC" --api_key="$KEY" --namespace=wordnet --timeout=120)
PY=/usr/bin/python3
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

load_start=$(now)
"${CTL[@]}" import wordnet "$WORDNET_DIR" > /dev/null 2> "$WORK/import.err"
printf 'load: %.1f s\n' "$(echo "$(now) - $load_start" | bc)"
concepts=$(curl -fsS -H "Authorization: Bearer $KEY" "$API_HTTP/v1/namespaces/wordnet" |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["conceptCount"])')
pages=$(( (concepts + 999) / 1000 ))
echo "concepts: $concepts, pages of 1000: $pages"

rest_list() {  # every page over REST; prints the page count
  $PY - "$API_HTTP" "$KEY" <<'PYEOF'
import json, sys, urllib.request
base, key = sys.argv[1], sys.argv[2]
token, pages = "", 0
while True:
    url = f"{base}/v1/namespaces/wordnet/concepts?pageSize=1000" + (f"&pageToken={token}" if token else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    body = json.load(urllib.request.urlopen(req))
    pages += 1
    token = body.get("nextPageToken", "")
    if not token:
        break
print(pages)
PYEOF
}

: > "$WORK/list_grpc"; : > "$WORK/list_rest"; : > "$WORK/export_grpc"; : > "$WORK/export_rest"
for _ in $(seq "$RUNS"); do
  t=$(now); "${CTL[@]}" --output=json list --page_size=1000 > "$WORK/list.out"
  echo "$pages / ($(now) - $t)" | bc -l >> "$WORK/list_grpc"
  [[ $(wc -l < "$WORK/list.out") -eq $concepts ]] || { echo "gRPC list: wrong count" >&2; exit 1; }
  t=$(now); got=$(rest_list)
  echo "$got / ($(now) - $t)" | bc -l >> "$WORK/list_rest"
  [[ $got -eq $pages ]] || { echo "REST list: $got pages, expected $pages" >&2; exit 1; }
  t=$(now); "${CTL[@]}" export "$WORK/export.ndjson" 2> /dev/null
  echo "$(stat -c %s "$WORK/export.ndjson") / 1000000 / ($(now) - $t)" | bc -l >> "$WORK/export_grpc"
  t=$(now); curl -fsS -H "Authorization: Bearer $KEY" -o "$WORK/export_rest.ndjson" "$API_HTTP/v1/namespaces/wordnet:export"
  echo "$(stat -c %s "$WORK/export_rest.ndjson") / 1000000 / ($(now) - $t)" | bc -l >> "$WORK/export_rest"
done
export_mb=$(echo "$(stat -c %s "$WORK/export.ndjson") / 1000000" | bc -l)

: > "$WORK/first"; : > "$WORK/stream"; : > "$WORK/unary"
for q in "What is a ptarmigan?" "What is a violin?" "What is a wing part of?" "What is a granite?" "What is a sparrow?"; do
  body=$(printf '{"query":"%s"}' "$q")
  for _ in $(seq "$RUNS"); do
    read -r first total < <(curl -fsS -N -o /dev/null -w '%{time_starttransfer} %{time_total}\n' \
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$body" \
      "$API_HTTP/v1/namespaces/wordnet/reason:stream")
    echo "$first" >> "$WORK/first"; echo "$total" >> "$WORK/stream"
    # The api runs with --cache_ttl_ms=0: every unary Reason is computed.
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' -d "$body" \
      "$API_HTTP/v1/namespaces/wordnet/reason" >> "$WORK/unary"
  done
done

m() { median < "$WORK/$1"; }
r() { sort -g "$WORK/$1" | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.3g-%.3g", lo, hi}'; }
printf '\n| measure (%d runs) | median | min-max |\n|---|---:|---|\n' "$RUNS"
printf '| ListConcepts pageSize 1000, gRPC (engramctl), pages/s | %.1f | %s |\n' "$(m list_grpc)" "$(r list_grpc)"
printf '| ListConcepts pageSize 1000, REST (python urllib), pages/s | %.1f | %s |\n' "$(m list_rest)" "$(r list_rest)"
printf '| export, gRPC (engramctl export to a file), MB/s (%.1f MB) | %.1f | %s |\n' "$export_mb" "$(m export_grpc)" "$(r export_grpc)"
printf '| export, REST NDJSON (curl), MB/s | %.1f | %s |\n' "$(m export_rest)" "$(r export_rest)"
printf '| reason:stream, time to first SSE event, ms | %.1f | %s s |\n' "$(echo "$(m first) * 1000" | bc -l)" "$(r first)"
printf '| reason:stream, whole stream, ms | %.1f | %s s |\n' "$(echo "$(m stream) * 1000" | bc -l)" "$(r stream)"
printf '| unary Reason (uncached), ms | %.1f | %s s |\n' "$(echo "$(m unary) * 1000" | bc -l)" "$(r unary)"
