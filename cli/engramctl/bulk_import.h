// Bulk loading over the public API: LearnBatch pipelines (JSONL and line files) and the WordNet
// importer.
//
//   BulkLearner learner(client, "default", {.batch = 500, .parallel = 4}, &progress, sleep);
//   RETURN_IF_ERROR(learner.Add(std::move(batch), "lines 1-500", /*units=*/bytes));
//   RETURN_IF_ERROR(learner.Finish());
//
// Batches are sent by `parallel` worker threads; Add blocks while that many batches are queued,
// so memory stays bounded. A batch refused with RESOURCE_EXHAUSTED or UNAVAILABLE is retried with
// backoff (LearnBatch is atomic, so a refused batch changed nothing, and ids make a repeat
// idempotent). A batch refused as WRITE_TOO_LARGE (its items and the associations extracted for
// them need more than one atomic storage write) is sent again as two halves, recursively. The
// first failure stops the pipeline: later Add calls return it without sending, batches already
// queued are dropped, and its message is prefixed with the batch's label.
//
// Input errors (a bad JSONL line) name the input and the line and are reported before anything
// of that batch is sent; batches before it have been sent by then.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/engramctl/progress.h"
#include "cli/engramctl/rpc_client.h"
#include "cli/engramctl/work_queue.h"
#include "common/sync/mutex.h"
#include "engram/v1/engram.pb.h"

namespace engram::cli {

inline constexpr uint32_t kMaxBatch = 1000;  // api.md: LearnBatch takes at most 1000 items

struct BulkOptions {
  uint32_t batch = 500;             // concepts (associations) per LearnBatch (AssociateBatch)
  uint32_t parallel = 4;            // LearnBatch (AssociateBatch) calls in flight
  uint32_t associate_parallel = 4;  // AssociateBatch calls in flight (WordNet)
  RetryPolicy retry;
};

struct ImportSummary {
  uint64_t concepts = 0;      // concepts acknowledged by the server
  uint64_t created = 0;       // of which were new
  uint64_t associations = 0;  // associations written
  uint64_t association_failures = 0;
  absl::Status first_association_error;  // the first of those failures
  absl::Duration elapsed;
};

// "imported N concepts in X s (Y concepts/s), M associations"
std::string ThroughputLine(const ImportSummary& summary);

class BulkLearner {
 public:
  BulkLearner(const RpcClient& client, std::string ns, const BulkOptions& options,
              Progress* progress, std::function<void(absl::Duration)> sleep);
  BulkLearner(const BulkLearner&) = delete;
  BulkLearner& operator=(const BulkLearner&) = delete;

  // Queues one batch (its namespace is set here). `units` is reported to the progress display
  // when the batch completes.
  absl::Status Add(engram::v1::LearnBatchRequest batch, std::string label, uint64_t units);
  // Waits for every queued batch; returns the first failure.
  absl::Status Finish();

  uint64_t concepts() const { return concepts_.load(); }
  uint64_t created() const { return created_.load(); }
  uint64_t associations() const { return associations_.load(); }

 private:
  absl::Status FirstError();
  // One LearnBatch with retries, split in halves while it is WRITE_TOO_LARGE; counts what was
  // learned.
  absl::Status Send(const engram::v1::LearnBatchRequest& batch, uint64_t units);

  const RpcClient& client_;
  const std::string ns_;
  const BulkOptions options_;
  Progress* const progress_;
  const std::function<void(absl::Duration)> sleep_;
  std::atomic<uint64_t> concepts_{0};
  std::atomic<uint64_t> created_{0};
  std::atomic<uint64_t> associations_{0};
  sync::Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  WorkQueue queue_;  // last: its destructor waits for tasks that use the members above
};

// Sends associations as AssociateBatch calls (each one atomic, durable write), `parallel` in
// flight, with the same retries and bounded queue as BulkLearner.
//
// Failure handling depends on `mode`:
//   kStopAtFirstError: the first failed batch stops the pipeline (later Add calls return it).
//     When the error names an item ("associations[3].target: ...") and the batch has item labels,
//     the error names that item's label instead ("edges.jsonl line 42: target: ...").
//   kFallBackToSingleItems: a batch refused for a reason other than RESOURCE_EXHAUSTED/UNAVAILABLE
//     is re-sent one Associate per item, so only the bad items fail; failures are counted
//     (failed(), first_error()) and the import goes on (WordNet).
class BulkAssociator {
 public:
  enum class Mode { kStopAtFirstError, kFallBackToSingleItems };

  BulkAssociator(const RpcClient& client, std::string ns, const BulkOptions& options, Mode mode,
                 Progress* progress, std::function<void(absl::Duration)> sleep);
  BulkAssociator(const BulkAssociator&) = delete;
  BulkAssociator& operator=(const BulkAssociator&) = delete;

  // Queues one batch (its namespace is set here). `item_labels`: one per item, or empty.
  absl::Status Add(engram::v1::AssociateBatchRequest batch, std::string label, uint64_t units,
                   std::vector<std::string> item_labels = {});
  // Waits for every queued batch; returns the first failure in kStopAtFirstError mode, else OK.
  absl::Status Finish();

  uint64_t written() const { return written_.load(); }
  uint64_t failed() const { return failed_.load(); }
  absl::Status first_error();

 private:
  void Record(const absl::Status& status);

  const RpcClient& client_;
  const std::string ns_;
  const BulkOptions options_;
  const Mode mode_;
  Progress* const progress_;
  const std::function<void(absl::Duration)> sleep_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> failed_{0};
  sync::Mutex mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  WorkQueue queue_;  // last: its destructor waits for tasks that use the members above
};

// A JSONL line of `associate --file`: one Associate body {source, target, type, confidence?,
// weight?}. Blank lines are skipped. Errors name the field.
absl::StatusOr<std::optional<engram::v1::AssociateRequest>> ParseAssociationLine(
    absl::string_view line, absl::string_view ns);

// Reads JSONL associations from `in`, batches them (options.batch, at most kMaxBatch) and sends
// them with AssociateBatch; the first failure stops the import, naming the input line.
absl::StatusOr<ImportSummary> ImportAssociationLines(
    const RpcClient& client, std::istream& in, absl::string_view name, uint64_t total_bytes,
    const std::string& ns, const BulkOptions& options, Progress* progress,
    const std::function<void(absl::Duration)>& sleep, const std::function<absl::Time()>& now);

// The error line that ends a failed export ({"error": {...}}): the export is incomplete.
struct ExportError {
  std::string json;  // the error object as written
};

// One input line: nothing (a blank line), a concept to learn, an association, the namespace a
// file was exported from, or an export's error line.
using ImportRecord = std::variant<std::monostate, engram::v1::LearnRequest,
                                  engram::v1::AssociateRequest, engram::v1::Namespace, ExportError>;

// Turns one input line (1-based `line_no`) into a record.
using LineParser =
    std::function<absl::StatusOr<ImportRecord>(absl::string_view line, size_t line_no)>;

// Reads `in` line by line and writes what it holds into `ns`:
//   * concepts are batched (options.batch) and sent with LearnBatch (BulkLearner);
//   * a namespace record (an export's first line) creates `ns` like it when `ns` does not exist
//     (dimension, metric, embedder, index parameters), and is refused when `ns` exists with
//     another dimension; it must come before any concept;
//   * associations (which must follow every concept) are sent with AssociateBatch once every
//     concept has been written (BulkAssociator, stopping at the first failure);
//   * an export's error line stops the import: the file is an incomplete export.
// `name` names the input in errors ("data.jsonl line 7: ..."); `total_bytes` (0: unknown) drives
// the progress bar; notes (namespace created) go to `log` when set.
absl::StatusOr<ImportSummary> ImportLines(const RpcClient& client, std::istream& in,
                                          absl::string_view name, uint64_t total_bytes,
                                          const LineParser& parse, const std::string& ns,
                                          const BulkOptions& options, Progress* progress,
                                          const std::function<void(absl::Duration)>& sleep,
                                          const std::function<absl::Time()>& now,
                                          std::ostream* log = nullptr);

// A JSONL line: one Learn body in the protobuf JSON mapping
// {content, id?, vector?, attributes?, extractAssociations?}. Blank lines are skipped. Errors
// name the field ("content: required", "vector[2]: not finite", or the JSON parser's message).
absl::StatusOr<std::optional<engram::v1::LearnRequest>> ParseJsonlLine(absl::string_view line,
                                                                       absl::string_view ns);

// A line of `import jsonl`: a Learn body (ParseJsonlLine) or a record of `engramctl export` /
// GET /v1/namespaces/{namespace}:export, an object with one key:
//   {"namespace": Namespace}      the exported namespace
//   {"concept": Concept}          learned with its id, content, vector and attributes, without
//                                 extracting associations (they are in the file)
//   {"association": Association}  written with its type, confidence and weight
//   {"error": {...}}              the export failed there
absl::StatusOr<ImportRecord> ParseJsonlRecord(absl::string_view line, absl::string_view ns);

struct WordNetImportOptions {
  std::string dir = "/usr/share/wordnet";
  std::string ns = "wordnet";
  size_t limit = 0;  // 0: every noun synset (and verb synset); else at most this many of each
  bool verbs = false;  // also the verb synsets (data.verb): hypernyms, causes, entailments
  BulkOptions bulk;
};

// Creates the namespace when missing (hashing embedder, keyword field lemmas^3:1), learns every
// noun synset (and verb synset with options.verbs), then writes
// every association among them with AssociateBatch (options.bulk.batch per call,
// options.bulk.associate_parallel in flight). Association failures are counted, not fatal
// (BulkAssociator::Mode::kFallBackToSingleItems); the summary holds the first. Notes (namespace
// created, phases) go to `log`.
absl::StatusOr<ImportSummary> ImportWordNet(const RpcClient& client,
                                            const WordNetImportOptions& options, Progress* progress,
                                            std::ostream* log,
                                            const std::function<void(absl::Duration)>& sleep,
                                            const std::function<absl::Time()>& now);

}  // namespace engram::cli
