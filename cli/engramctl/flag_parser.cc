#include "cli/engramctl/flag_parser.h"

#include <charconv>
#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace engram::cli {
namespace {

constexpr char kUsagePayloadUrl[] = "type.engram.dev/engramctl.UsageError";

std::string Quote(absl::string_view value) { return absl::StrCat("'", value, "'"); }

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayloadUrl, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayloadUrl).has_value();
}

std::optional<float> ParseFiniteFloat(absl::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  float value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<uint64_t> ParseUnsigned(absl::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

namespace {

// The value checks of the numeric flags: "" when `v` is in [min, max] (then stored in *out),
// else the problem.
std::string SetUnsignedInRange(absl::string_view v, uint64_t min, uint64_t max, uint64_t* out) {
  std::optional<uint64_t> n = ParseUnsigned(v);
  if (!n) return absl::StrCat(Quote(v), " is not a non-negative integer");
  if (*n < min || *n > max) return absl::StrCat(*n, " is out of range [", min, ", ", max, "]");
  *out = *n;
  return "";
}

std::string SetNumberInRange(absl::string_view v, double min, double max, double* out) {
  std::optional<float> f = ParseFiniteFloat(v);
  if (!f) return absl::StrCat(Quote(v), " is not a finite number");
  if (*f < min || *f > max) return absl::StrFormat("%g is out of range [%g, %g]", *f, min, max);
  *out = *f;
  return "";
}

}  // namespace

void FlagParser::Add(Flag flag) { flags_.push_back(std::move(flag)); }

FlagParser::Flag* FlagParser::Find(absl::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

void FlagParser::AddString(std::string name, std::string* out, std::string value_name,
                           std::string help, std::string short_alias) {
  Add({std::move(name), std::move(short_alias), false, std::move(value_name), std::move(help),
       [out](absl::string_view v) {
         *out = std::string(v);
         return std::string();
       }});
}

void FlagParser::AddOptionalString(std::string name, std::optional<std::string>* out,
                                   std::string value_name, std::string help,
                                   std::string short_alias) {
  Add({std::move(name), std::move(short_alias), false, std::move(value_name), std::move(help),
       [out](absl::string_view v) {
         *out = std::string(v);
         return std::string();
       }});
}

void FlagParser::AddBool(std::string name, bool* out, std::string help) {
  Add({std::move(name), "", true, "", std::move(help), [out](absl::string_view v) {
         if (v == "true" || v == "1") {
           *out = true;
         } else if (v == "false" || v == "0") {
           *out = false;
         } else {
           return absl::StrCat(Quote(v), " is not true or false");
         }
         return std::string();
       }});
}

void FlagParser::AddUint(std::string name, uint32_t* out, uint32_t min, uint32_t max,
                         std::string value_name, std::string help) {
  Add({std::move(name), "", false, std::move(value_name), std::move(help),
       [out, min, max](absl::string_view v) {
         uint64_t n = 0;
         std::string problem = SetUnsignedInRange(v, min, max, &n);
         if (problem.empty()) *out = static_cast<uint32_t>(n);
         return problem;
       }});
}

void FlagParser::AddUint64(std::string name, uint64_t* out, uint64_t min, uint64_t max,
                           std::string value_name, std::string help) {
  Add({std::move(name), "", false, std::move(value_name), std::move(help),
       [out, min, max](absl::string_view v) { return SetUnsignedInRange(v, min, max, out); }});
}

void FlagParser::AddFloat(std::string name, std::optional<float>* out, float min, float max,
                          std::string value_name, std::string help) {
  Add({std::move(name), "", false, std::move(value_name), std::move(help),
       [out, min, max](absl::string_view v) {
         double x = 0;
         std::string problem = SetNumberInRange(v, min, max, &x);
         if (problem.empty()) *out = static_cast<float>(x);
         return problem;
       }});
}

void FlagParser::AddDouble(std::string name, double* out, double min, double max,
                           std::string value_name, std::string help) {
  Add({std::move(name), "", false, std::move(value_name), std::move(help),
       [out, min, max](absl::string_view v) { return SetNumberInRange(v, min, max, out); }});
}

void FlagParser::AddRepeated(std::string name, std::vector<std::string>* out,
                             std::string value_name, std::string help) {
  Add({std::move(name), "", false, std::move(value_name), std::move(help),
       [out](absl::string_view v) {
         out->emplace_back(v);
         return std::string();
       }});
}

absl::StatusOr<std::vector<std::string>> FlagParser::Parse(const std::vector<std::string>& args,
                                                           bool stop_at_positional) {
  std::vector<std::string> positionals;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positionals.insert(positionals.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (stop_at_positional) {
        positionals.assign(args.begin() + i, args.end());
        return positionals;
      }
      positionals.push_back(arg);
      continue;
    }
    // A flag: --name, --name=value, -x.
    absl::string_view body = arg;
    std::string shown;
    Flag* flag = nullptr;
    std::optional<absl::string_view> inline_value;
    if (absl::StartsWith(body, "--")) {
      body.remove_prefix(2);
      if (size_t eq = body.find('='); eq != absl::string_view::npos) {
        inline_value = body.substr(eq + 1);
        body = body.substr(0, eq);
      }
      shown = absl::StrCat("--", body);
      flag = Find(body);
    } else {
      body.remove_prefix(1);
      shown = absl::StrCat("-", body);
      for (Flag& f : flags_) {
        if (!f.short_alias.empty() && f.short_alias == body) flag = &f;
      }
    }
    if (flag == nullptr) {
      return UsageError(absl::StrCat(command_, ": unknown flag ", shown));
    }
    absl::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (flag->is_bool) {
      value = "true";
    } else if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
      return UsageError(absl::StrCat(command_, ": ", shown, ": missing value"));
    } else {
      value = args[++i];
    }
    if (std::string error = flag->set(value); !error.empty()) {
      return UsageError(absl::StrCat(command_, ": ", shown, ": ", error));
    }
  }
  return positionals;
}

std::string FlagParser::Help() const {
  std::string out;
  for (const Flag& flag : flags_) {
    std::string left = absl::StrCat("--", flag.name);
    if (!flag.short_alias.empty()) left = absl::StrCat("-", flag.short_alias, ", ", left);
    if (!flag.is_bool) absl::StrAppend(&left, " ", flag.value_name);
    absl::StrAppendFormat(&out, "  %-28s %s\n", left, flag.help);
  }
  return out;
}

}  // namespace engram::cli
