# Sourced by bench scripts: starts engram-storage, engram-hybrid and engram-api from $BUILD_DIR
# as scripts/run-local.sh does (durable storage, an API key file, default limits) on fixed ports
# around PORT_BASE (default 56000), in WORK (a new temporary directory, removed on exit unless
# KEEP_WORK is set; tests/testing/suite.sh). Sets KEY (an admin key), API_GRPC=127.0.0.1:<port> and
# API_HTTP=http://127.0.0.1:<port>. API_FLAGS: extra engram-api flags.
# shellcheck shell=bash
PORT_BASE="${PORT_BASE:-56000}"
# shellcheck source=tests/testing/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/testing/suite.sh"
suite_init /tmp/engram-bench
KEY="ek_engram_bench_0123456789abcdef"
suite_keys "$KEY"
AG=$((PORT_BASE + 1)) AH=$((PORT_BASE + 11)) HG=$((PORT_BASE + 2)) HH=$((PORT_BASE + 12))
SG=$((PORT_BASE + 3)) SH=$((PORT_BASE + 13))
suite_start_core "$BUILD_DIR"
API_GRPC="127.0.0.1:$AG"
API_HTTP="http://127.0.0.1:$AH"
export KEY API_GRPC API_HTTP
