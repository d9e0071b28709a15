#!/usr/bin/env bash
# Engram over REST/JSON with curl, end to end.
#
# Creates a namespace, learns a batch of facts, lists the learned concepts page by page, searches,
# streams a reasoning as Server-Sent Events (seeds and paths as they are found, then the answer),
# exports the namespace as NDJSON and deletes it. Every step checks its result: the script exits 1
# with "FAIL: ..." on any mismatch.
#
#   clients/curl/engram_example.sh --url http://127.0.0.1:8080 --api_key "$ENGRAM_API_KEY"
# (or set ENGRAM_HTTP_URL and ENGRAM_API_KEY). Against a suite with TLS: --url https://HOST:8080
# --ca_file ca.crt (the CA that signed engram-api's certificate; curl passes it as --cacert; without
# it curl uses the system's CAs). The key needs the admin role (it creates and deletes
# a namespace). Needs curl and python3 (only to read JSON values; jq would do as well).
set -euo pipefail

URL="${ENGRAM_HTTP_URL:-http://127.0.0.1:8080}"
KEY="${ENGRAM_API_KEY:-}"
NS="example-curl-$$-$(date +%s)"
TLS=()
if [[ -n "${ENGRAM_CA_FILE:-}" ]]; then TLS=(--cacert "$ENGRAM_CA_FILE"); fi
while (($#)); do
  case "$1" in
    --ca_file) TLS=(--cacert "$2"); shift 2 ;;
    --url) URL="$2"; shift 2 ;;
    --api_key) KEY="$2"; shift 2 ;;
    --namespace) NS="$2"; shift 2 ;;
    *) echo "usage: $0 [--url URL] [--api_key KEY] [--ca_file PEM] [--namespace NAME]" >&2; exit 2 ;;
  esac
done

# Each fact is one concept. Relations stated in a fact ("X is a Y", "X leads to Y") also become
# concepts of their own ("deforestation", "soil erosion") joined by typed associations.
FACTS=(
  "A whale is a mammal"
  "A dolphin is a mammal"
  "A mammal is an animal"
  "Whales eat krill"
  "Krill is part of plankton"
  "Heavy rain causes floods"
  "Floods damage houses"
  "Deforestation leads to soil erosion"
  "Soil erosion results in poorer harvests"
  "The caterpillar becomes a chrysalis before it becomes a butterfly"
  "A butterfly is an insect"
  "Bees pollinate flowers"
)
SEARCH_QUERY="caterpillar chrysalis"
SEARCH_EXPECTED="The caterpillar becomes a chrysalis before it becomes a butterfly"
QUESTION="What does deforestation lead to?"
ANSWER_EXPECTED="soil erosion"
PAGE_SIZE=5      # small on purpose: the 12 facts take 3 pages
MAX_TIME=30      # seconds per request

fail() { echo "FAIL: $*" >&2; exit 1; }
# Reads JSON on stdin and prints a Python expression of it, `d` (jq would do as well).
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# The same for each line of NDJSON on stdin.
json_lines() { python3 -c "import json, sys; [print($1) for d in map(json.loads, sys.stdin)]"; }

[[ -n "$KEY" ]] || fail "no API key: pass --api_key or set ENGRAM_API_KEY"
AUTH=(-H "Authorization: Bearer $KEY")
TMP="$(mktemp -d)"
created=0
cleanup() {
  if ((created)); then  # a failed run still deletes its namespace
    curl -sS -o /dev/null --max-time "$MAX_TIME" "${TLS[@]}" "${AUTH[@]}" -X DELETE "$URL/v1/namespaces/$NS" || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# api STATUS METHOD PATH [curl args...]: one JSON call; prints the body, fails unless the HTTP status
# is STATUS (an error body is {"error": {"code", "message", "correlationId"}}).
api() {
  local want="$1" method="$2" path="$3"; shift 3
  local status
  status=$(curl -sS --max-time "$MAX_TIME" "${TLS[@]}" "${AUTH[@]}" -H "Content-Type: application/json" \
    -o "$TMP/body" -w '%{http_code}' -X "$method" "$URL$path" "$@") || fail "$method $path: curl failed"
  [[ "$status" == "$want" ]] || fail "$method $path: HTTP $status (expected $want): $(cat "$TMP/body")"
  cat "$TMP/body"
}

api 201 POST /v1/namespaces -d "{\"name\": \"$NS\"}" >/dev/null
created=1
echo "created namespace $NS at $URL"

# LearnBatch: all or nothing; one result per item, in order. The facts hold no quotes or
# backslashes, so they go into the JSON as they are. The attribute marks the facts learned here.
items=()
for fact in "${FACTS[@]}"; do items+=("{\"content\": \"$fact\", \"attributes\": {\"example\": \"$NS\"}}"); done
body="{\"concepts\": [$(IFS=,; echo "${items[*]}")]}"
api 200 POST "/v1/namespaces/$NS/concepts:batch" -d "$body" >"$TMP/learned.json"
learned_ids=$(json '"\n".join(sorted(r["id"] for r in d["results"]))' <"$TMP/learned.json")
n_created=$(json 'sum(r.get("created", False) for r in d["results"])' <"$TMP/learned.json")
associations_created=$(json 'd["associationsCreated"]' <"$TMP/learned.json")   # uint64: a JSON string
(( n_created == ${#FACTS[@]} )) || fail "LearnBatch created $n_created of ${#FACTS[@]} concepts"
(( associations_created > 0 )) || fail "LearnBatch created no associations"
echo "learned ${#FACTS[@]} facts, $associations_created associations"

# ListConcepts, page by page, only the concepts carrying our attribute. -G puts the --data-urlencode
# values in the query string (page tokens are opaque: always URL-encode them).
pages=0
token=""
: >"$TMP/listed"
while :; do
  api 200 GET "/v1/namespaces/$NS/concepts" -G --data-urlencode "pageSize=$PAGE_SIZE" \
    --data-urlencode "attribute=example:$NS" --data-urlencode "pageToken=$token" >"$TMP/page.json"
  pages=$((pages + 1))
  json '"\n".join(c["id"] for c in d["concepts"])' <"$TMP/page.json" | sed '/^$/d' >>"$TMP/listed"
  echo "  page $pages: $(json 'len(d["concepts"])' <"$TMP/page.json") concepts"
  token=$(json 'd.get("nextPageToken", "")' <"$TMP/page.json")
  [[ -n "$token" ]] || break
done
n_listed=$(wc -l <"$TMP/listed")
(( pages >= 2 )) || fail "ListConcepts gave $pages page(s) for ${#FACTS[@]} concepts at pageSize $PAGE_SIZE"
[[ -z "$(sort "$TMP/listed" | uniq -d)" ]] || fail "ListConcepts listed a concept twice"
[[ "$(sort "$TMP/listed")" == "$learned_ids" ]] ||
  fail "ListConcepts listed $n_listed concepts, expected the ${#FACTS[@]} learned"
echo "listed $n_listed concepts in $pages pages"

# Search: the best hit of a distinctive query is the fact it describes.
top=$(api 200 POST "/v1/namespaces/$NS/search" -d "{\"query\": \"$SEARCH_QUERY\", \"k\": 3}" |
  json 'd["results"][0]["content"] if d.get("results") else ""')
[[ "$top" == "$SEARCH_EXPECTED" ]] || fail "Search's first hit is '$top', expected '$SEARCH_EXPECTED'"
echo "search '$SEARCH_QUERY': '$top'"

# ReasonStream over SSE: "event: <name>" and "data: <json>" lines, a blank line after each event.
# Events: one seeds, then each path as it is found, then the answer (last); a failure is an
# `error` event. -N: print each event as it arrives instead of buffering.
events=() event=""
while IFS= read -r line; do
  case "$line" in
    "event: "*) event="${line#event: }"; events+=("$event") ;;
    "data: "*)
      data="${line#data: }"
      case "$event" in
        seeds) echo "  seeds: $(json '", ".join(s["content"] for s in d["support"][:3])' <<<"$data"), ..." ;;
        path) echo "  path:  $(json '" -> ".join(c["content"] for c in d["concepts"])' <<<"$data")" ;;
        answer) echo "$data" >"$TMP/answer.json" ;;
        error) echo "  error: $data" >&2 ;;
      esac ;;
    "") ;;
    *) echo "  unexpected line: $line" >&2 ;;
  esac
done < <(curl -sSN --max-time "$MAX_TIME" "${TLS[@]}" "${AUTH[@]}" -H "Content-Type: application/json" \
  -X POST "$URL/v1/namespaces/$NS/reason:stream" -d "{\"query\": \"$QUESTION\"}" || true)
kinds="${events[*]:-}"
[[ "${events[0]:-}" == seeds && $(grep -o seeds <<<"$kinds" | wc -l) -eq 1 ]] ||
  fail "ReasonStream events '$kinds': expected one seeds first"
[[ "${events[-1]:-}" == answer && $(grep -o answer <<<"$kinds" | wc -l) -eq 1 ]] ||
  fail "ReasonStream did not end with one answer: '$kinds'"
answer=$(json 'd["answer"]["content"] if d.get("confident") else ""' <"$TMP/answer.json")
[[ "$answer" == "$ANSWER_EXPECTED" ]] || fail "ReasonStream answered '$answer', expected '$ANSWER_EXPECTED'"
echo "reason '$QUESTION': $answer ($(grep -o path <<<"$kinds" | wc -l) paths streamed)"
echo "  $(json 'd["explanation"]' <"$TMP/answer.json")"

# ExportNamespace as NDJSON: a {"namespace": ...} line, then one {"concept": ...} line per concept,
# then one {"association": ...} line per association. An error after the start is an {"error": ...}
# line and the body ends there (curl then reports the truncated transfer).
curl -sSN --fail-with-body --max-time "$MAX_TIME" "${TLS[@]}" "${AUTH[@]}" "$URL/v1/namespaces/$NS:export" \
  >"$TMP/export.ndjson" || fail "export: $(tail -c 500 "$TMP/export.ndjson")"
count() { grep -c "^{\"$1\":" "$TMP/export.ndjson" || true; }
n_concepts=$(count concept) n_associations=$(count association)
echo "exported $n_concepts concepts (${#FACTS[@]} facts + the concepts their relations name), $n_associations associations"
(( $(count error) == 0 )) || fail "the export has an error line"
[[ "$(head -1 "$TMP/export.ndjson" | json 'd["namespace"]["name"]')" == "$NS" ]] ||
  fail "the export did not start with its namespace"
n_lines=$(wc -l <"$TMP/export.ndjson")
(( n_lines == 1 + n_concepts + n_associations )) ||
  fail "the export has $n_lines lines, not 1 + $n_concepts + $n_associations"
grep '^{"concept":' "$TMP/export.ndjson" | json_lines 'd["concept"]["id"]' | sort >"$TMP/exported"
[[ -z "$(uniq -d "$TMP/exported")" ]] || fail "the export holds a concept twice"
[[ -z "$(comm -23 <(echo "$learned_ids") "$TMP/exported")" ]] || fail "the export lacks a learned concept"
api 200 GET "/v1/namespaces/$NS" >"$TMP/ns.json"
ns_concepts=$(json 'd["conceptCount"]' <"$TMP/ns.json") ns_associations=$(json 'd["associationCount"]' <"$TMP/ns.json")
(( n_concepts == ns_concepts )) || fail "exported $n_concepts concepts, the namespace has $ns_concepts"
(( n_associations == ns_associations && n_associations == associations_created )) ||
  fail "exported $n_associations associations, the namespace has $ns_associations, LearnBatch created $associations_created"
# GetStats counts every namespace of the suite: at least this one's.
api 200 GET /v1/stats >"$TMP/stats.json"
stats_concepts=$(json 'd["concepts"]' <"$TMP/stats.json") stats_associations=$(json 'd["associations"]' <"$TMP/stats.json")
(( stats_concepts >= n_concepts && stats_associations >= n_associations )) ||
  fail "GetStats counts $stats_concepts concepts, $stats_associations associations: fewer than exported"
echo "stats: $stats_concepts concepts, $stats_associations associations"

api 200 DELETE "/v1/namespaces/$NS" >/dev/null
created=0
api 404 GET "/v1/namespaces/$NS" >/dev/null
echo "deleted namespace $NS"
echo OK
