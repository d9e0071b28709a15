#include "services/hybrid/embed/deterministic_math.h"

#include <algorithm>
#include <cmath>

#include "gtest/gtest.h"

namespace engram::hybrid {
namespace {

TEST(DeterministicLogTest, MatchesLibmClosely) {
  for (double x : {1.0, 2.0, 3.0, 10.0, 1000.0, 1e-7, 0.5, 123456.789}) {
    EXPECT_NEAR(DeterministicLog(x), std::log(x), 1e-14 * std::max(1.0, std::abs(std::log(x))))
        << x;
  }
  EXPECT_EQ(DeterministicLog(1.0), 0.0);
  EXPECT_EQ(DeterministicLog(0.0), 0.0);
  EXPECT_EQ(DeterministicLog(-1.0), 0.0);
}

// exp, tanh, sin and cos for the sentence encoder: within a few ulp of libm over their ranges.
TEST(DeterministicMathTest, ExpTanhSinCosMatchLibmClosely) {
  for (double x = -700; x <= 700; x += 0.37) {
    EXPECT_NEAR(DeterministicExp(x) / std::exp(x), 1.0, 1e-14) << x;
  }
  EXPECT_EQ(DeterministicExp(0), 1.0);
  EXPECT_EQ(DeterministicExp(-800), 0.0);
  EXPECT_TRUE(std::isinf(DeterministicExp(710)));
  for (double x = -25; x <= 25; x += 0.0137) {
    EXPECT_NEAR(DeterministicTanh(x), std::tanh(x), 1e-15 + 1e-14 * std::abs(std::tanh(x))) << x;
  }
  EXPECT_EQ(DeterministicTanh(0), 0.0);
  EXPECT_NEAR(DeterministicTanh(1e-10), 1e-10, 1e-24);
  for (double x = -200; x <= 200; x += 0.0731) {
    double s = 0, c = 0;
    DeterministicSinCos(x, &s, &c);
    EXPECT_NEAR(s, std::sin(x), 1e-14) << x;
    EXPECT_NEAR(c, std::cos(x), 1e-14) << x;
  }
}

}  // namespace
}  // namespace engram::hybrid
