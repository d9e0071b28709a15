#!/usr/bin/env bash
# Builds the concurrency-sensitive tests with ThreadSanitizer and runs them (ctest label "tsan").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-tsan}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DENGRAM_TSAN=ON -DENGRAM_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target storage_engine_test storage_id_table_test storage_derived_state_test storage_compaction_test segmented_file_test hnsw_concurrency_test sync_atomic_directory_test \
  hybrid_compute_pool_test ttl_cache_test hybrid_embedding_cache_test hybrid_core_concurrency_test
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --test-dir "$BUILD_DIR" --output-on-failure -L tsan
