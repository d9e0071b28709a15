// Helpers shared by the storage engine's tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage-server/engine/engine.h"

namespace engram::storage::testing {

inline std::filesystem::path FreshDir(const std::string& name) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              (std::string(info->test_suite_name()) + "." + info->name() + "." + name);
  std::filesystem::remove_all(dir);
  return dir;
}

inline std::vector<float> RandomVector(std::mt19937& rng, uint32_t dim) {
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(dim);
  for (float& x : v) x = d(rng);
  return v;
}

inline v1::Mutation PutConcept(const std::string& id, const std::string& content,
                               const std::vector<float>& vector = {},
                               std::map<std::string, std::string> attrs = {}) {
  v1::Mutation m;
  v1::Concept* c = m.mutable_put_concept();
  c->set_id(id);
  c->set_content(content);
  c->mutable_vector()->Add(vector.begin(), vector.end());
  for (auto& [k, v] : attrs) (*c->mutable_attributes())[k] = v;
  return m;
}

inline v1::Mutation PutAssoc(const std::string& s, const std::string& t, v1::AssociationType type,
                             float confidence = 0.9f) {
  v1::Mutation m;
  auto* a = m.mutable_put_association();
  a->set_source(s);
  a->set_target(t);
  a->set_type(type);
  a->set_confidence(confidence);
  return m;
}

inline v1::Mutation DeleteConcept(const std::string& id) {
  v1::Mutation m;
  m.set_delete_concept(id);
  return m;
}

inline v1::Mutation DeleteAssoc(const std::string& s, const std::string& t,
                                v1::AssociationType type) {
  v1::Mutation m;
  m.mutable_delete_association()->set_source(s);
  m.mutable_delete_association()->set_target(t);
  m.mutable_delete_association()->set_type(type);
  return m;
}

inline v1::WriteRequest Batch(const std::string& ns, std::vector<v1::Mutation> mutations) {
  v1::WriteRequest r;
  r.set_namespace_(ns);
  for (auto& m : mutations) *r.add_mutations() = std::move(m);
  return r;
}

inline EngineOptions TestOptions(const std::filesystem::path& dir) {
  EngineOptions o;
  o.data_dir = dir;
  o.create_default_namespace = false;
  // Tests wait for the indexer; at nice 10 a loaded machine (parallel tests, sanitizers) can
  // starve it for minutes.
  o.indexer_nice = 0;
  return o;
}

inline v1::NamespaceConfig Config(const std::string& name, uint32_t dim, v1::Metric metric = v1::COSINE) {
  v1::NamespaceConfig c;
  c.set_name(name);
  c.set_dimension(dim);
  c.set_metric(metric);
  c.set_embedder("none");
  return c;
}

}  // namespace engram::storage::testing
