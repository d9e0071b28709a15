// The file operations the write-ahead-log writer performs, behind a small interface so tests can
// inject I/O errors (EIO, ENOSPC, a failed fdatasync) without a broken disk.
//
// DefaultFileSystem() is the POSIX implementation the server uses. Reading the log (ReadLog) does
// not go through this interface: it maps segment files read-only.
//
// Errors carry the file path and the errno text, e.g.
//   "wal: fdatasync /data/wal/00000000000000000001.wal: Input/output error".
// Lack of room (ENOSPC, EDQUOT, EFBIG) is RESOURCE_EXHAUSTED with the out-of-space mark
// (storage-server/io/out_of_space.h), whatever the operation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace engram::storage::wal {

// An open file that is only ever appended to.
// Thread-compatible: one thread at a time.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Appends all of `data` at the end of the file (loops over short writes and EINTR). On error part
  // of `data` may have reached the file.
  virtual absl::Status Append(std::string_view data) = 0;

  // Makes everything appended so far durable (fdatasync). After a failure the kernel may have
  // dropped the dirty pages, so a later success proves nothing: callers must treat it as fatal.
  virtual absl::Status Sync() = 0;

  // Reserves disk blocks for the bytes [offset, offset + length), so that appending them later
  // cannot fail for lack of room: a full disk shows up here, before any byte of a record is
  // written, and the caller can refuse the write cleanly. The POSIX file writes zeros there (and
  // ahead), growing the file over them, and later appends overwrite them in place, so that an
  // fdatasync flushes only data. Cheap when the range is already reserved. Out of space
  // (RESOURCE_EXHAUSTED, IsOutOfSpace) names the file and the bytes needed; that includes a range
  // that would pass the process's RLIMIT_FSIZE (checked on every call).
  virtual absl::Status Allocate(uint64_t offset, uint64_t length) = 0;

  // Cuts the file to the bytes appended, dropping the reserve of zeros past them (a finished log
  // segment, a clean close). Readers take an all-zero tail as the end of the records anyway.
  virtual absl::Status DropReserve() = 0;

  // Closes the descriptor. Further calls other than the destructor are invalid.
  virtual absl::Status Close() = 0;

  virtual const std::filesystem::path& path() const = 0;
};

// Thread-safe: the default implementation keeps no state.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path`, which must not exist yet, for appending.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::filesystem::path& path) = 0;

  // Opens the existing `path` for appending after cutting it to `size` bytes. If the file was
  // longer, the truncation is made durable (ftruncate + fdatasync) before this returns. Fails with
  // FailedPrecondition if the file is shorter than `size`.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> ReopenAppendableFile(
      const std::filesystem::path& path, uint64_t size) = 0;

  // Makes the creation and removal of entries in `dir` durable (fsync of the directory).
  virtual absl::Status SyncDir(const std::filesystem::path& dir) = 0;

  virtual absl::Status RemoveFile(const std::filesystem::path& path) = 0;
};

// The process-wide POSIX file system. Never null; not owned by the caller.
FileSystem* DefaultFileSystem();

}  // namespace engram::storage::wal
