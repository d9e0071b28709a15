#include "services/hybrid/types/association_type.h"

#include "gtest/gtest.h"

namespace engram::hybrid {
namespace {

TEST(AssociationTypeTest, NamesRoundTrip) {
  for (int i = 1; i <= 5; ++i) {
    const auto type = static_cast<AssociationType>(i);
    EXPECT_EQ(ParseAssociationType(AssociationTypeName(type)), type);
  }
  EXPECT_EQ(AssociationTypeName(AssociationType::kCausal), "CAUSAL");
  EXPECT_EQ(ParseAssociationType("hierarchical"), AssociationType::kHierarchical);
  EXPECT_EQ(ParseAssociationType("UNSPECIFIED"), std::nullopt);
  EXPECT_EQ(AssociationTypeName(static_cast<AssociationType>(42)), "UNSPECIFIED");
}

}  // namespace
}  // namespace engram::hybrid
