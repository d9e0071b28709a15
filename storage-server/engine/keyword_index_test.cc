#include "storage-server/engine/keyword_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/text/tokenizer.h"
#include "storage-server/engine/derived_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Every match (Best with no bound on k), keyed by concept number (each concept has one visible
// version).
using ScoreMap = absl::flat_hash_map<uint32_t, KeywordIndex::Match>;
ScoreMap Scored(const KeywordIndex& index, const std::vector<std::string>& terms, uint64_t seq,
                double* query_idf = nullptr) {
  const KeywordIndex::Query query = index.Prepare(terms, seq);
  if (query_idf != nullptr) *query_idf = query.query_idf();
  ScoreMap out;
  for (const KeywordIndex::Scored& s :
       index.Best(query, SIZE_MAX, [](uint32_t) { return true; })) {
    EXPECT_TRUE(out.emplace(s.concept_number, s.match).second)
        << "concept " << s.concept_number << " twice";
  }
  return out;
}

// `index` at `seq` through the derived-state file (EncodeTo, then DecodeFrom into a fresh index).
std::unique_ptr<KeywordIndex> ThroughDerivedState(const KeywordIndex& index, uint64_t seq) {
  ByteWriter encoded;
  index.EncodeTo(&encoded, index.TakeCut(), seq);
  auto decoded = std::make_unique<KeywordIndex>();
  ByteReader in(encoded.out());
  const absl::Status status = decoded->DecodeFrom(&in);
  EXPECT_TRUE(status.ok()) << status;
  return status.ok() ? std::move(decoded) : nullptr;
}

TEST(KeywordIndexTest, QueryTermsAreLowercasedDistinctAndBounded) {
  EXPECT_THAT(KeywordIndex::QueryTerms("What is a Ptarmigan? a PTARMIGAN!"),
              ElementsAre("what", "is", "a", "ptarmigan"));
  EXPECT_THAT(KeywordIndex::QueryTerms("?!  ,"), IsEmpty());
  std::string many;
  for (int i = 0; i < 100; ++i) absl::StrAppend(&many, "w", i, " ");
  EXPECT_EQ(KeywordIndex::QueryTerms(many).size(), KeywordIndex::kMaxQueryTerms);
}

// The score of one document, straight from the formula in keyword_index.h.
double Bm25(const std::vector<std::string>& query, const std::vector<std::string>& doc,
            const std::vector<std::vector<std::string>>& corpus) {
  double total_len = 0;
  for (const auto& d : corpus) total_len += d.size();
  const double n_docs = corpus.size(), avgdl = total_len / n_docs;
  double score = 0;
  for (const std::string& t : query) {
    double n = 0;
    for (const auto& d : corpus) n += std::count(d.begin(), d.end(), t) > 0;
    const double tf = std::count(doc.begin(), doc.end(), t);
    if (tf == 0) continue;
    const double idf = std::max(1e-6, std::log((n_docs - n + 0.5) / (n + 0.5)));
    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * doc.size() / avgdl));
  }
  return score;
}

// Posting blocks come from chunks of 64 KiB doubling to 2 MiB: a namespace with a few documents
// holds 64 KiB of them, not a 2 MiB (huge-page) chunk.
TEST(KeywordIndexTest, BlockChunksStartSmallAndDouble) {
  KeywordIndex index;
  EXPECT_EQ(index.block_chunk_bytes(), 0u);
  index.Add(0, {"a yolk is part of an egg"}, 1);
  EXPECT_EQ(index.block_chunk_bytes(), uint64_t{64} << 10);
  std::vector<uint64_t> sizes{uint64_t{64} << 10};
  for (uint32_t doc = 1; sizes.size() < 8; ++doc) {
    index.Add(doc, {absl::StrCat("unique", doc, " words of document ", doc)}, doc + 1);
    if (index.block_chunk_bytes() != std::accumulate(sizes.begin(), sizes.end(), uint64_t{0})) {
      sizes.push_back(std::min(sizes.back() * 2, uint64_t{2} << 20));
      ASSERT_EQ(index.block_chunk_bytes(), std::accumulate(sizes.begin(), sizes.end(), uint64_t{0}))
          << "after document " << doc;
    }
  }
  EXPECT_EQ(sizes.back(), uint64_t{2} << 20);  // 64K, 128K, ... 2M, 2M
  EXPECT_EQ(Scored(index, {"yolk"}, 1).size(), 1u);
}

TEST(KeywordIndexTest, ScoresAreBm25) {
  const std::vector<std::string> contents = {
      "A yolk is part of an egg.", "An egg is laid by a hen.", "The hen is a bird, a bird.",
      "Ptarmigan: a grouse of northern regions.", "Nothing here.", "egg egg egg"};
  KeywordIndex index;
  std::vector<std::vector<std::string>> corpus;
  for (uint32_t i = 0; i < contents.size(); ++i) {
    index.Add(i, {contents[i]}, /*born=*/1);
    corpus.push_back(text::TokenizeText(contents[i], /*lowercase=*/true));
  }
  const std::vector<std::string> query = KeywordIndex::QueryTerms("egg bird HEN");
  ScoreMap scores = Scored(index, query, 1);
  ASSERT_EQ(scores.size(), 4u);  // docs 0, 1, 2, 5
  for (const auto& [number, score] : scores) {
    EXPECT_NEAR(score.bm25, Bm25(query, corpus[number], corpus), 1e-9) << contents[number];
  }
  EXPECT_FALSE(scores.contains(3));
  EXPECT_EQ(index.live_documents(), contents.size());
}

// A term thousands of times in one field, and a field of more than 2^16 tokens, score exactly,
// also after a trip through the derived-state file (a packed posting must not cut them).
TEST(KeywordIndexTest, LongFieldsAndFrequentTermsScoreExactly) {
  std::string frequent;  // "egg" 3000 times in 3000 tokens
  for (int i = 0; i < 3000; ++i) absl::StrAppend(&frequent, "egg ");
  std::string long_field = "egg hen";  // 70,002 tokens, "egg" once
  for (int i = 0; i < 70000; ++i) absl::StrAppend(&long_field, " w", i % 97);
  std::string last_narrow;  // "egg" 2047 times: the largest tf a posting holds with its length
  for (int i = 0; i < 2047; ++i) absl::StrAppend(&last_narrow, "egg ");
  const std::vector<std::string> texts = {"an egg and a hen", frequent, long_field, "hen hen egg",
                                          last_narrow};
  KeywordIndex index;
  std::vector<std::vector<std::string>> corpus;
  for (uint32_t i = 0; i < texts.size(); ++i) {
    index.Add(i, {texts[i]}, /*born=*/1);
    corpus.push_back(text::TokenizeText(texts[i], /*lowercase=*/true));
  }
  const std::unique_ptr<KeywordIndex> decoded = ThroughDerivedState(index, 1);
  ASSERT_NE(decoded, nullptr);
  const std::vector<std::string> query = KeywordIndex::QueryTerms("egg hen");
  for (const KeywordIndex* from : {&index, decoded.get()}) {
    ScoreMap scores = Scored(*from, query, 1);
    ASSERT_EQ(scores.size(), texts.size());
    for (const auto& [number, score] : scores) {
      EXPECT_NEAR(score.bm25, Bm25(query, corpus[number], corpus), 1e-9) << "document " << number;
    }
  }
}

// BM25F over the content and a weighted attribute, against the formula written out directly.
TEST(KeywordIndexTest, AttributeFieldsWeighAndNormaliseByTheirOwnLength) {
  struct Doc {
    std::string content, lemmas;
  };
  const std::vector<Doc> docs = {
      {"bank: sloping land beside a body of water", "bank"},
      {"piggy bank, penny bank: a child's coin bank", "piggy bank, penny bank"},
      {"depository financial institution, bank: a financial institution that accepts deposits",
       "depository financial institution, bank"},
      {"river: a large natural stream of water", "river"},
      {"no lemmas here, bank", ""},
      {"stream: a natural body of running water", "stream, watercourse"},
      {"coin: a flat metal piece used as money", "coin"},
      {"institution: an organization founded for a purpose", "institution, establishment"},
      {"pig: a domestic swine", "pig, hog, grunter, squealer"},
      {"land: the solid part of the earth's surface", "land, dry land, earth, ground"}};
  const double weight = 3.0, b_lemmas = 1.0;
  KeywordIndex index({{"lemmas", weight, b_lemmas}});
  std::vector<std::vector<std::string>> content, lemmas;
  for (uint32_t i = 0; i < docs.size(); ++i) {
    index.Add(i, {docs[i].content, docs[i].lemmas}, 1);
    content.push_back(text::TokenizeText(docs[i].content, true));
    lemmas.push_back(text::TokenizeText(docs[i].lemmas, true));
  }
  auto mean_length = [](const std::vector<std::vector<std::string>>& field) {
    double sum = 0;
    for (const auto& d : field) sum += d.size();
    return sum / field.size();
  };
  const double avg_content = mean_length(content), avg_lemmas = mean_length(lemmas);
  auto expected = [&](const std::vector<std::string>& query, size_t d) {
    double score = 0;
    for (const std::string& t : query) {
      size_t n = 0;
      for (size_t e = 0; e < docs.size(); ++e) {
        n += std::count(content[e].begin(), content[e].end(), t) +
                     std::count(lemmas[e].begin(), lemmas[e].end(), t) > 0;
      }
      const double idf = std::max(1e-6, std::log((docs.size() - n + 0.5) / (n + 0.5)));
      const double tf_content = std::count(content[d].begin(), content[d].end(), t);
      const double tf_lemmas = std::count(lemmas[d].begin(), lemmas[d].end(), t);
      double x = 0;
      if (tf_content > 0) {
        x += tf_content /
             (1 - KeywordIndex::kB + KeywordIndex::kB * content[d].size() / avg_content);
      }
      if (tf_lemmas > 0) {
        x += weight * tf_lemmas / (1 - b_lemmas + b_lemmas * lemmas[d].size() / avg_lemmas);
      }
      if (x > 0) score += idf * x * (KeywordIndex::kK1 + 1) / (x + KeywordIndex::kK1);
    }
    return score;
  };
  for (const char* q : {"bank", "water bank", "financial institution", "river"}) {
    const std::vector<std::string> terms = KeywordIndex::QueryTerms(q);
    ScoreMap scores = Scored(index, terms, 1);
    for (uint32_t d = 0; d < docs.size(); ++d) {
      const double want = expected(terms, d);
      if (want == 0) {
        EXPECT_FALSE(scores.contains(d)) << q << " doc " << d;
        continue;
      }
      ASSERT_TRUE(scores.contains(d)) << q << " doc " << d;
      EXPECT_NEAR(scores[d].bm25, want, 1e-9) << q << " doc " << d;
    }
    // The best one and two, pruned with the fields' bounds, lead the full list; and a
    // document's texts score as its postings do.
    const KeywordIndex::Query query = index.Prepare(terms, 1);
    const auto all = index.Best(query, SIZE_MAX, [](uint32_t) { return true; });
    for (size_t k : {1, 2}) {
      const auto best = index.Best(query, k, [](uint32_t) { return true; });
      ASSERT_EQ(best.size(), std::min(k, all.size())) << q;
      for (size_t i = 0; i < best.size(); ++i) {
        EXPECT_EQ(best[i].concept_number, all[i].concept_number) << q << " #" << i;
      }
    }
    for (uint32_t d = 0; d < docs.size(); ++d) {
      EXPECT_EQ(index.MatchOf(query, {docs[d].content, docs[d].lemmas}).bm25,
                scores.contains(d) ? scores[d].bm25 : 0.0)
          << q << " doc " << d;
    }
  }
  // The word as a whole lemma beats the word inside compound lemmas, which content alone does not.
  ScoreMap bank = Scored(index, {"bank"}, 1);
  EXPECT_GT(bank[0].bm25, bank[1].bm25);
  KeywordIndex content_only;
  for (uint32_t i = 0; i < docs.size(); ++i) content_only.Add(i, {docs[i].content}, 1);
  ScoreMap plain = Scored(content_only, {"bank"}, 1);
  EXPECT_LT(plain[0].bm25, plain[1].bm25);

  // Retiring a document takes its attribute tokens out of the field's mean length too.
  index.Retire(1, 2);
  EXPECT_EQ(index.live_documents(), docs.size() - 1);
  ScoreMap after = Scored(index, {"bank"}, 2);
  EXPECT_FALSE(after.contains(1));
  EXPECT_TRUE(after.contains(0));
}

// A word in every field of one document (8 postings at once, more than a first block holds) is
// counted once per field; the sanitizer build checks the block is large enough.
TEST(KeywordIndexTest, AWordInEveryFieldOfTheFirstDocument) {
  std::vector<KeywordIndex::Field> fields;
  for (int f = 0; f < 7; ++f) fields.push_back({absl::StrCat("f", f), 1.0, 0.0});
  KeywordIndex index(fields);
  const std::vector<absl::string_view> texts(8, "owl");
  index.Add(0, texts, 1);
  index.Add(1, {"owl owl"}, 1);
  ScoreMap scores = Scored(index, {"owl"}, 1);
  ASSERT_EQ(scores.size(), 2u);
  // Document 0: x = 8 (b = 0 for the attributes, length = mean for the content); document 1: the
  // content only, twice the mean length.
  EXPECT_GT(scores[0].bm25, scores[1].bm25);
  index.Add(2, texts, 2);  // a second group of 8 after the first block
  EXPECT_EQ(Scored(index, {"owl"}, 2).size(), 3u);
}

// matched_idf / query_idf: the share of the query's word weight a document holds.
TEST(KeywordIndexTest, MatchedIdfIsTheShareOfTheQuerysWordWeight) {
  KeywordIndex index;
  index.Add(0, {"a ptarmigan is a grouse"}, 1);
  index.Add(1, {"a hen is a bird"}, 1);
  index.Add(2, {"a duck is a bird"}, 1);
  index.Add(3, {"a goose"}, 1);
  double query_idf = 0;
  ScoreMap s = Scored(index, KeywordIndex::QueryTerms("ptarmigan bird"), 1, &query_idf);
  const double idf_ptarmigan = std::log((4 - 1 + 0.5) / 1.5), idf_bird = 1e-6;  // 2 of 4: log(1) = 0
  EXPECT_NEAR(query_idf, idf_ptarmigan + idf_bird, 1e-12);
  EXPECT_NEAR(s[0].matched_idf / query_idf, idf_ptarmigan / (idf_ptarmigan + idf_bird), 1e-12);
  EXPECT_NEAR(s[1].matched_idf / query_idf, idf_bird / query_idf, 1e-12);
  // A word no document holds weighs as a word one document holds, and nothing matches it.
  s = Scored(index, KeywordIndex::QueryTerms("ptarmigan zzz"), 1, &query_idf);
  EXPECT_NEAR(query_idf, 2 * idf_ptarmigan, 1e-12);
  EXPECT_NEAR(s[0].matched_idf / query_idf, 0.5, 1e-12);
}

TEST(KeywordIndexTest, DocumentsAreVisibleFromBirthUntilRetired) {
  KeywordIndex index;
  const uint32_t first = index.Add(7, {"red apple"}, /*born=*/5);
  EXPECT_THAT(Scored(index, {"apple"}, 4), IsEmpty());
  EXPECT_THAT(Scored(index, {"apple"}, 5), UnorderedElementsAre(Pair(7, testing::Field(&KeywordIndex::Match::bm25, testing::Gt(0)))));
  // An update at 8: the old version is visible before 8, the new one from 8 on.
  index.Retire(first, 8);
  index.Add(7, {"green pear"}, 8);
  EXPECT_THAT(Scored(index, {"apple"}, 7), UnorderedElementsAre(Pair(7, testing::Field(&KeywordIndex::Match::bm25, testing::Gt(0)))));
  EXPECT_THAT(Scored(index, {"pear"}, 7), IsEmpty());
  EXPECT_THAT(Scored(index, {"apple"}, 8), IsEmpty());
  EXPECT_THAT(Scored(index, {"pear"}, 8), UnorderedElementsAre(Pair(7, testing::Field(&KeywordIndex::Match::bm25, testing::Gt(0)))));
  EXPECT_EQ(index.live_documents(), 1u);
  EXPECT_THAT(Scored(index, {"unknown"}, 100), IsEmpty());
}

// With a weighted attribute field, a word's bound covers its share in every field: the best k,
// pruned, are always the first k of every match.
TEST(KeywordIndexTest, PruningWithAWeightedFieldKeepsTheBestK) {
  std::mt19937 rng(11);
  std::vector<double> weights;
  for (int w = 0; w < 200; ++w) weights.push_back(1.0 / (w + 1));
  std::discrete_distribution<int> word(weights.begin(), weights.end());
  auto words = [&](int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(absl::StrCat("w", word(rng)));
    return absl::StrJoin(out, " ");
  };
  KeywordIndex index({{"lemmas", 3.0, 1.0}});
  for (uint32_t c = 0; c < 5000; ++c) {
    const std::string content = words(4 + static_cast<int>(rng() % 12));
    const std::string lemmas = rng() % 2 == 0 ? words(1 + static_cast<int>(rng() % 2)) : "";
    index.Add(c, {content, lemmas}, 1);
  }
  int pruned_queries = 0;
  for (int q = 0; q < 40; ++q) {
    const KeywordIndex::Query query =
        index.Prepare(KeywordIndex::QueryTerms(words(2 + static_cast<int>(rng() % 3))), 1);
    const auto all = index.Best(query, SIZE_MAX, [](uint32_t) { return true; });
    for (size_t k : {1, 5, 20}) {
      const auto best = index.Best(query, k, [](uint32_t) { return true; });
      ASSERT_EQ(best.size(), std::min(k, all.size())) << "query " << q;
      for (size_t i = 0; i < best.size(); ++i) {
        EXPECT_EQ(best[i].concept_number, all[i].concept_number) << "query " << q << " #" << i;
        EXPECT_EQ(best[i].match.bm25, all[i].match.bm25) << "query " << q << " #" << i;
      }
      pruned_queries += all.size() > 10 * k;
    }
  }
  EXPECT_GT(pruned_queries, 60);  // most queries match far more than they keep
}

// A word's bound takes each field's fewest tokens: a document holding a middling word as its
// one-token lemma scores far above the word's holders with long texts, and must not be pruned
// while the best k is taken from documents holding a rarer word. Queries "b c<j>" sweep the
// score of the one document holding c<j> across the one-token document's score, so some of them
// fall between that score and what the bound would be if the lemma field's fewest tokens were
// taken as more than one.
TEST(KeywordIndexTest, ABoundCoversTheShortestFieldOfAnyDocument) {
  KeywordIndex index({{"lemmas", 3.0, 1.0}});
  auto filler = [](int n, absl::string_view word) {
    std::vector<std::string> out(n, std::string(word));
    return absl::StrJoin(out, " ");
  };
  uint32_t number = 0;
  for (int i = 0; i < 2000; ++i) {  // "b" in 50 long contents; lemmas of three tokens
    const std::string content = absl::StrCat(i % 40 == 0 ? "b " : "", filler(14, "y"));
    index.Add(number++, {content, i % 2 == 0 ? "z z z" : ""}, 1);
  }
  for (int j = 0; j < 60; ++j) {  // c<j> once, in a content of 12 + j tokens
    index.Add(number++, {absl::StrCat("c", j, " ", filler(11 + j, "y")), ""}, 1);
  }
  const uint32_t shortest = number;
  index.Add(number++, {filler(12, "y"), "b"}, 1);  // last: scored after the heap is full
  int shortest_first = 0;
  int rare_first = 0;
  for (int j = 0; j < 60; ++j) {
    const KeywordIndex::Query query = index.Prepare({"b", absl::StrCat("c", j)}, 1);
    const auto all = index.Best(query, SIZE_MAX, [](uint32_t) { return true; });
    const auto best = index.Best(query, 1, [](uint32_t) { return true; });
    ASSERT_EQ(best.size(), 1u);
    EXPECT_EQ(best[0].concept_number, all[0].concept_number) << "c" << j;
    EXPECT_EQ(best[0].match.bm25, all[0].match.bm25) << "c" << j;
    (all[0].concept_number == shortest ? shortest_first : rare_first)++;
  }
  // The sweep crosses the one-token document's score.
  EXPECT_GT(shortest_first, 0);
  EXPECT_GT(rare_first, 0);
}

// Documents need not be added in order of birth (the prefix of documents born by a sequence is
// then unknown): each is still seen exactly from its birth until it is retired.
TEST(KeywordIndexTest, DocumentsAddedOutOfBirthOrderAreSeenFromTheirBirth) {
  KeywordIndex index;
  index.Add(1, {"apple"}, /*born=*/5);
  const uint32_t early = index.Add(2, {"apple pie"}, /*born=*/3);
  index.Add(3, {"apple tree"}, /*born=*/7);
  auto concepts = [&](uint64_t seq) {
    std::vector<uint32_t> out;
    for (const auto& [number, match] : Scored(index, {"apple"}, seq)) out.push_back(number);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_THAT(concepts(2), IsEmpty());
  EXPECT_THAT(concepts(3), ElementsAre(2));
  EXPECT_THAT(concepts(5), ElementsAre(1, 2));
  EXPECT_THAT(concepts(7), ElementsAre(1, 2, 3));
  index.Retire(early, 6);
  EXPECT_THAT(concepts(5), ElementsAre(1, 2));
  EXPECT_THAT(concepts(6), ElementsAre(1));
  EXPECT_THAT(concepts(7), ElementsAre(1, 3));
}

// Readers score while the writer adds documents into growing posting blocks: every reader sees
// every document born at or before its sequence, and none after it.
TEST(KeywordIndexTest, ReadersSeeExactlyTheirSequenceWhileTheWriterAdds) {
  KeywordIndex index;
  std::atomic<uint64_t> published{0};
  constexpr uint64_t kDocs = 20000;
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (published.load(std::memory_order_acquire) < kDocs && !failed) {
        const uint64_t seq = published.load(std::memory_order_acquire);
        const size_t seen = Scored(index, {"common"}, seq).size();
        if (seen != seq) failed = true;
      }
    });
  }
  for (uint64_t i = 1; i <= kDocs; ++i) {
    index.Add(static_cast<uint32_t>(i), {absl::StrCat("common word", i)}, i);
    published.store(i, std::memory_order_release);
  }
  for (std::thread& r : readers) r.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(Scored(index, {"common"}, kDocs).size(), kDocs);
  EXPECT_EQ(index.term_count(), kDocs + 1);
}

// SQLite FTS5's bm25() ranks the same corpus the same way (it is the peer benchmark's reference).
TEST(KeywordIndexTest, AgreesWithSqliteFts5) {
  std::vector<std::string> contents;
  const char* words[] = {"egg", "hen", "bird", "yolk", "shell", "white", "farm", "nest",
                         "grouse", "feather", "wing", "lay", "a", "the", "of", "is"};
  uint64_t x = 12345;
  for (int d = 0; d < 300; ++d) {
    std::vector<std::string> doc;
    const int len = 3 + static_cast<int>(x % 17);
    for (int w = 0; w < len; ++w) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      // Skewed: common words are common.
      const uint64_t r = (x >> 33) % 1000;
      doc.push_back(words[r < 400 ? 12 + r % 4 : (r * 7) % 12]);
    }
    contents.push_back(absl::StrJoin(doc, " "));
  }
  KeywordIndex index;
  for (uint32_t i = 0; i < contents.size(); ++i) index.Add(i, {contents[i]}, 1);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  auto exec = [&](const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << error;
  };
  exec("CREATE VIRTUAL TABLE docs USING fts5(content, tokenize = 'unicode61 remove_diacritics 0')");
  for (size_t i = 0; i < contents.size(); ++i) {
    exec(absl::StrCat("INSERT INTO docs(rowid, content) VALUES (", i, ", '", contents[i], "')"));
  }
  for (const char* q : {"egg", "yolk shell", "grouse feather wing", "the egg of a hen"}) {
    const std::vector<std::string> terms = KeywordIndex::QueryTerms(q);
    ScoreMap ours = Scored(index, terms, 1);
    sqlite3_stmt* stmt = nullptr;
    const std::string sql = absl::StrCat("SELECT rowid, -bm25(docs) FROM docs WHERE docs MATCH '",
                                         absl::StrJoin(terms, " OR "), "'");
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    size_t rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      ++rows;
      const auto rowid = static_cast<uint32_t>(sqlite3_column_int64(stmt, 0));
      const double theirs = sqlite3_column_double(stmt, 1);
      ASSERT_TRUE(ours.contains(rowid)) << q << " row " << rowid;
      EXPECT_NEAR(ours[rowid].bm25, theirs, 1e-9 * std::max(1.0, std::abs(theirs))) << q << " row " << rowid;
    }
    sqlite3_finalize(stmt);
    EXPECT_EQ(rows, ours.size()) << q;
  }
  sqlite3_close(db);
}

// Random documents across several of Score's windows of documents (with updates and deletes, so
// retired versions sit among live ones), queried at several sequences: every visible match is
// found once, with the score a direct computation of BM25 gives, and Lookup finds what Score found.
TEST(KeywordIndexTest, ManyDocumentsWithUpdatesScoreAsComputedDirectly) {
  std::mt19937 rng(7);
  std::vector<std::string> vocabulary;
  for (int w = 0; w < 400; ++w) vocabulary.push_back(absl::StrCat("w", w));
  // Word w is drawn with weight 1/(w+1): a few words are in most documents, most are rare.
  std::vector<double> weights;
  for (int w = 0; w < 400; ++w) weights.push_back(1.0 / (w + 1));
  std::discrete_distribution<int> word(weights.begin(), weights.end());
  struct Version {
    uint32_t concept_number;
    std::vector<std::string> tokens;
    uint64_t born, dead = UINT64_MAX;
  };
  std::vector<Version> docs;  // by document number
  std::map<uint32_t, uint32_t> current;  // concept -> its live document
  KeywordIndex index;
  uint64_t seq = 0;
  auto add = [&](uint32_t concept_number) {
    ++seq;
    if (auto it = current.find(concept_number); it != current.end()) {
      index.Retire(it->second, seq);
      docs[it->second].dead = seq;
    }
    Version v{concept_number, {}, seq};
    const int n = 2 + static_cast<int>(rng() % 7);
    for (int i = 0; i < n; ++i) v.tokens.push_back(vocabulary[static_cast<size_t>(word(rng))]);
    const std::string text = absl::StrJoin(v.tokens, " ");
    const uint32_t doc = index.Add(concept_number, {text}, seq);
    ASSERT_EQ(doc, docs.size());
    current[concept_number] = doc;
    docs.push_back(std::move(v));
  };
  for (uint32_t c = 0; c < 30000; ++c) add(c);
  const uint64_t before_updates = seq;
  for (int i = 0; i < 12000; ++i) add(static_cast<uint32_t>(rng() % 30000));
  for (int i = 0; i < 2000; ++i) {  // deletes
    const uint32_t c = static_cast<uint32_t>(rng() % 30000);
    auto it = current.find(c);
    if (it == current.end()) continue;
    index.Retire(it->second, ++seq);
    docs[it->second].dead = seq;
    current.erase(it);
  }
  ASSERT_GT(docs.size(), 2u * (1u << 14));  // three of Score's windows of 2^14 documents

  // N and the mean length are the live documents' (the writer's numbers), n(t) the visible ones'.
  double live = 0, live_tokens = 0;
  for (const Version& v : docs) {
    if (v.dead == UINT64_MAX) {
      live += 1;
      live_tokens += static_cast<double>(v.tokens.size());
    }
  }
  const double avgdl = live_tokens / live;
  // The same index through the derived-state file: the retired documents' marks come back.
  const std::unique_ptr<KeywordIndex> decoded_index = ThroughDerivedState(index, seq);
  ASSERT_NE(decoded_index, nullptr);
  const KeywordIndex& decoded = *decoded_index;
  for (uint64_t at : {before_updates / 3, before_updates + 5000, seq}) {
    for (int q = 0; q < 12; ++q) {
      std::vector<std::string> terms;
      const int n = 1 + static_cast<int>(rng() % 5);
      for (int i = 0; i < n; ++i) terms.push_back(vocabulary[static_cast<size_t>(word(rng))]);
      if (q == 0) terms.push_back("absent");
      terms = KeywordIndex::QueryTerms(absl::StrJoin(terms, " "));
      std::vector<double> idf;
      double want_query_idf = 0;
      for (const std::string& t : terms) {
        double holders = 0;
        for (const Version& v : docs) {
          if (v.born <= at && v.dead > at && std::count(v.tokens.begin(), v.tokens.end(), t) > 0) {
            holders += 1;
          }
        }
        holders = std::max(holders, 1.0);
        idf.push_back(std::max(1e-6, std::log((live - holders + 0.5) / (holders + 0.5))));
        want_query_idf += idf.back();
      }
      ScoreMap want;
      for (const Version& v : docs) {
        if (v.born > at || v.dead <= at) continue;
        for (size_t i = 0; i < terms.size(); ++i) {
          const double tf = static_cast<double>(std::count(v.tokens.begin(), v.tokens.end(), terms[i]));
          if (tf == 0) continue;
          const double x = tf / (1 - KeywordIndex::kB + KeywordIndex::kB * v.tokens.size() / avgdl);
          KeywordIndex::Match& m = want[v.concept_number];
          m.bm25 += idf[i] * x * (KeywordIndex::kK1 + 1) / (x + KeywordIndex::kK1);
          m.matched_idf += idf[i];
        }
      }
      double query_idf = 0;
      const std::string label = absl::StrCat(absl::StrJoin(terms, " "), " at ", at);
      const ScoreMap got = Scored(index, terms, at, &query_idf);
      EXPECT_NEAR(query_idf, want_query_idf, 1e-9 * want_query_idf) << label;
      EXPECT_EQ(Scored(decoded, terms, at), got) << label << " (decoded)";
      ASSERT_EQ(got.size(), want.size()) << label;
      for (const auto& [number, m] : want) {
        auto it = got.find(number);
        ASSERT_TRUE(it != got.end()) << label << ": concept " << number << " missing";
        EXPECT_NEAR(it->second.bm25, m.bm25, 1e-9 * m.bm25) << label << ": concept " << number;
        EXPECT_NEAR(it->second.matched_idf, m.matched_idf, 1e-9 * m.matched_idf) << label;
      }
      // The best k, pruned (MaxScore), are the first k of every match in (score, concept) order,
      // with the very same scores; with a filter, the first k that pass it.
      std::vector<KeywordIndex::Scored> all;
      for (const auto& [number, m] : got) all.push_back({number, m});
      std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) {
        return x.match.bm25 > y.match.bm25 ||
               (x.match.bm25 == y.match.bm25 && x.concept_number < y.concept_number);
      });
      const KeywordIndex::Query query = index.Prepare(terms, at);
      for (size_t k : {size_t{1}, size_t{10}, size_t{100}}) {
        for (bool odd_only : {false, true}) {
          std::vector<KeywordIndex::Scored> expected;
          for (const KeywordIndex::Scored& e : all) {
            if (expected.size() < k && (!odd_only || e.concept_number % 2 == 1)) {
              expected.push_back(e);
            }
          }
          size_t asked = 0;
          const std::vector<KeywordIndex::Scored> best =
              index.Best(query, k, [&](uint32_t number) {
                ++asked;
                return !odd_only || number % 2 == 1;
              });
          // And the same from the decoded index, whose bounds were rebuilt from the file.
          const std::vector<KeywordIndex::Scored> decoded_best = decoded.Best(
              decoded.Prepare(terms, at), k,
              [&](uint32_t number) { return !odd_only || number % 2 == 1; });
          for (const auto* list : {&best, &decoded_best}) {
            ASSERT_EQ(list->size(), expected.size()) << label << " k " << k << " odd " << odd_only;
            for (size_t i = 0; i < list->size(); ++i) {
              EXPECT_EQ((*list)[i].concept_number, expected[i].concept_number) << label << " #" << i;
              EXPECT_EQ((*list)[i].match.bm25, expected[i].match.bm25) << label << " #" << i;
              EXPECT_EQ((*list)[i].match.matched_idf, expected[i].match.matched_idf) << label;
            }
          }
          // `accept` is asked only about documents that would enter the best k.
          if (k == 10 && !odd_only && all.size() > 2000) {
            EXPECT_LT(asked, all.size() / 4) << label;
          }
        }
      }
      // MatchOf: a concept's visible text gives exactly the match Best found, or none.
      // The best hold the most words, whose shares are added in the query's order.
      std::vector<uint32_t> asked = {29999, 0, 12345};
      for (size_t i = 0; i < all.size() && i < 20; ++i) asked.push_back(all[i].concept_number);
      for (auto it = want.begin(); it != want.end() && asked.size() < 30; ++it) {
        asked.push_back(it->first);
      }
      for (uint32_t number : asked) {
        const Version* visible = nullptr;
        for (const Version& v : docs) {
          if (v.concept_number == number && v.born <= at && v.dead > at) visible = &v;
        }
        if (visible == nullptr) continue;
        const std::string text = absl::StrJoin(visible->tokens, " ");
        const KeywordIndex::Match m = index.MatchOf(query, {text});
        auto it = got.find(number);
        EXPECT_EQ(m.bm25, it == got.end() ? 0.0 : it->second.bm25) << label << ": " << number;
        EXPECT_EQ(m.matched_idf, it == got.end() ? 0.0 : it->second.matched_idf) << label;
      }
    }
  }
}

}  // namespace
}  // namespace engram::storage

namespace engram::storage {
namespace {

// A content's names (the "names: text" form) are looked up exactly, at a sequence, and count in
// no score: "horse, Equus caballus: ..." is found by "horse" although a hundred shorter contents
// mention horses.
TEST(KeywordIndexTest, NamedListsTheVisibleConceptsOfOneName) {
  KeywordIndex index;
  const uint32_t animal = index.Add(1, {"horse, Equus caballus: a solid-hoofed quadruped"}, 5);
  index.Add(2, {"knight, horse: a chessman shaped like a horse's head"}, 5);
  index.Add(3, {"horse cart: a cart drawn by a horse"}, 5);  // mentions horse, is not named so
  index.Add(4, {"Horse manure is a fertilizer"}, 5);         // a sentence: no indexed name
  EXPECT_THAT(index.Named("horse", 5), ElementsAre(1, 2));
  EXPECT_THAT(index.Named("equus caballus", 5), ElementsAre(1));
  EXPECT_THAT(index.Named("horse cart", 5), ElementsAre(3));
  EXPECT_THAT(index.Named("horse", 4), IsEmpty());
  EXPECT_THAT(index.Named("horse manure is a fertilizer", 5), IsEmpty());
  // The names weigh nothing: the same contents without names score exactly the same.
  KeywordIndex plain;
  plain.Add(1, {"horse Equus caballus a solid-hoofed quadruped"}, 5);
  plain.Add(2, {"knight horse a chessman shaped like a horse's head"}, 5);
  plain.Add(3, {"horse cart a cart drawn by a horse"}, 5);
  plain.Add(4, {"Horse manure is a fertilizer"}, 5);
  const ScoreMap named = Scored(index, {"horse"}, 5);
  const ScoreMap unnamed = Scored(plain, {"horse"}, 5);
  ASSERT_EQ(named.size(), 4u);
  ASSERT_EQ(unnamed.size(), 4u);
  for (const auto& [number, match] : named) {
    EXPECT_EQ(match.bm25, unnamed.at(number).bm25) << number;
    EXPECT_EQ(match.matched_idf, unnamed.at(number).matched_idf) << number;
  }
  EXPECT_THAT(Scored(index, {"\x01horse"}, 5), IsEmpty());  // a name is not a query word

  // Renamed at 9: the old version keeps its name before 9 only.
  index.Retire(animal, 9);
  index.Add(1, {"steed: a horse"}, 9);
  EXPECT_THAT(index.Named("horse", 8), ElementsAre(1, 2));
  EXPECT_THAT(index.Named("horse", 9), ElementsAre(2));
  EXPECT_THAT(index.Named("steed", 9), ElementsAre(1));

  // And they survive the derived-state file.
  const std::unique_ptr<KeywordIndex> decoded = ThroughDerivedState(index, 9);
  ASSERT_NE(decoded, nullptr);
  EXPECT_THAT(decoded->Named("horse", 8), ElementsAre(1, 2));
  EXPECT_THAT(decoded->Named("horse", 9), ElementsAre(2));
  EXPECT_THAT(decoded->Named("steed", 9), ElementsAre(1));
}

}  // namespace
}  // namespace engram::storage
