#include "storage-server/mmap/segmented_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage-server/io/out_of_space.h"

namespace engram::storage {

namespace bip = boost::interprocess;

struct SegmentedFile::Region {
  bip::file_mapping file;
  bip::mapped_region region;
};

namespace {

absl::Status ErrnoStatus(absl::string_view what, const std::filesystem::path& path) {
  int err = errno;
  std::string msg = absl::StrCat(what, " ", path.string(), ": ", std::strerror(err));
  if (IsOutOfSpaceErrno(err)) return OutOfSpaceError(msg);
  return absl::InternalError(msg);
}

absl::Status FsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ErrnoStatus("open dir", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync dir", dir);
  return absl::OkStatus();
}

}  // namespace

SegmentedFile::SegmentedFile(const Options& options)
    : dir_(options.dir),
      prefix_(options.prefix),
      read_only_mapping_(options.read_only_mapping),
      msync_(options.msync != nullptr ? options.msync : &::msync) {
  shift_ = std::countr_zero(options.segment_bytes);
  mask_ = options.segment_bytes - 1;
}

SegmentedFile::~SegmentedFile() = default;

std::filesystem::path SegmentedFile::SegmentPath(size_t index) const {
  return dir_ / absl::StrFormat("%s.%06d", prefix_, index);
}

absl::StatusOr<std::unique_ptr<SegmentedFile>> SegmentedFile::Open(const Options& options) {
  if (options.segment_bytes < 4096 || !std::has_single_bit(options.segment_bytes)) {
    return absl::InvalidArgumentError("segment_bytes: must be a power of two >= 4096");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", options.dir.string(), ": ", ec.message()));
  std::unique_ptr<SegmentedFile> file(new SegmentedFile(options));
  for (size_t i = 0; i < kMaxSegments; ++i) {
    std::filesystem::path path = file->SegmentPath(i);
    const bool present = std::filesystem::exists(path, ec);
    if (ec) return absl::InternalError(absl::StrCat("stat ", path.string(), ": ", ec.message()));
    if (!present) break;
    uint64_t size = std::filesystem::file_size(path, ec);
    if (ec || size != options.segment_bytes) {
      return absl::DataLossError(absl::StrFormat("%s: size %d, expected %d", path.string(), size,
                                                 options.segment_bytes));
    }
    if (auto s = file->MapSegment(i, /*create=*/false); !s.ok()) return s;
  }
  return file;
}

absl::Status SegmentedFile::MapSegment(size_t index, bool create) {
  if (index >= kMaxSegments) return absl::ResourceExhaustedError("segmented file: too many segments");
  std::filesystem::path path = SegmentPath(index);
  if (create) {
    // A segment that cannot fit is refused before any block is taken. A posix_fallocate that fails
    // holds the file system's last free blocks until it gives up, and a log append racing with it
    // (the HNSW indexer grows its graph on its own thread) would be refused for want of room
    // that is really there.
    if (auto free = FreeBytes(dir_); free.ok() && *free < segment_bytes()) {
      return OutOfSpaceError(absl::StrCat("allocate ", segment_bytes(), " bytes for ",
                                          path.string(), ": ", std::strerror(ENOSPC), " (", *free,
                                          " bytes free)"));
    }
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("create", path);
    // Reserve real blocks now (a file grown with ftruncate is sparse, and storing into a mapped
    // hole on a full disk raises SIGBUS): a full disk, or a segment past RLIMIT_FSIZE (EFBIG,
    // with SIGXFSZ ignored), fails here as out of space, and the caller refuses the write.
    int rc;
    do {
      rc = ::posix_fallocate(fd, 0, static_cast<off_t>(segment_bytes()));
    } while (rc == EINTR);
    if (rc != 0) {
      ::close(fd);
      ::unlink(path.c_str());
      errno = rc;
      return ErrnoStatus(absl::StrCat("allocate ", segment_bytes(), " bytes for"), path);
    }
    ::close(fd);
    if (auto s = FsyncDir(dir_); !s.ok()) return s;
  }
  try {
    auto region = std::make_unique<Region>();
    region->file = bip::file_mapping(path.c_str(), bip::read_write);
    region->region = bip::mapped_region(
        region->file, read_only_mapping_ ? bip::read_only : bip::read_write, 0, segment_bytes());
    char* base = static_cast<char*>(region->region.get_address());
    regions_.push_back(std::move(region));
    segments_.Set(index, base);
    regions_count_.store(regions_.size(), std::memory_order_release);
    capacity_.store(regions_.size() * segment_bytes(), std::memory_order_release);
  } catch (const bip::interprocess_exception& e) {
    return absl::InternalError(absl::StrCat("map ", path.string(), ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status SegmentedFile::Write(uint64_t offset, const void* data, size_t len) {
  if (!read_only_mapping_) {
    return absl::FailedPreconditionError("segmented file: Write() needs read_only_mapping");
  }
  if (len == 0) return absl::OkStatus();
  if (offset + len > capacity() || offset + len > ContiguousEnd(offset)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("segmented file: write of %d bytes at %d outside one mapped segment", len,
                        offset));
  }
  const size_t index = offset >> shift_;
  const int fd = regions_[index]->file.get_mapping_handle().handle;
  const char* p = static_cast<const char*>(data);
  off_t at = static_cast<off_t>(offset & mask_);
  while (len > 0) {
    ssize_t n = ::pwrite(fd, p, len, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("write", SegmentPath(index));
    p += n;
    at += n;
    len -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SegmentedFile::EnsureCapacity(uint64_t bytes) {
  while (capacity() < bytes) {
    if (auto s = MapSegment(regions_.size(), /*create=*/true); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SegmentedFile::Flush(uint64_t begin, uint64_t end) {
  end = std::min(end, capacity());
  const uint64_t page = 4096;
  begin &= ~(page - 1);
  while (begin < end) {
    uint64_t stop = std::min(end, ContiguousEnd(begin));
    if (msync_(At(begin), stop - begin, MS_SYNC) != 0) {
      return ErrnoStatus("msync", SegmentPath(begin >> shift_));
    }
    begin = stop;
  }
  return absl::OkStatus();
}

absl::Status SegmentedFile::ShrinkTo(uint64_t bytes) {
  size_t keep = (bytes + mask_) >> shift_;
  while (regions_.size() > keep) {
    size_t index = regions_.size() - 1;
    segments_.Set(index, nullptr);
    regions_.pop_back();
    regions_count_.store(regions_.size(), std::memory_order_release);
    capacity_.store(regions_.size() * segment_bytes(), std::memory_order_release);
    std::error_code ec;
    std::filesystem::remove(SegmentPath(index), ec);
    if (ec) return absl::InternalError(absl::StrCat("remove ", SegmentPath(index).string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::vector<std::filesystem::path> SegmentedFile::SegmentPaths() const {
  std::vector<std::filesystem::path> out;
  for (size_t i = 0; i < segment_count(); ++i) out.push_back(SegmentPath(i));
  return out;
}

}  // namespace engram::storage
