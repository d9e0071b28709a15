#!/usr/bin/env bash
# Clang's thread-safety analysis over every project .cc of a build:
#   scripts/thread_safety_check.sh <build dir> [<source file>...]   (files: only those)
#
# The project builds with GCC, which ignores ABSL_GUARDED_BY and friends; this runs clang++-14
# -fsyntax-only -Wthread-safety -Werror=thread-safety with each file's own flags from the build's
# compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS is on), so an unguarded access to a guarded
# member, or a call without a required lock, fails the check. Generated code (everything under the
# build directory: protos, embedded assets), third-party code and testdata/ fixtures (checked only
# when named: common/sync/testdata/unguarded_write.cc must fail) are skipped, and so is a file whose
# project sources (the .cc and the project headers it includes, transitively) mention no mutex, lock
# or thread-safety annotation: nothing there can draw a thread-safety diagnostic, and parsing gRPC
# headers costs seconds a file. Registered with ctest as thread_safety_check (label unit); needs a
# built tree, because sources include generated headers.
set -euo pipefail

if (($# < 1)); then
  echo "usage: $0 <build dir> [<source file>...]" >&2
  exit 2
fi
src_dir="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="$(cd "$1" && pwd)"
shift
db="$build_dir/compile_commands.json"
clang="${CLANGXX:-clang++-14}"
jobs="${JOBS:-$(nproc)}"

if [[ ! -f "$db" ]]; then
  echo "thread_safety_check: $db not found (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2
  exit 2
fi
if ! command -v "$clang" >/dev/null 2>&1; then
  echo "thread_safety_check: $clang not found (scripts/bootstrap.sh installs clang-14)" >&2
  exit 2
fi

# The build's own flags for each file, with the compiler, -o/-c and warning flags replaced and
# GCC-only flags dropped; files are checked in parallel, every error is printed.
exec python3 - "$db" "$src_dir" "$build_dir" "$clang" "$jobs" "$@" <<'EOF'
import concurrent.futures, json, os, re, shlex, subprocess, sys, time

db, src_dir, build_dir, clang, jobs = sys.argv[1:6]
only = {os.path.abspath(f) for f in sys.argv[6:]}
gcc_only = ("-fno-gnu-unique", "-fconcepts-diagnostics-depth", "-fcoroutines", "-Wno-maybe-uninitialized")
units, seen, skipped = [], set(), 0

# Whether `path` or a project header it includes (transitively) can declare or use a capability.
lock_words = re.compile(r"Mutex|mutex|CondVar|GUARDED_BY|LOCKS_REQUIRED|LOCK_FUNCTION|LOCKABLE|"
                        r"LOCK_RETURNED|ACQUIRED_(AFTER|BEFORE)|THREAD_ANNOTATION")
include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
mentions = {}
def mentions_locks(path, visiting=None):
    if path in mentions:
        return mentions[path]
    visiting = visiting or set()
    visiting.add(path)
    try:
        text = open(path, errors="replace").read()
    except OSError:
        mentions[path] = False
        return False
    found = bool(lock_words.search(text))
    for name in include_re.findall(text):
        if found:
            break
        for base in (src_dir, os.path.dirname(path)):
            header = os.path.normpath(os.path.join(base, name))
            if header.startswith(src_dir + "/") and not header.startswith(build_dir + "/") \
                    and header not in visiting and os.path.isfile(header):
                found = mentions_locks(header, visiting)
                break
    mentions[path] = found
    return found

for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    if (not path.startswith(src_dir + "/") or path.startswith(build_dir + "/")
            or not path.endswith(".cc") or path.endswith(".pb.cc")
            or "/third_party/" in path or "/node_modules/" in path or path in seen
            or (only and path not in only)
            or ("/testdata/" in path and path not in only)):  # fixtures: only when named
        continue
    seen.add(path)
    if not mentions_locks(path):
        skipped += 1
        continue
    args = entry.get("arguments") or shlex.split(entry["command"])
    argv, skip = [clang], False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
        elif not (arg in ("-c", "-MD", "-MMD", entry["file"], path)
                  or arg.startswith(("-W", "-w")) or arg.startswith(gcc_only)):
            argv.append(arg)
    argv += ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", path]
    units.append((path, entry["directory"], argv))

print(f"thread_safety_check: {len(units)} files ({skipped} without locks skipped), {jobs} jobs, {clang}",
      flush=True)
start = time.monotonic()

def check(unit):
    path, directory, argv = unit
    done = subprocess.run(argv, cwd=directory, capture_output=True, text=True)
    return path, done.returncode, done.stderr

failed = []
with concurrent.futures.ThreadPoolExecutor(max_workers=int(jobs)) as pool:
    for path, rc, stderr in pool.map(check, units):
        if stderr:
            sys.stdout.write(stderr)
        if rc != 0:
            failed.append(os.path.relpath(path, src_dir))
print(f"thread_safety_check: {time.monotonic() - start:.0f} s")
if failed:
    print("thread_safety_check: FAILED: " + " ".join(failed))
    sys.exit(1)
print("thread_safety_check: OK")
EOF
