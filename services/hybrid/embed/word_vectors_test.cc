#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/hybrid/embed/word_vectors_embedder.h"
#include "services/hybrid/embed/word_vectors_file.h"

namespace engram::hybrid {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A tiny vocabulary, most frequent first, with related words pointing the same way.
struct WordRow {
  const char* word;
  float v[4];
};
constexpr WordRow kVocabulary[] = {
    {"the", {0.2f, 0.2f, 0.2f, 0.2f}},    {"a", {0.2f, 0.1f, 0.2f, 0.2f}},
    {"car", {1.0f, 0.0f, 0.0f, 0.1f}},    {"automobile", {0.9f, 0.1f, 0.0f, 0.1f}},
    {"fast", {0.0f, 1.0f, 0.0f, 0.0f}},   {"quick", {0.1f, 0.9f, 0.0f, 0.0f}},
    {"banana", {0.0f, 0.0f, 1.0f, 0.0f}}, {"ripe", {0.0f, 0.1f, 0.9f, 0.1f}},
    {"cart", {0.8f, 0.0f, 0.2f, 0.1f}},   {"Paris", {0.0f, 0.0f, 0.1f, 1.0f}},
};
constexpr int kDim = 4;
constexpr size_t kWords = sizeof(kVocabulary) / sizeof(kVocabulary[0]);

class WordVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("wv_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                        getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  static std::string TextVectors(bool header) {
    std::string out = header ? absl::StrCat(kWords, " ", kDim, "\n") : "";
    for (const WordRow& row : kVocabulary) {
      absl::StrAppend(&out, row.word);
      for (float x : row.v) absl::StrAppend(&out, " ", x);
      out += "\n";
    }
    return out;
  }

  static std::string BinaryVectors(size_t declared = kWords, size_t written = kWords) {
    std::string out = absl::StrCat(declared, " ", kDim, "\n");
    for (size_t i = 0; i < written; ++i) {
      absl::StrAppend(&out, kVocabulary[i].word, " ");
      out.append(reinterpret_cast<const char*>(kVocabulary[i].v), sizeof(kVocabulary[i].v));
      out += "\n";
    }
    return out;
  }

  static void ExpectVocabulary(const WordVectorTable& table) {
    ASSERT_EQ(table.dimension(), kDim);
    ASSERT_EQ(table.size(), kWords);
    for (size_t i = 0; i < kWords; ++i) {
      EXPECT_EQ(table.word(i), kVocabulary[i].word);
      EXPECT_EQ(table.Find(kVocabulary[i].word), static_cast<int64_t>(i));
      for (int d = 0; d < kDim; ++d) EXPECT_EQ(table.vector(i)[d], kVocabulary[i].v[d]);
    }
    EXPECT_EQ(table.Find("missing"), -1);
    EXPECT_GT(table.MemoryBytes(), kWords * kDim * sizeof(float));
  }

  fs::path dir_;
};

TEST_F(WordVectorsTest, GloveTextWithoutHeader) {
  auto table = ReadTextWordVectors(Write("glove.txt", TextVectors(false)));
  ASSERT_TRUE(table.ok()) << table.status();
  ExpectVocabulary(*table);
}

TEST_F(WordVectorsTest, Word2VecTextWithHeaderAndCrlf) {
  std::string text = TextVectors(true);
  std::string crlf;
  for (char c : text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto table = ReadTextWordVectors(Write("w2v.txt", crlf));
  ASSERT_TRUE(table.ok()) << table.status();
  ExpectVocabulary(*table);
}

TEST_F(WordVectorsTest, FastTextVec) {
  // fastText writes a header and a trailing space after the last value.
  std::string text = absl::StrCat(kWords, " ", kDim, "\n");
  for (const WordRow& row : kVocabulary) {
    absl::StrAppend(&text, row.word);
    for (float x : row.v) absl::StrAppend(&text, " ", x);
    text += " \n";
  }
  auto table = ReadTextWordVectors(Write("cc.en.vec", text));
  ASSERT_TRUE(table.ok()) << table.status();
  ExpectVocabulary(*table);
}

TEST_F(WordVectorsTest, Word2VecBinary) {
  auto table = ReadBinaryWordVectors(Write("w2v.bin", BinaryVectors()));
  ASSERT_TRUE(table.ok()) << table.status();
  ExpectVocabulary(*table);
}

// Found by word_vectors_fuzz: the word index held views into a std::string arena, which for a
// small vocabulary (< 16 bytes of words) lives inside the table object, so the views dangled once
// the table was returned by value or moved (stack-use-after-return under ASan, wrong lookups
// otherwise). Every word of a small table must be found after the table moved twice. Reading the
// dead frame is certain to fail only under ASan (scripts/asan.sh, detect_stack_use_after_return),
// which runs this test in the README's test command.
TEST_F(WordVectorsTest, ASmallTableFindsItsWordsAfterBeingMoved) {
  std::string binary = "2 2\n";
  for (const char* word : {"dog", "cat"}) {
    const float v[2] = {1.0f, 2.0f};
    absl::StrAppend(&binary, word, " ");
    binary.append(reinterpret_cast<const char*>(v), sizeof(v));
    binary += "\n";
  }
  for (bool text : {false, true}) {
    absl::StatusOr<WordVectorTable> read =
        text ? ReadTextWordVectors(Write("small.txt", "dog 1 2\ncat 3 4\n"))
             : ReadBinaryWordVectors(Write("small.bin", binary));
    ASSERT_TRUE(read.ok()) << read.status();
    auto moved = std::make_unique<WordVectorTable>(std::move(*read));
    read = absl::InternalError("overwritten");  // the table it came from is gone
    WordVectorTable again = std::move(*moved);
    moved.reset();
    EXPECT_EQ(again.Find("dog"), 0) << text;
    EXPECT_EQ(again.Find("cat"), 1) << text;
    EXPECT_EQ(again.Find("cow"), -1) << text;
    EXPECT_EQ(again.word(1), "cat") << text;
  }
}

TEST_F(WordVectorsTest, MaxWordsKeepsTheMostFrequent) {
  auto text = ReadTextWordVectors(Write("v.txt", TextVectors(true)), 3);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->size(), 3u);
  auto binary = ReadBinaryWordVectors(Write("v.bin", BinaryVectors()), 3);
  ASSERT_TRUE(binary.ok()) << binary.status();
  EXPECT_EQ(binary->size(), 3u);
  EXPECT_EQ(binary->word(2), "car");
}

TEST_F(WordVectorsTest, WordsWithSpacesAndDuplicates) {
  auto table = ReadTextWordVectors(Write("v.txt", "new york 1 2 3\nnew york 4 5 6\ncity 0 0 1\n"));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->dimension(), 3);
  EXPECT_EQ(table->Find("new york"), 0);
  EXPECT_EQ(table->duplicate_words(), 1u);
  EXPECT_EQ(table->vector(0)[0], 1.0f);  // the first vector wins
}

struct MalformedCase {
  const char* name;
  const char* content;
  const char* expected;  // substring of the error message
};

TEST_F(WordVectorsTest, MalformedTextFilesNameFileAndLine) {
  const MalformedCase cases[] = {
      {"too_few_values", "cat 1 2 3\ndog 1 2 3\nbird 1 2\n", "bad.txt:3: expected a word and 3"},
      {"not_a_number", "cat 1 2 3\ndog 1 2 3\nbird 1 x 3\n", "bad.txt:3: value 2 \"x\""},
      {"nan", "cat 1 2 3\ndog 1 2 3\nbird 1 nan 3\n", "bad.txt:3: value 2"},
      {"inf", "cat 1 2 3\ndog inf 2 3\n", "bad.txt:2: value 1"},
      {"too_many_values", "cat 1 2 3\ndog 1 2 3 4\n", "bad.txt:2: expected 3 values, found 4"},
      {"header_count_mismatch", "3 2\ncat 1 2\ndog 1 2\n", "bad.txt:1: header declares 3 words"},
      {"header_dimension_mismatch", "2 3\ncat 1 2\n", "bad.txt:2: expected a word and 3"},
      {"zero_dimension_header", "2 0\n", "bad.txt:1: header dimension"},
      {"single_field", "cat\n", "bad.txt:1: expected"},
      {"empty", "", "no word vectors"},
      {"blank_only", "\n\n  \n", "no word vectors"},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto table = ReadTextWordVectors(Write("bad.txt", c.content));
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(table.status().message(), HasSubstr(c.expected));
  }
}

TEST_F(WordVectorsTest, MalformedBinaryFilesNameEntryAndOffset) {
  // Truncated in the middle of the second vector.
  std::string truncated = BinaryVectors();
  truncated.resize(std::string(absl::StrCat(kWords, " ", kDim, "\n")).size() + 4 + 16 + 1 + 6);
  auto t1 = ReadBinaryWordVectors(Write("bad.bin", truncated));
  ASSERT_FALSE(t1.ok());
  EXPECT_THAT(t1.status().message(), HasSubstr("bad.bin: entry 2 (byte offset"));
  EXPECT_THAT(t1.status().message(), HasSubstr("unexpected end of file"));

  // Header promises more words than the file has.
  auto t2 = ReadBinaryWordVectors(Write("bad.bin", BinaryVectors(kWords + 1)));
  ASSERT_FALSE(t2.ok());
  EXPECT_THAT(t2.status().message(), HasSubstr(absl::StrCat("entry ", kWords + 1)));

  // A header claiming millions of words in a tiny file is an error, not gigabytes reserved up
  // front (found by word_vectors_fuzz: "18888888 52" reserved 3.5 GB; its input is the seed
  // regression-oom-header-count, which fails under libFuzzer's malloc limit without the fix).
  for (const char* header : {"18888888 52\n", "16777216 4096\n"}) {
    auto big = ReadBinaryWordVectors(Write("bad.bin", std::string(header) + "w "));
    ASSERT_FALSE(big.ok()) << header;
    EXPECT_THAT(big.status().message(), HasSubstr("entry 1")) << header;
    auto big_text = ReadTextWordVectors(Write("bad.txt", std::string(header) + "w 1\n"));
    ASSERT_FALSE(big_text.ok()) << header;
  }

  // Not a header.
  auto t3 = ReadBinaryWordVectors(Write("bad.bin", "hello world\n"));
  ASSERT_FALSE(t3.ok());
  EXPECT_THAT(t3.status().message(), HasSubstr("bad.bin:1: expected a \"count dim\" header"));

  // A NaN value.
  std::string nan = "1 2\nx ";
  const float values[2] = {1.0f, std::nanf("")};
  nan.append(reinterpret_cast<const char*>(values), sizeof(values));
  auto t4 = ReadBinaryWordVectors(Write("bad.bin", nan));
  ASSERT_FALSE(t4.ok());
  EXPECT_THAT(t4.status().message(), HasSubstr("value 2 of \"x\" is not finite"));

  EXPECT_EQ(ReadBinaryWordVectors((dir_ / "missing.bin").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(WordVectorsTest, GarbageNeverCrashes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(rng() % 512, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (i % 2 == 0) bytes = absl::StrCat(rng() % 5, " ", rng() % 5, "\n", bytes);
    (void)ReadTextWordVectors(Write("g.txt", bytes)).ok();
    (void)ReadBinaryWordVectors(Write("g.bin", bytes)).ok();
  }
}

TEST_F(WordVectorsTest, FrequencyFile) {
  auto ok = ReadWordFrequencies(Write("f.txt", "# comment\nthe 1000\n\ncar 10\n"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("the"), 1000u);
  auto bad = ReadWordFrequencies(Write("f.txt", "the 1000\ncar ten\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("f.txt:2:"));
  auto twice = ReadWordFrequencies(Write("f.txt", "the 1\nthe 2\n"));
  EXPECT_THAT(twice.status().message(), HasSubstr("f.txt:2: word \"the\" appears twice"));
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

std::vector<float> EmbedOrDie(const Embedder& e, std::string_view text) {
  auto v = e.Embed(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

TEST_F(WordVectorsTest, EmbedderLoadsEachFormatFromAModelDirectory) {
  WordVectorsOptions options;
  options.remove_common_component = false;
  const struct {
    const char* file;
    std::string content;
    const char* format;
  } formats[] = {{"glove/vectors.txt", TextVectors(false), "text"},
                 {"w2v-text/vectors.txt", TextVectors(true), "text"},
                 {"fasttext/vectors.vec", TextVectors(true), "text"},
                 {"w2v-bin/vectors.bin", BinaryVectors(), "binary"}};
  std::vector<std::vector<float>> results;
  for (const auto& f : formats) {
    SCOPED_TRACE(f.file);
    const std::string path = Write(f.file, f.content);
    auto embedder = WordVectorsEmbedder::Load("word-vectors/m", fs::path(path).parent_path());
    ASSERT_TRUE(embedder.ok()) << embedder.status();
    EXPECT_EQ((*embedder)->name(), "word-vectors/m");
    EXPECT_EQ((*embedder)->dimension(), kDim);
    EXPECT_EQ((*embedder)->load_stats().words, kWords);
    EXPECT_EQ((*embedder)->load_stats().format, f.format);
    EXPECT_GT((*embedder)->load_stats().memory_bytes, 0u);
    results.push_back(EmbedOrDie(**embedder, "a fast car"));
  }
  // Every format gives the same model, hence the same vectors.
  for (const auto& r : results) EXPECT_EQ(r, results[0]);
}

TEST_F(WordVectorsTest, SifSentenceVectorsRankParaphrasesFirst) {
  Write("m/vectors.txt", TextVectors(false));
  WordVectorsOptions options;
  options.remove_common_component = false;
  auto e = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string(), options);
  ASSERT_TRUE(e.ok()) << e.status();
  const auto a = EmbedOrDie(**e, "a fast car");
  EXPECT_GT(Cosine(a, EmbedOrDie(**e, "The quick automobile")),
            Cosine(a, EmbedOrDie(**e, "a ripe banana")) + 0.5);
  // Unit length.
  double n2 = 0;
  for (float x : a) n2 += x * x;
  EXPECT_NEAR(n2, 1.0, 1e-5);
  // Zipf weights: the first (most frequent) word weighs least.
  EXPECT_LT(*(*e)->SifWeight("the"), *(*e)->SifWeight("ripe"));
  EXPECT_FALSE((*e)->SifWeight("unknown").has_value());
  // Case fallback: "PARIS" is not in the vocabulary, "Paris" is; "CAR" falls back to "car".
  EXPECT_EQ(EmbedOrDie(**e, "CAR"), EmbedOrDie(**e, "car"));
  // Nothing known and no subword match: zero vector.
  for (float x : EmbedOrDie(**e, "")) EXPECT_EQ(x, 0.0f);
}

TEST_F(WordVectorsTest, FrequencyFileDrivesSifWeights) {
  Write("m/vectors.txt", TextVectors(false));
  Write("m/frequencies.txt", "the 10\nbanana 100000\n");
  auto e = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE((*e)->load_stats().frequencies_from_file);
  EXPECT_GT(*(*e)->SifWeight("the"), *(*e)->SifWeight("banana"));
}

TEST_F(WordVectorsTest, OutOfVocabularyWordsUseSubwordHashing) {
  Write("m/vectors.txt", TextVectors(false));
  WordVectorsOptions options;
  options.remove_common_component = false;
  options.oov_buckets = 4096;
  auto e = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string(), options);
  ASSERT_TRUE(e.ok()) << e.status();
  const auto cars = EmbedOrDie(**e, "cars");  // OOV, shares "<ca", "car", "<car" with car/cart
  EXPECT_GT(Cosine(cars, EmbedOrDie(**e, "car")), Cosine(cars, EmbedOrDie(**e, "banana")) + 0.3);
  EXPECT_EQ(cars, EmbedOrDie(**e, "cars"));  // deterministic

  options.oov_buckets = 0;  // disabled: OOV words contribute nothing
  auto off = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string(), options);
  ASSERT_TRUE(off.ok());
  for (float x : EmbedOrDie(**off, "cars")) EXPECT_EQ(x, 0.0f);
}

TEST_F(WordVectorsTest, CommonComponentIsRemoved) {
  Write("m/vectors.txt", TextVectors(false));
  auto e = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string());
  ASSERT_TRUE(e.ok()) << e.status();
  const absl::Span<const float> u = (*e)->common_component();
  ASSERT_EQ(u.size(), static_cast<size_t>(kDim));
  double n2 = 0;
  for (float x : u) n2 += x * x;
  EXPECT_NEAR(n2, 1.0, 1e-5);
  const auto v = EmbedOrDie(**e, "the fast car and a ripe banana");
  double dot = 0;
  for (int i = 0; i < kDim; ++i) dot += u[i] * v[i];
  EXPECT_NEAR(dot, 0.0, 1e-5);
  EXPECT_FALSE((*e)->load_stats().common_component_from_file);

  // A stored component is used as given (normalised).
  Write("m/common_component.txt", "0 0 0 2\n");
  auto stored = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE((*stored)->load_stats().common_component_from_file);
  EXPECT_THAT((*stored)->common_component(), ::testing::ElementsAre(0, 0, 0, 1));
  EXPECT_EQ(EmbedOrDie(**stored, "Paris")[3], 0.0f);

  Write("m/common_component.txt", "0 0 1\n");
  auto bad = WordVectorsEmbedder::Load("word-vectors/m", (dir_ / "m").string());
  EXPECT_THAT(bad.status().message(), HasSubstr("expected 4 values, found 3"));
}

TEST_F(WordVectorsTest, ModelDirectoryErrors) {
  auto missing = WordVectorsEmbedder::Load("word-vectors/x", (dir_ / "nope").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  fs::create_directories(dir_ / "empty");
  auto empty = WordVectorsEmbedder::Load("word-vectors/x", (dir_ / "empty").string());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(empty.status().message(), HasSubstr("vectors.bin, vectors.vec or vectors.txt"));

  Write("two/vectors.txt", TextVectors(false));
  Write("two/vectors.bin", BinaryVectors());
  auto two = WordVectorsEmbedder::Load("word-vectors/x", (dir_ / "two").string());
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(two.status().message(), HasSubstr("several vectors files"));

  Write("broken/vectors.txt", "cat 1 2\ndog 1\n");
  auto broken = WordVectorsEmbedder::Load("word-vectors/x", (dir_ / "broken").string());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broken.status().message(), HasSubstr("broken/vectors.txt:2:"));
}

}  // namespace
}  // namespace engram::hybrid
