#include "storage-server/engine/keyword_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/text/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

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
  KeywordIndex::Scores scores = index.Score(query, 1);
  ASSERT_EQ(scores.size(), 4u);  // docs 0, 1, 2, 5
  for (const auto& [number, score] : scores) {
    EXPECT_NEAR(score.bm25, Bm25(query, corpus[number], corpus), 1e-9) << contents[number];
  }
  EXPECT_FALSE(scores.contains(3));
  EXPECT_EQ(index.live_documents(), contents.size());
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
    KeywordIndex::Scores scores = index.Score(terms, 1);
    for (uint32_t d = 0; d < docs.size(); ++d) {
      const double want = expected(terms, d);
      if (want == 0) {
        EXPECT_FALSE(scores.contains(d)) << q << " doc " << d;
        continue;
      }
      ASSERT_TRUE(scores.contains(d)) << q << " doc " << d;
      EXPECT_NEAR(scores[d].bm25, want, 1e-9) << q << " doc " << d;
    }
  }
  // The word as a whole lemma beats the word inside compound lemmas, which content alone does not.
  KeywordIndex::Scores bank = index.Score({"bank"}, 1);
  EXPECT_GT(bank[0].bm25, bank[1].bm25);
  KeywordIndex content_only;
  for (uint32_t i = 0; i < docs.size(); ++i) content_only.Add(i, {docs[i].content}, 1);
  KeywordIndex::Scores plain = content_only.Score({"bank"}, 1);
  EXPECT_LT(plain[0].bm25, plain[1].bm25);

  // Retiring a document takes its attribute tokens out of the field's mean length too.
  index.Retire(1, 2);
  EXPECT_EQ(index.live_documents(), docs.size() - 1);
  KeywordIndex::Scores after = index.Score({"bank"}, 2);
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
  KeywordIndex::Scores scores = index.Score({"owl"}, 1);
  ASSERT_EQ(scores.size(), 2u);
  // Document 0: x = 8 (b = 0 for the attributes, length = mean for the content); document 1: the
  // content only, twice the mean length.
  EXPECT_GT(scores[0].bm25, scores[1].bm25);
  index.Add(2, texts, 2);  // a second group of 8 after the first block
  EXPECT_EQ(index.Score({"owl"}, 2).size(), 3u);
}

// matched_idf / query_idf: the share of the query's word weight a document holds.
TEST(KeywordIndexTest, MatchedIdfIsTheShareOfTheQuerysWordWeight) {
  KeywordIndex index;
  index.Add(0, {"a ptarmigan is a grouse"}, 1);
  index.Add(1, {"a hen is a bird"}, 1);
  index.Add(2, {"a duck is a bird"}, 1);
  index.Add(3, {"a goose"}, 1);
  double query_idf = 0;
  KeywordIndex::Scores s = index.Score(KeywordIndex::QueryTerms("ptarmigan bird"), 1, &query_idf);
  const double idf_ptarmigan = std::log((4 - 1 + 0.5) / 1.5), idf_bird = 1e-6;  // 2 of 4: log(1) = 0
  EXPECT_NEAR(query_idf, idf_ptarmigan + idf_bird, 1e-12);
  EXPECT_NEAR(s[0].matched_idf / query_idf, idf_ptarmigan / (idf_ptarmigan + idf_bird), 1e-12);
  EXPECT_NEAR(s[1].matched_idf / query_idf, idf_bird / query_idf, 1e-12);
  // A word no document holds weighs as a word one document holds, and nothing matches it.
  s = index.Score(KeywordIndex::QueryTerms("ptarmigan zzz"), 1, &query_idf);
  EXPECT_NEAR(query_idf, 2 * idf_ptarmigan, 1e-12);
  EXPECT_NEAR(s[0].matched_idf / query_idf, 0.5, 1e-12);
}

TEST(KeywordIndexTest, DocumentsAreVisibleFromBirthUntilRetired) {
  KeywordIndex index;
  const uint32_t first = index.Add(7, {"red apple"}, /*born=*/5);
  EXPECT_THAT(index.Score({"apple"}, 4), IsEmpty());
  EXPECT_THAT(index.Score({"apple"}, 5), UnorderedElementsAre(Pair(7, testing::Field(&KeywordIndex::Match::bm25, testing::Gt(0)))));
  // An update at 8: the old version is visible before 8, the new one from 8 on.
  index.Retire(first, 8);
  index.Add(7, {"green pear"}, 8);
  EXPECT_THAT(index.Score({"apple"}, 7), UnorderedElementsAre(Pair(7, testing::Field(&KeywordIndex::Match::bm25, testing::Gt(0)))));
  EXPECT_THAT(index.Score({"pear"}, 7), IsEmpty());
  EXPECT_THAT(index.Score({"apple"}, 8), IsEmpty());
  EXPECT_THAT(index.Score({"pear"}, 8), UnorderedElementsAre(Pair(7, testing::Field(&KeywordIndex::Match::bm25, testing::Gt(0)))));
  EXPECT_EQ(index.live_documents(), 1u);
  EXPECT_THAT(index.Score({"unknown"}, 100), IsEmpty());
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
        const size_t seen = index.Score({"common"}, seq).size();
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
  EXPECT_EQ(index.Score({"common"}, kDocs).size(), kDocs);
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
    KeywordIndex::Scores ours = index.Score(terms, 1);
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

}  // namespace
}  // namespace engram::storage
