// The use-lite embedder against its TensorFlow.js reference (golden fixtures made by
// testdata/use_lite_reference/make_golden.mjs), its determinism, and its load errors.
#include "services/hybrid/embed/use_lite_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/hybrid/embed/embedder_registry.h"

namespace engram::hybrid {
namespace {

using ::testing::HasSubstr;

struct Golden {
  std::string text;
  std::vector<int> ids;
  std::vector<float> vector;
};

std::vector<Golden> ReadGolden() {
  std::ifstream in(ENGRAM_USE_LITE_GOLDEN);
  const nlohmann::json root = nlohmann::json::parse(in);
  std::vector<Golden> out;
  for (const nlohmann::json& c : root["cases"]) {
    out.push_back({c["text"], c["ids"].get<std::vector<int>>(), c["vector"].get<std::vector<float>>()});
  }
  return out;
}

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

class UseLiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = UseLiteEmbedder::Load(ENGRAM_USE_LITE_DIR);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    model_ = new std::shared_ptr<const UseLiteEmbedder>(*loaded);
  }
  static void TearDownTestSuite() { delete model_; }
  static const UseLiteEmbedder& model() { return **model_; }
  static std::shared_ptr<const UseLiteEmbedder>* model_;
};
std::shared_ptr<const UseLiteEmbedder>* UseLiteTest::model_ = nullptr;

TEST_F(UseLiteTest, TokensMatchTheReference) {
  const std::vector<Golden> golden = ReadGolden();
  ASSERT_GE(golden.size(), 15u);
  for (const Golden& g : golden) EXPECT_EQ(model().Tokenize(g.text), g.ids) << g.text;
}

TEST_F(UseLiteTest, VectorsMatchTheReference) {
  float worst = 0;
  for (const Golden& g : ReadGolden()) {
    auto v = model().Embed(g.text);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(v->size(), 512u);
    ASSERT_EQ(g.vector.size(), 512u);
    for (size_t i = 0; i < 512; ++i) worst = std::max(worst, std::abs((*v)[i] - g.vector[i]));
    EXPECT_GT(Dot(*v, g.vector), 0.99999f) << g.text;
  }
  // float32 in another order than TensorFlow.js's: agreement to about 1e-6 per component.
  EXPECT_LT(worst, 1e-5f);
  RecordProperty("max_abs_difference", std::to_string(worst));
}

TEST_F(UseLiteTest, VectorsAreUnitLengthAndMeaningful) {
  const auto embed = [](std::string_view text) { return *model().Embed(text); };
  const std::vector<float> dog = embed("A dog is a mammal.");
  EXPECT_NEAR(Dot(dog, dog), 1.0f, 1e-5f);
  // Paraphrases are closer than unrelated sentences: what the hashing embedder cannot do.
  EXPECT_GT(Dot(dog, embed("Dogs are animals.")), Dot(dog, embed("Rain causes floods.")) + 0.2f);
  EXPECT_GT(Dot(embed("How old are you?"), embed("What is your age?")),
            Dot(embed("How old are you?"), embed("Where do you live?")));
}

TEST_F(UseLiteTest, ATextsVectorIsBitIdenticalAloneAndInAnyBatch) {
  const std::vector<std::string_view> texts = {"A yolk is part of an egg.", "x",
                                               "The ptarmigan is a bird.", "A yolk is part of an egg."};
  auto batch = model().EmbedBatch(texts);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<float> alone = *model().Embed(texts[i]);
    EXPECT_EQ(std::memcmp(alone.data(), (*batch)[i].data(), alone.size() * sizeof(float)), 0) << texts[i];
  }
  auto reversed = model().EmbedBatch({texts[2], texts[0]});
  ASSERT_TRUE(reversed.ok());
  EXPECT_EQ((*reversed)[1], (*batch)[0]);
}

// Batches stack every text's tokens into one matrix: a text's rows land at every offset, beside
// texts of every length (and empty ones); its vector must not change by a bit.
TEST_F(UseLiteTest, RandomBatchesGiveEveryTextItsOwnVector) {
  std::vector<std::string> pool;
  for (const Golden& g : ReadGolden()) pool.push_back(g.text);
  pool.push_back("");
  std::map<std::string, std::vector<float>> alone;
  for (const std::string& t : pool) alone[t] = *model().Embed(t);
  std::mt19937 rng(42);
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string_view> batch;
    const int size = 1 + static_cast<int>(rng() % 16);
    for (int i = 0; i < size; ++i) batch.push_back(pool[rng() % pool.size()]);
    auto vectors = model().EmbedBatch(batch);
    ASSERT_TRUE(vectors.ok());
    for (int i = 0; i < size; ++i) {
      const std::vector<float>& want = alone[std::string(batch[i])];
      ASSERT_EQ(std::memcmp(want.data(), (*vectors)[i].data(), want.size() * sizeof(float)), 0)
          << "round " << round << ", text " << i << " of " << size << ": " << batch[i];
    }
  }
}

TEST_F(UseLiteTest, LongTextIsTruncatedTo128Tokens) {
  std::string text;
  for (int i = 0; i < 100; ++i) absl::StrAppend(&text, "word", i, " and ");
  const std::vector<int> ids = model().Tokenize(text);
  ASSERT_GT(ids.size(), 128u);
  const std::vector<int> first(ids.begin(), ids.begin() + 128);
  EXPECT_EQ(*model().Embed(text), model().EmbedIds(first));
  EXPECT_NE(*model().Embed(text), model().EmbedIds(std::vector<int>(ids.begin(), ids.begin() + 127)));
}

TEST_F(UseLiteTest, EmptyTextIsTheZeroVectorAndBadBytesNeverFail) {
  EXPECT_EQ(*model().Embed(""), std::vector<float>(512, 0.0f));
  for (std::string_view bad : {std::string_view("\xff\xfe\xfd"), std::string_view("a\0b", 3),
                               std::string_view("\xc0\xaf overlong"), std::string_view("\xed\xa0\x80 surrogate")}) {
    auto v = model().Embed(bad);
    ASSERT_TRUE(v.ok());
    EXPECT_NEAR(Dot(*v, *v), 1.0f, 1e-5f);
  }
  // A bad byte reads as U+FFFD, the reference's replacement for it.
  EXPECT_EQ(model().Tokenize("caf\xff"), model().Tokenize("caf\xef\xbf\xbd"));
}

// A copy of the model directory to damage.
std::filesystem::path CopyModel(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const UseLiteFile& f : kUseLiteFiles) {
    std::filesystem::copy_file(std::filesystem::path(ENGRAM_USE_LITE_DIR) / f.name, dir / f.name);
  }
  return dir;
}

TEST(UseLiteLoadTest, AMissingFileIsNamed) {
  const std::filesystem::path dir = CopyModel("use_lite_missing");
  std::filesystem::remove(dir / "vocab.json");
  auto loaded = UseLiteEmbedder::Load(dir.string());
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr((dir / "vocab.json").string()));
}

TEST(UseLiteLoadTest, ADamagedFileIsNamed) {
  for (const char* victim : {"group1-shard4of7", "model.json"}) {
    const std::filesystem::path dir = CopyModel("use_lite_damaged");
    {
      std::fstream f(dir / victim, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      f.put('\x5a');
    }
    auto loaded = UseLiteEmbedder::Load(dir.string());
    ASSERT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << victim;
    EXPECT_THAT(loaded.status().message(), HasSubstr((dir / victim).string()));
    EXPECT_THAT(loaded.status().message(), HasSubstr("damaged"));
  }
  const std::filesystem::path dir = CopyModel("use_lite_truncated");
  std::filesystem::resize_file(dir / "group1-shard7of7", 1000);
  auto loaded = UseLiteEmbedder::Load(dir.string());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), HasSubstr("group1-shard7of7"));
}

TEST(UseLiteRegistryTest, ResolvesUnderTheModelDirectory) {
  EmbedderRegistry registry({.model_dir = std::filesystem::path(ENGRAM_USE_LITE_DIR).parent_path().string()});
  auto embedder = registry.Get("use-lite");
  ASSERT_TRUE(embedder.ok()) << embedder.status();
  EXPECT_EQ((*embedder)->dimension(), 512);
  EXPECT_EQ((*embedder)->name(), "use-lite");
  EXPECT_EQ(registry.Get("use-lite", 512).value(), *embedder);  // loaded once
  EXPECT_EQ(registry.Get("use-lite", 384).status().code(), absl::StatusCode::kFailedPrecondition);

  EmbedderRegistry without({});
  EXPECT_EQ(without.Get("use-lite").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(without.Get("use-lite").status().message(), HasSubstr("--model_dir"));
}

}  // namespace
}  // namespace engram::hybrid
