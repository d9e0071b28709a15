// WordNet 3.0 data files (Debian package wordnet-base, /usr/share/wordnet) as Engram concepts
// and associations.
//
//   ASSIGN_OR_RETURN(std::vector<WordNetSynset> synsets, ReadWordNetNouns("/usr/share/wordnet"));
//   ASSIGN_OR_RETURN(LexNames lexnames, ReadLexNames("/usr/share/wordnet"));
//   engram::v1::LearnRequest concept = SynsetToLearnRequest(synsets[0], lexnames);
//   std::vector<engram::v1::AssociateRequest> edges = WordNetAssociations(synsets);
//
// Format of a data.<pos> line (wndb(5WN)); the license header lines start with two spaces:
//   synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt
//       [pointer_symbol synset_offset pos source/target...] [frames...] | gloss
// w_cnt and source/target are hexadecimal, p_cnt is a 3-digit decimal. A malformed line is an
// INVALID_ARGUMENT error naming the file and line ("data.noun:42: p_cnt: 'x' is not a number").
//
// Mapping to Engram (noun synsets, and verb synsets when asked for; pointers between parts of
// speech are dropped):
//   id       "wn-<n|v>-<offset, 8 digits>"
//   content  "<lemmas joined with ', '>: <gloss>" (underscores become spaces)
//   attributes {source: wordnet, pos: n|v, lemmas, lexfile (name from lexnames, else the number)}
//   nouns:
//   @ @i        hypernym, instance hypernym          -> HIERARCHICAL  synset -> hypernym, 1.0
//   #m #s #p    member/substance/part holonym        -> COMPOSITIONAL synset -> whole, 1.0
//   ;c ;r ;u =  topic/region/usage domain, attribute -> SEMANTIC      synset -> other, 0.6
//   verbs:
//   @           hypernym ("to march" is a way "to walk") -> HIERARCHICAL synset -> hypernym, 1.0
//   >           cause ("to kill" causes "to die")        -> CAUSAL       cause -> effect, 1.0
//   *           entailment ("to snore" entails "to sleep") -> SEMANTIC   synset -> entailed, 0.6
//   Inverse pointers (~ ~i %m %s %p, -c -r -u) repeat the above in reverse and are skipped;
//   antonyms and every other pointer are ignored.
//
// Functions are pure (no shared state) and thread-compatible.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engram/v1/engram.pb.h"

namespace engram::cli {

inline constexpr char kDefaultWordNetDir[] = "/usr/share/wordnet";

struct WordNetPointer {
  std::string symbol;      // "@", "#m", ";c", ...
  uint32_t target_offset;  // synset offset in the target's data file
  char target_pos;         // n, v, a, s or r
  uint16_t source_target;  // 0: semantic pointer; else source word << 8 | target word
};

struct WordNetSynset {
  uint32_t offset = 0;
  int lex_filenum = 0;
  char ss_type = 'n';
  std::vector<std::string> lemmas;  // underscores replaced by spaces, in file order
  std::vector<int> lex_ids;         // each lemma's lex_id (0..15), which its sense key holds
  std::vector<WordNetPointer> pointers;
  std::string gloss;  // without the leading "| " and trailing blanks
  // How often the synset's words were tagged with this meaning in WordNet's semantic
  // concordances (the sum over its words of cntlist.rev's counts); 0 when never, or unread.
  // SynsetToLearnRequest learns a noun synset at strength 1 + tag_count.
  uint32_t tag_count = 0;
  // Each lemma's own count (parallel to lemmas; empty when unread): how often that word meant
  // this synset. A noun synset's tagged lemmas are learned as the attributes
  // "strength:<lemma>" = 1 + count (text::kNameStrengthPrefix, common/text/names.h).
  std::vector<uint32_t> lemma_tag_counts;
};

// lex_filenum -> name ("noun.animal"), from <dir>/lexnames.
using LexNames = std::map<int, std::string>;

// Parses a data.<pos> file. `file_name` is used in error messages. `limit` > 0 stops after that
// many synsets.
absl::StatusOr<std::vector<WordNetSynset>> ParseWordNetData(std::istream& in,
                                                            absl::string_view file_name,
                                                            size_t limit = 0);

// <dir>/data.noun; NOT_FOUND when the file is missing.
absl::StatusOr<std::vector<WordNetSynset>> ReadWordNetNouns(const std::string& dir,
                                                            size_t limit = 0);
// <dir>/data.verb; NOT_FOUND when the file is missing.
absl::StatusOr<std::vector<WordNetSynset>> ReadWordNetVerbs(const std::string& dir,
                                                            size_t limit = 0);

// Sets each synset's tag_count from <dir>/cntlist.rev ("dog%1:05:00:: 1 42": sense key, sense
// number, count per line), matching sense keys built from the synset's words, lex_filenum and
// lex_ids. No file: nothing changes (an OK status). A malformed line is INVALID_ARGUMENT naming the
// file, line and field, and changes nothing.
absl::Status AddSenseCounts(const std::string& dir, std::vector<WordNetSynset>* synsets);
// The sense key of the synset's `word`-th lemma: "dog%1:05:00::" (nouns and verbs; WordNet's
// senseidx(5WN)).
std::string SenseKey(const WordNetSynset& synset, size_t word);

// <dir>/lexnames ("03\tnoun.Tops\t1" per line); an empty map when the file does not exist.
absl::StatusOr<LexNames> ReadLexNames(const std::string& dir);

struct PointerMapping {
  engram::v1::AssociationType type;
  float confidence;
};
// How a noun pointer becomes an association; std::nullopt for pointers that are skipped.
std::optional<PointerMapping> MapNounPointer(absl::string_view symbol);
// How a verb pointer becomes an association; std::nullopt for pointers that are skipped.
std::optional<PointerMapping> MapVerbPointer(absl::string_view symbol);

// "wn-n-02084071".
std::string NounSynsetId(uint32_t offset);
// "wn-v-01323958" for a verb, NounSynsetId for a noun.
std::string SynsetId(char pos, uint32_t offset);

// The keyword field a WordNet namespace is created with: the "lemmas" attribute (the synset's
// words, which the content also starts with) weighs 3 content words, fully length-normalised, so
// "What is a bank?" finds a synset named "bank" before "piggy bank" (docs/benchmarks.md,
// "Retrieval").
engram::v1::KeywordField WordNetLemmasField();

// The concept for a noun or verb synset (namespace left empty, extract_associations = false).
engram::v1::LearnRequest SynsetToLearnRequest(const WordNetSynset& synset,
                                              const LexNames& lexnames);

// Every association between the given noun and verb synsets, in order, without duplicates (at
// most one per source, target and type). Pointers to synsets not in `synsets` (or to another part
// of speech) are dropped, so a --limit import only links what it imported. Namespace left empty.
std::vector<engram::v1::AssociateRequest> WordNetAssociations(
    const std::vector<WordNetSynset>& synsets);

}  // namespace engram::cli
