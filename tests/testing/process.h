// ChildProcess: runs a real Engram binary for cross-service tests.
//
//   ChildProcess storage(ENGRAM_STORAGE_BIN, {"--data_dir=" + dir, "--grpc_port=0", "--http_port=0"});
//   ASSERT_TRUE(storage.Start().ok());
//   ASSERT_TRUE(storage.WaitForLine("serving on grpc").ok());   // bounded wait, not a sleep
//   int port = storage.PortAfter("grpc ");
//   storage.Kill(SIGKILL);
//
// stderr goes to a log file that tests can read (e.g. to find the correlation id or a warning).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace engram::testing {

class ChildProcess {
 public:
  ChildProcess(std::string binary, std::vector<std::string> args, std::filesystem::path log_path);
  ~ChildProcess();  // SIGKILL if still running

  absl::Status Start();
  // Waits until the log contains `needle` (or the process exits / `timeout` passes).
  absl::StatusOr<std::string> WaitForLine(const std::string& needle, absl::Duration timeout = absl::Seconds(60));
  // The integer after the last occurrence of `prefix` in the log.
  int PortAfter(const std::string& prefix) const;
  // Sends `sig` and reaps the process; returns its exit status (128 + signal when killed).
  int Kill(int sig);
  // Sends `sig` without waiting (e.g. SIGSTOP to freeze the process); false if it is not running.
  bool Signal(int sig);
  // Waits for exit without signalling; returns the exit status.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(60));
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The names of the process's threads (/proc/<pid>/task/*/comm); empty if it is not running.
  std::vector<std::string> ThreadNames() const;
  std::string Log() const;
  const std::filesystem::path& log_path() const { return log_path_; }

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
};

// Polls `probe` (bounded by `limit`) until it returns true; for state that changes when a process
// is killed, restarted or reaches a point the test waits for. Never a fixed sleep standing in for
// synchronisation.
bool Eventually(const std::function<bool()>& probe, absl::Duration limit = absl::Seconds(90));

// A shell command run to completion: its exit code and what it printed.
struct CommandResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string output;  // stdout and stderr
};
// Runs `command` with /bin/sh, its stdout and stderr going to `output_file` (overwritten).
CommandResult RunCommand(const std::string& command, const std::filesystem::path& output_file);

}  // namespace engram::testing
