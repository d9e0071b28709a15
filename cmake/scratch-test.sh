#!/bin/sh
# Runs one test binary with a fresh scratch directory of its own (googletest's TempDir() reads
# TEST_TMPDIR). The directory is removed after a passing run, so a whole suite does not leave
# gigabytes of data directories behind (the storage tests preallocate 64 MiB arenas); a failing run
# keeps it for inspection.
dir=$1
shift
rm -rf "$dir" && mkdir -p "$dir" || exit 1
TEST_TMPDIR=$dir "$@"
rc=$?
if [ "$rc" -eq 0 ]; then
  rm -rf "$dir"
fi
exit "$rc"
