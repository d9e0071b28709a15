#include "storage-server/wal/file_system.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"
#include "storage-server/io/out_of_space.h"

namespace engram::storage::wal {
namespace {

// Zeros written ahead of the records that need them, so most groups reserve nothing.
constexpr uint64_t kReserveAheadBytes = uint64_t{1} << 20;
// A group reserving at least this much gets its blocks from fallocate instead (no zeros written).
constexpr uint64_t kZeroFillMaxBytes = uint64_t{256} << 10;

absl::Status ErrnoError(int error, const char* op, const std::filesystem::path& path) {
  if (IsOutOfSpaceErrno(error)) {
    return OutOfSpaceError(
        absl::StrCat("wal: ", op, " ", path.string(), ": ", std::strerror(error)));
  }
  return absl::ErrnoToStatus(error, absl::StrCat("wal: ", op, " ", path.string()));
}

// Records are written in place (pwrite at the append offset, no O_APPEND) over a reserve of zeros
// written ahead of them, with the file already sized over it: an fdatasync then flushes only the
// records' pages, not the file's size and block map as well (an append into fallocate'd blocks
// changes both, and ext4 commits its journal for them at every fdatasync).
class PosixWritableFile final : public WritableFile {
 public:
  // `size`: the file's current size, all of it records (the append offset).
  PosixWritableFile(std::filesystem::path path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), end_(size), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(end_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "write", path_);
      }
      p += n;
      left -= static_cast<size_t>(n);
      end_ += static_cast<uint64_t>(n);
    }
    size_ = std::max(size_, end_);
    return absl::OkStatus();
  }

  absl::Status Allocate(uint64_t offset, uint64_t length) override {
    const uint64_t end = offset + length;
    auto no_room = [&](int error, absl::string_view why = "") {
      return OutOfSpaceError(absl::StrCat("wal: no room for ", length, " bytes at offset ", offset,
                                          " of ", path_.string(), ": ", std::strerror(error), why));
    };
    uint64_t limit = UINT64_MAX;  // a write past RLIMIT_FSIZE raises SIGXFSZ
    struct rlimit rl;
    if (::getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      limit = rl.rlim_cur;
      if (end > limit) {
        return no_room(EFBIG,
                       absl::StrCat(" (the process's file size limit is ", limit, " bytes)"));
      }
    }
    if (end <= size_) return absl::OkStatus();
    // A large group's records (a batch import) would be written twice, zeros first: its blocks
    // are reserved without writing them, and its fdatasync's cost is spread over many records.
    if (length >= kZeroFillMaxBytes && can_allocate_) {
      const int error = FallocateTo(end);
      if (error == 0) return absl::OkStatus();
      if (IsOutOfSpaceErrno(error)) return no_room(error);
      return ErrnoError(error, "reserve blocks in", path_);
    }
    // Reserve ahead when there is room; otherwise exactly what is needed, so the last free blocks
    // of the disk are still used.
    for (const uint64_t want : {std::max(length, kReserveAheadBytes), length}) {
      const int error = ZeroFillTo(std::min(offset + want, limit));
      if (error == 0) return absl::OkStatus();
      if (!IsOutOfSpaceErrno(error)) return ErrnoError(error, "write zeros to", path_);
      if (size_ >= end) return absl::OkStatus();  // the first attempt got far enough
      if (want == length) return no_room(error);
    }
    return absl::OkStatus();  // Not reached: the second attempt returns.
  }

  absl::Status DropReserve() override {
    if (size_ == end_) return absl::OkStatus();
    if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
      return ErrnoError(errno, "ftruncate", path_);
    }
    size_ = end_;
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return ErrnoError(errno, "fdatasync", path_);
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    const int fd = std::exchange(fd_, -1);
    // close() must not be retried on EINTR on Linux: the descriptor is gone either way.
    if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) return ErrnoError(errno, "close", path_);
    return absl::OkStatus();
  }

  const std::filesystem::path& path() const override { return path_; }

 private:
  // Reserves blocks for [size_, end) without writing them or changing the file's size (appends
  // past size_ then grow it), or writes zeros there where the file system cannot; 0, or the errno
  // that stopped it.
  int FallocateTo(uint64_t end) {
    if (end <= allocated_end_) return 0;
    const uint64_t from = std::max(size_, allocated_end_);
    int rc;
    do {
      rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                       static_cast<off_t>(end - from));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      allocated_end_ = end;
      return 0;
    }
    if (errno != EOPNOTSUPP && errno != ENOSYS) return errno;
    can_allocate_ = false;
    return ZeroFillTo(end);
  }

  // Writes zeros from the file's end to `target`; 0, or the errno that stopped it (the file then
  // ends where the zeros got to).
  int ZeroFillTo(uint64_t target) {
    static const std::string* const zeros = new std::string(kReserveAheadBytes, '\0');
    while (size_ < target) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(target - size_, zeros->size()));
      const ssize_t written = ::pwrite(fd_, zeros->data(), n, static_cast<off_t>(size_));
      if (written < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      size_ += static_cast<uint64_t>(written);
    }
    return 0;
  }

  const std::filesystem::path path_;
  int fd_;
  uint64_t end_;   // the append offset: records are [0, end_)
  uint64_t size_;  // the file's size: [end_, size_) is the reserve of zeros
  uint64_t allocated_end_ = 0;  // blocks fallocate'd (past size_) for [0, allocated_end_)
  bool can_allocate_ = true;    // false once fallocate proved unsupported here
};

absl::Status FsyncFd(int fd, const std::filesystem::path& path) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return ErrnoError(errno, "fsync", path);
  }
  return absl::OkStatus();
}

class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError(errno, "create", path);
    return std::make_unique<PosixWritableFile>(path, fd, 0);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> ReopenAppendableFile(
      const std::filesystem::path& path, uint64_t size) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoError(error, "fstat", path);
    }
    auto file = std::make_unique<PosixWritableFile>(path, fd, size);
    const auto actual = static_cast<uint64_t>(st.st_size);
    if (actual < size) {
      return absl::FailedPreconditionError(absl::StrCat("wal: ", path.string(), " has ", actual,
                                                        " bytes, expected at least ", size,
                                                        " (changed since recovery?)"));
    }
    if (actual > size) {
      if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        return ErrnoError(errno, "ftruncate", path);
      }
      if (absl::Status s = file->Sync(); !s.ok()) return s;
      // Recovery already warned if they held a torn record; otherwise they are the unused
      // reserve of zeros a crash left.
      spdlog::info("wal: cut {} to {} bytes ({} bytes past the last whole record removed)",
                   path.string(), size, actual - size);
    }
    return file;
  }

  absl::Status SyncDir(const std::filesystem::path& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open directory", dir);
    absl::Status s = FsyncFd(fd, dir);
    ::close(fd);
    return s;
  }

  absl::Status RemoveFile(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoError(errno, "unlink", path);
    return absl::OkStatus();
  }
};

}  // namespace

FileSystem* DefaultFileSystem() {
  static PosixFileSystem* const fs = new PosixFileSystem();
  return fs;
}

}  // namespace engram::storage::wal
