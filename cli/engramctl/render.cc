#include "cli/engramctl/render.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace engram::cli {
namespace {

using engram::v1::Association;
using engram::v1::AssociationType_Name;

std::string Edge(const Association& a, bool forward) {
  std::string label = absl::StrFormat("%s(%.2f)", AssociationType_Name(a.type()), a.confidence());
  return forward ? absl::StrCat("--", label, "-->") : absl::StrCat("<--", label, "--");
}

std::string Time(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(ts);
}

// "key=value, key=value" in key order.
std::string Attributes(const google::protobuf::Map<std::string, std::string>& attributes) {
  std::map<std::string, std::string> sorted(attributes.begin(), attributes.end());
  return absl::StrJoin(sorted, ", ", absl::PairFormatter("="));
}

std::string Field(absl::string_view name, absl::string_view value) {
  return absl::StrFormat("%-15s%s\n", absl::StrCat(name, ":"), value);
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return absl::StrCat("{\"error\":\"cannot print ", message.GetTypeName(), "\"}");
  return out;
}

std::string Shorten(absl::string_view text, size_t max_chars) {
  max_chars = std::max<size_t>(max_chars, 4);
  size_t chars = 0;
  size_t cut = absl::string_view::npos;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars == max_chars - 3 && cut == absl::string_view::npos) cut = i;
    if (++chars > max_chars) return absl::StrCat(text.substr(0, cut), "...");
  }
  return std::string(text);
}

ConceptLabel IdLabel() {
  return [](const std::string& id) { return id; };
}

ConceptLabel ContentLabel(const google::protobuf::RepeatedPtrField<engram::v1::ConceptRef>& refs) {
  auto contents = std::make_shared<std::map<std::string, std::string>>();
  for (const auto& ref : refs) {
    if (!ref.content().empty()) contents->emplace(ref.id(), ref.content());
  }
  return [contents](const std::string& id) {
    auto it = contents->find(id);
    if (it == contents->end()) return id;
    // "term: definition" content (WordNet glosses, glossaries) is labelled by its term.
    absl::string_view label = it->second;
    if (size_t colon = label.find(": "); colon != absl::string_view::npos && colon > 0) {
      label = label.substr(0, colon);
    }
    return Shorten(label, 60);
  };
}

std::string RenderAssociation(const Association& a) {
  return absl::StrCat(a.source(), " ", Edge(a, true), " ", a.target(), "\n");
}

std::string RenderPath(const engram::v1::Path& path, const ConceptLabel& label) {
  std::string out = absl::StrFormat("(%.2f)", path.confidence());
  for (int i = 0; i < path.concept_ids_size(); ++i) {
    const std::string& id = path.concept_ids(i);
    if (i > 0 && i - 1 < path.hops_size()) {
      const Association& hop = path.hops(i - 1);
      // As stored, the hop runs from concept_ids[i-1] to concept_ids[i] unless it was followed
      // backwards.
      bool forward = !(hop.source() == id && hop.target() == path.concept_ids(i - 1));
      absl::StrAppend(&out, " ", Edge(hop, forward));
    }
    absl::StrAppend(&out, " ", label(id));
  }
  return absl::StrCat(out, "\n");
}

std::string RenderLearn(const engram::v1::LearnResponse& response) {
  std::string out = absl::StrCat("learned ", response.id(),
                                 response.created() ? " (created)" : " (already existed, replaced)",
                                 ", ", response.associations_size(), " associations\n");
  for (const Association& a : response.associations()) {
    absl::StrAppend(&out, "  ", RenderAssociation(a));
  }
  return out;
}

std::string RenderConcept(const engram::v1::Concept& c) {
  std::string out = Field("id", c.id());
  absl::StrAppend(&out, Field("content", c.content()));
  absl::StrAppend(&out, Field("strength", absl::StrFormat("%g", c.strength())));
  absl::StrAppend(&out, Field("confidence", absl::StrFormat("%g", c.confidence())));
  absl::StrAppend(&out, Field("created", Time(c.create_time())));
  absl::StrAppend(&out, Field("updated", Time(c.update_time())));
  if (!c.attributes().empty()) {
    absl::StrAppend(&out, "attributes:\n");
    std::map<std::string, std::string> sorted(c.attributes().begin(), c.attributes().end());
    for (const auto& [key, value] : sorted) absl::StrAppend(&out, "  ", key, ": ", value, "\n");
  }
  if (!c.vector().empty()) {
    absl::StrAppend(&out, Field("vector", absl::StrFormat("%d dimensions", c.vector_size())));
    absl::StrAppend(
        &out, "  [",
        absl::StrJoin(c.vector(), ", ",
                      [](std::string* s, float v) { absl::StrAppendFormat(s, "%g", v); }),
        "]\n");
  }
  return out;
}

std::string RenderNeighbors(const std::string& center, const engram::v1::NeighborsResponse& r) {
  if (r.neighbors().empty()) return absl::StrCat("no neighbors of ", center, "\n");
  std::string out;
  for (const engram::v1::Neighbor& n : r.neighbors()) {
    const Association& a = n.association();
    bool outgoing = a.source() == center;
    absl::StrAppend(&out, Edge(a, outgoing), " ", n.node().id());
    if (!n.node().content().empty()) absl::StrAppend(&out, "  ", n.node().content());
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string RenderPaths(const engram::v1::FindPathsResponse& response) {
  if (response.paths().empty()) return "no paths\n";
  std::string out;
  int rank = 0;
  for (const engram::v1::Path& path : response.paths()) {
    absl::StrAppend(&out, ++rank, ". ", RenderPath(path, IdLabel()));
  }
  return out;
}

std::string RenderSearch(const engram::v1::SearchResponse& response) {
  if (response.results().empty()) return "no results\n";
  std::string out;
  int rank = 0;
  for (const engram::v1::SearchResult& r : response.results()) {
    absl::StrAppendFormat(&out, "%d. [%.4f] %s  %s\n", ++rank, r.score(), r.id(), r.content());
    if (r.has_scores() && r.scores().has_vector() && r.scores().has_keyword()) {
      absl::StrAppendFormat(&out, "   vector %.4f, keyword %.4f\n", r.scores().vector(),
                            r.scores().keyword());
    }
    if (!r.attributes().empty()) absl::StrAppend(&out, "   ", Attributes(r.attributes()), "\n");
  }
  return out;
}

std::string RenderReason(const engram::v1::ReasonResponse& r) {
  std::string out;
  if (r.confident() && r.answers_size() > 1) {
    absl::StrAppend(&out, "Answers:\n");
    for (const engram::v1::ConceptRef& a : r.answers()) {
      absl::StrAppend(&out, "  ", a.content(), " (", a.id(), ")\n");
    }
  } else if (r.confident() && r.has_answer()) {
    absl::StrAppend(&out, "Answer: ", r.answer().content(), " (", r.answer().id(), ")\n");
  } else if (r.has_best_guess() && !r.best_guess().id().empty()) {
    absl::StrAppend(&out, "I don't know. Best guess: ", r.best_guess().content(), " (",
                    r.best_guess().id(), ")\n");
  } else {
    absl::StrAppend(&out, "I don't know.\n");
  }
  const engram::v1::Confidence& c = r.confidence();
  absl::StrAppendFormat(&out, "Confidence: %.2f (graph %.2f, semantic %.2f, consensus %.2f)\n",
                        c.final(), c.graph(), c.semantic(), c.consensus());
  if (!r.paths().empty()) {
    absl::StrAppend(&out, "Paths:\n");
    ConceptLabel label = ContentLabel(r.path_concepts());
    int rank = 0;
    for (const engram::v1::Path& path : r.paths()) {
      absl::StrAppend(&out, "  ", ++rank, ". ", RenderPath(path, label));
    }
  }
  if (!r.support().empty()) {
    absl::StrAppend(&out, "Support:\n");
    int rank = 0;
    for (const engram::v1::SearchResult& s : r.support()) {
      absl::StrAppendFormat(&out, "  %d. [%.4f] %s  %s\n", ++rank, s.score(), s.id(), s.content());
    }
  }
  if (!r.explanation().empty()) absl::StrAppend(&out, "Explanation: ", r.explanation(), "\n");
  return out;
}

std::string RenderReasonEvent(const engram::v1::ReasonEvent& event) {
  switch (event.event_case()) {
    case engram::v1::ReasonEvent::kSeeds: {
      std::string out = "Seeds:\n";
      int rank = 0;
      for (const engram::v1::SearchResult& s : event.seeds().support()) {
        absl::StrAppendFormat(&out, "  %d. [%.4f] %s  %s\n", ++rank, s.score(), s.id(),
                              Shorten(s.content(), 80));
      }
      return out;
    }
    case engram::v1::ReasonEvent::kPath:
      return absl::StrCat("Path: ", RenderPath(event.path().path(), ContentLabel(event.path().concepts())));
    case engram::v1::ReasonEvent::kAnswer:
      return RenderReason(event.answer());
    case engram::v1::ReasonEvent::EVENT_NOT_SET:
      break;
  }
  return "";
}

std::string RenderNamespace(const engram::v1::Namespace& ns) {
  std::string out = Field("name", ns.name());
  absl::StrAppend(&out, Field("dimension", absl::StrCat(ns.dimension())));
  absl::StrAppend(&out, Field("metric", engram::v1::Metric_Name(ns.metric())));
  absl::StrAppend(&out, Field("embedder", ns.embedder()));
  absl::StrAppend(&out, Field("concepts", absl::StrCat(ns.concept_count())));
  absl::StrAppend(&out, Field("associations", absl::StrCat(ns.association_count())));
  absl::StrAppend(&out,
                  Field("index", absl::StrFormat("m=%d ef_construction=%d%s", ns.index_params().m(),
                                                 ns.index_params().ef_construction(),
                                                 ns.index_params().quantization() ==
                                                         engram::v1::QUANTIZATION_INT8
                                                     ? " quantization=int8"
                                                     : "")));
  if (ns.keyword_fields_size() > 0) {
    std::vector<std::string> fields;
    for (const engram::v1::KeywordField& f : ns.keyword_fields()) {
      fields.push_back(absl::StrFormat("%s^%g:%g", f.attribute(), f.weight(), f.b()));
    }
    absl::StrAppend(&out, Field("keyword fields", absl::StrJoin(fields, ", ")));
  }
  absl::StrAppend(&out, Field("created", Time(ns.create_time())));
  return out;
}

std::string RenderNamespaces(const engram::v1::ListNamespacesResponse& response) {
  std::string out = absl::StrFormat("%-24s %9s %-13s %-20s %10s %12s\n", "NAME", "DIMENSION",
                                    "METRIC", "EMBEDDER", "CONCEPTS", "ASSOCIATIONS");
  for (const engram::v1::Namespace& ns : response.namespaces()) {
    absl::StrAppendFormat(&out, "%-24s %9d %-13s %-20s %10d %12d\n", ns.name(), ns.dimension(),
                          engram::v1::Metric_Name(ns.metric()), ns.embedder(), ns.concept_count(),
                          ns.association_count());
  }
  return out;
}

std::string RenderStats(const engram::v1::Stats& s) {
  std::string out = Field("namespaces", absl::StrCat(s.namespaces()));
  absl::StrAppend(&out, Field("concepts", absl::StrCat(s.concepts())));
  absl::StrAppend(&out, Field("associations", absl::StrCat(s.associations())));
  absl::StrAppend(&out, Field("vectors", absl::StrCat(s.vectors())));
  absl::StrAppend(&out, Field("last sequence", absl::StrCat(s.last_sequence())));
  absl::StrAppend(&out, Field("sync mode", s.sync_mode()));
  absl::StrAppend(&out, Field("log bytes", absl::StrCat(s.log_bytes())));
  absl::StrAppend(&out, Field("mapped bytes", absl::StrCat(s.mapped_bytes())));
  absl::StrAppend(&out, Field("checkpoint", Time(s.last_checkpoint_time())));
  absl::StrAppend(&out, Field("snapshot", Time(s.last_snapshot_time())));
  absl::StrAppend(&out, Field("version", s.version()));
  return out;
}

}  // namespace engram::cli
