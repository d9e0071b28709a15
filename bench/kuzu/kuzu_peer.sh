#!/usr/bin/env bash
# Engram's storage engine beside Kuzu 0.11.3, same data files, both in process and single-threaded
# (docs/benchmarks.md, "Whole-system peer: Kuzu 0.11.3"):
#   bench/kuzu/kuzu_peer.sh [build dir] [concepts, or wordnet] [rounds] [work dir]
#   (env: EFS, REPS, LOAD=create|copy -- Kuzu's ingest, see kuzu_peer.mjs; SIDES=engram,kuzu)
# Writes the synthetic dataset once (peer_bench --mode=gen), then runs `rounds` rounds, each
# Engram (peer_bench --mode=engram) then Kuzu (kuzu_peer.mjs), and prints per row the median over
# the rounds of each side and the Engram/Kuzu ratio (QPS and concepts/s: Engram / Kuzu, higher
# is better for Engram; seconds: Kuzu / Engram, likewise). Kuzu is installed on demand with
# `npm ci` from this directory's package-lock.json into <work dir>/node (never in the tests).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
BUILD="${1:-build}"
N="${2:-100000}"
ROUNDS="${3:-3}"
WORK="${4:-/tmp/engram_kuzu_peer}"
EFS="${EFS:-16,32,64,128,256}"
REPS="${REPS:-3}"
LOAD="${LOAD:-create}"  # Kuzu's ingest: create (UNWIND ... CREATE per batch) or copy (COPY FROM)
SIDES="${SIDES:-engram,kuzu}"  # e.g. SIDES=kuzu: run Kuzu only, keeping Engram's earlier rows
mkdir -p "$WORK/node"
if ! cmp -s "$here/package-lock.json" "$WORK/node/package-lock.json" || [ ! -d "$WORK/node/node_modules/kuzu" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$WORK/node/"
  (cd "$WORK/node" && npm ci --no-audit --no-fund >/dev/null)
fi
cp "$here/kuzu_peer.mjs" "$WORK/node/"
if [ ! -f "$WORK/data/n" ] || [ "$(cat "$WORK/data/n")" != "$N" ]; then
  rm -rf "$WORK/data"
  if [ "$N" = wordnet ]; then
    "$BUILD/bench/peer_bench" --mode=gen --out="$WORK/data" --source=wordnet
  else
    "$BUILD/bench/peer_bench" --mode=gen --out="$WORK/data" --n="$N"
  fi
  echo "$N" > "$WORK/data/n"
fi
# The rows of the sides about to run are replaced; the other side's stay.
touch "$WORK/results.tsv"
for side in ${SIDES//,/ }; do
  grep -v "^$side	" "$WORK/results.tsv" > "$WORK/results.tmp" || true
  mv "$WORK/results.tmp" "$WORK/results.tsv"
done
for round in $(seq "$ROUNDS"); do
  if [[ ",$SIDES," == *,engram,* ]]; then
    echo "round $round: engram" >&2
    "$BUILD/bench/peer_bench" --mode=engram --data="$WORK/data" --dir="$WORK/engram" --efs="$EFS" \
      --reps="$REPS" 2>/dev/null | awk -F'\t' 'NF == 3' | sed "s/^/engram\t/" | tee -a "$WORK/results.tsv" >&2
  fi
  if [[ ",$SIDES," == *,kuzu,* ]]; then
    echo "round $round: kuzu" >&2
    # The 1M set's rows take more than Node's default heap.
    (cd "$WORK/node" && node --max-old-space-size=12288 kuzu_peer.mjs "$WORK/data" "$WORK/kuzu/db" \
      "$EFS" "$REPS" after "$LOAD") | sed "s/^/kuzu\t/" | tee -a "$WORK/results.tsv" >&2
  fi
done
# The paths both sides found must agree: the same hop counts (SHORTEST; among equally short paths
# Engram returns the most confident, Kuzu any, so Kuzu's must never be more confident) and the
# same cost, -ln(confidence), for BEST.
paste "$WORK/engram/shortest_path.tsv" "$WORK/kuzu/kuzu_shortest_path.tsv" | awk -F'\t' '
  { n++; if ($3 != $7) hops++; if ($4 != "-" && $8 != "-" && $8 < $4 - 1e-4) better++ }
  END { printf "shortest_path: %d pairs, hop counts differ on %d, Kuzu path more confident on %d\n", n, hops, better }'
paste "$WORK/engram/best_path.tsv" "$WORK/kuzu/kuzu_best_path.tsv" | awk -F'\t' '
  { n++; if ($4 != "-" && $8 != "-" && ($4 - $8 > 1e-4 || $8 - $4 > 1e-4)) cost++; if (($4 == "-") != ($8 == "-")) found++ }
  END { printf "best_path: %d pairs, found by one side only %d, costs (-ln confidence) differ on %d\n", n, found, cost }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' '
  { key = $2 "\t" $3; v[$1, key] = v[$1, key] " " $4; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " "); if (n == 0) return "-"
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "%-24s %-16s %12s %12s %8s\n", "row", "metric", "engram", "kuzu", "ratio"
    for (i = 1; i <= k; i++) {
      split(order[i], p, "\t"); e = median(v["engram", order[i]]); z = median(v["kuzu", order[i]])
      r = "-"
      if (e != "-" && z != "-" && e + 0 > 0 && z + 0 > 0) {
        if (p[2] == "qps" || p[2] == "concepts_per_s") r = sprintf("%.1fx", e / z)
        else if (p[2] == "seconds") r = sprintf("%.1fx", z / e)
      }
      printf "%-24s %-16s %12s %12s %8s\n", p[1], p[2], e, z, r
    }
  }' "$WORK/results.tsv"
