#!/usr/bin/env bash
# The manifests name Services by their short names (--storage_addr=engram-storage:50053,
# --hybrid_addr=dns:///engram-hybrid-headless:50052) and rely on the pod's resolv.conf search list.
# This runs storage, hybrid and api in a private network and mount namespace whose /etc/resolv.conf is
# a pod's (search <ns>.svc.cluster.local svc.cluster.local, ndots:5) with a stand-in kube-dns, and
# checks that gRPC's resolver (c-ares) finds both Services: hybrid and api turn ready.
#   tests/k8s/dns_search_test.sh BUILD_DIR      (root: unshare; exit 77 = skipped)
set -euo pipefail
build="${1:?usage: dns_search_test.sh BUILD_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null || ! command -v python3 >/dev/null; then
  echo "SKIP: needs root, unshare and python3"; exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'search engram.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n' >"$tmp/resolv.conf"
printf '127.0.0.1 localhost\n' >"$tmp/hosts"
cat >"$tmp/inside.sh" <<INSIDE
set -u
ip link set lo up
mount --bind "$tmp/resolv.conf" /etc/resolv.conf
mount --bind "$tmp/hosts" /etc/hosts
python3 "$here/fake_kube_dns.py" "$tmp/dns.log" &
sleep 0.3
"$build/storage-server/engram-storage" --data_dir="$tmp/data" --listen_address=127.0.0.1 --grpc_port=50053 --http_port=9103 2>"$tmp/storage.log" &
"$build/services/hybrid/engram-hybrid" --listen_address=127.0.0.1 --grpc_port=50052 --http_port=9102 \
  --storage_addr=engram-storage:50053 2>"$tmp/hybrid.log" &
"$build/services/api/engram-api" --auth=disabled --listen_address=127.0.0.1 --grpc_port=50051 --http_port=8080 \
  --storage_addr=engram-storage:50053 --hybrid_addr=dns:///engram-hybrid-headless:50052 2>"$tmp/api.log" &
ok=0
for _ in \$(seq 1 100); do
  if curl -sf localhost:9102/readyz >/dev/null && curl -sf localhost:8080/readyz >/dev/null; then ok=1; break; fi
  sleep 0.2
done
echo "hybrid: \$(curl -s localhost:9102/readyz)"
echo "api:    \$(curl -s localhost:8080/readyz)"
kill \$(jobs -p) 2>/dev/null; wait
[[ \$ok == 1 ]]
INSIDE
if unshare --mount --net bash "$tmp/inside.sh"; then
  grep -q '^engram-hybrid-headless.engram.svc.cluster.local type=1 -> A' "$tmp/dns.log" || { echo "FAIL: no search-list query"; cat "$tmp/dns.log"; exit 1; }
  echo "PASS: short Service names resolve through the search list:"; sort "$tmp/dns.log" | uniq -c
else
  echo "FAIL: not ready"; cat "$tmp/dns.log" "$tmp/api.log" "$tmp/hybrid.log" 2>/dev/null | tail -40; exit 1
fi
