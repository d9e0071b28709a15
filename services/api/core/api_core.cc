#include "services/api/core/api_core.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/cord.h"

namespace engram::api {

int RetryAfterSeconds(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterPayload);
  int seconds = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &seconds) || seconds < 1) return 1;
  return seconds > 3600 ? 3600 : seconds;
}

}  // namespace engram::api
