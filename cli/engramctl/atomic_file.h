// AtomicFile: a file that appears at its path whole or not at all.
//
//   ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::Create("/backups/wordnet.ndjson"));
//   RETURN_IF_ERROR(file.Append(bytes));  // written to "<path>.part"
//   RETURN_IF_ERROR(file.Commit());       // fsync, close, rename to <path>
//
// A file destroyed before Commit (an error, a failed check) removes "<path>.part" and leaves any
// earlier file at <path> untouched. Errors name the path and the system call. Thread-compatible.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram::cli {

class AtomicFile {
 public:
  static absl::StatusOr<AtomicFile> Create(const std::string& path);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  absl::Status Append(absl::string_view data);
  // fsync, close and rename to the final path. Nothing may be appended afterwards.
  absl::Status Commit();

  const std::string& path() const { return path_; }
  uint64_t bytes() const { return bytes_; }

 private:
  AtomicFile(std::string path, int fd) : path_(std::move(path)), part_(path_ + ".part"), fd_(fd) {}
  void Abandon();

  std::string path_;
  std::string part_;
  int fd_ = -1;  // -1 once committed or abandoned
  uint64_t bytes_ = 0;
};

}  // namespace engram::cli
