#include "common/logging/correlation.h"

#include <set>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace engram::logging {
namespace {

TEST(NewCorrelationIdTest, IsHexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewCorrelationId();
    ASSERT_EQ(id.size(), 32u);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ASSERT_TRUE(IsValidCorrelationId(id));
    seen.insert(std::move(id));
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IsValidCorrelationIdTest, AcceptsSafeIdsOnly) {
  EXPECT_TRUE(IsValidCorrelationId("abc-DEF_1.2:3"));
  EXPECT_TRUE(IsValidCorrelationId(std::string(kMaxCorrelationIdLength, 'a')));
  EXPECT_FALSE(IsValidCorrelationId(""));
  EXPECT_FALSE(IsValidCorrelationId(std::string(kMaxCorrelationIdLength + 1, 'a')));
  EXPECT_FALSE(IsValidCorrelationId("has space"));
  EXPECT_FALSE(IsValidCorrelationId("line\nbreak"));
  EXPECT_FALSE(IsValidCorrelationId("quote\""));
}

TEST(CorrelationIdOrNewTest, KeepsValidReplacesInvalid) {
  EXPECT_EQ(CorrelationIdOrNew("keep-me"), "keep-me");
  const std::string replaced = CorrelationIdOrNew("bad id");
  EXPECT_NE(replaced, "bad id");
  EXPECT_TRUE(IsValidCorrelationId(replaced));
  EXPECT_TRUE(IsValidCorrelationId(CorrelationIdOrNew("")));
}

TEST(ScopedCorrelationIdTest, NestsAndRestores) {
  EXPECT_EQ(CurrentCorrelationId(), "");
  {
    ScopedCorrelationId outer("outer");
    EXPECT_EQ(CurrentCorrelationId(), "outer");
    {
      ScopedCorrelationId inner("inner");
      EXPECT_EQ(CurrentCorrelationId(), "inner");
      EXPECT_EQ(inner.id(), "inner");
    }
    EXPECT_EQ(CurrentCorrelationId(), "outer");
  }
  EXPECT_EQ(CurrentCorrelationId(), "");
}

TEST(ScopedCorrelationIdTest, IsPerThread) {
  ScopedCorrelationId main_scope("main");
  std::string seen_in_thread = "unset";
  std::string seen_in_thread_scope;
  std::thread other([&] {
    seen_in_thread = std::string(CurrentCorrelationId());
    ScopedCorrelationId scope("worker");
    seen_in_thread_scope = std::string(CurrentCorrelationId());
  });
  other.join();
  EXPECT_EQ(seen_in_thread, "");
  EXPECT_EQ(seen_in_thread_scope, "worker");
  EXPECT_EQ(CurrentCorrelationId(), "main");
}

}  // namespace
}  // namespace engram::logging
