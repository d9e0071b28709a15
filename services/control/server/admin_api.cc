#include "services/control/server/admin_api.h"


#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/sha256.h"
#include "common/grpc/correlation.h"
#include "common/status/grpc_status.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"

namespace engram::control {

namespace sv1 = storage::v1;
namespace hv1 = hybrid::v1;

namespace {

void RenameNodes(json& value) {
  if (value.is_object()) {
    if (auto it = value.find("node"); it != value.end()) {
      value["concept"] = std::move(*it);
      value.erase("node");
    }
    for (auto& [key, child] : value.items()) RenameNodes(child);
  } else if (value.is_array()) {
    for (json& child : value) RenameNodes(child);
  }
}

absl::Status Downstream(const grpc::Status& s) { return status::FromGrpcStatus(s); }

absl::StatusOr<uint32_t> UintParam(const std::map<std::string, std::string>& query,
                                   const std::string& name, uint32_t fallback, uint32_t max) {
  auto it = query.find(name);
  if (it == query.end() || it->second.empty()) return fallback;
  uint32_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": '", it->second, "' is not a number from 0 to ", max));
  }
  return value;
}

absl::Status ParseTypes(const std::string& text, google::protobuf::RepeatedField<int>* out,
                        const std::string& field) {
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    sv1::AssociationType type;
    if (!sv1::AssociationType_Parse(std::string(name), &type) ||
        type == sv1::ASSOCIATION_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": unknown association type '",
                                                     std::string(name), "'"));
    }
    out->Add(type);
  }
  return absl::OkStatus();
}

bool IsSystemNamespace(const std::string& ns, const AdminApiOptions& options) {
  return ns == options.audit_namespace;
}

}  // namespace

json ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return json();
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  RenameNodes(value);
  return value;
}

absl::Status FromJson(const json& value, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(value.dump(), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("body: ", std::string(status.message())));
  }
  return absl::OkStatus();
}

AdminApi::AdminApi(sv1::Storage::StubInterface* storage, hv1::Hybrid::StubInterface* hybrid,
                   AdminApiOptions options)
    : storage_(storage), hybrid_(hybrid), options_(std::move(options)) {}

#define ENGRAM_CALL(stub, method, timeout, request, response)        \
  do {                                                                \
    grpc::ClientContext context;                                      \
    grpcutil::PrepareClientContext(&context, timeout);                \
    const grpc::Status s = (stub)->method(&context, request, &response); \
    if (!s.ok()) return Downstream(s);                                \
  } while (false)

namespace {

// The compaction state as the UI shows it: "last" is the last compaction that finished since
// storage started (null when none did), with byte counts as numbers.
json CompactionJson(const sv1::CompactionStatus& c) {
  const char* state = c.state() == sv1::CompactionStatus::QUEUED    ? "QUEUED"
                      : c.state() == sv1::CompactionStatus::RUNNING ? "RUNNING"
                                                                    : "IDLE";
  json out{{"state", state}, {"last", nullptr}};
  if (c.has_last_end_time()) {
    out["last"] = json{{"startTime", ToJson(c.last_start_time())},
                       {"endTime", ToJson(c.last_end_time())},
                       {"error", c.last_error()},
                       {"bytesBefore", c.last_bytes_before()},
                       {"bytesAfter", c.last_bytes_after()},
                       {"switchSeconds", c.last_switch_seconds()},
                       {"cutSequence", c.last_cut_sequence()},
                       {"automatic", c.last_automatic()}};
  }
  return out;
}

}  // namespace

json AdminApi::NamespaceJson(const sv1::NamespaceInfo& info) const {
  json ns = ToJson(info.config());
  ns["concepts"] = info.concept_count();
  ns["associations"] = info.association_count();
  ns["vectors"] = info.vector_count();
  ns["indexedVectors"] = info.indexed_vector_count();
  ns["unindexedVectors"] = info.unindexed_vector_count();
  ns["dataBytes"] = info.data_bytes();
  ns["createTime"] = ToJson(info.create_time());
  ns["system"] = IsSystemNamespace(info.config().name(), options_);
  ns["generation"] = info.generation();
  ns["reclaimableBytes"] = info.reclaimable_bytes();
  ns["compaction"] = CompactionJson(info.compaction());
  return ns;
}

absl::StatusOr<json> AdminApi::ListNamespaces() {
  sv1::ListNamespacesResponse response;
  ENGRAM_CALL(storage_, ListNamespaces, options_.timeout, sv1::ListNamespacesRequest(), response);
  json out = json::array();
  for (const sv1::NamespaceInfo& info : response.namespaces()) out.push_back(NamespaceJson(info));
  return json{{"namespaces", std::move(out)}};
}

absl::StatusOr<json> AdminApi::CreateNamespace(const json& body) {
  sv1::CreateNamespaceRequest request;
  if (!body.is_object()) return absl::InvalidArgumentError("body: expected a JSON object");
  if (absl::Status s = FromJson(body, request.mutable_config()); !s.ok()) return s;
  if (request.config().name().empty()) return absl::InvalidArgumentError("name: required");
  if (request.config().embedder() == "use-lite" && request.config().dimension() == 0) {
    request.mutable_config()->set_dimension(512);  // the sentence encoder's width
  }
  sv1::NamespaceInfo info;
  ENGRAM_CALL(storage_, CreateNamespace, options_.timeout, request, info);
  return NamespaceJson(info);
}

absl::Status AdminApi::DeleteNamespace(const std::string& ns, const json& body) {
  if (!body.is_object() || !body.contains("confirm") || !body["confirm"].is_string() ||
      body["confirm"].get<std::string>() != ns) {
    return absl::InvalidArgumentError(
        absl::StrCat("confirm: must repeat the namespace's name '", ns, "' to delete it"));
  }
  if (IsSystemNamespace(ns, options_)) {
    return absl::FailedPreconditionError(
        absl::StrCat("namespace '", ns, "' holds the audit log and cannot be deleted from control"));
  }
  sv1::DeleteNamespaceRequest request;
  request.set_name(ns);
  sv1::DeleteNamespaceResponse response;
  ENGRAM_CALL(storage_, DeleteNamespace, options_.timeout, request, response);
  return absl::OkStatus();
}

absl::StatusOr<json> AdminApi::CompactNamespace(const std::string& ns, const json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("body: expected a JSON object or none");
  if (!body.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(body.begin().key(), ": unknown field (compaction takes no parameters)"));
  }
  sv1::CompactNamespaceRequest request;
  request.set_name(ns);
  sv1::NamespaceInfo info;
  ENGRAM_CALL(storage_, CompactNamespace, options_.timeout, request, info);
  return NamespaceJson(info);
}

absl::StatusOr<json> AdminApi::ListConcepts(const std::string& ns,
                                            const std::map<std::string, std::string>& query) {
  sv1::ScanRequest request;
  request.set_namespace_(ns);
  absl::StatusOr<uint32_t> page = UintParam(query, "pageSize", 50, 1000);
  if (!page.ok()) return page.status();
  request.set_page_size(*page);
  if (auto it = query.find("pageToken"); it != query.end()) request.set_page_token(it->second);
  if (auto it = query.find("filter"); it != query.end()) {
    for (absl::string_view pair : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      if (kv.first.empty() || pair.find('=') == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter: '", std::string(pair), "' is not key=value"));
      }
      (*request.mutable_filter())[kv.first] = kv.second;
    }
  }
  sv1::ScanResponse response;
  ENGRAM_CALL(storage_, Scan, options_.timeout, request, response);
  json concepts = json::array();
  for (const sv1::Concept& c : response.concepts()) concepts.push_back(ToJson(c));
  return json{{"concepts", std::move(concepts)}, {"nextPageToken", response.next_page_token()}};
}

absl::StatusOr<json> AdminApi::GetConcept(const std::string& ns, const std::string& id) {
  sv1::GetConceptsRequest request;
  request.set_namespace_(ns);
  request.add_ids(id);
  request.set_include_vector(true);
  sv1::GetConceptsResponse response;
  ENGRAM_CALL(storage_, GetConcepts, options_.timeout, request, response);
  if (response.concepts_size() == 0) {
    return absl::NotFoundError(absl::StrCat("concept '", id, "' not found in namespace '", ns, "'"));
  }
  json out{{"concept", ToJson(response.concepts(0))}};
  for (const auto& [direction, key] : {std::pair{sv1::OUT, "out"}, std::pair{sv1::IN, "in"}}) {
    sv1::NeighborsRequest nreq;
    nreq.set_namespace_(ns);
    nreq.set_id(id);
    nreq.set_direction(direction);
    nreq.set_limit(200);
    sv1::NeighborsResponse nres;
    ENGRAM_CALL(storage_, Neighbors, options_.timeout, nreq, nres);
    json list = json::array();
    for (const sv1::Neighbor& n : nres.neighbors()) list.push_back(ToJson(n));
    out[key] = std::move(list);
  }
  return out;
}

absl::Status AdminApi::DeleteConcept(const std::string& ns, const std::string& id) {
  sv1::DeleteConceptsRequest request;
  request.set_namespace_(ns);
  request.add_ids(id);
  sv1::WriteResponse response;
  ENGRAM_CALL(storage_, DeleteConcepts, options_.timeout, request, response);
  return absl::OkStatus();
}

absl::StatusOr<json> AdminApi::Search(const std::string& ns, const json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("body: expected a JSON object");
  uint32_t k = 10;
  if (body.contains("k")) {
    if (!body["k"].is_number_unsigned() || body["k"].get<uint64_t>() > 1000) {
      return absl::InvalidArgumentError("k: a number from 0 to 1000");
    }
    k = body["k"].get<uint32_t>();
  }
  std::map<std::string, std::string> filter;
  if (body.contains("filter")) {
    if (!body["filter"].is_object()) return absl::InvalidArgumentError("filter: expected an object");
    for (auto& [key, value] : body["filter"].items()) {
      if (!value.is_string()) return absl::InvalidArgumentError(absl::StrCat("filter.", key, ": expected a string"));
      filter[key] = value.get<std::string>();
    }
  }
  const bool has_text = body.contains("text") && body["text"].is_string() &&
                        !body["text"].get<std::string>().empty();
  const bool has_vector = body.contains("vector") && body["vector"].is_array();
  if (has_text == has_vector) {
    return absl::InvalidArgumentError("text, vector: give exactly one of them");
  }
  sv1::SearchMode mode = sv1::SEARCH_MODE_UNSPECIFIED;  // hybrid decides: HYBRID, or KEYWORD
  if (body.contains("mode")) {
    const std::string name = body["mode"].is_string() ? body["mode"].get<std::string>() : "";
    if (!has_text || (name != "HYBRID" && name != "KEYWORD" && name != "VECTOR")) {
      return absl::InvalidArgumentError("mode: HYBRID, KEYWORD or VECTOR, with text");
    }
    sv1::SearchMode_Parse(absl::StrCat("SEARCH_MODE_", name), &mode);
  }
  json results = json::array();
  if (has_text) {
    hv1::SearchRequest request;
    request.set_namespace_(ns);
    request.set_text(body["text"].get<std::string>());
    request.set_mode(mode);
    request.set_k(k);
    request.mutable_filter()->insert(filter.begin(), filter.end());
    hv1::SearchResponse response;
    ENGRAM_CALL(hybrid_, Search, options_.timeout, request, response);
    for (const auto& r : response.results()) results.push_back(ToJson(r));
  } else {
    sv1::SearchRequest request;
    request.set_namespace_(ns);
    for (const json& v : body["vector"]) {
      if (!v.is_number()) return absl::InvalidArgumentError("vector: numbers only");
      request.add_vector(v.get<float>());
    }
    request.set_k(k);
    request.mutable_filter()->insert(filter.begin(), filter.end());
    sv1::SearchResponse response;
    ENGRAM_CALL(storage_, Search, options_.timeout, request, response);
    for (const auto& r : response.results()) results.push_back(ToJson(r));
  }
  return json{{"results", std::move(results)}};
}

absl::StatusOr<json> AdminApi::Neighbors(const std::string& ns, const std::string& id,
                                         const std::map<std::string, std::string>& query) {
  sv1::NeighborsRequest request;
  request.set_namespace_(ns);
  request.set_id(id);
  absl::StatusOr<uint32_t> limit = UintParam(query, "limit", 25, 1000);
  if (!limit.ok()) return limit.status();
  request.set_limit(*limit);
  if (auto it = query.find("types"); it != query.end()) {
    if (absl::Status s = ParseTypes(it->second, request.mutable_types(), "types"); !s.ok()) return s;
  }
  request.set_direction(sv1::BOTH);
  if (auto it = query.find("direction"); it != query.end() && !it->second.empty()) {
    sv1::Direction d;
    if (!sv1::Direction_Parse(it->second, &d) || d == sv1::DIRECTION_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("direction: '", it->second, "', expected OUT, IN or BOTH"));
    }
    request.set_direction(d);
  }
  sv1::NeighborsResponse response;
  ENGRAM_CALL(storage_, Neighbors, options_.timeout, request, response);
  json list = json::array();
  for (const sv1::Neighbor& n : response.neighbors()) list.push_back(ToJson(n));
  return json{{"neighbors", std::move(list)}};
}

absl::StatusOr<json> AdminApi::Paths(const std::string& ns, const json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("body: expected a JSON object");
  sv1::FindPathsRequest request;
  if (absl::Status s = FromJson(body, &request); !s.ok()) return s;
  request.set_namespace_(ns);
  if (request.source().empty()) return absl::InvalidArgumentError("source: required");
  if (request.target().empty()) return absl::InvalidArgumentError("target: required");
  sv1::FindPathsResponse response;
  ENGRAM_CALL(storage_, FindPaths, options_.timeout, request, response);
  // The concepts on the paths, so the UI can label nodes without more calls.
  sv1::GetConceptsRequest get;
  get.set_namespace_(ns);
  std::set<std::string> seen;
  for (const sv1::Path& p : response.paths()) {
    for (const std::string& id : p.concept_ids()) {
      if (seen.insert(id).second) get.add_ids(id);
    }
  }
  json concepts = json::object();
  if (get.ids_size() > 0) {
    sv1::GetConceptsResponse got;
    ENGRAM_CALL(storage_, GetConcepts, options_.timeout, get, got);
    for (const sv1::Concept& c : got.concepts()) concepts[c.id()] = ToJson(c);
  }
  json out = ToJson(response);
  out["concepts"] = std::move(concepts);
  return out;
}

absl::StatusOr<json> AdminApi::Reason(const std::string& ns, const json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("body: expected a JSON object");
  json renamed = body;
  if (renamed.contains("question")) {
    renamed["query"] = renamed["question"];
    renamed.erase("question");
  }
  hv1::ReasonRequest request;
  if (absl::Status s = FromJson(renamed, &request); !s.ok()) return s;
  request.set_namespace_(ns);
  if (request.query().empty()) return absl::InvalidArgumentError("question: required");
  hv1::ReasonResponse response;
  ENGRAM_CALL(hybrid_, Reason, options_.timeout, request, response);
  json out = ToJson(response);
  out["minConfidence"] = request.has_min_confidence() ? request.min_confidence().value() : 0.3f;
  return out;
}

absl::StatusOr<json> AdminApi::Stats() {
  sv1::ServerStats stats;
  ENGRAM_CALL(storage_, GetStats, options_.timeout, sv1::GetStatsRequest(), stats);
  return ToJson(stats);
}

absl::StatusOr<json> AdminApi::ListSnapshots() {
  sv1::ListSnapshotsResponse response;
  ENGRAM_CALL(storage_, ListSnapshots, options_.timeout, sv1::ListSnapshotsRequest(), response);
  json list = json::array();
  for (const sv1::SnapshotInfo& info : response.snapshots()) list.push_back(ToJson(info));
  return json{{"snapshots", std::move(list)}};
}

absl::StatusOr<json> AdminApi::CreateSnapshot() {
  sv1::SnapshotInfo info;
  ENGRAM_CALL(storage_, CreateSnapshot, options_.snapshot_timeout, sv1::CreateSnapshotRequest(), info);
  return ToJson(info);
}

absl::Status AdminApi::DeleteSnapshot(const std::string& name) {
  sv1::DeleteSnapshotRequest request;
  request.set_name(name);
  sv1::DeleteSnapshotResponse response;
  ENGRAM_CALL(storage_, DeleteSnapshot, options_.timeout, request, response);
  return absl::OkStatus();
}

#undef ENGRAM_CALL

absl::StatusOr<sv1::SnapshotInfo> AdminApi::FindSnapshot(const std::string& name) {
  grpc::ClientContext context;
  grpcutil::PrepareClientContext(&context, options_.timeout);
  sv1::ListSnapshotsResponse response;
  const grpc::Status s = storage_->ListSnapshots(&context, sv1::ListSnapshotsRequest(), &response);
  if (!s.ok()) return Downstream(s);
  for (const sv1::SnapshotInfo& info : response.snapshots()) {
    if (info.name() == name) return info;
  }
  return absl::NotFoundError(absl::StrCat("snapshot '", name, "' not found"));
}

absl::Status AdminApi::DownloadSnapshot(const sv1::SnapshotInfo& info,
                                        const std::function<absl::Status(std::string_view)>& sink) {
  grpc::ClientContext context;
  grpcutil::PrepareClientContext(&context, options_.snapshot_timeout);
  sv1::DownloadSnapshotRequest request;
  request.set_name(info.name());
  std::unique_ptr<grpc::ClientReaderInterface<sv1::SnapshotChunk>> reader =
      storage_->DownloadSnapshot(&context, request);
  crypto::Sha256 sha;
  uint64_t total = 0;
  sv1::SnapshotChunk chunk;
  while (reader->Read(&chunk)) {
    total += chunk.data().size();
    if (total > info.size_bytes()) {
      context.TryCancel();
      reader->Finish();
      return absl::DataLossError(absl::StrCat("snapshot ", info.name(), ": more bytes than the listed ",
                                              info.size_bytes()));
    }
    sha.Update(chunk.data());
    if (absl::Status s = sink(chunk.data()); !s.ok()) {
      context.TryCancel();
      reader->Finish();
      return s;
    }
  }
  if (const grpc::Status s = reader->Finish(); !s.ok()) return Downstream(s);
  const std::string hex = sha.HexDigest();
  if (total != info.size_bytes() || hex != info.sha256()) {
    return absl::DataLossError(absl::StrCat("snapshot ", info.name(), ": ", total, " bytes with SHA-256 ",
                                            hex, ", listed as ", info.size_bytes(), " bytes with ",
                                            info.sha256()));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> AdminApi::RestoreSnapshot(
    const std::function<absl::StatusOr<std::string>()>& source) {
  grpc::ClientContext context;
  grpcutil::PrepareClientContext(&context, options_.snapshot_timeout);
  sv1::RestoreSnapshotResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<sv1::RestoreSnapshotChunk>> writer =
      storage_->RestoreSnapshot(&context, &response);
  uint64_t sent = 0;
  while (true) {
    absl::StatusOr<std::string> piece = source();
    if (!piece.ok()) {
      context.TryCancel();
      writer->Finish();
      return piece.status();
    }
    if (piece->empty()) break;
    sent += piece->size();
    sv1::RestoreSnapshotChunk chunk;
    chunk.set_data(*std::move(piece));
    if (!writer->Write(chunk)) break;  // storage ended the call early; Finish() says why
  }
  writer->WritesDone();
  if (const grpc::Status s = writer->Finish(); !s.ok()) return Downstream(s);
  if (sent == 0) return absl::InvalidArgumentError("body: empty archive");
  return ToJson(response);
}

}  // namespace engram::control
