#include "cli/engramctl/wordnet.h"

#include <charconv>
#include <fstream>
#include <set>
#include <tuple>
#include <unordered_set>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/status/status_macros.h"
#include "common/text/names.h"

namespace engram::cli {
namespace {

// Walks the space-separated fields of one line and reports errors with file and line.
class LineCursor {
 public:
  LineCursor(absl::string_view line, absl::string_view file, size_t line_no)
      : line_(line), file_(file), line_no_(line_no) {}

  absl::Status Error(absl::string_view field, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", line_no_, ": ", field, ": ", problem));
  }

  absl::StatusOr<absl::string_view> Next(absl::string_view field) {
    while (pos_ < line_.size() && line_[pos_] == ' ') ++pos_;
    if (pos_ >= line_.size()) return Error(field, "missing (line ends early)");
    size_t end = line_.find(' ', pos_);
    if (end == absl::string_view::npos) end = line_.size();
    absl::string_view token = line_.substr(pos_, end - pos_);
    pos_ = end;
    return token;
  }

  // Decimal with exactly `digits` digits (0: any number of digits).
  absl::StatusOr<uint32_t> NextDecimal(absl::string_view field, size_t digits) {
    ASSIGN_OR_RETURN(absl::string_view token, Next(field));
    return ParseNumber(field, token, 10, digits);
  }

  absl::StatusOr<uint32_t> NextHex(absl::string_view field, size_t digits) {
    ASSIGN_OR_RETURN(absl::string_view token, Next(field));
    return ParseNumber(field, token, 16, digits);
  }

  // Everything after the current position, without surrounding blanks.
  absl::string_view Rest() const {
    return absl::StripAsciiWhitespace(line_.substr(std::min(pos_, line_.size())));
  }

 private:
  absl::StatusOr<uint32_t> ParseNumber(absl::string_view field, absl::string_view token, int base,
                                       size_t digits) {
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value, base);
    if (ec != std::errc() || end != token.data() + token.size() ||
        (digits != 0 && token.size() != digits)) {
      const char* kind = base == 16 ? "hexadecimal" : "decimal";
      return Error(
          field, digits == 0 ? absl::StrFormat("'%s': expected a %s number", token, kind)
                             : absl::StrFormat("'%s': expected %d %s digits", token, digits, kind));
    }
    return value;
  }

  absl::string_view line_;
  absl::string_view file_;
  size_t line_no_;
  size_t pos_ = 0;
};

bool IsPos(absl::string_view token) {
  return token == "n" || token == "v" || token == "a" || token == "s" || token == "r";
}

absl::StatusOr<WordNetSynset> ParseLine(absl::string_view line, absl::string_view file,
                                        size_t line_no) {
  LineCursor cursor(line, file, line_no);
  WordNetSynset synset;
  ASSIGN_OR_RETURN(synset.offset, cursor.NextDecimal("synset_offset", 8));
  ASSIGN_OR_RETURN(uint32_t lex_filenum, cursor.NextDecimal("lex_filenum", 2));
  synset.lex_filenum = static_cast<int>(lex_filenum);
  ASSIGN_OR_RETURN(absl::string_view ss_type, cursor.Next("ss_type"));
  if (!IsPos(ss_type))
    return cursor.Error("ss_type", absl::StrCat("'", ss_type, "' is not n, v, a, s or r"));
  synset.ss_type = ss_type[0];
  ASSIGN_OR_RETURN(uint32_t w_cnt, cursor.NextHex("w_cnt", 2));
  if (w_cnt == 0) return cursor.Error("w_cnt", "a synset needs at least one word");
  for (uint32_t i = 0; i < w_cnt; ++i) {
    ASSIGN_OR_RETURN(absl::string_view word, cursor.Next("word"));
    ASSIGN_OR_RETURN(uint32_t lex_id, cursor.NextHex("lex_id", 1));
    synset.lex_ids.push_back(static_cast<int>(lex_id));
    if (synset.ss_type == 'a' || synset.ss_type == 's') {
      // Adjectives may carry a syntactic marker: "word(a)", "word(p)", "word(ip)".
      if (size_t paren = word.find('('); paren != absl::string_view::npos) {
        word = word.substr(0, paren);
      }
    }
    synset.lemmas.push_back(absl::StrReplaceAll(word, {{"_", " "}}));
  }
  ASSIGN_OR_RETURN(uint32_t p_cnt, cursor.NextDecimal("p_cnt", 3));
  for (uint32_t i = 0; i < p_cnt; ++i) {
    WordNetPointer pointer;
    ASSIGN_OR_RETURN(absl::string_view symbol, cursor.Next("pointer_symbol"));
    if (symbol == "|") {
      return cursor.Error("p_cnt", absl::StrCat(p_cnt, " pointers announced, ", i, " found"));
    }
    pointer.symbol = std::string(symbol);
    ASSIGN_OR_RETURN(pointer.target_offset, cursor.NextDecimal("pointer synset_offset", 8));
    ASSIGN_OR_RETURN(absl::string_view pos, cursor.Next("pointer pos"));
    if (!IsPos(pos))
      return cursor.Error("pointer pos", absl::StrCat("'", pos, "' is not n, v, a, s or r"));
    pointer.target_pos = pos[0];
    ASSIGN_OR_RETURN(uint32_t source_target, cursor.NextHex("source/target", 4));
    pointer.source_target = static_cast<uint16_t>(source_target);
    synset.pointers.push_back(std::move(pointer));
  }
  if (synset.ss_type == 'v') {
    ASSIGN_OR_RETURN(uint32_t f_cnt, cursor.NextDecimal("f_cnt", 2));
    for (uint32_t i = 0; i < f_cnt; ++i) {
      ASSIGN_OR_RETURN(absl::string_view plus, cursor.Next("frame"));
      if (plus != "+") return cursor.Error("frame", absl::StrCat("'", plus, "' is not '+'"));
      ASSIGN_OR_RETURN(uint32_t f_num, cursor.NextDecimal("f_num", 2));
      ASSIGN_OR_RETURN(uint32_t w_num, cursor.NextHex("w_num", 2));
      (void)f_num;
      (void)w_num;
    }
  }
  ASSIGN_OR_RETURN(absl::string_view bar, cursor.Next("gloss"));
  if (bar != "|") {
    return cursor.Error("gloss", absl::StrCat("expected '|' before the gloss, found '", bar, "'"));
  }
  synset.gloss = std::string(cursor.Rest());
  if (synset.gloss.empty()) return cursor.Error("gloss", "empty");
  return synset;
}

}  // namespace

absl::StatusOr<std::vector<WordNetSynset>> ParseWordNetData(std::istream& in,
                                                            absl::string_view file_name,
                                                            size_t limit) {
  std::vector<WordNetSynset> synsets;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("  ", 0) == 0) continue;  // blank or license header
    ASSIGN_OR_RETURN(WordNetSynset synset, ParseLine(line, file_name, line_no));
    synsets.push_back(std::move(synset));
    if (limit != 0 && synsets.size() >= limit) break;
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(file_name, ": read error"));
  return synsets;
}

namespace {

absl::StatusOr<std::vector<WordNetSynset>> ReadWordNetData(const std::string& dir,
                                                           absl::string_view file, size_t limit) {
  std::string path = absl::StrCat(dir, "/", file);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        path,
        ": cannot open (install the Debian package wordnet-base, or pass the directory "
        "that holds ",
        file, ")"));
  }
  return ParseWordNetData(in, path, limit);
}

}  // namespace

absl::StatusOr<std::vector<WordNetSynset>> ReadWordNetNouns(const std::string& dir, size_t limit) {
  return ReadWordNetData(dir, "data.noun", limit);
}

absl::StatusOr<std::vector<WordNetSynset>> ReadWordNetVerbs(const std::string& dir, size_t limit) {
  return ReadWordNetData(dir, "data.verb", limit);
}

std::string SenseKey(const WordNetSynset& synset, size_t word) {
  // senseidx(5WN): n 1, v 2, a 3, r 4, s (adjective satellite) 5.
  static constexpr absl::string_view kTypes = "nvars";
  const size_t ss_type = kTypes.find(synset.ss_type) + 1;
  const std::string lemma =
      absl::StrReplaceAll(absl::AsciiStrToLower(synset.lemmas[word]), {{" ", "_"}});
  return absl::StrFormat("%s%%%d:%02d:%02d::", lemma, ss_type, synset.lex_filenum,
                         synset.lex_ids[word]);
}

absl::Status AddSenseCounts(const std::string& dir, std::vector<WordNetSynset>* synsets) {
  const std::string path = absl::StrCat(dir, "/cntlist.rev");
  std::ifstream in(path);
  if (!in) return absl::OkStatus();
  // sense key -> (index in *synsets, lemma)
  absl::flat_hash_map<std::string, std::pair<size_t, size_t>> synset_of;
  std::vector<std::vector<uint32_t>> counts(synsets->size());  // applied once the file parsed
  for (size_t i = 0; i < synsets->size(); ++i) {
    const WordNetSynset& s = (*synsets)[i];
    counts[i].assign(s.lemmas.size(), 0);
    for (size_t w = 0; w < s.lemmas.size() && w < s.lex_ids.size(); ++w) {
      synset_of.emplace(SenseKey(s, w), std::make_pair(i, w));
    }
  }
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    LineCursor cursor(line, path, line_no);
    ASSIGN_OR_RETURN(absl::string_view key, cursor.Next("sense_key"));
    ASSIGN_OR_RETURN(uint32_t sense_number, cursor.NextDecimal("sense_number", 0));
    (void)sense_number;
    ASSIGN_OR_RETURN(uint32_t count, cursor.NextDecimal("tag_cnt", 0));
    if (auto it = synset_of.find(key); it != synset_of.end()) {
      counts[it->second.first][it->second.second] += count;
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  for (size_t i = 0; i < synsets->size(); ++i) {
    WordNetSynset& s = (*synsets)[i];
    s.lemma_tag_counts = std::move(counts[i]);
    s.tag_count = 0;
    for (uint32_t c : s.lemma_tag_counts) s.tag_count += c;
  }
  return absl::OkStatus();
}

absl::StatusOr<LexNames> ReadLexNames(const std::string& dir) {
  LexNames names;
  std::string path = absl::StrCat(dir, "/lexnames");
  std::ifstream in(path);
  if (!in) return names;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipWhitespace());
    if (fields.empty()) continue;
    int number = 0;
    auto [end, ec] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), number);
    if (fields.size() < 2 || ec != std::errc() || end != fields[0].data() + fields[0].size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected '<number> <name> <pos>'"));
    }
    names[number] = std::string(fields[1]);
  }
  return names;
}

std::optional<PointerMapping> MapNounPointer(absl::string_view symbol) {
  using engram::v1::AssociationType;
  if (symbol == "@" || symbol == "@i") return PointerMapping{engram::v1::HIERARCHICAL, 1.0f};
  if (symbol == "#m" || symbol == "#s" || symbol == "#p") {
    return PointerMapping{engram::v1::COMPOSITIONAL, 1.0f};
  }
  if (symbol == ";c" || symbol == ";r" || symbol == ";u" || symbol == "=") {
    return PointerMapping{engram::v1::SEMANTIC, 0.6f};
  }
  return std::nullopt;
}

std::optional<PointerMapping> MapVerbPointer(absl::string_view symbol) {
  if (symbol == "@") return PointerMapping{engram::v1::HIERARCHICAL, 1.0f};
  if (symbol == ">") return PointerMapping{engram::v1::CAUSAL, 1.0f};
  if (symbol == "*") return PointerMapping{engram::v1::SEMANTIC, 0.6f};
  return std::nullopt;
}

std::string NounSynsetId(uint32_t offset) { return SynsetId('n', offset); }

std::string SynsetId(char pos, uint32_t offset) {
  return absl::StrFormat("wn-%c-%08u", pos == 'v' ? 'v' : 'n', offset);
}

engram::v1::KeywordField WordNetLemmasField() {
  engram::v1::KeywordField field;
  field.set_attribute("lemmas");
  field.set_weight(3);
  field.set_b(1);
  return field;
}

engram::v1::LearnRequest SynsetToLearnRequest(const WordNetSynset& synset,
                                              const LexNames& lexnames) {
  engram::v1::LearnRequest request;
  request.set_id(SynsetId(synset.ss_type, synset.offset));
  std::string lemmas = absl::StrJoin(synset.lemmas, ", ");
  request.set_content(absl::StrCat(lemmas, ": ", absl::StrReplaceAll(synset.gloss, {{"_", " "}})));
  auto& attributes = *request.mutable_attributes();
  attributes["source"] = "wordnet";
  attributes["pos"] = synset.ss_type == 'v' ? "v" : "n";
  attributes["lemmas"] = lemmas;
  auto it = lexnames.find(synset.lex_filenum);
  attributes["lexfile"] =
      it != lexnames.end() ? it->second : absl::StrFormat("%02d", synset.lex_filenum);
  request.mutable_extract_associations()->set_value(false);
  // How often this meaning occurs, smoothed by one: of the senses a question's word may name,
  // the more frequent weighs more. Nouns only: the questions asked of a word ("What is a X?",
  // "What is X part of?") mean a thing, and a verb's counts would outweigh the noun they mean
  // ("What is a crow?" answered "boast"; docs/benchmarks.md, "sense counts as strength").
  if (synset.ss_type == 'n' && synset.tag_count > 0) {
    request.mutable_strength()->set_value(1.0f + synset.tag_count);
    // And per word: "cat" means the feline 18 times and "guy, cat, hombre, bozo" never, although
    // that synset's "guy" makes it the stronger concept (34 against 19).
    for (size_t w = 0; w < synset.lemmas.size() && w < synset.lemma_tag_counts.size(); ++w) {
      if (synset.lemma_tag_counts[w] == 0) continue;
      attributes[absl::StrCat(text::kNameStrengthPrefix, text::NormalizedName(synset.lemmas[w]))] =
          absl::StrCat(1 + synset.lemma_tag_counts[w]);
    }
  }
  return request;
}

std::vector<engram::v1::AssociateRequest> WordNetAssociations(
    const std::vector<WordNetSynset>& synsets) {
  // Offsets are per data file: a synset is (part of speech, offset).
  auto key = [](char pos, uint32_t offset) {
    return uint64_t{static_cast<uint8_t>(pos)} << 32 | offset;
  };
  std::unordered_set<uint64_t> imported;
  imported.reserve(synsets.size());
  for (const WordNetSynset& synset : synsets) imported.insert(key(synset.ss_type, synset.offset));
  std::set<std::tuple<uint64_t, uint64_t, int>> seen;
  std::vector<engram::v1::AssociateRequest> out;
  for (const WordNetSynset& synset : synsets) {
    const uint64_t source = key(synset.ss_type, synset.offset);
    for (const WordNetPointer& pointer : synset.pointers) {
      if (pointer.target_pos != synset.ss_type) continue;  // within one part of speech
      const uint64_t target = key(pointer.target_pos, pointer.target_offset);
      if (!imported.contains(target) || target == source) continue;  // no self-loops
      std::optional<PointerMapping> mapping =
          synset.ss_type == 'v' ? MapVerbPointer(pointer.symbol) : MapNounPointer(pointer.symbol);
      if (!mapping) continue;
      if (!seen.emplace(source, target, mapping->type).second) continue;
      engram::v1::AssociateRequest& request = out.emplace_back();
      request.set_source(SynsetId(synset.ss_type, synset.offset));
      request.set_target(SynsetId(pointer.target_pos, pointer.target_offset));
      request.set_type(mapping->type);
      request.mutable_confidence()->set_value(mapping->confidence);
    }
  }
  return out;
}

}  // namespace engram::cli
