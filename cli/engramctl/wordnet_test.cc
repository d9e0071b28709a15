#include "cli/engramctl/wordnet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace engram::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kHeader[] =
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  \n";

// Four noun synsets: every kind of pointer the importer maps or skips.
constexpr char kSynsets[] =
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002000 n 0000 ~ 04424418 v 0000 | that "
    "which is perceived  \n"
    "00001930 03 n 02 physical_entity 0 thing 1 002 @ 00001740 n 0000 + 00123456 v 0101 | an "
    "entity that has physical existence  \n"
    "00002000 05 n 01 dog 0 007 @ 00001930 n 0000 @i 00001740 n 0000 #m 00002100 n 0000 ;c "
    "00002100 n 0000 = 00003000 a 0000 ! 00001930 n 0101 @ 00009999 n 0000 | a dog; barks|loud  \n"
    "00002100 14 n 01 pack 0 002 %m 00002000 n 0000 -c 00002000 n 0000 | a group of dogs  \n";

absl::StatusOr<std::vector<WordNetSynset>> Parse(const std::string& text, size_t limit = 0) {
  std::istringstream in(text);
  return ParseWordNetData(in, "data.noun", limit);
}

const engram::v1::AssociateRequest* FindEdge(const std::vector<engram::v1::AssociateRequest>& edges,
                                             const std::string& source, const std::string& target,
                                             engram::v1::AssociationType type) {
  for (const auto& e : edges) {
    if (e.source() == source && e.target() == target && e.type() == type) return &e;
  }
  return nullptr;
}

TEST(WordNetParseTest, ParsesSynsetsSkippingTheHeader) {
  auto synsets = Parse(absl::StrCat(kHeader, kSynsets));
  ASSERT_TRUE(synsets.ok()) << synsets.status();
  ASSERT_THAT(*synsets, SizeIs(4));
  const WordNetSynset& physical = (*synsets)[1];
  EXPECT_EQ(physical.offset, 1930u);
  EXPECT_EQ(physical.lex_filenum, 3);
  EXPECT_THAT(physical.lemmas, testing::ElementsAre("physical entity", "thing"));
  ASSERT_THAT(physical.pointers, SizeIs(2));
  EXPECT_EQ(physical.pointers[1].symbol, "+");
  EXPECT_EQ(physical.pointers[1].target_pos, 'v');
  EXPECT_EQ(physical.pointers[1].source_target, 0x0101);
  EXPECT_EQ(physical.gloss, "an entity that has physical existence");
  EXPECT_EQ((*synsets)[2].gloss, "a dog; barks|loud");  // a '|' inside the gloss is text
}

TEST(WordNetParseTest, LimitStopsEarly) {
  auto synsets = Parse(absl::StrCat(kHeader, kSynsets), 2);
  ASSERT_TRUE(synsets.ok()) << synsets.status();
  EXPECT_THAT(*synsets, SizeIs(2));
}

void ExpectMalformed(const std::string& bad_line, const std::string& message) {
  // Line 3 is good, line 4 is the bad one.
  std::string text = absl::StrCat(
      kHeader, "00001740 03 n 01 entity 0 000 | that which is perceived  \n", bad_line, "\n");
  auto synsets = Parse(text);
  ASSERT_FALSE(synsets.ok()) << "accepted: " << bad_line;
  EXPECT_EQ(synsets.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(synsets.status().message()),
              HasSubstr(absl::StrCat("data.noun:4: ", message)))
      << bad_line;
}

TEST(WordNetParseTest, MalformedLinesNameFileLineAndField) {
  ExpectMalformed("00001930 03", "ss_type: missing");
  ExpectMalformed("0001930 03 n 01 x 0 000 | g",
                  "synset_offset: '0001930': expected 8 decimal digits");
  ExpectMalformed("00001930 03 q 01 x 0 000 | g", "ss_type: 'q' is not n, v, a, s or r");
  ExpectMalformed("00001930 03 n zz x 0 000 | g", "w_cnt: 'zz': expected 2 hexadecimal digits");
  ExpectMalformed("00001930 03 n 00 000 | g", "w_cnt: a synset needs at least one word");
  ExpectMalformed("00001930 03 n 01 x 0 00x | g", "p_cnt: '00x': expected 3 decimal digits");
  ExpectMalformed("00001930 03 n 01 x 0 002 @ 00001740 n 0000 | g",
                  "p_cnt: 2 pointers announced, 1 found");
  ExpectMalformed("00001930 03 n 01 x 0 001 @ 00001740 x 0000 | g", "pointer pos: 'x' is not");
  ExpectMalformed("00001930 03 n 01 x 0 001 @ 1740 n 0000 | g", "pointer synset_offset: '1740'");
  ExpectMalformed("00001930 03 n 01 x 0 001 @ 00001740 n 00g0 | g", "source/target: '00g0'");
  ExpectMalformed("00001930 03 n 01 x 0 000 a gloss",
                  "gloss: expected '|' before the gloss, found 'a'");
  ExpectMalformed("00001930 03 n 01 x 0 000 |   ", "gloss: empty");
}

TEST(WordNetMappingTest, PointerSymbols) {
  using engram::v1::COMPOSITIONAL;
  using engram::v1::HIERARCHICAL;
  using engram::v1::SEMANTIC;
  for (const char* s : {"@", "@i"}) {
    ASSERT_TRUE(MapNounPointer(s).has_value()) << s;
    EXPECT_EQ(MapNounPointer(s)->type, HIERARCHICAL);
    EXPECT_FLOAT_EQ(MapNounPointer(s)->confidence, 1.0f);
  }
  for (const char* s : {"#m", "#s", "#p"}) {
    ASSERT_TRUE(MapNounPointer(s).has_value()) << s;
    EXPECT_EQ(MapNounPointer(s)->type, COMPOSITIONAL);
    EXPECT_FLOAT_EQ(MapNounPointer(s)->confidence, 1.0f);
  }
  for (const char* s : {";c", ";r", ";u", "="}) {
    ASSERT_TRUE(MapNounPointer(s).has_value()) << s;
    EXPECT_EQ(MapNounPointer(s)->type, SEMANTIC);
    EXPECT_FLOAT_EQ(MapNounPointer(s)->confidence, 0.6f);
  }
  for (const char* s : {"~", "~i", "%m", "%s", "%p", "-c", "-r", "-u", "!", "+", "\\", "&"}) {
    EXPECT_FALSE(MapNounPointer(s).has_value()) << s;
  }
}

TEST(WordNetMappingTest, AssociationsBetweenNounSynsetsOnly) {
  auto synsets = Parse(kSynsets);
  ASSERT_TRUE(synsets.ok()) << synsets.status();
  std::vector<engram::v1::AssociateRequest> edges = WordNetAssociations(*synsets);
  // 00001930 @ 00001740; 00002000 @ 00001930, @i 00001740, #m 00002100, ;c 00002100. Skipped:
  // ~, %m, -c (inverses), + and = (other parts of speech), ! (antonym), @ 00009999 (not loaded).
  ASSERT_THAT(edges, SizeIs(5));
  EXPECT_NE(FindEdge(edges, "wn-n-00001930", "wn-n-00001740", engram::v1::HIERARCHICAL), nullptr);
  EXPECT_NE(FindEdge(edges, "wn-n-00002000", "wn-n-00001930", engram::v1::HIERARCHICAL), nullptr);
  EXPECT_NE(FindEdge(edges, "wn-n-00002000", "wn-n-00001740", engram::v1::HIERARCHICAL), nullptr);
  const auto* part = FindEdge(edges, "wn-n-00002000", "wn-n-00002100", engram::v1::COMPOSITIONAL);
  ASSERT_NE(part, nullptr);
  EXPECT_FLOAT_EQ(part->confidence().value(), 1.0f);
  const auto* domain = FindEdge(edges, "wn-n-00002000", "wn-n-00002100", engram::v1::SEMANTIC);
  ASSERT_NE(domain, nullptr);
  EXPECT_FLOAT_EQ(domain->confidence().value(), 0.6f);
}

TEST(WordNetMappingTest, LimitedImportLinksOnlyWhatItLoaded) {
  auto synsets = Parse(kSynsets, 2);
  ASSERT_TRUE(synsets.ok());
  std::vector<engram::v1::AssociateRequest> edges = WordNetAssociations(*synsets);
  ASSERT_THAT(edges, SizeIs(1));
  EXPECT_EQ(edges[0].source(), "wn-n-00001930");
  EXPECT_EQ(edges[0].target(), "wn-n-00001740");
}

TEST(WordNetMappingTest, DuplicatePointersBecomeOneAssociation) {
  auto synsets = Parse(
      "00001740 03 n 01 a 0 000 | first  \n"
      "00001930 03 n 01 b 0 002 @ 00001740 n 0000 @ 00001740 n 0000 | second  \n");
  ASSERT_TRUE(synsets.ok()) << synsets.status();
  EXPECT_THAT(WordNetAssociations(*synsets), SizeIs(1));
}

TEST(WordNetMappingTest, ConceptFromSynset) {
  auto synsets = Parse(kSynsets);
  ASSERT_TRUE(synsets.ok());
  engram::v1::LearnRequest concept_request =
      SynsetToLearnRequest((*synsets)[1], {{3, "noun.Tops"}});
  EXPECT_EQ(concept_request.id(), "wn-n-00001930");
  EXPECT_EQ(concept_request.content(),
            "physical entity, thing: an entity that has physical existence");
  EXPECT_EQ(concept_request.attributes().at("source"), "wordnet");
  EXPECT_EQ(concept_request.attributes().at("pos"), "n");
  EXPECT_EQ(concept_request.attributes().at("lemmas"), "physical entity, thing");
  EXPECT_EQ(concept_request.attributes().at("lexfile"), "noun.Tops");
  ASSERT_TRUE(concept_request.has_extract_associations());
  EXPECT_FALSE(concept_request.extract_associations().value());
  // Without lexnames the number stands in.
  EXPECT_EQ(SynsetToLearnRequest((*synsets)[3], {}).attributes().at("lexfile"), "14");
}

TEST(WordNetFilesTest, ReadsLexNamesAndReportsAMissingDirectory) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / absl::StrCat("wordnet_", ::getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "lexnames") << "03\tnoun.Tops\t1\n05\tnoun.animal\t1\n";
    std::ofstream(dir / "data.noun") << kHeader << kSynsets;
  }
  auto names = ReadLexNames(dir.string());
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->at(5), "noun.animal");
  auto synsets = ReadWordNetNouns(dir.string());
  ASSERT_TRUE(synsets.ok()) << synsets.status();
  EXPECT_THAT(*synsets, SizeIs(4));

  auto missing = ReadWordNetNouns((dir / "nope").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("wordnet-base"));
  auto no_lexnames = ReadLexNames((dir / "nope").string());
  ASSERT_TRUE(no_lexnames.ok());
  EXPECT_TRUE(no_lexnames->empty());
  std::filesystem::remove_all(dir);
}

// wordnet-base is a declared dependency (scripts/bootstrap.sh installs it): a missing file fails.
TEST(WordNetRealDataTest, ParsesDebianWordNetNouns) {
  auto synsets = ReadWordNetNouns(kDefaultWordNetDir);
  ASSERT_TRUE(synsets.ok()) << synsets.status()
                            << " (install the Debian package wordnet-base: scripts/bootstrap.sh)";
  EXPECT_EQ(synsets->size(), 82115u);
  const WordNetSynset* dog = nullptr;
  for (const WordNetSynset& s : *synsets) {
    if (s.offset == 2084071) dog = &s;
  }
  ASSERT_NE(dog, nullptr);
  EXPECT_EQ(dog->lemmas.front(), "dog");
  std::vector<engram::v1::AssociateRequest> edges = WordNetAssociations(*synsets);
  EXPECT_NE(FindEdge(edges, "wn-n-02084071", "wn-n-02083346", engram::v1::HIERARCHICAL), nullptr)
      << "dog.n.01 should be a kind of canine.n.02";
  EXPECT_GT(edges.size(), 100000u);
  EXPECT_THAT(SynsetToLearnRequest(*dog, {}).content(),
              testing::StartsWith("dog, domestic dog, Canis familiaris: "));
  // The animal is the sense of "dog" tagged most often (42 times in WordNet 3.0's concordances).
  ASSERT_TRUE(AddSenseCounts(kDefaultWordNetDir, &*synsets).ok());
  EXPECT_EQ(dog->tag_count, 42u);
  EXPECT_FLOAT_EQ(SynsetToLearnRequest(*dog, {}).strength().value(), 43.0f);
  // "cat" means the feline 18 times, "guy, cat, hombre, bozo" never, though "guy" means it 33.
  for (const WordNetSynset& s : *synsets) {
    if (s.offset == 2121620) {  // cat, true cat
      EXPECT_EQ(SynsetToLearnRequest(s, {}).attributes().at("strength:cat"), "19");
    }
    if (s.offset == 10153414) {  // guy, cat, hombre, bozo
      const engram::v1::LearnRequest guy = SynsetToLearnRequest(s, {});
      EXPECT_EQ(guy.attributes().at("strength:guy"), "34");
      EXPECT_EQ(guy.attributes().count("strength:cat"), 0u);
      EXPECT_FLOAT_EQ(guy.strength().value(), 34.0f);
    }
  }
}

// cntlist.rev's counts become each synset's tag_count (summed over its words, matched by sense
// key: lemma, part of speech, lex_filenum, lex_id), and the learned concept's strength.
TEST(WordNetFilesTest, SenseCountsBecomeTheSynsetsStrength) {
  std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / absl::StrCat("wordnet_counts_", ::getpid());
  std::filesystem::create_directories(dir);
  auto synsets = Parse(kSynsets);
  ASSERT_TRUE(synsets.ok()) << synsets.status();
  EXPECT_EQ(SenseKey((*synsets)[1], 0), "physical_entity%1:03:00::");
  EXPECT_EQ(SenseKey((*synsets)[1], 1), "thing%1:03:01::");
  EXPECT_EQ(SenseKey((*synsets)[2], 0), "dog%1:05:00::");

  // No file: nothing changes.
  ASSERT_TRUE(AddSenseCounts(dir.string(), &*synsets).ok());
  for (const WordNetSynset& s : *synsets) EXPECT_EQ(s.tag_count, 0u);
  EXPECT_FALSE(SynsetToLearnRequest((*synsets)[2], {}).has_strength());

  std::ofstream(dir / "cntlist.rev") << "dog%1:05:00:: 1 42\n"
                                        "thing%1:03:01:: 2 5\n"
                                        "physical_entity%1:03:00:: 1 3\n"
                                        "thing%1:03:00:: 1 99\n"     // another lex_id: not ours
                                        "dog%2:38:00:: 1 2\n"        // the verb: not loaded
                                        "Dog%1:05:00:: 1 7\n";       // keys are lower case
  ASSERT_TRUE(AddSenseCounts(dir.string(), &*synsets).ok());
  EXPECT_EQ((*synsets)[0].tag_count, 0u);
  EXPECT_EQ((*synsets)[1].tag_count, 8u);
  EXPECT_EQ((*synsets)[2].tag_count, 42u);
  EXPECT_THAT((*synsets)[1].lemma_tag_counts, testing::ElementsAre(3u, 5u));
  engram::v1::LearnRequest dog = SynsetToLearnRequest((*synsets)[2], {});
  ASSERT_TRUE(dog.has_strength());
  EXPECT_FLOAT_EQ(dog.strength().value(), 43.0f);
  EXPECT_EQ(dog.attributes().at("strength:dog"), "43");
  engram::v1::LearnRequest thing = SynsetToLearnRequest((*synsets)[1], {});
  EXPECT_EQ(thing.attributes().at("strength:physical entity"), "4");  // names normalized
  EXPECT_EQ(thing.attributes().at("strength:thing"), "6");
  EXPECT_FALSE(SynsetToLearnRequest((*synsets)[0], {}).has_strength());  // unset means 1

  std::ofstream(dir / "cntlist.rev") << "dog%1:05:00:: 1 42\ndog%1:05:01:: 1 many\n";
  absl::Status bad = AddSenseCounts(dir.string(), &*synsets);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("cntlist.rev:2: tag_cnt: 'many'"));
  EXPECT_EQ((*synsets)[2].tag_count, 42u);  // unchanged
}

// Verbs: hypernyms, causes and entailments, within the verbs (a verb and a noun may share an offset).
TEST(WordNetMappingTest, VerbSynsetsAndTheirCauses) {
  std::istringstream verb_data(
      "00001740 29 v 01 breathe 0 002 @ 00002000 v 0000 + 00001930 n 0101 01 + 02 00 | draw air  \n"
      "00002000 29 v 01 live 0 000 01 + 02 00 | be alive  \n"
      "00003000 35 v 01 kill 0 003 > 00004000 v 0000 @ 00002100 v 0000 ~ 00001740 v 0000 01 + 08 00 "
      "| cause to die  \n"
      "00004000 30 v 01 die 0 001 * 00002000 v 0000 01 + 02 00 | stop living  \n"
      "00002100 35 v 01 act 0 000 01 + 02 00 | do something  \n");
  auto verbs = ParseWordNetData(verb_data, "data.verb");
  ASSERT_TRUE(verbs.ok()) << verbs.status();
  auto nouns = Parse(kSynsets);  // holds a noun 00001740 and 00002000 too
  ASSERT_TRUE(nouns.ok());
  std::vector<WordNetSynset> all = *nouns;
  all.insert(all.end(), verbs->begin(), verbs->end());
  std::vector<engram::v1::AssociateRequest> edges = WordNetAssociations(all);
  ASSERT_THAT(edges, SizeIs(5 + 4));  // the nouns' 5, and the verbs' @ @ > *
  EXPECT_NE(FindEdge(edges, "wn-v-00001740", "wn-v-00002000", engram::v1::HIERARCHICAL), nullptr);
  EXPECT_NE(FindEdge(edges, "wn-v-00003000", "wn-v-00002100", engram::v1::HIERARCHICAL), nullptr);
  const auto* cause = FindEdge(edges, "wn-v-00003000", "wn-v-00004000", engram::v1::CAUSAL);
  ASSERT_NE(cause, nullptr);
  EXPECT_FLOAT_EQ(cause->confidence().value(), 1.0f);
  const auto* entails = FindEdge(edges, "wn-v-00004000", "wn-v-00002000", engram::v1::SEMANTIC);
  ASSERT_NE(entails, nullptr);
  EXPECT_FLOAT_EQ(entails->confidence().value(), 0.6f);
  // The noun edges are unchanged: verb 00001740 "breathe" is not noun 00001740 "entity".
  EXPECT_NE(FindEdge(edges, "wn-n-00001930", "wn-n-00001740", engram::v1::HIERARCHICAL), nullptr);
  EXPECT_EQ(FindEdge(edges, "wn-n-00001930", "wn-v-00001740", engram::v1::HIERARCHICAL), nullptr);
  const engram::v1::LearnRequest kill = SynsetToLearnRequest((*verbs)[2], {});
  EXPECT_EQ(kill.id(), "wn-v-00003000");
  EXPECT_EQ(kill.attributes().at("pos"), "v");
  EXPECT_EQ(kill.content(), "kill: cause to die");
  EXPECT_EQ(SenseKey((*verbs)[2], 0), "kill%2:35:00::");
  WordNetSynset counted = (*verbs)[2];
  counted.tag_count = 30;  // a verb's counts are not its strength (nouns only)
  EXPECT_FALSE(SynsetToLearnRequest(counted, {}).has_strength());
  EXPECT_FALSE(MapVerbPointer("~").has_value());
  EXPECT_FALSE(MapVerbPointer("+").has_value());
}

TEST(WordNetRealDataTest, ParsesDebianWordNetVerbsWithCauses) {
  auto verbs = ReadWordNetVerbs(kDefaultWordNetDir);
  ASSERT_TRUE(verbs.ok()) << verbs.status();
  EXPECT_EQ(verbs->size(), 13767u);
  std::vector<engram::v1::AssociateRequest> edges = WordNetAssociations(*verbs);
  // kill.v.01 causes die.v.01 (WordNet's ">" pointer).
  EXPECT_NE(FindEdge(edges, "wn-v-01323976", "wn-v-00358431", engram::v1::CAUSAL), nullptr);
  size_t causes = 0;
  for (const auto& e : edges) causes += e.type() == engram::v1::CAUSAL;
  EXPECT_GT(causes, 200u);
}

}  // namespace
}  // namespace engram::cli
