#include "storage-server/engine/derived_state.h"

#include <fcntl.h>
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

// The whole file in one read (the file is tens to hundreds of MB at 1M concepts).
absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(path.string());
    return absl::InternalError(absl::StrCat("open ", path.string(), ": ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("stat ", path.string(), ": ", std::strerror(errno)));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(done);  // a shorter read shows up as a length mismatch
  return out;
}

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

absl::StatusOr<std::string> ReadDerivedFile(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(std::string file, ReadWholeFile(path));
  auto damaged = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path.string(), ": ", why));
  };
  if (file.size() < sizeof(Header)) {
    return damaged(absl::StrFormat("%d bytes, shorter than its header", file.size()));
  }
  Header h;
  std::memcpy(&h, file.data(), sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) return damaged("bad magic");
  if (h.version != kDerivedFormatVersion) {
    return damaged(absl::StrFormat("format version %d, expected %d", h.version,
                                   kDerivedFormatVersion));
  }
  if (h.body_bytes != file.size() - sizeof(Header)) {
    return damaged(absl::StrFormat("header says %d body bytes, file holds %d", h.body_bytes,
                                   file.size() - sizeof(Header)));
  }
  if (XXH3_64bits(file.data() + sizeof(Header), h.body_bytes) != h.checksum) {
    return damaged("checksum mismatch");
  }
  file.erase(0, sizeof(Header));
  return file;
}

}  // namespace engram::storage
