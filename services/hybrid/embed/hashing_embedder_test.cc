#include "services/hybrid/embed/hashing_embedder.h"

#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "xxhash.h"

namespace engram::hybrid {
namespace {

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

std::string Hex(const std::vector<float>& v) {
  std::string out;
  const auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
  char buf[3];
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", bytes[i]);
    out += buf;
  }
  return out;
}

std::unique_ptr<HashingEmbedder> Make(int dimension = HashingEmbedder::kDefaultDimension) {
  auto e = HashingEmbedder::Create(dimension);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

std::vector<float> EmbedOrDie(const Embedder& e, std::string_view text) {
  auto v = e.Embed(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

// Runs the helper binary (a separate process) with `args` and returns its stdout.
std::string RunHelper(const std::vector<std::string>& args, const char* locale_env) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(ENGRAM_HASHING_EMBED_PRINT));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::string lc = std::string("LC_ALL=") + locale_env;
    char* envp[] = {lc.data(), nullptr};
    execve(argv[0], argv.data(), envp);
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "helper failed: " << status;
  return out;
}

TEST(HashingEmbedderTest, ShapeAndNorm) {
  auto e = Make();
  EXPECT_EQ(e->name(), "hashing");
  EXPECT_EQ(e->dimension(), 384);
  const std::vector<float> v = EmbedOrDie(*e, "A dog is a mammal.");
  ASSERT_EQ(v.size(), 384u);
  double n2 = 0;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    n2 += static_cast<double>(x) * x;
  }
  EXPECT_NEAR(n2, 1.0, 1e-5);
}

TEST(HashingEmbedderTest, TextWithoutFeaturesIsTheZeroVector) {
  auto e = Make();
  for (const char* text : {"", "   ", "?!...", "\xFF\xFE"}) {
    const std::vector<float> v = EmbedOrDie(*e, text);
    ASSERT_EQ(v.size(), 384u);
    for (float x : v) ASSERT_EQ(x, 0.0f) << text;
  }
}

TEST(HashingEmbedderTest, RejectsBadDimension) {
  EXPECT_EQ(HashingEmbedder::Create(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashingEmbedder::Create(5000).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HashingEmbedder::Create(16).ok());
}

TEST(HashingEmbedderTest, CaseAndPunctuationInsensitive) {
  auto e = Make();
  EXPECT_EQ(EmbedOrDie(*e, "The Dog barks!"), EmbedOrDie(*e, "the dog barks"));
}

TEST(HashingEmbedderTest, XxHashIsTheSpecifiedFunction) {
  // Published XXH64 test vector: the empty input with seed 0.
  EXPECT_EQ(XXH64("", 0, 0), 0xEF46DB3751D8E999ULL);
  // The pinned seed must never change.
  EXPECT_EQ(HashingEmbedder::kHashSeed, 0x656e6772616d3031ULL);
}

// Golden values: these pin the algorithm (tokenizer, features, weights, hash, seed, arithmetic).
// If this test fails, stored vectors of every "hashing" namespace would silently stop matching
// new queries: do not update the constants, give the changed algorithm a new embedder name.
TEST(HashingEmbedderTest, GoldenValues) {
  auto e = Make();
  struct Golden {
    const char* text;
    uint64_t vector_hash;  // XXH64 (seed 0) of the little-endian float32 bytes
    int index;
    float value;
  };
  const Golden goldens[] = {
      {"The quick brown fox jumps over the lazy dog.", 0xae02f0ebca18878eULL, 1, -0x1.2f8fbap-4f},
      {"Smoking causes lung cancer", 0xc64268f16a35dc23ULL, 0, -0x1.235f8p-4f},
      {"\xC3\x89"
       "cole normale sup\xC3\xA9rieure, Paris",
       0x4b441fb3755d29c8ULL, 3, -0x1.fbbc2cp-5f},
  };
  for (const Golden& g : goldens) {
    const std::vector<float> v = EmbedOrDie(*e, g.text);
    static_assert(std::endian::native == std::endian::little, "golden bytes are little-endian");
    const uint64_t hash = XXH64(v.data(), v.size() * sizeof(float), 0);
    EXPECT_EQ(hash, g.vector_hash) << g.text;
    EXPECT_EQ(v[g.index], g.value) << g.text;
  }
}

TEST(HashingEmbedderTest, BitIdenticalAcrossProcesses) {
  auto e = Make();
  const std::vector<std::string> texts = {
      "A dog is a mammal.", "Smoking causes cancer; cancer leads to death.",
      "\xE6\x9D\xB1\xE4\xBA\xAC is the capital of Japan",
      "caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e", "repeat repeat repeat repeat"};
  std::string expected;
  for (const std::string& t : texts) expected += Hex(EmbedOrDie(*e, t)) + "\n";
  // Two more processes, with different locale settings in their environment.
  EXPECT_EQ(RunHelper(texts, "C"), expected);
  EXPECT_EQ(RunHelper(texts, "en_US.UTF-8"), expected);
}

TEST(HashingEmbedderTest, OtherDimensionsAcrossProcessesToo) {
  auto e = Make(64);
  const std::string text = "Dimension 64 vectors";
  EXPECT_EQ(RunHelper({"--dimension=64", text}, "C"), Hex(EmbedOrDie(*e, text)) + "\n");
}

TEST(HashingEmbedderTest, ParaphrasesAreCloserThanUnrelatedSentences) {
  auto e = Make();
  struct Case {
    const char* a;
    const char* paraphrase;
    const char* unrelated;
  };
  const Case cases[] = {
      {"The cat sat on the mat", "A cat was sitting on the mat",
       "Stock markets fell sharply today"},
      {"How do I reset my password?", "I forgot my password and need to reset it",
       "The weather is sunny in Madrid"},
      {"Dogs are loyal animals", "A dog is a loyal animal", "Quantum computers use qubits"},
      {"Smoking causes lung cancer", "Lung cancer is caused by smoking",
       "The train leaves at noon"},
      {"The capital of France is Paris", "Paris is France's capital city",
       "Bananas are rich in potassium"},
  };
  for (const Case& c : cases) {
    const auto a = EmbedOrDie(*e, c.a);
    const double close = Cosine(a, EmbedOrDie(*e, c.paraphrase));
    const double far = Cosine(a, EmbedOrDie(*e, c.unrelated));
    EXPECT_GT(close, far + 0.2) << c.a << " | " << c.paraphrase << " | " << c.unrelated;
    EXPECT_GT(close, 0.3) << c.a;
  }
}

TEST(HashingEmbedderTest, MorphologicalVariantsShareCharacterGrams) {
  auto e = Make();
  const double variant = Cosine(EmbedOrDie(*e, "running"), EmbedOrDie(*e, "runner"));
  const double other = Cosine(EmbedOrDie(*e, "running"), EmbedOrDie(*e, "banana"));
  EXPECT_GT(variant, other + 0.1);
}

TEST(HashingEmbedderTest, BatchEqualsSingle) {
  auto e = Make();
  const std::vector<std::string_view> texts = {"one fish", "two fish", ""};
  auto batch = e->EmbedBatch(texts);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 3u);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ((*batch)[i], EmbedOrDie(*e, texts[i]));
}

}  // namespace
}  // namespace engram::hybrid
