#!/usr/bin/env bash
# Runs one group of the k8s checks (ctest calls it; see CMakeLists.txt):
#   tests/k8s/run.sh npm-ci          install the pinned npm packages (npm ci, package-lock.json)
#   tests/k8s/run.sh <file.test.mjs> run one node --test file
#   tests/k8s/run.sh shellcheck      shellcheck the shell scripts of k8s/ and deploy/
#   tests/k8s/run.sh images          build every image offline and check it (deploy/build-images.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
# kubectl without a kubeconfig would talk to localhost:8080 (engram-api's port): never let it.
export KUBECONFIG="$here/.no-kubeconfig"
need() { command -v "$1" >/dev/null || { echo "$1 not found: run scripts/bootstrap.sh test (it installs it)" >&2; exit 1; }; }
case "${1:?usage: run.sh npm-ci|shellcheck|FILE.test.mjs}" in
  npm-ci)
    need node; need npm
    # npm ci deletes and reinstalls node_modules; skip it when the installed tree is this lock's.
    stamp=node_modules/.engram-lock.sha256
    want="$(sha256sum package-lock.json | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then echo "node_modules matches package-lock.json"; exit 0; fi
    npm ci --no-audit --no-fund --ignore-scripts
    echo "$want" >"$stamp"
    ;;
  shellcheck)
    need shellcheck
    shellcheck -s sh ../../k8s/base/snapshot/engram-snapshot.sh
    shellcheck run.sh dns_search_test.sh ../../deploy/*.sh
    ;;
  images)
    # deploy/build-images.sh needs cdxgen (deploy/sbom/package-lock.json) and buildah, skopeo, umoci.
    need node; need npm; need buildah; need skopeo; need umoci
    stamp=../../deploy/sbom/node_modules/.engram-lock.sha256
    want="$(sha256sum ../../deploy/sbom/package-lock.json | cut -d' ' -f1)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
      # Not `npm ci`: cdxgen 12.8.4 lists optional per-platform packages that are not on the registry
      # (@cdxgen/safer-exec-darwin-*), so no lock file can hold them and npm ci refuses every lock.
      # `npm install --no-save` installs exactly the committed lock's versions.
      (cd ../../deploy/sbom && npm install --no-save --no-audit --no-fund --ignore-scripts)
      echo "$want" >"$stamp"
    fi
    exec node --test --test-reporter=spec images.test.mjs
    ;;
  *.test.mjs)
    need node; need kubectl
    exec node --test --test-reporter=spec "$1"
    ;;
  *) echo "unknown: $1" >&2; exit 2 ;;
esac
