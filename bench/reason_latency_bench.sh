#!/usr/bin/env bash
# Reason latency through the whole suite (bench/suite_lib.sh: durable storage, hybrid, api with
# --cache_ttl_ms=0 so every answer is computed) on WordNet's noun graph, as `engramctl import
# wordnet` loads it: each question of QUESTIONS (one per line; a default mix of is-a, part-of,
# between and yes/no questions) asked RUNS times (default 5) over REST, one at a time. Prints each
# question's median latency and answer, then the median and p90 over all calls. Run it with two
# build directories, one after the other, to compare builds, or one build with two HYBRID_FLAGS:
#   [HYBRID_FLAGS=...] bench/reason_latency_bench.sh [BUILD_DIR]
set -euo pipefail
BUILD_DIR="${1:-build}"
RUNS="${RUNS:-5}"
WORDNET_DIR="${WORDNET_DIR:-/usr/share/wordnet}"
API_FLAGS="--cache_ttl_ms=0 ${API_FLAGS:-}"
QUESTIONS="${QUESTIONS:-What is a ptarmigan?
What is a violin?
What is a sparrow?
What is a wing part of?
What is a yolk part of?
How is a dog related to mammal?
How is an Agelaius related to genus?
How is a Lagomorpha related to order?
How is an oak related to plant?
How is a cab related to vehicle?
How is a seat related to entity?
Is a dog a mammal?
Is a dog a feline?
Is a whale a fish?
Is a bat a mammal?
Is a penguin a bird?
Is an Elanus a genus?}"
# shellcheck source=bench/suite_lib.sh
source "$(dirname "$0")/suite_lib.sh"
PY=/usr/bin/python3
"$BUILD_DIR/cli/engramctl/engramctl" --addr="$API_GRPC" --api_key="$KEY" --namespace=wordnet \
  --timeout=120 import wordnet "$WORDNET_DIR" > /dev/null 2> "$WORK/import.err"
: > "$WORK/all"
printf '| question | median ms | answer (confidence) |\n|---|---:|---|\n'
while IFS= read -r q; do
  [[ -n "$q" ]] || continue
  body=$($PY -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$q")
  : > "$WORK/one"
  for _ in $(seq "$RUNS"); do
    curl -fsS -o "$WORK/answer.json" -w '%{time_total}\n' -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' -d "$body" "$API_HTTP/v1/namespaces/wordnet/reason" \
      >> "$WORK/one"
  done
  cat "$WORK/one" >> "$WORK/all"
  answer=$($PY -c 'import json,sys
r = json.load(open(sys.argv[1]))
a = r.get("answer") or {}
print("%s (%.2f%s)" % (a.get("content", "-")[:50], r["confidence"].get("final", 0), "" if r.get("confident") else ", not confident"))' "$WORK/answer.json")
  printf '| %s | %.1f | %s |\n' "$q" "$(sort -g "$WORK/one" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] * 1000}')" "$answer"
done <<< "$QUESTIONS"
sort -g "$WORK/all" | awk '{a[NR]=$1} END {printf "\nall %d calls: median %.1f ms, p90 %.1f ms; load average %s\n", NR, a[int((NR+1)/2)] * 1000, a[int(NR*0.9+0.5)] * 1000, "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"}'
