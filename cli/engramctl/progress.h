// Progress: the progress display of bulk imports, on stderr.
//
//   Progress progress(&std::cerr, /*tty=*/isatty(2), clock);
//   progress.Start("concepts", /*total=*/82115, "concepts");
//   progress.Add(500, 500);     // from any thread, as batches complete
//   progress.Finish();
//
// On a terminal it redraws one line ("\r") at most every 100 ms with a bar, the percentage, the
// count and the rate; otherwise it prints a plain line at most every 5 seconds, so logs stay
// readable. `units` measure completion against `total` (e.g. bytes of a file); `items` are what is
// counted and rated (concepts). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace engram::cli {

class Progress {
 public:
  Progress(std::ostream* out, bool tty, std::function<absl::Time()> now,
           absl::Duration plain_interval = absl::Seconds(5));

  // Begins a phase. total == 0: unknown (no bar, no percentage).
  void Start(std::string label, uint64_t total, std::string item_name);
  void Add(uint64_t units, uint64_t items);
  // Ends the phase: prints the final state (a TTY line gets its newline).
  void Finish();

 private:
  void Print(absl::Time now, bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::ostream* const out_;
  const bool tty_;
  const std::function<absl::Time()> now_;
  const absl::Duration plain_interval_;

  sync::Mutex mu_;
  std::string label_ ABSL_GUARDED_BY(mu_);
  std::string item_name_ ABSL_GUARDED_BY(mu_);
  uint64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t units_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t items_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time start_ ABSL_GUARDED_BY(mu_);
  absl::Time last_print_ ABSL_GUARDED_BY(mu_);
  bool active_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace engram::cli
