#include "storage-server/vector/record_array.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "storage-server/io/out_of_space.h"

namespace engram::storage::vector {

RecordArray::RecordArray(std::unique_ptr<SegmentedFile> file, uint32_t record_bytes)
    : file_(std::move(file)), record_bytes_(record_bytes) {
  per_segment_ = file_->segment_bytes() / record_bytes_;
  // per_segment_ >= 2 always holds for records we use; for 1 the multiplier would overflow.
  magic_ = per_segment_ == 1 ? 0 : UINT64_C(0xFFFFFFFFFFFFFFFF) / per_segment_ + 1;
  segment_shift_ = std::countr_zero(file_->segment_bytes());
}

absl::StatusOr<std::unique_ptr<RecordArray>> RecordArray::Open(const std::filesystem::path& dir,
                                                               const std::string& prefix,
                                                               uint32_t record_bytes,
                                                               uint64_t segment_bytes,
                                                               bool read_only_mapping) {
  if (record_bytes == 0 || record_bytes % 4 != 0 || segment_bytes / record_bytes < 2) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": record of ", record_bytes,
                                                   " bytes does not fit a segment of ",
                                                   segment_bytes, " bytes twice"));
  }
  SegmentedFile::Options options{dir, prefix, segment_bytes};
  options.read_only_mapping = read_only_mapping;
  ASSIGN_OR_RETURN(auto file, SegmentedFile::Open(options));
  return std::unique_ptr<RecordArray>(new RecordArray(std::move(file), record_bytes));
}

absl::Status RecordArray::Write(uint32_t begin, const void* data, uint32_t count) {
  const char* p = static_cast<const char*>(data);
  while (count > 0) {
    // Records of one segment are contiguous in it.
    const uint64_t segment_end = (begin / per_segment_ + 1) * per_segment_;
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(count, segment_end - begin));
    RETURN_IF_ERROR(file_->Write(Offset(begin), p, size_t{n} * record_bytes_));
    p += size_t{n} * record_bytes_;
    begin += n;
    count -= n;
  }
  return absl::OkStatus();
}

absl::Status RecordArray::EnsureRecords(uint64_t count) {
  if (count == 0) return absl::OkStatus();
  uint64_t segments = (count + per_segment_ - 1) / per_segment_;
  return file_->EnsureCapacity(segments << segment_shift_);
}

absl::Status RecordArray::Flush(uint32_t begin, uint32_t end) {
  if (begin >= end) return absl::OkStatus();
  return file_->Flush(Offset(begin), Offset(end - 1) + record_bytes_);
}

namespace {

absl::Status Errno(const char* what, const std::filesystem::path& path) {
  const int err = errno;
  std::string msg = absl::StrCat(what, " ", path.string(), ": ", std::strerror(err));
  return IsOutOfSpaceErrno(err) ? OutOfSpaceError(msg) : absl::InternalError(msg);
}

}  // namespace

absl::Status WriteFileAtomically(const std::filesystem::path& path, const void* bytes,
                                 size_t size) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  const char* p = static_cast<const char*>(bytes);
  size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = Errno("write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status s = Errno("fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename", tmp);
  int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("open dir", path.parent_path());
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Errno("fsync dir", path.parent_path());
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return absl::NotFoundError(path.string());
    return absl::InternalError(absl::StrCat("open ", path.string()));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("read ", path.string()));
  return std::move(out).str();
}

}  // namespace engram::storage::vector
