// The trigger pattern table and its matcher (see patterns.h). The table is the reference for
// what the extractor recognises; docs/hybrid.md lists it with the base confidences.
#include "services/hybrid/extract/patterns.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

namespace engram::hybrid::extract {
namespace {

constexpr const char* kCopula = "is|are|was|were|be|been|being";

// Longest match wins at each position, so "is a part of" beats "is a".
const std::vector<PatternDef>& PatternDefs() {
  using T = AssociationType;
  static const auto* const kDefs = new std::vector<PatternDef>{
      // HIERARCHICAL: specific -> general.
      {"COP a|an? kind|kinds|type|types|sort|sorts|form|forms|variety|varieties|species|"
       "subtype|subtypes|subclass|subclasses|subset|example|examples|instance|instances|"
       "category|class of",
       T::kHierarchical, 0.9f, false},
      {"COP a|an? member|members of", T::kHierarchical, 0.75f, false},
      {"COP classified|categorized|categorised as", T::kHierarchical, 0.85f, false},
      {"is|was|be|been|being a|an", T::kHierarchical, 0.8f, false},
      {"are|were", T::kHierarchical, 0.6f, false, PatternKind::kPluralCopula},
      {",? such as", T::kHierarchical, 0.75f, true},
      {"and|or other", T::kHierarchical, 0.7f, false},
      // CAUSAL: cause -> effect.
      {"causes|cause|caused", T::kCausal, 0.85f, false},
      {"leads|lead|led|leading to", T::kCausal, 0.8f, false},
      {"results|result|resulted in", T::kCausal, 0.8f, false},
      {"produces|produce|produced", T::kCausal, 0.65f, false},
      {"triggers|trigger|triggered", T::kCausal, 0.75f, false},
      {"gives|give|gave rise to", T::kCausal, 0.8f, false},
      {"COP a|an|the|one? main|major|primary|leading? cause|causes of", T::kCausal, 0.85f, false},
      {"COP caused|triggered|produced by", T::kCausal, 0.85f, true},
      {"results|result|resulted from", T::kCausal, 0.8f, true},
      {"COP a|an|the? direct? result|results|consequence|consequences|effect|effects of",
       T::kCausal, 0.8f, true},
      {"COP due to", T::kCausal, 0.7f, true},
      {"COP? because of", T::kCausal, 0.6f, true},
      // COMPOSITIONAL: part -> whole.
      {"COP a|an|the? part|parts|component|components|piece|pieces|section|sections|element|"
       "elements of",
       T::kCompositional, 0.9f, false},
      {"belongs|belong|belonged to", T::kCompositional, 0.6f, false},
      {"contains|contain|contained", T::kCompositional, 0.75f, true},
      {"includes|include|included", T::kCompositional, 0.7f, true},
      {"consists|consist|consisted of", T::kCompositional, 0.85f, true},
      {"comprises|comprise|comprised", T::kCompositional, 0.8f, true},
      {"COP made|composed|comprised of", T::kCompositional, 0.85f, true},
      {"COP made up of", T::kCompositional, 0.85f, true},
      // TEMPORAL: earlier -> later.
      {"comes|come|came|happens|happen|happened|occurs|occur|occurred|goes|go|went|is|are|was|"
       "were|takes|take|took? place? before",
       T::kTemporal, 0.7f, false},
      {"comes|come|came|happens|happen|happened|occurs|occur|occurred|goes|go|went|is|are|was|"
       "were|takes|take|took? place? after",
       T::kTemporal, 0.7f, true},
      {"precedes|precede|preceded", T::kTemporal, 0.8f, false},
      {"COP preceded by", T::kTemporal, 0.8f, true},
      {",? COP? followed by", T::kTemporal, 0.8f, false},
      {"follows|follow|followed", T::kTemporal, 0.7f, true},
      {",? and? then", T::kTemporal, 0.65f, false},
      {"COP prior to", T::kTemporal, 0.75f, false},
  };
  return *kDefs;
}

struct Element {
  std::vector<std::string> alternatives;
  bool optional = false;
};

struct Pattern {
  std::vector<Element> elements;
  const PatternDef* def;
};

std::vector<std::string> SplitOn(std::string_view s, char c) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(c, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Pattern Compile(const PatternDef& def) {
  Pattern p{{}, &def};
  for (std::string element : SplitOn(def.spec, ' ')) {
    Element e;
    if (element.back() == '?') {
      e.optional = true;
      element.pop_back();
    }
    for (const std::string& alt : SplitOn(element, '|')) {
      if (alt == "COP") {
        for (const std::string& cop : SplitOn(kCopula, '|')) e.alternatives.push_back(cop);
      } else {
        e.alternatives.push_back(alt);
      }
    }
    p.elements.push_back(std::move(e));
  }
  return p;
}

const std::vector<Pattern>& Patterns() {
  static const auto* const kPatterns = [] {
    auto* patterns = new std::vector<Pattern>();
    for (const PatternDef& def : PatternDefs()) patterns->push_back(Compile(def));
    return patterns;
  }();
  return *kPatterns;
}

// End (exclusive) of the longest match of p.elements[e..] at tokens[pos..], or 0 if none.
size_t MatchFrom(const Pattern& p, size_t e, const std::vector<Token>& tokens, size_t pos) {
  if (e == p.elements.size()) return pos;
  const Element& element = p.elements[e];
  size_t best = 0;
  if (pos < tokens.size()) {
    for (const std::string& alt : element.alternatives) {
      if (tokens[pos].lower == alt) {
        best = std::max(best, MatchFrom(p, e + 1, tokens, pos + 1));
        break;
      }
    }
  }
  if (element.optional) best = std::max(best, MatchFrom(p, e + 1, tokens, pos));
  return best;
}

}  // namespace

std::vector<Trigger> FindTriggers(const std::vector<Token>& tokens, size_t from) {
  std::vector<Trigger> out;
  size_t pos = from;
  while (pos < tokens.size()) {
    size_t best_end = 0;
    const PatternDef* best = nullptr;
    for (const Pattern& p : Patterns()) {
      const size_t end = MatchFrom(p, 0, tokens, pos);
      // A match must consume at least one word (not only an optional comma).
      if (end > pos && end > best_end && tokens[end - 1].kind == TokenKind::kWord) {
        best_end = end;
        best = p.def;
      }
    }
    if (best != nullptr) {
      out.push_back({pos, best_end, best});
      pos = best_end;
    } else {
      ++pos;
    }
  }
  return out;
}

void CompilePatterns() { Patterns(); }

}  // namespace engram::hybrid::extract
