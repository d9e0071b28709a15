#include "services/hybrid/embed/embedder_registry.h"

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::hybrid {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class EmbedderRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / absl::StrCat("registry_", getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "tiny");
    std::ofstream(root_ / "tiny" / "vectors.txt") << "cat 1 0 0\ndog 0.9 0.1 0\nfish 0 0 1\n";
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(EmbedderRegistryTest, HashingIsTheDefault) {
  EmbedderRegistry registry({});
  auto e = registry.Get("");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->name(), "hashing");
  EXPECT_EQ((*e)->dimension(), 384);
  auto h128 = registry.Get("hashing", 128);
  ASSERT_TRUE(h128.ok());
  EXPECT_EQ((*h128)->dimension(), 128);
  EXPECT_EQ(registry.Get("hashing", 128)->get(), h128->get());  // shared
  EXPECT_EQ(registry.Get("hashing", 100000).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EmbedderRegistryTest, NoneCannotEmbed) {
  EmbedderRegistry registry({});
  auto e = registry.Get("none", 16);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->dimension(), 16);
  EXPECT_EQ((*e)->Embed("text").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EmbedderRegistryTest, WordVectorsLoadOnceFromTheModelDirectory) {
  EmbedderRegistry registry({.model_dir = root_.string()});
  ASSERT_TRUE(registry.Preload("word-vectors/tiny").ok());
  auto a = registry.Get("word-vectors/tiny");
  auto b = registry.Get("word-vectors/tiny", 3);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ((*a)->dimension(), 3);
  ASSERT_EQ(registry.LoadedModels().size(), 1u);
  EXPECT_EQ(registry.LoadedModels()[0]->load_stats().words, 3u);

  auto mismatch = registry.Get("word-vectors/tiny", 384);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(mismatch.status().message(), HasSubstr("produces 3-dimensional"));
}

TEST_F(EmbedderRegistryTest, ConcurrentFirstUseLoadsOnce) {
  EmbedderRegistry registry({.model_dir = root_.string()});
  std::vector<const Embedder*> seen(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto e = registry.Get("word-vectors/tiny");
      seen[i] = e.ok() ? e->get() : nullptr;
    });
  }
  for (auto& t : threads) t.join();
  for (const Embedder* e : seen) EXPECT_EQ(e, seen[0]);
  EXPECT_NE(seen[0], nullptr);
}

TEST_F(EmbedderRegistryTest, BadNamesAndMissingModels) {
  EmbedderRegistry registry({.model_dir = root_.string()});
  for (const char* name : {"word-vectors/", "word-vectors/..", "word-vectors/../tiny",
                           "word-vectors/a/b", "transformer", "HASHING"}) {
    EXPECT_EQ(registry.Get(name).status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(registry.Get("word-vectors/absent").status().code(), absl::StatusCode::kNotFound);

  EmbedderRegistry no_dir({});
  auto e = no_dir.Get("word-vectors/tiny");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), HasSubstr("--model_dir"));
}

TEST_F(EmbedderRegistryTest, AFailedLoadIsRetried) {
  fs::create_directories(root_ / "later");
  EmbedderRegistry registry({.model_dir = root_.string()});
  EXPECT_EQ(registry.Get("word-vectors/later").status().code(), absl::StatusCode::kNotFound);
  std::ofstream(root_ / "later" / "vectors.txt") << "x 1 2\n";
  EXPECT_TRUE(registry.Get("word-vectors/later").ok());
}

}  // namespace
}  // namespace engram::hybrid
