// The association types of Engram's data model, as seen by engram-hybrid's core libraries.
//
// The numeric values equal engram.storage.v1.AssociationType, so the gRPC adapter converts with a
// static_cast (it static_asserts the equality). The core libraries do not depend on protobuf.
//
// Edge direction convention (the same for extraction and reasoning), source -> target:
//   HIERARCHICAL   specific -> general      "dog is a kind of mammal":   dog -> mammal
//   CAUSAL         cause -> effect          "smoking causes cancer":     smoking -> cancer
//   COMPOSITIONAL  part -> whole            "a wheel is part of a car":  wheel -> car
//   TEMPORAL       earlier -> later         "breakfast before lunch":    breakfast -> lunch
//   SEMANTIC       new concept -> similar existing concept (symmetric in meaning)
#pragma once

#include <optional>
#include <string_view>

namespace engram::hybrid {

enum class AssociationType : int {
  kUnspecified = 0,
  kSemantic = 1,
  kCausal = 2,
  kTemporal = 3,
  kHierarchical = 4,
  kCompositional = 5,
};

// The upper-case name used by the API and in explanations ("CAUSAL"); "UNSPECIFIED" for
// kUnspecified and out-of-range values.
std::string_view AssociationTypeName(AssociationType type);

// Inverse of AssociationTypeName for the five real types (case-insensitive); nullopt otherwise.
std::optional<AssociationType> ParseAssociationType(std::string_view name);

}  // namespace engram::hybrid
