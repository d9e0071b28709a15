"""A tiny stand-in for kube-dns (tests/k8s/dns_search_test.sh): answers A 127.0.0.1 for every name in
the namespace's zone (*.engram.svc.cluster.local), NXDOMAIN for anything else, and logs each query."""
import socket
import struct
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
log = open(sys.argv[1], "a")
while True:
    data, addr = s.recvfrom(512)
    tid, flags, qd = struct.unpack(">HHH", data[:6])
    i = 12; labels = []
    while data[i]:
        n = data[i]; labels.append(data[i+1:i+1+n].decode()); i += n + 1
    qtype, qclass = struct.unpack(">HH", data[i+1:i+5]); q = data[12:i+5]
    name = ".".join(labels).lower()
    ok = name.endswith("engram.svc.cluster.local") and qtype == 1
    log.write(f"{name} type={qtype} -> {'A' if ok else ('NODATA' if name.endswith('engram.svc.cluster.local') else 'NXDOMAIN')}\n"); log.flush()
    rcode = 0 if name.endswith("engram.svc.cluster.local") else 3
    hdr = struct.pack(">HHHHHH", tid, 0x8180 | rcode, 1, 1 if ok else 0, 0, 0)
    ans = (b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("127.0.0.1")) if ok else b""
    s.sendto(hdr + q + ans, addr)
