#include "cli/engramctl/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace engram::cli {
namespace {

absl::Status ErrnoError(absl::string_view what, absl::string_view path) {
  const int error = errno;
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(what, " ", path, ": ", std::strerror(error)));
}

}  // namespace

absl::StatusOr<AtomicFile> AtomicFile::Create(const std::string& path) {
  const std::string part = path + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("cannot create", part);
  return AtomicFile(path, fd);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)), part_(std::move(other.part_)), fd_(other.fd_),
      bytes_(other.bytes_) {
  other.fd_ = -1;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(part_.c_str());
  fd_ = -1;
}

absl::Status AtomicFile::Append(absl::string_view data) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": already closed"));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = ErrnoError("write", part_);
      Abandon();
      return status;
    }
    done += static_cast<size_t>(n);
  }
  bytes_ += data.size();
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": already closed"));
  if (::fsync(fd_) != 0) {
    absl::Status status = ErrnoError("fsync", part_);
    Abandon();
    return status;
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    absl::Status status = ErrnoError("close", part_);
    ::unlink(part_.c_str());
    return status;
  }
  if (::rename(part_.c_str(), path_.c_str()) != 0) {
    absl::Status status = ErrnoError("cannot rename to", path_);
    ::unlink(part_.c_str());
    return status;
  }
  return absl::OkStatus();
}

}  // namespace engram::cli
