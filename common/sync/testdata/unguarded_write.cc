// Deliberately wrong: the check of the check. thread_safety_check skips testdata/ files in the
// whole-tree run; the test thread_safety_check_catches_violations names this file and expects
// clang to reject both functions below. If the annotations stopped being checked (e.g. Mutex lost
// its capability attribute), that test fails.
#include "common/sync/mutex.h"

namespace engram::sync::testdata {

class Account {
 public:
  // An unguarded write to a guarded member.
  void DepositUnlocked(int amount) { balance_ += amount; }
  // A call that requires the lock, without it.
  void Audit() { CheckLocked(); }

 private:
  void CheckLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {}

  Mutex mu_;
  int balance_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace engram::sync::testdata
