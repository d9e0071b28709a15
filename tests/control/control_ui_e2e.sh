#!/usr/bin/env bash
# The admin UI end to end in a real browser: real engram-storage, engram-hybrid, engram-api and
# engram-control on ephemeral ports with seeded data, Debian's chromium driven by playwright-core
# (services/control/ui/e2e/control.e2e.mjs). Run by ctest (tests/CMakeLists.txt) as:
#   control_ui_e2e.sh <build dir> <source dir> <screenshots dir>
# It fails, never skips, when chromium or node is missing: the README's test command installs both.
set -euo pipefail
BUILD="$1"
SRC="$2"
SHOTS="${3:-$BUILD/control-screenshots}"
# shellcheck source=tests/testing/suite.sh
source "$SRC/tests/testing/suite.sh"
suite_init /tmp/engram-control-e2e
mkdir -p "$SHOTS"
cleanup() {
  # hybrid is started by start_hybrid.sh (the browser test restarts it), not in `pids`.
  if [[ -s "$WORK/hybrid.pid" ]]; then kill -TERM "$(cat "$WORK/hybrid.pid")" 2>/dev/null || true; fi
  suite_cleanup
}
trap cleanup EXIT

SG=$(free_port); SH=$(free_port); HG=$(free_port); HH=$(free_port)
AG=$(free_port); AH=$(free_port); CH=$(free_port); CH2=$(free_port)
ADMIN_KEY="ek_e2e_admin_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
READER_KEY="ek_e2e_reader_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
suite_keys "$ADMIN_KEY" ", {\"name\": \"e2e-reader\", \"key\": \"$READER_KEY\", \"role\": \"reader\", \"namespaces\": [\"*\"]}"

"$BUILD/storage-server/engram-storage" --data_dir="$WORK/storage" --listen_address=127.0.0.1 \
  --grpc_port="$SG" --http_port="$SH" > "$WORK/storage.log" 2>&1 &
pids+=($!)
wait_ready storage "$SH"

# hybrid is stopped and started again by the browser test; these scripts do it for real.
cat > "$WORK/start_hybrid.sh" <<SH
#!/usr/bin/env bash
"$BUILD/services/hybrid/engram-hybrid" --storage_addr=127.0.0.1:$SG --listen_address=127.0.0.1 \
  --grpc_port=$HG --http_port=$HH >> "$WORK/hybrid.log" 2>&1 &
echo \$! > "$WORK/hybrid.pid"
SH
cat > "$WORK/stop_hybrid.sh" <<SH
#!/usr/bin/env bash
kill -TERM "\$(cat "$WORK/hybrid.pid")"
while kill -0 "\$(cat "$WORK/hybrid.pid")" 2>/dev/null; do sleep 0.1; done
SH
chmod +x "$WORK/start_hybrid.sh" "$WORK/stop_hybrid.sh"
"$WORK/start_hybrid.sh"
wait_ready hybrid "$HH"

"$BUILD/services/api/engram-api" --storage_addr="127.0.0.1:$SG" --hybrid_addr="127.0.0.1:$HG" \
  --api_keys_file="$WORK/keys.json" --listen_address=127.0.0.1 --grpc_port="$AG" --http_port="$AH" \
  > "$WORK/api.log" 2>&1 &
pids+=($!)
wait_ready api "$AH"

control_flags=(--storage_addr="127.0.0.1:$SG" --storage_http_addr="127.0.0.1:$SH"
  --hybrid_addr="127.0.0.1:$HG" --hybrid_http_port="$HH" --api_http_addr="127.0.0.1:$AH"
  --api_keys_file="$WORK/keys.json" --listen_address=127.0.0.1 --scrape_interval_s=1)
"$BUILD/services/control/engram-control" "${control_flags[@]}" --http_port="$CH" > "$WORK/control.log" 2>&1 &
pids+=($!)
wait_ready control "$CH"
# A second replica behind an Ingress-style sub-path.
"$BUILD/services/control/engram-control" "${control_flags[@]}" --http_port="$CH2" --base_path=/control/ \
  > "$WORK/control2.log" 2>&1 &
pids+=($!)
wait_ready control-subpath "$CH2"

# Seed knowledge through the public API: facts with extracted associations.
while IFS= read -r fact; do
  [[ -z "$fact" ]] && continue
  curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -X POST \
    "http://127.0.0.1:$AH/v1/namespaces/default/concepts" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"content": sys.argv[1], "attributes": {"source": "e2e"}}))' "$fact")" \
    > /dev/null
done < "$SRC/scripts/demo-knowledge.txt"
# A sense that states two kinds directly: "What is a dog?" is answered by both (co-answers).
for c in 'e2e-dog|dog, domestic dog: a member of the genus Canis' \
         'e2e-pet|domestic animal: an animal tamed for use' 'e2e-canine|canine, canid: a fissiped mammal'; do
  curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -X POST \
    "http://127.0.0.1:$AH/v1/namespaces/default/concepts" \
    -d "$(python3 -c 'import json,sys; i,c=sys.argv[1].split("|"); print(json.dumps({"id": i, "content": c, "extractAssociations": False}))' "$c")" \
    > /dev/null
done
curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -X POST \
  "http://127.0.0.1:$AH/v1/namespaces/default/associations:batch" -d '{"associations": [
    {"source": "e2e-dog", "target": "e2e-pet", "type": "HIERARCHICAL", "confidence": 0.9},
    {"source": "e2e-dog", "target": "e2e-canine", "type": "HIERARCHICAL", "confidence": 0.9}]}' > /dev/null

# The sub-path without its trailing slash redirects to it (relative URLs need the slash).
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$CH2/control")
[[ "$loc" == "308 http://127.0.0.1:$CH2/control/" ]] || { echo "sub-path redirect: $loc" >&2; exit 1; }

cd "$BUILD/services/control/ui"   # the build-tree copy, with its node_modules
node e2e/control.e2e.mjs --strict --base="http://127.0.0.1:$CH/" --admin_key="$ADMIN_KEY" \
  --reader_key="$READER_KEY" --api_base="http://127.0.0.1:$AH/" --stop_hybrid_cmd="$WORK/stop_hybrid.sh" \
  --start_hybrid_cmd="$WORK/start_hybrid.sh" --screenshots="$SHOTS" --co_answers_question="What is a dog?"
# The same, through the second replica under its sub-path (the restore above left the seeded data).
node e2e/control.e2e.mjs --strict --base="http://127.0.0.1:$CH2/control/" --admin_key="$ADMIN_KEY" \
  --reader_key="$READER_KEY" --api_base="http://127.0.0.1:$AH/" --stop_hybrid_cmd="$WORK/stop_hybrid.sh" \
  --start_hybrid_cmd="$WORK/start_hybrid.sh" --screenshots="$SHOTS/subpath" --co_answers_question="What is a dog?"
echo "control UI end to end: 2 passed, 0 failed"
