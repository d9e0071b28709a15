#include "services/hybrid/reason/question.h"

#include <array>
#include <regex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace engram::hybrid {
namespace {

struct Pattern {
  std::regex re;
  Question::Kind kind;
  AssociationType type;
  Question::Direction direction;
};

// (.+) groups are the focus (and, for kBetween, the other concept). Patterns are tried in order,
// the more specific first ("what is X part of" before "what is X").
const std::vector<Pattern>& Patterns() {
  using K = Question::Kind;
  using D = Question::Direction;
  using T = AssociationType;
  const auto p = [](const char* re, K kind, T type = T::kUnspecified, D direction = D::kOut) {
    return Pattern{std::regex(re, std::regex::ECMAScript | std::regex::icase), kind, type, direction};
  };
  static const std::vector<Pattern>* const patterns = new std::vector<Pattern>{
      p(R"(how (?:is|are) (.+) related to (.+))", K::kBetween),
      p(R"(how are (.+) and (.+) related)", K::kBetween),
      p(R"(what (?:connects|links|relates) (.+) (?:and|to|with) (.+))", K::kBetween),
      // "Is a dog a mammal?": between the two, along the hierarchy upwards from the first.
      p(R"((?:is|are) (?!(?:there|it|this|that) )(.+?) (?:a |an )?(?:kind|type|sort|form) of (.+))",
        K::kBetween, T::kHierarchical, D::kOut),
      p(R"((?:is|are) (?!(?:there|it|this|that) )(.+?) (?:a|an) (.+))", K::kBetween,
        T::kHierarchical, D::kOut),
      p(R"(what(?: is| are|'s) (.+?) (?:a |an )?part of)", K::kRelation, T::kCompositional, D::kOut),
      p(R"((.+?) (?:is|are) (?:a |an )?part of what)", K::kRelation, T::kCompositional, D::kOut),
      p(R"(what (?:are|is) the parts of (.+))", K::kRelation, T::kCompositional, D::kIn),
      p(R"(what (?:is|are) (.+?) made of)", K::kRelation, T::kCompositional, D::kIn),
      p(R"(what (?:does|do) (.+?) consist of)", K::kRelation, T::kCompositional, D::kIn),
      p(R"(what (?:does|do|can|could|might|will) (.+?) cause)", K::kRelation, T::kCausal, D::kOut),
      p(R"(what (?:is|are) caused by (.+))", K::kRelation, T::kCausal, D::kOut),
      p(R"(what (?:is|are) the (?:effects?|consequences?|results?) of (.+))", K::kRelation, T::kCausal, D::kOut),
      p(R"(what (?:causes|caused|can cause|could cause|leads to|led to|results in) (.+))", K::kRelation,
        T::kCausal, D::kIn),
      p(R"(why (?:does|do|did) (.+?) (?:happen|occur))", K::kRelation, T::kCausal, D::kIn),
      p(R"(what (?:happens|comes|follows) after (.+))", K::kRelation, T::kTemporal, D::kOut),
      p(R"(what (?:happens|comes) before (.+))", K::kRelation, T::kTemporal, D::kIn),
      p(R"(what (?:kinds|types|sorts) of (.+?) are there)", K::kRelation, T::kHierarchical, D::kIn),
      p(R"((?:name|give me) (?:a|an|one|some) (?:kinds?|types?|sorts?) of (.+))", K::kRelation,
        T::kHierarchical, D::kIn),
      p(R"(what are (?:some |the )?(?:kinds|types|sorts) of (.+))", K::kRelation, T::kHierarchical, D::kIn),
      p(R"(what kind of (?:thing|animal|object|person|place) (?:is|are) (.+))", K::kRelation, T::kHierarchical,
        D::kOut),
      p(R"((?:what|who)(?: is| are| was| were|'s) (.+))", K::kRelation, T::kHierarchical, D::kOut),
      p(R"(define (.+))", K::kRelation, T::kHierarchical, D::kOut),
  };
  return *patterns;
}

// "a dog" -> "dog"; "the  Nile " -> "Nile".
std::string Focus(const std::string& text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  for (absl::string_view article : {"a ", "an ", "the "}) {
    if (s.size() > article.size() && absl::EqualsIgnoreCase(s.substr(0, article.size()), article)) {
      s = absl::StripLeadingAsciiWhitespace(s.substr(article.size()));
      break;
    }
  }
  return std::string(s);
}

}  // namespace

Question ParseQuestion(std::string_view text) {
  std::string s(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  while (!s.empty() && (s.back() == '?' || s.back() == '.' || s.back() == '!')) s.pop_back();
  s = std::string(absl::StripAsciiWhitespace(s));
  // Spaces collapsed so that the patterns need only single spaces; "what's" kept as one word.
  std::string collapsed;
  for (char c : s) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      if (!collapsed.empty() && collapsed.back() != ' ') collapsed.push_back(' ');
    } else {
      collapsed.push_back(c);
    }
  }
  Question q;
  if (collapsed.empty() || collapsed.size() > 512) return q;
  std::smatch m;
  for (const Pattern& pattern : Patterns()) {
    if (!std::regex_match(collapsed, m, pattern.re)) continue;
    Question out;
    out.kind = pattern.kind;
    out.type = pattern.type;
    out.direction = pattern.direction;
    out.focus = Focus(m[1].str());
    if (pattern.kind == Question::Kind::kBetween) out.other = Focus(m[2].str());
    if (out.focus.empty() || (out.kind == Question::Kind::kBetween && out.other.empty())) return q;
    return out;
  }
  return q;
}

std::string_view SeedWords(const Question& question, std::string_view text) {
  if (question.kind != Question::Kind::kOpen && !question.focus.empty()) return question.focus;
  return text;
}

}  // namespace engram::hybrid
