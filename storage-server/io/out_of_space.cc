#include "storage-server/io/out_of_space.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace engram::storage {
namespace {

constexpr std::string_view kOutOfSpaceUrl = "engram.storage/out-of-space";

}  // namespace

bool IsOutOfSpaceErrno(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG; }

absl::Status OutOfSpaceError(std::string_view message) {
  absl::Status status =
      absl::ResourceExhaustedError(absl::string_view(message.data(), message.size()));
  status.SetPayload(absl::string_view(kOutOfSpaceUrl.data(), kOutOfSpaceUrl.size()),
                    absl::Cord("1"));
  return status;
}

bool IsOutOfSpace(const absl::Status& status) {
  return !status.ok() &&
         status.GetPayload(absl::string_view(kOutOfSpaceUrl.data(), kOutOfSpaceUrl.size()))
             .has_value();
}

absl::StatusOr<uint64_t> FreeBytes(const std::filesystem::path& dir) {
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("statvfs ", dir.string()));
  }
  const uint64_t blocks = ::geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
  return blocks * fs.f_frsize;
}

void IgnoreFileSizeLimitSignal() { ::signal(SIGXFSZ, SIG_IGN); }

}  // namespace engram::storage
