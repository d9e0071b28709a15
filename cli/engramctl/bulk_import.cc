#include "cli/engramctl/bulk_import.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "cli/engramctl/wordnet.h"
#include "common/status/error_detail.h"
#include "common/status/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace engram::cli {
namespace {

using Stub = RpcClient::Stub;

// The same code and correlation id, with `prefix` in front of the message.
absl::Status Prefixed(const absl::Status& status, absl::string_view prefix) {
  absl::Status out(status.code(), absl::StrCat(prefix, ": ", status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

std::string ThroughputLine(const ImportSummary& summary) {
  double seconds = absl::ToDoubleSeconds(summary.elapsed);
  double rate = seconds > 0 ? static_cast<double>(summary.concepts) / seconds : 0.0;
  return absl::StrFormat("imported %d concepts in %.1f s (%.0f concepts/s), %d associations",
                         summary.concepts, seconds, rate, summary.associations);
}

BulkLearner::BulkLearner(const RpcClient& client, std::string ns, const BulkOptions& options,
                         Progress* progress, std::function<void(absl::Duration)> sleep)
    : client_(client),
      ns_(std::move(ns)),
      options_(options),
      progress_(progress),
      sleep_(std::move(sleep)),
      queue_(static_cast<int>(std::max<uint32_t>(options.parallel, 1)),
             std::max<uint32_t>(options.parallel, 1)) {}

absl::Status BulkLearner::FirstError() {
  sync::MutexLock lock(&mu_);
  return first_error_;
}

absl::Status BulkLearner::Add(engram::v1::LearnBatchRequest batch, std::string label,
                              uint64_t units) {
  RETURN_IF_ERROR(FirstError());
  batch.set_namespace_(ns_);
  auto shared = std::make_shared<engram::v1::LearnBatchRequest>(std::move(batch));
  queue_.Submit([this, shared, label = std::move(label), units] {
    if (!FirstError().ok()) return;  // the pipeline has stopped
    absl::Status status = Send(*shared, units);
    if (!status.ok()) {
      sync::MutexLock lock(&mu_);
      if (first_error_.ok()) first_error_ = Prefixed(status, label);
    }
  });
  return absl::OkStatus();
}

absl::Status BulkLearner::Send(const engram::v1::LearnBatchRequest& batch, uint64_t units) {
  engram::v1::LearnBatchResponse response;
  absl::Status status = CallWithRetry(
      [&] {
        response.Clear();
        return client_.Call(&Stub::LearnBatch, batch, &response);
      },
      options_.retry, sleep_);
  // Items plus the associations extracted for them can need more than one atomic write holds
  // (a namespace already full of similar concepts): the batch changed nothing, and each half
  // is sent on its own, down to single items if need be.
  const int n = batch.concepts_size();
  if (n > 1 && status::HasReason(status, status::ErrorDetail::WRITE_TOO_LARGE)) {
    engram::v1::LearnBatchRequest half;
    half.set_namespace_(batch.namespace_());
    for (int i = 0; i < n / 2; ++i) *half.add_concepts() = batch.concepts(i);
    RETURN_IF_ERROR(Send(half, units / 2));
    half.clear_concepts();
    for (int i = n / 2; i < n; ++i) *half.add_concepts() = batch.concepts(i);
    return Send(half, units - units / 2);
  }
  RETURN_IF_ERROR(status);
  uint64_t created = 0;
  for (const auto& result : response.results()) created += result.created() ? 1 : 0;
  concepts_ += static_cast<uint64_t>(n);
  created_ += created;
  associations_ += response.associations_created();
  if (progress_ != nullptr) progress_->Add(units, static_cast<uint64_t>(n));
  return absl::OkStatus();
}

absl::Status BulkLearner::Finish() {
  queue_.Wait();
  return FirstError();
}

BulkAssociator::BulkAssociator(const RpcClient& client, std::string ns, const BulkOptions& options,
                               Mode mode, Progress* progress,
                               std::function<void(absl::Duration)> sleep)
    : client_(client),
      ns_(std::move(ns)),
      options_(options),
      mode_(mode),
      progress_(progress),
      sleep_(std::move(sleep)),
      queue_(static_cast<int>(std::max<uint32_t>(options.parallel, 1)),
             std::max<uint32_t>(options.parallel, 1)) {}

absl::Status BulkAssociator::first_error() {
  sync::MutexLock lock(&mu_);
  return first_error_;
}

void BulkAssociator::Record(const absl::Status& status) {
  sync::MutexLock lock(&mu_);
  if (first_error_.ok()) first_error_ = status;
}

absl::Status BulkAssociator::Add(engram::v1::AssociateBatchRequest batch, std::string label,
                                 uint64_t units, std::vector<std::string> item_labels) {
  if (mode_ == Mode::kStopAtFirstError) RETURN_IF_ERROR(first_error());
  batch.set_namespace_(ns_);
  auto shared = std::make_shared<engram::v1::AssociateBatchRequest>(std::move(batch));
  queue_.Submit([this, shared, label = std::move(label), units,
                 item_labels = std::move(item_labels)] {
    const uint64_t items = static_cast<uint64_t>(shared->associations_size());
    if (mode_ == Mode::kStopAtFirstError && !first_error().ok()) return;  // stopped
    engram::v1::AssociateBatchResponse response;
    absl::Status status = CallWithRetry(
        [&] {
          response.Clear();
          return client_.Call(&Stub::AssociateBatch, *shared, &response);
        },
        options_.retry, sleep_);
    if (status.ok()) {
      written_ += items;
    } else if (mode_ == Mode::kStopAtFirstError) {
      // "associations[3].target: ..." -> "<item 3's label>: target: ..."
      absl::string_view message = status.message();
      int index = -1;
      const size_t close = message.find("].");
      if (absl::StartsWith(message, "associations[") && close != absl::string_view::npos &&
          absl::SimpleAtoi(message.substr(13, close - 13), &index) && index >= 0 &&
          static_cast<size_t>(index) < item_labels.size()) {
        absl::Status rest(status.code(), message.substr(close + 2));
        status.ForEachPayload([&rest](absl::string_view url, const absl::Cord& payload) {
          rest.SetPayload(url, payload);
        });
        Record(Prefixed(rest, item_labels[static_cast<size_t>(index)]));
      } else {
        Record(Prefixed(status, label));
      }
      failed_ += items;
      return;
    } else if (IsRetryable(status)) {
      failed_ += items;
      Record(Prefixed(status, label));
    } else {
      // One bad item refuses the whole (atomic) batch: write the others one by one.
      for (int i = 0; i < shared->associations_size(); ++i) {
        engram::v1::AssociateRequest single = shared->associations(i);
        single.set_namespace_(ns_);
        engram::v1::Association stored;
        absl::Status one = CallWithRetry(
            [&] { return client_.Call(&Stub::Associate, single, &stored); }, options_.retry,
            sleep_);
        if (one.ok()) {
          ++written_;
        } else {
          ++failed_;
          Record(Prefixed(one, static_cast<size_t>(i) < item_labels.size()
                                   ? item_labels[static_cast<size_t>(i)]
                                   : absl::StrCat(single.source(), " -> ", single.target())));
        }
      }
    }
    if (progress_ != nullptr) progress_->Add(units, items);
  });
  return absl::OkStatus();
}

absl::Status BulkAssociator::Finish() {
  queue_.Wait();
  if (mode_ == Mode::kStopAtFirstError) return first_error();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<engram::v1::AssociateRequest>> ParseAssociationLine(
    absl::string_view line, absl::string_view ns) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return std::optional<engram::v1::AssociateRequest>();
  engram::v1::AssociateRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &request, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an Associate body: ", std::string(status.message())));
  }
  if (request.source().empty()) return absl::InvalidArgumentError("source: required");
  if (request.target().empty()) return absl::InvalidArgumentError("target: required");
  if (request.type() == engram::v1::ASSOCIATION_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "type: required (SEMANTIC, CAUSAL, TEMPORAL, HIERARCHICAL or COMPOSITIONAL)");
  }
  if (!request.namespace_().empty() && request.namespace_() != ns) {
    return absl::InvalidArgumentError(absl::StrCat("namespace: '", request.namespace_(),
                                                   "' differs from the target namespace '", ns,
                                                   "' (omit it or use --namespace)"));
  }
  request.clear_namespace_();
  return std::optional<engram::v1::AssociateRequest>(std::move(request));
}

absl::StatusOr<std::optional<engram::v1::LearnRequest>> ParseJsonlLine(absl::string_view line,
                                                                       absl::string_view ns) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return std::optional<engram::v1::LearnRequest>();
  engram::v1::LearnRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &request, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a Learn body: ", std::string(status.message())));
  }
  if (request.content().empty()) return absl::InvalidArgumentError("content: required");
  if (!request.namespace_().empty() && request.namespace_() != ns) {
    return absl::InvalidArgumentError(absl::StrCat("namespace: '", request.namespace_(),
                                                   "' differs from the target namespace '", ns,
                                                   "' (omit it or use --namespace)"));
  }
  for (int i = 0; i < request.vector_size(); ++i) {
    if (!std::isfinite(request.vector(i))) {
      return absl::InvalidArgumentError(absl::StrCat("vector[", i, "]: not finite"));
    }
  }
  request.clear_namespace_();
  return std::optional<engram::v1::LearnRequest>(std::move(request));
}

absl::StatusOr<ImportRecord> ParseJsonlRecord(absl::string_view line, absl::string_view ns) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return ImportRecord();
  // An export record is an object with one key whose value is an object: {"<key>": {...}}.
  absl::string_view rest = line;
  std::string key;
  const auto skip_space = [&rest] { rest = absl::StripLeadingAsciiWhitespace(rest); };
  if (absl::ConsumePrefix(&rest, "{")) {
    skip_space();
    if (absl::ConsumePrefix(&rest, "\"")) {
      const size_t quote = rest.find('"');
      if (quote != absl::string_view::npos) {
        key = std::string(rest.substr(0, quote));
        rest.remove_prefix(quote + 1);
        skip_space();
      }
    }
  }
  const bool record = (key == "namespace" || key == "concept" || key == "association" ||
                       key == "error") &&
                      absl::ConsumePrefix(&rest, ":") &&
                      absl::StartsWith(absl::StripLeadingAsciiWhitespace(rest), "{") &&
                      absl::ConsumeSuffix(&rest, "}");
  if (!record) {  // a Learn body ("namespace" is then a string)
    ASSIGN_OR_RETURN(std::optional<engram::v1::LearnRequest> learn, ParseJsonlLine(line, ns));
    if (!learn) return ImportRecord();
    return ImportRecord(std::move(*learn));
  }
  const google::protobuf::StringPiece value(rest.data(), rest.size());
  google::protobuf::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  const auto parse = [&](google::protobuf::Message* message) -> absl::Status {
    auto status = google::protobuf::util::JsonStringToMessage(value, message, strict);
    if (status.ok()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": not a ", message->GetDescriptor()->name(), ": ",
                     std::string(status.message())));
  };
  if (key == "error") return ImportRecord(ExportError{std::string(absl::StripAsciiWhitespace(rest))});
  if (key == "namespace") {
    engram::v1::Namespace exported;
    RETURN_IF_ERROR(parse(&exported));
    if (exported.dimension() == 0) return absl::InvalidArgumentError("namespace.dimension: required");
    return ImportRecord(std::move(exported));
  }
  if (key == "concept") {
    engram::v1::Concept exported;
    RETURN_IF_ERROR(parse(&exported));
    if (exported.id().empty()) return absl::InvalidArgumentError("concept.id: required");
    if (exported.content().empty()) return absl::InvalidArgumentError("concept.content: required");
    engram::v1::LearnRequest learn;
    learn.set_id(exported.id());
    learn.set_content(exported.content());
    *learn.mutable_vector() = exported.vector();
    *learn.mutable_attributes() = exported.attributes();
    learn.mutable_extract_associations()->set_value(false);
    // The strength travels (the reasoner weighs a word's senses by it); a line without one (not
    // an export: exports print every field) is learned at the default. Only a 0 can mean either,
    // so only then is the line read again for the field's presence.
    google::protobuf::Struct fields;
    if (exported.strength() != 0 ||
        (google::protobuf::util::JsonStringToMessage(value, &fields).ok() &&
         fields.fields().contains("strength"))) {
      if (!std::isfinite(exported.strength()) || exported.strength() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("concept.strength: ", exported.strength(), ": must be finite and >= 0"));
      }
      learn.mutable_strength()->set_value(exported.strength());
    }
    for (int i = 0; i < learn.vector_size(); ++i) {
      if (!std::isfinite(learn.vector(i))) {
        return absl::InvalidArgumentError(absl::StrCat("concept.vector[", i, "]: not finite"));
      }
    }
    return ImportRecord(std::move(learn));
  }
  engram::v1::Association association;
  RETURN_IF_ERROR(parse(&association));
  if (association.source().empty()) return absl::InvalidArgumentError("association.source: required");
  if (association.target().empty()) return absl::InvalidArgumentError("association.target: required");
  if (association.type() == engram::v1::ASSOCIATION_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("association.type: required");
  }
  engram::v1::AssociateRequest associate;
  associate.set_source(association.source());
  associate.set_target(association.target());
  associate.set_type(association.type());
  associate.mutable_confidence()->set_value(association.confidence());
  associate.mutable_weight()->set_value(association.weight());
  return ImportRecord(std::move(associate));
}

namespace {

// The namespace `create.name()`: the existing one, or one created from `create` (`*created` says
// which). A namespace created concurrently by someone else counts as existing.
absl::StatusOr<engram::v1::Namespace> GetOrCreateNamespace(
    const RpcClient& client, const engram::v1::CreateNamespaceRequest& create, bool* created) {
  engram::v1::GetNamespaceRequest get;
  get.set_namespace_(create.name());
  engram::v1::Namespace ns;
  *created = false;
  absl::Status status = client.Call(&Stub::GetNamespace, get, &ns);
  if (status.code() != absl::StatusCode::kNotFound) {
    RETURN_IF_ERROR(status);
    return ns;
  }
  status = client.Call(&Stub::CreateNamespace, create, &ns);
  if (status.code() == absl::StatusCode::kAlreadyExists) {  // a race
    RETURN_IF_ERROR(client.Call(&Stub::GetNamespace, get, &ns));
    return ns;
  }
  RETURN_IF_ERROR(status);
  *created = true;
  return ns;
}

// `ns` for an export's namespace record: created like `exported` when missing; an existing one
// must have its dimension (the exported vectors are that long).
absl::Status PrepareNamespace(const RpcClient& client, const std::string& ns,
                              const engram::v1::Namespace& exported, std::ostream* log) {
  engram::v1::CreateNamespaceRequest create;
  create.set_name(ns);
  create.set_dimension(exported.dimension());
  create.set_metric(exported.metric());
  create.set_embedder(exported.embedder());
  *create.mutable_index_params() = exported.index_params();
  *create.mutable_keyword_fields() = exported.keyword_fields();
  bool created = false;
  ASSIGN_OR_RETURN(engram::v1::Namespace target, GetOrCreateNamespace(client, create, &created));
  if (target.dimension() != exported.dimension()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "namespace: '", ns, "' exists with dimension ", target.dimension(),
        ", the export's namespace '", exported.name(), "' has dimension ", exported.dimension(),
        " (import into a new namespace)"));
  }
  if (log == nullptr) return absl::OkStatus();
  if (created) {
    *log << "created namespace " << ns << " like the exported '" << exported.name()
         << "' (dimension " << target.dimension() << ", embedder " << target.embedder() << ")\n";
  } else if (target.embedder() != exported.embedder()) {
    *log << "note: namespace " << ns << " embeds with '" << target.embedder()
         << "', the export's with '" << exported.embedder()
         << "': imported vectors are kept, new text is embedded with '" << target.embedder()
         << "'\n";
  }
  return absl::OkStatus();
}

// Reads, batches and sends the records of `in` (ImportLines); `label` and `item_name` are the
// progress display's.
absl::StatusOr<ImportSummary> ImportRecords(const RpcClient& client, std::istream& in,
                                            absl::string_view name, uint64_t total_bytes,
                                            const LineParser& parse, const std::string& ns,
                                            const BulkOptions& options, Progress* progress,
                                            const std::function<void(absl::Duration)>& sleep,
                                            const std::function<absl::Time()>& now,
                                            std::ostream* log, std::string label,
                                            std::string item_name) {
  const absl::Time start = now();
  if (progress != nullptr) progress->Start(std::move(label), total_bytes, std::move(item_name));
  BulkLearner learner(client, ns, options, progress, sleep);
  // Created at the first association, once every concept has been written.
  std::optional<BulkAssociator> associator;
  const uint32_t batch_size = std::clamp<uint32_t>(options.batch, 1, kMaxBatch);

  engram::v1::LearnBatchRequest batch;
  engram::v1::AssociateBatchRequest edges;
  std::vector<std::string> edge_labels;
  size_t first_line = 0;
  uint64_t batch_bytes = 0;
  auto send = [&](size_t last_line) {
    std::string label = absl::StrCat(name, " lines ", first_line, "-", last_line);
    absl::Status status;
    if (associator) {
      status = associator->Add(std::move(edges), std::move(label), batch_bytes,
                               std::move(edge_labels));
      edges.Clear();
      edge_labels.clear();
    } else {
      status = learner.Add(std::move(batch), std::move(label), batch_bytes);
      batch.Clear();
    }
    batch_bytes = 0;
    return status;
  };
  auto pending = [&] { return batch.concepts_size() + edges.associations_size(); };
  auto fail = [&](absl::Status status) {
    // The batches already sent finish; report `status`.
    learner.Finish().IgnoreError();
    if (associator) associator->Finish().IgnoreError();
    if (progress != nullptr) progress->Finish();
    return status;
  };
  auto at_line = [&](size_t line_no, const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat(name, " line ", line_no, ": ", status.message()));
  };

  std::string line;
  size_t line_no = 0;
  bool concepts_seen = false;
  while (std::getline(in, line)) {
    ++line_no;
    batch_bytes += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    absl::StatusOr<ImportRecord> parsed = parse(line, line_no);
    if (!parsed.ok()) return fail(at_line(line_no, parsed.status()));
    if (auto* error = std::get_if<ExportError>(&*parsed)) {
      return fail(at_line(line_no, absl::DataLossError(absl::StrCat(
                                       "the export this file holds failed there, it is incomplete: ",
                                       error->json))));
    }
    if (auto* exported = std::get_if<engram::v1::Namespace>(&*parsed)) {
      if (concepts_seen || associator) {
        return fail(at_line(line_no, absl::InvalidArgumentError(
                                         "namespace: must come before every concept")));
      }
      if (absl::Status s = PrepareNamespace(client, ns, *exported, log); !s.ok()) {
        return fail(at_line(line_no, s));
      }
      continue;
    }
    if (auto* learn = std::get_if<engram::v1::LearnRequest>(&*parsed)) {
      if (associator) {
        return fail(at_line(line_no, absl::InvalidArgumentError(
                                         "concepts must come before every association")));
      }
      concepts_seen = true;
      if (batch.concepts_size() == 0) first_line = line_no;
      *batch.add_concepts() = std::move(*learn);
    } else if (auto* association = std::get_if<engram::v1::AssociateRequest>(&*parsed)) {
      if (!associator) {
        // Every association's ends must exist: write the concepts first.
        if (batch.concepts_size() > 0) {
          if (absl::Status s = send(line_no - 1); !s.ok()) return fail(s);
        }
        if (absl::Status s = learner.Finish(); !s.ok()) return fail(s);
        associator.emplace(client, ns, options, BulkAssociator::Mode::kStopAtFirstError, progress,
                           sleep);
        batch_bytes = line.size() + 1;
      }
      if (edges.associations_size() == 0) first_line = line_no;
      *edges.add_associations() = std::move(*association);
      edge_labels.push_back(absl::StrCat(name, " line ", line_no));
    } else {
      continue;  // blank
    }
    if (static_cast<uint32_t>(pending()) >= batch_size) {
      if (absl::Status s = send(line_no); !s.ok()) return fail(s);
    }
  }
  if (in.bad()) return fail(absl::DataLossError(absl::StrCat(name, ": read error")));
  if (pending() > 0) {
    if (absl::Status s = send(line_no); !s.ok()) return fail(s);
  }
  absl::Status status = learner.Finish();
  if (status.ok() && associator) status = associator->Finish();
  if (progress != nullptr) progress->Finish();
  RETURN_IF_ERROR(status);
  ImportSummary summary;
  summary.concepts = learner.concepts();
  summary.created = learner.created();
  summary.associations = learner.associations() + (associator ? associator->written() : 0);
  summary.elapsed = now() - start;
  return summary;
}


}  // namespace

absl::StatusOr<ImportSummary> ImportLines(const RpcClient& client, std::istream& in,
                                          absl::string_view name, uint64_t total_bytes,
                                          const LineParser& parse, const std::string& ns,
                                          const BulkOptions& options, Progress* progress,
                                          const std::function<void(absl::Duration)>& sleep,
                                          const std::function<absl::Time()>& now,
                                          std::ostream* log) {
  return ImportRecords(client, in, name, total_bytes, parse, ns, options, progress, sleep, now, log,
                       "importing", "concepts");
}

absl::StatusOr<ImportSummary> ImportAssociationLines(
    const RpcClient& client, std::istream& in, absl::string_view name, uint64_t total_bytes,
    const std::string& ns, const BulkOptions& options, Progress* progress,
    const std::function<void(absl::Duration)>& sleep, const std::function<absl::Time()>& now) {
  LineParser parse = [&ns](absl::string_view line, size_t) -> absl::StatusOr<ImportRecord> {
    ASSIGN_OR_RETURN(std::optional<engram::v1::AssociateRequest> association,
                     ParseAssociationLine(line, ns));
    if (!association) return ImportRecord();
    return ImportRecord(std::move(*association));
  };
  return ImportRecords(client, in, name, total_bytes, parse, ns, options, progress, sleep, now,
                       /*log=*/nullptr, "associating", "associations");
}

namespace {

// "concepts: 82115 in 40.1 s (2048/s)"
std::string PhaseLine(absl::string_view what, uint64_t count, absl::Duration elapsed) {
  double seconds = absl::ToDoubleSeconds(elapsed);
  return absl::StrFormat("%s: %d in %.1f s (%.0f/s)", what, count, seconds,
                         seconds > 0 ? static_cast<double>(count) / seconds : 0.0);
}

absl::Status EnsureNamespace(const RpcClient& client, const std::string& ns, std::ostream* log) {
  engram::v1::CreateNamespaceRequest create;
  create.set_name(ns);
  create.set_embedder("hashing");
  *create.add_keyword_fields() = WordNetLemmasField();
  bool created = false;
  ASSIGN_OR_RETURN(engram::v1::Namespace target, GetOrCreateNamespace(client, create, &created));
  if (created && log != nullptr) {
    *log << "created namespace " << ns << " (hashing embedder, dimension " << target.dimension()
         << ", keyword field lemmas^3)\n";
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImportSummary> ImportWordNet(const RpcClient& client,
                                            const WordNetImportOptions& options, Progress* progress,
                                            std::ostream* log,
                                            const std::function<void(absl::Duration)>& sleep,
                                            const std::function<absl::Time()>& now) {
  const absl::Time start = now();
  // Read and check the whole input before writing anything.
  ASSIGN_OR_RETURN(std::vector<WordNetSynset> synsets,
                   ReadWordNetNouns(options.dir, options.limit));
  const size_t nouns = synsets.size();
  if (options.verbs) {
    ASSIGN_OR_RETURN(std::vector<WordNetSynset> verbs, ReadWordNetVerbs(options.dir, options.limit));
    synsets.insert(synsets.end(), std::make_move_iterator(verbs.begin()),
                   std::make_move_iterator(verbs.end()));
  }
  ASSIGN_OR_RETURN(LexNames lexnames, ReadLexNames(options.dir));
  RETURN_IF_ERROR(AddSenseCounts(options.dir, &synsets));
  std::vector<engram::v1::AssociateRequest> associations = WordNetAssociations(synsets);
  if (log != nullptr) {
    const size_t counted = std::count_if(synsets.begin(), synsets.end(),
                                         [](const WordNetSynset& s) { return s.tag_count > 0; });
    *log << "wordnet: " << nouns << " noun synsets, " << synsets.size() - nouns
         << " verb synsets (" << counted << " with sense counts, learned as their strength), "
         << associations.size() << " associations from " << options.dir << " into namespace "
         << options.ns << "\n";
  }
  RETURN_IF_ERROR(EnsureNamespace(client, options.ns, log));

  ImportSummary summary;
  {
    if (progress != nullptr) progress->Start("concepts", synsets.size(), "concepts");
    BulkLearner learner(client, options.ns, options.bulk, progress, sleep);
    const size_t batch_size = std::clamp<uint32_t>(options.bulk.batch, 1, kMaxBatch);
    absl::Status status;
    for (size_t first = 0; first < synsets.size() && status.ok(); first += batch_size) {
      size_t last = std::min(synsets.size(), first + batch_size);
      engram::v1::LearnBatchRequest batch;
      for (size_t i = first; i < last; ++i) {
        *batch.add_concepts() = SynsetToLearnRequest(synsets[i], lexnames);
      }
      status = learner.Add(std::move(batch),
                           absl::StrCat("synsets ", first + 1, "-", last, " (",
                                        SynsetId(synsets[first].ss_type, synsets[first].offset),
                                        "...)"),
                           last - first);
    }
    absl::Status finished = learner.Finish();
    if (progress != nullptr) progress->Finish();
    RETURN_IF_ERROR(status);
    RETURN_IF_ERROR(finished);
    summary.concepts = learner.concepts();
    summary.created = learner.created();
    summary.associations = learner.associations();
    if (log != nullptr) *log << PhaseLine("concepts", summary.concepts, now() - start) << "\n";
  }
  const absl::Time associations_start = now();

  if (progress != nullptr) progress->Start("associations", associations.size(), "associations");
  uint64_t written = 0;
  uint64_t failed = 0;
  absl::Status first_error;
  {
    BulkOptions bulk = options.bulk;
    bulk.parallel = std::max<uint32_t>(options.bulk.associate_parallel, 1);
    BulkAssociator associator(client, options.ns, bulk,
                              BulkAssociator::Mode::kFallBackToSingleItems, progress, sleep);
    const size_t batch_size = std::clamp<uint32_t>(options.bulk.batch, 1, kMaxBatch);
    for (size_t first = 0; first < associations.size(); first += batch_size) {
      const size_t last = std::min(associations.size(), first + batch_size);
      engram::v1::AssociateBatchRequest batch;
      std::vector<std::string> labels;
      for (size_t i = first; i < last; ++i) {
        labels.push_back(absl::StrCat(associations[i].source(), " -> ", associations[i].target()));
        *batch.add_associations() = std::move(associations[i]);
      }
      // Associate replaces (source, target, type): re-running the import is harmless.
      associator
          .Add(std::move(batch), absl::StrCat("associations ", first + 1, "-", last), last - first,
               std::move(labels))
          .IgnoreError();  // kFallBackToSingleItems never stops
    }
    associator.Finish().IgnoreError();
    written = associator.written();
    failed = associator.failed();
    first_error = associator.first_error();
  }
  if (progress != nullptr) progress->Finish();
  if (log != nullptr) {
    *log << PhaseLine("associations", written, now() - associations_start) << "\n";
  }
  summary.associations += written;
  summary.association_failures = failed;
  summary.first_association_error = first_error;
  summary.elapsed = now() - start;
  return summary;
}

}  // namespace engram::cli
