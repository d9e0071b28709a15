// Out of space: the one I/O error engram-storage recovers from without a restart.
//
// When a file cannot grow (the file system is full: ENOSPC or EDQUOT; or the file would pass the
// process's RLIMIT_FSIZE: EFBIG), the writer reports RESOURCE_EXHAUSTED *before* any byte of the
// change is written (the write-ahead log and the mapped files reserve their blocks first), refuses
// that write, and tries again on the next one. Code that must tell this case apart from other
// RESOURCE_EXHAUSTED errors (a full write queue, a full index) asks IsOutOfSpace(), never the
// message text: the mark is an absl::Status payload (re-wrap with OutOfSpaceError() to keep it).
//
//   if (int rc = ::posix_fallocate(fd, 0, n); rc != 0 && IsOutOfSpaceErrno(rc)) {
//     return OutOfSpaceError(absl::StrCat("allocate ", n, " bytes: ", strerror(rc)));
//   }
//   if (IsOutOfSpace(s)) { /* refuse this write, keep serving, retry on the next */ }
//
// Thread-safety: free functions over values; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace engram::storage {

// ENOSPC, EDQUOT and EFBIG: the file could not grow for lack of room.
bool IsOutOfSpaceErrno(int err);

// RESOURCE_EXHAUSTED with `message`, marked as out of space.
absl::Status OutOfSpaceError(std::string_view message);

// True when `status` carries the out-of-space mark.
bool IsOutOfSpace(const absl::Status& status);

// The bytes the file system holding `dir` can still give this process (statvfs: the blocks free to
// unprivileged users, or every free block for root, which may use the reserved ones).
absl::StatusOr<uint64_t> FreeBytes(const std::filesystem::path& dir);

// Sets SIGXFSZ to SIG_IGN, so that a write past RLIMIT_FSIZE fails with EFBIG (handled like a full
// disk) instead of killing the process. Process-wide; call once at startup.
void IgnoreFileSizeLimitSignal();

}  // namespace engram::storage
