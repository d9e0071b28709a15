#include "storage-server/engine/derived_state.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"
#include "storage-server/vector/record_array.h"

namespace engram::storage {
namespace {

constexpr char kMagic[8] = {'E', 'N', 'G', 'D', 'R', 'V', '\0', '\1'};

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t reserved;
  uint64_t body_bytes;
  uint64_t checksum;
};
static_assert(sizeof(Header) == 32);

}  // namespace

absl::Status WriteDerivedFile(const std::filesystem::path& path, absl::string_view body) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kDerivedFormatVersion;
  h.body_bytes = body.size();
  h.checksum = XXH3_64bits(body.data(), body.size());
  std::string file(reinterpret_cast<const char*>(&h), sizeof(h));
  file.append(body.data(), body.size());
  return vector::WriteFileAtomically(path, file.data(), file.size());
}

absl::StatusOr<std::unique_ptr<DerivedFile>> DerivedFile::Open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(path.string());
    return absl::InternalError(absl::StrCat("open ", path.string(), ": ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status s =
        absl::InternalError(absl::StrCat("stat ", path.string(), ": ", std::strerror(errno)));
    ::close(fd);
    return s;
  }
  auto damaged = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path.string(), ": ", why));
  };
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < sizeof(Header)) {
    ::close(fd);
    return damaged(absl::StrFormat("%d bytes, shorter than its header", size));
  }
  // Read through a private read-only mapping: no copy, and the pages are read ahead in order.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    return absl::InternalError(absl::StrCat("mmap ", path.string(), ": ", std::strerror(errno)));
  }
  std::unique_ptr<DerivedFile> file(new DerivedFile(map, size));
  const char* bytes = static_cast<const char*>(map);
  Header h;
  std::memcpy(&h, bytes, sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) return damaged("bad magic");
  if (h.version != kDerivedFormatVersion) {
    return damaged(
        absl::StrFormat("format version %d, expected %d", h.version, kDerivedFormatVersion));
  }
  if (h.body_bytes != size - sizeof(Header)) {
    return damaged(absl::StrFormat("header says %d body bytes, file holds %d", h.body_bytes,
                                   size - sizeof(Header)));
  }
  if (XXH3_64bits(bytes + sizeof(Header), h.body_bytes) != h.checksum) {
    return damaged("checksum mismatch");
  }
  file->body_ = absl::string_view(bytes + sizeof(Header), h.body_bytes);
  return file;
}

DerivedFile::~DerivedFile() { ::munmap(map_, size_); }

}  // namespace engram::storage
