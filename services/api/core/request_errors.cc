#include "services/api/core/request_errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace engram::api {

absl::Status RewriteField(absl::Status s, absl::string_view from, absl::string_view to) {
  if (s.ok() || !absl::StartsWith(s.message(), from)) return s;
  absl::Status out(s.code(), absl::StrCat(to, s.message().substr(from.size())));
  s.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

absl::Status RewriteMutationField(absl::Status s, absl::string_view op, absl::string_view list) {
  constexpr absl::string_view kPrefix = "mutations[";
  if (s.ok() || !absl::StartsWith(s.message(), kPrefix)) return s;
  const absl::string_view rest = s.message().substr(kPrefix.size());
  const size_t close = rest.find("].");
  if (close == absl::string_view::npos) return s;
  const absl::string_view index = rest.substr(0, close);
  absl::string_view field = rest.substr(close + 2);
  if (!absl::StartsWith(field, op)) return s;
  field.remove_prefix(op.size());
  return RewriteField(s, s.message().substr(0, s.message().size() - field.size()),
                      list.empty() ? "" : absl::StrCat(list, "[", index, "]."));
}

absl::Status NotFoundConcept(absl::string_view id, absl::string_view ns) {
  return absl::NotFoundError(absl::StrCat("concept '", id, "' not found in namespace '", ns, "'"));
}

}  // namespace engram::api
