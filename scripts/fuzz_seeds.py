#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets (engram_fuzz_target) from the real formats.

  scripts/fuzz_seeds.py          # rewrites every <dir>/testdata/fuzz/<target>/seed-* file

Seeds are small valid (and a few typical broken) inputs, so the fuzzers start from the formats'
structure instead of from nothing. Regression inputs (crashes found and fixed) are committed in the
same directories as regress-*, by hand; this script leaves them alone. Binary framing (write-ahead-
log records, the CHECKPOINT checksum line, ustar headers, SHA-256 of snapshot parts) is computed
here the way the C++ writers compute it.
"""
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def write(target_dir, target, name, data):
    d = os.path.join(ROOT, target_dir, "testdata", "fuzz", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- write-ahead log: mode byte, split offset (2 bytes), then records (storage-server/wal/wal.h)
def wal_record(seq, payload):
    header = struct.pack("<IQ", len(payload), seq)
    header += struct.pack("<I", crc32c(header))
    return header + payload + struct.pack("<I", crc32c(payload))


def wal_seeds():
    log = b"".join(wal_record(s, b"\x0a\x03" + bytes([s]) * 3) for s in range(1, 4))
    write("storage-server/wal", "wal_reader_fuzz", "three-records", b"\x00\x00\x00" + log)
    write("storage-server/wal", "wal_reader_fuzz", "fix-crc", b"\x01\x00\x00" + log)
    write("storage-server/wal", "wal_reader_fuzz", "two-segments",
          b"\x02" + struct.pack("<H", len(wal_record(1, b"\x0a\x03abc"))) + log)
    write("storage-server/wal", "wal_reader_fuzz", "torn-tail", b"\x00\x00\x00" + log[:-7])
    write("storage-server/wal", "wal_reader_fuzz", "after-seq-1", b"\x04\x00\x00" + log)
    write("storage-server/wal", "wal_reader_fuzz", "empty-payload", b"\x00\x00\x00" + wal_record(1, b""))


# --- CHECKPOINT and the snapshot manifest (storage-server/engine)
NAMESPACE = {"id": 7, "name": "default",
             "config": {"name": "default", "dimension": 4, "metric": "METRIC_COSINE",
                        "embedder": "hashing", "m": 16, "efConstruction": 200, "efSearch": 64},
             "arena_end": 64, "slot_count": 2, "create_micros": 1764800000000000}


def checkpoint_seeds():
    body = json.dumps({"sequence": 42, "time_micros": 1764800000000000, "namespaces": [NAMESPACE]},
                      indent=2)
    full = f"{body}\ncrc32c {crc32c(body.encode())}"
    write("storage-server/engine", "checkpoint_fuzz", "one-namespace", b"\x00" + full.encode())
    write("storage-server/engine", "checkpoint_fuzz", "fix-crc", b"\x01" + body.encode())
    empty = json.dumps({"sequence": 0, "time_micros": 0, "namespaces": []})
    write("storage-server/engine", "checkpoint_fuzz", "empty", b"\x01" + empty.encode())


def manifest(parts):
    return json.dumps({"format_version": 1, "name": "snap-1", "sequence": 42,
                       "create_micros": 1764800000000000, "namespaces": [NAMESPACE],
                       "parts": parts}, indent=2)


def tar_header(name, size):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = b"0"
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def archive(files):
    """files: [(path, content, restored size)]"""
    out, parts = b"", []
    for path, content, size in files:
        out += tar_header(path, len(content)) + pad(content)
        parts.append({"path": path, "size": size, "stored": len(content),
                      "sha256": hashlib.sha256(content).hexdigest()})
    m = manifest(parts).encode()
    return out + tar_header("MANIFEST.json", len(m)) + pad(m) + b"\0" * 1024


def snapshot_seeds():
    write("storage-server/engine", "snapshot_manifest_fuzz", "two-parts",
          manifest([{"path": "ns/7/records.000000", "size": 1048576, "stored": 5,
                     "sha256": hashlib.sha256(b"hello").hexdigest()},
                    {"path": "ns/7/hnsw.meta", "size": 700, "stored": 700,
                     "sha256": hashlib.sha256(b"m" * 700).hexdigest()}]))
    write("storage-server/engine", "snapshot_manifest_fuzz", "no-parts", manifest([]))
    files = [("ns/7/records.000000", b"hello", 4096), ("ns/7/hnsw.meta", b"m" * 700, 700)]
    write("storage-server/engine", "snapshot_archive_fuzz", "two-parts", b"\x00" + archive(files))
    write("storage-server/engine", "snapshot_archive_fuzz", "fix-checksums", b"\x01" + archive(files))
    write("storage-server/engine", "snapshot_archive_fuzz", "manifest-only", b"\x00" + archive([]))


# --- word vectors (services/hybrid/embed/word_vectors_file.h): mode byte, then the file
def word_vector_seeds():
    d = "services/hybrid/embed"
    text = "the 0.1 0.2 0.3\ndog 0.5 -0.25 1e-3\ncat 1 2 3\n"
    write(d, "word_vectors_fuzz", "glove", b"\x00" + text.encode())
    write(d, "word_vectors_fuzz", "with-header", b"\x00" + ("3 3\n" + text).encode())
    write(d, "word_vectors_fuzz", "crlf-max-words", b"\x30" + text.replace("\n", "\r\n").encode())
    binary = b"2 3\n" + b"".join(w + b" " + struct.pack("<3f", *v) + b"\n"
                                 for w, v in [(b"dog", (0.5, -0.25, 1.0)), (b"cat", (1, 2, 3))])
    write(d, "word_vectors_fuzz", "word2vec-bin", b"\x01" + binary)
    write(d, "word_vectors_fuzz", "frequencies", b"\x02# counts\nthe 1000\ndog 12\n")
    write(d, "word_vectors_fuzz", "float-vector", b"\x07" + b"0.5 -1 2.25\n")
    write("services/hybrid/embed", "text_tokenizer_fuzz", "english",
          "A dog is a mammal. Dogs don't purr; cats do! e-mail: x@y.z 3.14 U.S.A.")
    write("services/hybrid/embed", "text_tokenizer_fuzz", "unicode",
          "Ärger über Straße — naïve café, ΣΊΣΥΦΟΣ, 東京 🐕\u0301")
    write("services/hybrid/embed", "text_tokenizer_fuzz", "invalid-utf8", b"ab\xff\xc3(cd\xe2\x82 ef\xf0\x9f")


def extractor_seeds():
    d = "services/hybrid/extract"
    for name, text in [
        ("kind-of", "A dog is a kind of mammal. Smoking causes lung cancer."),
        ("such-as", "Mammals such as dogs, cats and whales breathe air. The heart is part of the body."),
        ("member", "A wolf is a member of the pack. Penguins are classified as birds."),
        ("many", " ".join(f"X{i} is a kind of Y{i}." for i in range(40))),
        ("invalid-utf8", "A d\xc3g is a kind of m\xffmmal.".encode("latin-1")),
    ]:
        write(d, "relation_extractor_fuzz", name, b"\x00" + (text if isinstance(text, bytes) else text.encode()))


def api_keys_seeds():
    keys = {"keys": [
        {"name": "ingest-job", "key": "ek_0123456789abcdef", "role": "writer", "namespaces": ["products"]},
        {"name": "ops", "key": "ek_fedcba9876543210", "role": "admin", "namespaces": ["*"]}]}
    write("services/api/policy", "api_keys_fuzz", "two-keys",
          b"Bearer ek_0123456789abcdef\0" + json.dumps(keys, indent=2).encode())
    write("services/api/policy", "api_keys_fuzz", "reader",
          b"bearer x\0" + json.dumps({"keys": [{"name": "r", "key": "k" * 16, "role": "reader",
                                                   "namespaces": ["a", "b"]}]}).encode())


def prom_seeds():
    d = "services/control/monitor"
    write(d, "prom_text_fuzz", "counter-histogram", """# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",code="200"} 1027 1395066363000
http_requests_total{method="POST",code="400"} 3
# TYPE rpc_duration_seconds histogram
rpc_duration_seconds_bucket{le="0.05"} 24054
rpc_duration_seconds_bucket{le="+Inf"} 144320
rpc_duration_seconds_sum 53423
rpc_duration_seconds_count 144320
# TYPE up gauge
up NaN
escaped{path="C:\\\\dir\\"x\\"\\n"} -Inf
""")
    write(d, "prom_text_fuzz", "crlf", "# TYPE a gauge\r\na 1\r\nb{x=\"y\",} 2e3\r\n")


def jsonl_seeds():
    d = "cli/engramctl"
    write(d, "jsonl_import_fuzz", "export",
          '{"namespace":{"name":"zoo","dimension":3,"embedder":"none","conceptCount":"2"}}\n'
          '{"concept":{"id":"d","content":"dog","vector":[1,2,3],"attributes":{"k":"v"},"strength":1,'
          '"createTime":"2026-01-01T00:00:00Z"}}\n'
          '{"association":{"sourceId":"d","targetId":"c","type":"SEMANTIC","confidence":0.5,"weight":1}}\n'
          '{"error":{"code":"UNAVAILABLE","message":"storage went away"}}\n')
    write(d, "jsonl_import_fuzz", "learn",
          '{"content":"A dog is a mammal","id":"dog","attributes":{"source":"x"},"extractAssociations":true}\n'
          '\n{"content":"x","vector":[0.5,1e300,-0]}\n')
    write(d, "jsonl_import_fuzz", "associate",
          '{"source":"a","target":"b","type":"HIERARCHICAL","confidence":0.9}\n')
    # WordNet: the license header style line and real data.noun lines (wndb(5WN)).
    wn = ("  1 This software and database is being provided to you, the LICENSEE, by\n"
          "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04431553 n 0000 | "
          "that which is perceived or known or inferred to have its own distinct existence\n"
          "00001930 03 n 01 physical_entity 0 007 @ 00001740 n 0000 ~ 00002452 n 0000 ~ 00002684 n 0000 "
          "~ 00007347 n 0000 ~ 00020827 n 0000 ~ 00029677 n 0000 ~ 14580597 n 0000 | an entity that has "
          "physical existence\n"
          "02084071 05 n 02 dog 0 domestic_dog 0 004 @ 02083346 n 0000 #m 02083863 n 0000 "
          "+ 01176232 v 0102 ;c 00000001 n 0000 | a member of the genus Canis\n")
    write(d, "wordnet_fuzz", "data-noun", wn)
    src = "/usr/share/wordnet/data.noun"
    if os.path.exists(src):  # a few more real lines (the wordnet-base package)
        with open(src, encoding="latin-1") as f:
            lines = [l for l in f if not l.startswith("  ")][1000:1040]
        write(d, "wordnet_fuzz", "data-noun-real", "".join(lines).encode("latin-1"))


def rest_seeds():
    d = "services/api/rest"
    for name, req in [
        ("learn", "POST /v1/namespaces/default/concepts\nAuthorization: Bearer ek_x\ngrpc-timeout: 500m\n\n"
                  '{"content":"A dog is a mammal","id":"dog","attributes":{"k":"v"}}'),
        ("learn-batch", "POST /v1/namespaces/zoo/concepts:batch\n\n"
                        '{"concepts":[{"content":"a"},{"content":"b","vector":[1,2]}]}'),
        ("get", "GET /v1/namespaces/zoo/concepts/d%2Fog?includeVector=true\n\n"),
        ("list", "GET /v1/namespaces/zoo/concepts?pageSize=10&attribute=a:1&attribute=b:2&pageToken=x\n\n"),
        ("search", "POST /v1/namespaces/zoo/search\n\n"
                   '{"query":"dogs","k":5,"minScore":0.1}'),
        ("reason", "POST /v1/namespaces/zoo/reason\n\n"
                   '{"question":"is a dog a mammal?","maxDepth":3}'),
        ("associate", "POST /v1/namespaces/zoo/associations\n\n"
                      '{"sourceId":"a","targetId":"b","type":"SEMANTIC","confidence":0.5}'),
        ("neighbors", "GET /v1/namespaces/zoo/concepts/a/neighbors?depth=2&type=HIERARCHICAL\n\n"),
        ("create-ns", "POST /v1/namespaces\n\n"
                      '{"name":"zoo","dimension":3,"metric":"METRIC_COSINE","embedder":"none"}'),
        ("update", "PATCH /v1/namespaces/zoo/concepts/a\n\n"
                   '{"content":"new","updateMask":"content"}'),
        ("delete", "DELETE /v1/namespaces/zoo/concepts/a\n\n"),
        ("paths", "POST /v1/namespaces/zoo/paths\n\n"
                  '{"sourceId":"a","targetId":"b","maxDepth":4,"maxPaths":2}'),
        ("reason-stream", "POST /v1/namespaces/zoo/reason:stream\n\n"
                          '{"question":"why?"}'),
        ("export", "GET /v1/namespaces/zoo:export\n\n"),
        ("delete-association", "DELETE /v1/namespaces/zoo/associations?sourceId=a&targetId=b&type=SEMANTIC\n\n"),
    ]:
        write(d, "rest_request_fuzz", name, req)


def main():
    wal_seeds()
    checkpoint_seeds()
    snapshot_seeds()
    word_vector_seeds()
    extractor_seeds()
    api_keys_seeds()
    prom_seeds()
    jsonl_seeds()
    rest_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
