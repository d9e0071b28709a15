#!/usr/bin/env bash
# The use-lite embedder's speed beside its TensorFlow.js reference, same texts, same run:
#   bench/use_lite_peer.sh [build dir] [texts per cell]
# Installs the reference (npm ci from services/hybrid/embed/testdata/use_lite_reference's lockfile)
# into a temporary directory; nothing is installed into the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
TEXTS="${2:-1000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$BUILD/bench/hybrid_bench" --sections=use-lite --use_lite_texts="$TEXTS" --model_dir="$BUILD/models" \
  --use_lite_dump="$work/texts.txt"
cp services/hybrid/embed/testdata/use_lite_reference/package.json \
  services/hybrid/embed/testdata/use_lite_reference/package-lock.json bench/use_lite_peer.mjs "$work/"
(cd "$work" && npm ci --no-audit --no-fund >/dev/null && node use_lite_peer.mjs texts.txt)
