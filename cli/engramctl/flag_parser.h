// FlagParser: the small command-line parser behind every engramctl subcommand.
//
//   FlagParser parser("neighbors");
//   uint32_t limit = 0;
//   std::string direction;
//   parser.AddUint("limit", &limit, 1, 1000, "N", "most neighbors to print");
//   parser.AddString("direction", &direction, "OUT|IN|BOTH", "edges to follow");
//   absl::StatusOr<std::vector<std::string>> positionals = parser.Parse(args);
//
// Accepted spellings: `--name value`, `--name=value`, `-x value` for a registered short alias,
// and for booleans `--name` or `--name=true|false`. `--` ends the flags; `-` is a positional
// (stdin). Unknown flags, a missing value and values that are not numbers or out of range are
// errors whose message names the flag, e.g. "--k: 'abc' is not a number". A flag given twice
// keeps its last value, except repeated flags, which collect every value.
//
// Errors returned by Parse are usage errors (IsUsageError() is true). Not thread-safe; the
// destinations must outlive the parser.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram::cli {

// A usage error: bad command line. Exit code 2. Carried as INVALID_ARGUMENT with a marker
// payload, so it is never confused with a server's INVALID_ARGUMENT (exit code 6).
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

class FlagParser {
 public:
  explicit FlagParser(std::string command) : command_(std::move(command)) {}
  FlagParser(const FlagParser&) = delete;
  FlagParser& operator=(const FlagParser&) = delete;

  // `value_name` and `help` feed Help(). `short_alias` is one letter ("n" for -n) or empty.
  void AddString(std::string name, std::string* out, std::string value_name, std::string help,
                 std::string short_alias = "");
  // Like AddString, but records whether the flag was given.
  void AddOptionalString(std::string name, std::optional<std::string>* out, std::string value_name,
                         std::string help, std::string short_alias = "");
  void AddBool(std::string name, bool* out, std::string help);
  // Decimal, within [min, max].
  void AddUint(std::string name, uint32_t* out, uint32_t min, uint32_t max, std::string value_name,
               std::string help);
  void AddUint64(std::string name, uint64_t* out, uint64_t min, uint64_t max,
                 std::string value_name, std::string help);
  // Finite, within [min, max]; left empty when the flag is not given.
  void AddFloat(std::string name, std::optional<float>* out, float min, float max,
                std::string value_name, std::string help);
  void AddDouble(std::string name, double* out, double min, double max, std::string value_name,
                 std::string help);
  // Every occurrence is appended.
  void AddRepeated(std::string name, std::vector<std::string>* out, std::string value_name,
                   std::string help);

  // Parses `args` (the words after the subcommand) and returns the positional arguments in order.
  // With `stop_at_positional`, stops at the first positional and returns it with everything after
  // it unparsed (used for the global flags before the subcommand name).
  absl::StatusOr<std::vector<std::string>> Parse(const std::vector<std::string>& args,
                                                 bool stop_at_positional = false);

  // One line per flag: "  --name VALUE   help".
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string short_alias;
    bool is_bool = false;
    std::string value_name;
    std::string help;
    // Applies a value; returns an error message without the flag name, or "" on success.
    std::function<std::string(absl::string_view)> set;
  };

  Flag* Find(absl::string_view name);
  void Add(Flag flag);

  std::string command_;
  std::vector<Flag> flags_;
};

// Number parsing shared with the commands (for values inside lists such as --vector).
// Each returns std::nullopt when `text` is not a complete, finite number of that type.
std::optional<float> ParseFiniteFloat(absl::string_view text);
std::optional<uint64_t> ParseUnsigned(absl::string_view text);

}  // namespace engram::cli
