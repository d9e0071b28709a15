#include "common/logging/correlation.h"

#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"

namespace engram::logging {
namespace {

// Points at the id owned by the innermost ScopedCorrelationId on this thread.
thread_local const std::string* current_id = nullptr;

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return rng;
}

}  // namespace

std::string NewCorrelationId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::mt19937_64& rng = ThreadRng();
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (int i = 0; i < 16; ++i) {
      id[half * 16 + i] = kHex[bits & 0xf];
      bits >>= 4;
    }
  }
  return id;
}

bool IsValidCorrelationId(std::string_view id) {
  if (id.empty() || id.size() > kMaxCorrelationIdLength) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      return false;
    }
  }
  return true;
}

std::string CorrelationIdOrNew(std::string_view supplied) {
  return IsValidCorrelationId(supplied) ? std::string(supplied) : NewCorrelationId();
}

std::string_view CurrentCorrelationId() {
  return current_id == nullptr ? std::string_view() : std::string_view(*current_id);
}

ScopedCorrelationId::ScopedCorrelationId(std::string id)
    : id_(std::move(id)), previous_(current_id) {
  current_id = &id_;
}

ScopedCorrelationId::~ScopedCorrelationId() { current_id = previous_; }

}  // namespace engram::logging
