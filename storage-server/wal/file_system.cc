#include "storage-server/wal/file_system.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage-server/io/out_of_space.h"

namespace engram::storage::wal {
namespace {

// Blocks reserved ahead of the records that need them, so most groups need no fallocate.
constexpr uint64_t kReserveAheadBytes = uint64_t{1} << 20;

absl::Status ErrnoError(int error, const char* op, const std::filesystem::path& path) {
  if (IsOutOfSpaceErrno(error)) {
    return OutOfSpaceError(
        absl::StrCat("wal: ", op, " ", path.string(), ": ", std::strerror(error)));
  }
  return absl::ErrnoToStatus(error, absl::StrCat("wal: ", op, " ", path.string()));
}

class PosixWritableFile final : public WritableFile {
 public:
  // `size`: the file's current size (its bytes are allocated).
  PosixWritableFile(std::filesystem::path path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), allocated_end_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "write", path_);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Allocate(uint64_t offset, uint64_t length) override {
    const uint64_t end = offset + length;
    struct rlimit limit;
    if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
        end > limit.rlim_cur) {
      return OutOfSpaceError(absl::StrCat(
          "wal: no room for ", length, " bytes at offset ", offset, " of ", path_.string(), ": ",
          std::strerror(EFBIG), " (the process's file size limit is ", limit.rlim_cur, " bytes)"));
    }
    if (end <= allocated_end_ || !can_allocate_) return absl::OkStatus();
    // Reserve ahead when there is room; otherwise exactly what is needed, so the last free blocks
    // of the disk are still used.
    for (const uint64_t want : {std::max(length, kReserveAheadBytes), length}) {
      int rc;
      do {
        rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                         static_cast<off_t>(want));
      } while (rc != 0 && errno == EINTR);
      if (rc == 0) {
        allocated_end_ = offset + want;
        return absl::OkStatus();
      }
      const int error = errno;
      if (error == EOPNOTSUPP || error == ENOSYS) {
        can_allocate_ = false;
        spdlog::warn(
            "wal: {} cannot reserve blocks (fallocate: {}); a full disk will stop the "
            "writer instead of refusing writes",
            path_.string(), std::strerror(error));
        return absl::OkStatus();
      }
      if (!IsOutOfSpaceErrno(error) || want == length) {
        if (IsOutOfSpaceErrno(error)) {
          return OutOfSpaceError(absl::StrCat("wal: no room for ", length, " bytes at offset ",
                                              offset, " of ", path_.string(), ": ",
                                              std::strerror(error)));
        }
        return ErrnoError(error, "fallocate", path_);
      }
    }
    return absl::OkStatus();  // Not reached: the second attempt returns.
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
  const std::filesystem::path path_;
  int fd_;
  uint64_t allocated_end_;    // Blocks are reserved for [0, allocated_end_).
  bool can_allocate_ = true;  // False once fallocate proved unsupported here.
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
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError(errno, "create", path);
    return std::make_unique<PosixWritableFile>(path, fd, 0);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> ReopenAppendableFile(
      const std::filesystem::path& path, uint64_t size) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
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
      spdlog::warn("wal: cut {} to {} bytes ({} bytes of torn tail removed)", path.string(), size,
                   actual - size);
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
