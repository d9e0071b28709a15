#include "storage-server/io/out_of_space.h"

#include <signal.h>

#include <cerrno>

#include "absl/strings/cord.h"

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

void IgnoreFileSizeLimitSignal() { ::signal(SIGXFSZ, SIG_IGN); }

}  // namespace engram::storage
