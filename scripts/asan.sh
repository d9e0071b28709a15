#!/usr/bin/env bash
# Builds every target with clang-14, AddressSanitizer + UndefinedBehaviorSanitizer (ENGRAM_ASAN) and
# the libFuzzer targets (ENGRAM_FUZZ), then runs every test of that build: the unit tests, the
# integration tests (whose real binaries then run instrumented too) and every fuzz target for
# ENGRAM_FUZZ_SECONDS over its seed corpus. Any memory error, leak or undefined behaviour fails the
# test that hit it. clang also checks every thread-safety annotation while it compiles
# (-Werror=thread-safety), so an unguarded access fails this build.
#
#   scripts/asan.sh                       # build-asan/, all tests but the ones listed below
#   BUILD_DIR=/tmp/b scripts/asan.sh      # another build directory
#
# Skipped, with the reason: thread_safety_check (a clang syntax pass over the sources, which this
# build's compile already is), the tsan label (needs ThreadSanitizer), the browser, k8s and clients
# labels (they drive the same binaries as the integration tests through other front ends; their own
# code is JavaScript, Python and shell).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-asan}"
export CC=clang-14 CXX=clang++-14
# A tree configured with another compiler (this script used GCC before) cannot be switched in place.
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
  ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$" "$BUILD_DIR/CMakeCache.txt"; then
  rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DENGRAM_ASAN=ON -DENGRAM_FUZZ=ON -DENGRAM_BUILD_BENCHMARKS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$(nproc)" \
  -LE "tsan|browser|k8s|clients" -E "^thread_safety_check$"
