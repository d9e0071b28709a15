// The relation extractor's trigger patterns: the table of phrasings that state a relation ("is a
// kind of", "causes", "is caused by", ...), each with its type, base confidence and direction,
// and the matcher that finds them in a clause's tokens (longest match at each position).
#pragma once

#include <cstddef>
#include <vector>

#include "services/hybrid/extract/segmenter.h"
#include "services/hybrid/types/association_type.h"

namespace engram::hybrid::extract {

enum class PatternKind {
  kPlain,
  kPluralCopula,  // "X are Ys": only when the object looks like a plural noun
};

struct PatternDef {
  // Space-separated elements; each element is '|'-separated alternatives; a trailing '?' makes
  // the element optional; "COP" stands for is|are|was|were|be|been|being. Matching is on
  // lowercase tokens; "," is the comma token.
  const char* spec;
  AssociationType type;
  float base;     // confidence before hedges and shape
  bool reversed;  // true: the edge goes object -> subject
  PatternKind kind = PatternKind::kPlain;
};

// A pattern found in a clause: tokens [begin, end) are the trigger, the subject lies before it,
// the object after it.
struct Trigger {
  size_t begin;
  size_t end;
  const PatternDef* def;  // an entry of the table, valid for the life of the process
};

// The triggers in tokens[from..], left to right, not overlapping: at each position the longest
// match of any pattern (the first pattern in the table on a tie), which must end in a word.
std::vector<Trigger> FindTriggers(const std::vector<Token>& tokens, size_t from);

// Compiles the pattern table now rather than on the first FindTriggers (once per process).
void CompilePatterns();

}  // namespace engram::hybrid::extract
