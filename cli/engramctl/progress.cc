#include "cli/engramctl/progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace engram::cli {
namespace {
constexpr absl::Duration kTtyInterval = absl::Milliseconds(100);
constexpr int kBarWidth = 30;
}  // namespace

Progress::Progress(std::ostream* out, bool tty, std::function<absl::Time()> now,
                   absl::Duration plain_interval)
    : out_(out), tty_(tty), now_(std::move(now)), plain_interval_(plain_interval) {}

void Progress::Start(std::string label, uint64_t total, std::string item_name) {
  sync::MutexLock lock(&mu_);
  label_ = std::move(label);
  item_name_ = std::move(item_name);
  total_ = total;
  units_ = 0;
  items_ = 0;
  start_ = now_();
  last_print_ = start_;
  active_ = true;
}

void Progress::Add(uint64_t units, uint64_t items) {
  sync::MutexLock lock(&mu_);
  if (!active_) return;
  units_ += units;
  items_ += items;
  absl::Time now = now_();
  if (now - last_print_ >= (tty_ ? kTtyInterval : plain_interval_)) Print(now, false);
}

void Progress::Finish() {
  sync::MutexLock lock(&mu_);
  if (!active_) return;
  // A plain log gets no final line: the caller prints its summary.
  if (tty_) Print(now_(), true);
  active_ = false;
}

void Progress::Print(absl::Time now, bool final) {
  last_print_ = now;
  double seconds = absl::ToDoubleSeconds(now - start_);
  double rate = seconds > 0 ? static_cast<double>(items_) / seconds : 0.0;
  std::string line;
  if (total_ > 0) {
    double fraction = std::min(1.0, static_cast<double>(units_) / static_cast<double>(total_));
    if (tty_) {
      int filled = static_cast<int>(fraction * kBarWidth);
      line = absl::StrFormat("%s [%s%s] %5.1f%% %d %s %.0f/s", label_, std::string(filled, '#'),
                             std::string(kBarWidth - filled, '.'), fraction * 100, items_,
                             item_name_, rate);
    } else {
      line = absl::StrFormat("%s: %.1f%%, %d %s, %.0f/s", label_, fraction * 100, items_,
                             item_name_, rate);
    }
  } else {
    line = absl::StrFormat("%s: %d %s, %.0f/s", label_, items_, item_name_, rate);
  }
  if (tty_) {
    *out_ << "\r\033[K" << line;
    if (final) *out_ << '\n';
  } else {
    *out_ << line << '\n';
  }
  out_->flush();
}

}  // namespace engram::cli
