#include "tests/testing/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace engram::testing {

ChildProcess::ChildProcess(std::string binary, std::vector<std::string> args, std::filesystem::path log_path)
    : binary_(std::move(binary)), args_(std::move(args)), log_path_(std::move(log_path)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Kill(SIGKILL);
}

absl::Status ChildProcess::Start() {
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", log_path_.string()));
  std::vector<char*> argv;
  argv.push_back(binary_.data());
  for (auto& a : args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(binary_.c_str(), argv.data());
    _exit(127);
  }
  ::close(fd);
  pid_ = pid;
  return absl::OkStatus();
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::string> ChildProcess::WaitForLine(const std::string& needle, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string log = Log();
    size_t pos = log.find(needle);
    if (pos != std::string::npos) {
      size_t end = log.find('\n', pos);
      size_t begin = log.rfind('\n', pos);
      begin = begin == std::string::npos ? 0 : begin + 1;
      return log.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    }
    if (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::FailedPreconditionError(absl::StrCat("process exited before '", needle, "':\n", Log()));
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("no '", needle, "' in log:\n", Log()));
}

int ChildProcess::PortAfter(const std::string& prefix) const {
  std::string log = Log();
  size_t pos = log.rfind(prefix);
  if (pos == std::string::npos) return -1;
  return std::atoi(log.c_str() + pos + prefix.size());
}

int ChildProcess::Kill(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

bool ChildProcess::Signal(int sig) { return pid_ > 0 && ::kill(pid_, sig) == 0; }

std::vector<std::string> ChildProcess::ThreadNames() const {
  std::vector<std::string> names;
  if (pid_ <= 0) return names;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid_, "/task"), ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.push_back(name);
  }
  return names;
}

bool Eventually(const std::function<bool()>& probe, absl::Duration limit) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (probe()) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return probe();
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return WEXITSTATUS(status);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("process did not exit");
}

CommandResult RunCommand(const std::string& command, const std::filesystem::path& output_file) {
  const std::string full = absl::StrCat(command, " > ", output_file.string(), " 2>&1");
  const int status = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(output_file);
  result.output.assign(std::istreambuf_iterator<char>(in), {});
  return result;
}

}  // namespace engram::testing
