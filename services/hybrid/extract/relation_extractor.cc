// RelationExtractor (relation_extractor.h): runs the segmenter, finds trigger patterns in each
// clause, reads the subject and object phrases around them and collects the relations, with their
// confidences, deduplicated. The units it uses: lexicon.h (word classes), segmenter.h (sentences,
// clauses, tokens), patterns.h (the trigger table), phrases.h (noun-phrase boundaries).
#include "services/hybrid/extract/relation_extractor.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "services/hybrid/extract/lexicon.h"
#include "services/hybrid/extract/patterns.h"
#include "services/hybrid/extract/phrases.h"
#include "services/hybrid/extract/segmenter.h"

namespace engram::hybrid {
namespace {

using extract::CountWords;
using extract::FindTriggers;
using extract::IsClauseWord;
using extract::IsDenyingVerb;
using extract::IsRelativePronoun;
using extract::IsReportingVerb;
using extract::LooksPlural;
using extract::PatternDef;
using extract::PatternKind;
using extract::Phrase;
using extract::PhraseScanner;
using extract::Sentence;
using extract::Span;
using extract::Token;
using extract::TokenKind;
using extract::Trigger;

// The relations of one Extract call, in text order: one per (type, source key, target key), with
// the highest confidence it was found with, at most max_relations.
class RelationSink {
 public:
  explicit RelationSink(size_t max_relations) : max_relations_(max_relations) {}

  // Adds `r`, or raises the confidence of the same relation added before. False when `r` is new
  // and the output is full (it is dropped).
  bool Add(ExtractedRelation r) {
    std::string key = std::string(AssociationTypeName(r.type));
    key.append("\x1f").append(r.source_key).append("\x1f").append(r.target_key);
    // A relation past max_relations is not recorded in `seen_`: a restatement of it must not
    // refer to an index `out_` does not have.
    if (auto it = seen_.find(key); it != seen_.end()) {
      if (out_[it->second].confidence < r.confidence) out_[it->second] = std::move(r);
      return true;
    }
    if (out_.size() >= max_relations_) return false;
    seen_.emplace(std::move(key), out_.size());
    out_.push_back(std::move(r));
    return true;
  }

  std::vector<ExtractedRelation> Take() && { return std::move(out_); }

 private:
  const size_t max_relations_;
  std::vector<ExtractedRelation> out_;
  absl::flat_hash_map<std::string, size_t> seen_;  // type|source|target -> index in out_
};

// Finds the relations one clause states and adds them to a RelationSink.
class ClauseExtractor {
 public:
  ClauseExtractor(std::string_view text, const Sentence& sentence, const std::vector<Token>& tokens,
                  const ExtractionOptions& options, RelationSink* sink)
      : text_(text),
        sentence_(sentence),
        tokens_(tokens),
        options_(options),
        sink_(sink),
        phrases_(text, tokens, options.max_phrase_words) {}

  // `tokens` must not be empty.
  void Run() {
    size_t start = 0;
    float clause_factor = 1.0f;
    const std::string& opener = tokens_[0].lower;
    if (opener == "if" || opener == "when" || opener == "whenever") {
      clause_factor = 0.6f;
      start = 1;
    } else if (opener == "unless") {
      return;  // "unless X, Y" says nothing certain about X or Y
    }
    if ((opener == "after" || opener == "before") && ExtractLeadingTemporal()) return;
    const std::vector<Trigger> triggers = Triggers(start);
    if (triggers.empty()) return;
    ExtractAroundTriggers(triggers, start, clause_factor);
  }

 private:
  // Where trigger i's phrases may lie: the subject in [left[i], trigger.begin), the object in
  // [trigger.end, right[i]); relative[i]: the boundary before it is a relative pronoun ("X causes
  // Y, which leads to Z"), so a missing subject is the previous object.
  struct Regions {
    std::vector<size_t> left, right;
    std::vector<bool> relative;
  };

  // "After X, Y" (X -> Y) and "Before X, Y" (Y -> X), the clause opening with "after"/"before".
  // False when the clause does not have that shape (no comma with something after it).
  bool ExtractLeadingTemporal() {
    if (tokens_.size() <= 3) return false;
    size_t comma = 1;
    while (comma < tokens_.size() && tokens_[comma].kind != TokenKind::kComma) ++comma;
    if (comma + 1 >= tokens_.size()) return false;
    float factor = 1.0f;
    size_t y_begin = comma + 1;
    const bool negated = !phrases_.PopLeadingHedges(&y_begin, tokens_.size(), &factor);
    auto x = phrases_.Clean({1, comma});
    auto y = phrases_.Clean(phrases_.ObjectRegion(y_begin, tokens_.size()));
    if (!negated && x && y) {
      static const PatternDef kAfter{"after", AssociationType::kTemporal, 0.7f, false};
      static const PatternDef kBefore{"before", AssociationType::kTemporal, 0.7f, true};
      Emit({*x}, {*y}, tokens_[0].lower == "after" ? kAfter : kBefore, factor, phrases_.Text(0, 1));
    }
    return true;
  }

  // The triggers from `start`, without plural-copula matches whose object is not a plural noun.
  std::vector<Trigger> Triggers(size_t start) const {
    std::vector<Trigger> triggers;
    for (const Trigger& t : FindTriggers(tokens_, start)) {
      if (t.def->kind == PatternKind::kPluralCopula) {
        size_t b = t.end;
        float ignored = 1.0f;
        if (!phrases_.PopLeadingHedges(&b, tokens_.size(), &ignored)) continue;
        const Phrase region = phrases_.ObjectRegion(b, tokens_.size());
        if (region.end == region.begin) continue;
        if (CountWords(tokens_, region.begin, region.end) > 4) continue;
        if (!LooksPlural(tokens_[region.end - 1].lower)) continue;
      }
      triggers.push_back(t);
    }
    return triggers;
  }

  // Between two triggers, the last boundary word (comma, and/or/but, clause word) splits the gap;
  // without one, the later trigger has no subject of its own.
  Regions SplitRegions(const std::vector<Trigger>& triggers, size_t start) const {
    Regions r{std::vector<size_t>(triggers.size()), std::vector<size_t>(triggers.size()),
              std::vector<bool>(triggers.size(), false)};
    r.left[0] = start;
    r.right.back() = tokens_.size();
    for (size_t i = 1; i < triggers.size(); ++i) {
      const size_t gap_begin = triggers[i - 1].end;
      const size_t gap_end = triggers[i].begin;
      size_t boundary = gap_end;
      for (size_t j = gap_end; j > gap_begin; --j) {
        const Token& t = tokens_[j - 1];
        if (t.kind == TokenKind::kComma || t.lower == "and" || t.lower == "or" ||
            t.lower == "but" || IsClauseWord(t.lower)) {
          boundary = j - 1;
          break;
        }
      }
      if (boundary == gap_end) {
        r.right[i - 1] = gap_end;
        r.left[i] = gap_end;  // no subject of its own
      } else {
        r.right[i - 1] = boundary;
        r.left[i] = boundary + 1;
        r.relative[i] = IsRelativePronoun(tokens_[boundary].lower);
      }
    }
    return r;
  }

  // The subjects and objects of each trigger, and their relations.
  void ExtractAroundTriggers(const std::vector<Trigger>& triggers, size_t start,
                             float clause_factor) {
    const Regions regions = SplitRegions(triggers, start);
    std::vector<Phrase> previous_objects;
    for (size_t i = 0; i < triggers.size(); ++i) {
      const Trigger& t = triggers[i];
      const PatternDef& def = *t.def;
      float factor = clause_factor;

      // Subject.
      size_t subject_end = t.begin;
      if (!phrases_.PopTrailingHedges(regions.left[i], &subject_end, &factor)) {
        previous_objects.clear();
        continue;  // negated
      }
      std::vector<Phrase> subjects;
      const bool force_list = def.spec == std::string_view("and|or other");
      const Phrase subject_region = phrases_.SubjectRegion(regions.left[i], subject_end, force_list,
                                                           def.type == AssociationType::kTemporal);
      if (subject_region.begin >= 2 && tokens_[subject_region.begin - 1].lower == "that") {
        const std::string& verb = tokens_[subject_region.begin - 2].lower;
        if (IsDenyingVerb(verb)) {
          previous_objects.clear();
          continue;
        }
        if (IsReportingVerb(verb)) factor *= 0.5f;
      }
      if (subject_region.end > subject_region.begin) {
        for (const Phrase& p : phrases_.SplitCoordination(subject_region)) {
          if (auto c = phrases_.Clean(p)) subjects.push_back(*c);
        }
      } else if (regions.relative[i] && !previous_objects.empty()) {
        subjects.push_back(previous_objects.back());
        subjects.back().coordinated = false;
      }

      // Object.
      size_t object_begin = t.end;
      if (!phrases_.PopLeadingHedges(&object_begin, regions.right[i], &factor)) {
        previous_objects.clear();
        continue;  // negated
      }
      std::vector<Phrase> objects;
      const Phrase object_region = phrases_.ObjectRegion(object_begin, regions.right[i]);
      if (object_region.end > object_region.begin) {
        for (const Phrase& p : phrases_.SplitCoordination(object_region)) {
          if (auto c = phrases_.Clean(p)) objects.push_back(*c);
        }
      }
      previous_objects = objects;
      if (subjects.empty() || objects.empty()) continue;
      Emit(subjects, objects, def, factor, phrases_.Text(t.begin, t.end));
    }
  }

  // One candidate relation per subject and object: confidence = base x hedges (`factor`) x shape.
  void Emit(const std::vector<Phrase>& subjects, const std::vector<Phrase>& objects,
            const PatternDef& def, float factor, std::string_view pattern) {
    for (const Phrase& s : subjects) {
      for (const Phrase& o : objects) {
        float confidence = def.base * factor;
        if (CountWords(tokens_, s.begin, s.end) > 4 || CountWords(tokens_, o.begin, o.end) > 4) {
          confidence *= 0.9f;
        }
        if (s.coordinated) confidence *= 0.95f;
        if (o.coordinated) confidence *= 0.95f;
        confidence = std::clamp(confidence, 0.0f, 1.0f);
        if (confidence < options_.min_confidence) continue;
        const Phrase& src = def.reversed ? o : s;
        const Phrase& dst = def.reversed ? s : o;
        ExtractedRelation r;
        r.source = phrases_.Surface(src);
        r.target = phrases_.Surface(dst);
        r.source_key = phrases_.Key(src);
        r.target_key = phrases_.Key(dst);
        if (r.source_key == r.target_key) continue;
        r.type = def.type;
        r.confidence = confidence;
        r.pattern = std::string(pattern);
        r.evidence_begin = sentence_.span.begin;
        r.evidence_end = sentence_.span.end;
        r.evidence = std::string(
            text_.substr(sentence_.span.begin, sentence_.span.end - sentence_.span.begin));
        if (!sink_->Add(std::move(r))) return;  // full
      }
    }
  }

  const std::string_view text_;
  const Sentence& sentence_;
  const std::vector<Token>& tokens_;
  const ExtractionOptions& options_;
  RelationSink* const sink_;
  const PhraseScanner phrases_;
};

}  // namespace

RelationExtractor::RelationExtractor(ExtractionOptions options) : options_(options) {
  extract::CompilePatterns();  // once, up front
}

std::vector<ExtractedRelation> RelationExtractor::Extract(std::string_view text) const {
  RelationSink sink(options_.max_relations);
  for (const Sentence& sentence : extract::SplitSentences(text)) {
    if (sentence.question) continue;
    for (const Span clause : extract::SplitClauses(text, sentence.span)) {
      const std::vector<Token> tokens = extract::Tokenize(text, clause);
      if (tokens.empty()) continue;
      ClauseExtractor(text, sentence, tokens, options_, &sink).Run();
    }
  }
  return std::move(sink).Take();
}

}  // namespace engram::hybrid
