#include "storage-server/wal/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace engram::storage::wal {
namespace {

absl::Status ErrnoError(int error, const char* op, const std::filesystem::path& path) {
  return absl::ErrnoToStatus(error, absl::StrCat("wal: ", op, " ", path.string()));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
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
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> ReopenAppendableFile(
      const std::filesystem::path& path, uint64_t size) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open", path);
    auto file = std::make_unique<PosixWritableFile>(path, fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return ErrnoError(errno, "fstat", path);
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
