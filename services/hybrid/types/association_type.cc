#include "services/hybrid/types/association_type.h"

#include "absl/strings/match.h"
#include "common/text/absl_view.h"

namespace engram::hybrid {

std::string_view AssociationTypeName(AssociationType type) {
  switch (type) {
    case AssociationType::kSemantic:
      return "SEMANTIC";
    case AssociationType::kCausal:
      return "CAUSAL";
    case AssociationType::kTemporal:
      return "TEMPORAL";
    case AssociationType::kHierarchical:
      return "HIERARCHICAL";
    case AssociationType::kCompositional:
      return "COMPOSITIONAL";
    case AssociationType::kUnspecified:
      break;
  }
  return "UNSPECIFIED";
}

std::optional<AssociationType> ParseAssociationType(std::string_view name) {
  for (AssociationType type :
       {AssociationType::kSemantic, AssociationType::kCausal, AssociationType::kTemporal,
        AssociationType::kHierarchical, AssociationType::kCompositional}) {
    if (absl::EqualsIgnoreCase(AbslView(name), AbslView(AssociationTypeName(type)))) return type;
  }
  return std::nullopt;
}

}  // namespace engram::hybrid
