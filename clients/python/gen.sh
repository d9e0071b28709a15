#!/usr/bin/env bash
# Generates the Python gRPC stubs of engram.v1 from the committed proto into OUT_DIR (never commit
# them): OUT_DIR/engram/v1/engram_pb2.py and engram_pb2_grpc.py. Debian packages: protobuf-compiler
# (protoc), protobuf-compiler-grpc (grpc_python_plugin), python3-grpcio, python3-protobuf.
#   clients/python/gen.sh /tmp/engram-py
#   PYTHONPATH=/tmp/engram-py /usr/bin/python3 clients/python/engram_example.py
set -euo pipefail
out="${1:?usage: gen.sh OUT_DIR}"
proto_dir="$(cd "$(dirname "$0")/../../proto" && pwd)"
plugin="${GRPC_PYTHON_PLUGIN:-/usr/bin/grpc_python_plugin}"
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler (or run scripts/bootstrap.sh test)" >&2; exit 1; }
[[ -x "$plugin" ]] || { echo "$plugin not found: apt-get install protobuf-compiler-grpc (or run scripts/bootstrap.sh test)" >&2; exit 1; }
mkdir -p "$out"
# /usr/include holds google/protobuf/{timestamp,wrappers}.proto (libprotobuf-dev); their Python
# modules come with python3-protobuf, so only engram.proto is compiled.
protoc -I "$proto_dir" -I /usr/include \
  --python_out="$out" --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$plugin" \
  engram/v1/engram.proto
echo "stubs in $out/engram/v1"
