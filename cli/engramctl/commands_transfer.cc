// engramctl's bulk transfer commands: import jsonl (Learn bodies, or an export read back),
// import wordnet, and export (a namespace as NDJSON).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/engramctl/atomic_file.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/export.h"
#include "cli/engramctl/wordnet.h"

namespace engram::cli::commands {
namespace {

absl::Status ImportJsonl(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("import jsonl");
  BulkOptions bulk;
  uint32_t retries = 5;
  parser.AddUint("batch", &bulk.batch, 1, kMaxBatch, "N", "concepts per LearnBatch (default 500)");
  parser.AddUint("parallel", &bulk.parallel, 1, 64, "N", "batches in flight (default 4)");
  parser.AddUint("retries", &retries, 0, 100, "N",
                 "retries of a batch refused with RESOURCE_EXHAUSTED/UNAVAILABLE (default 5)");
  if (inv.help) {
    return PrintHelp(inv, "import jsonl <FILE|->",
                     "Bulk import: one JSON Learn body per line, "
                     "{\"content\", \"id\"?, \"vector\"?, \"attributes\"?, "
                     "\"extractAssociations\"?}, sent as LearnBatch; or a file written by "
                     "'engramctl export' (or GET /v1/namespaces/{namespace}:export): its "
                     "namespace line creates --namespace like the exported one when it is "
                     "missing, its concepts are learned with their ids, vectors and attributes "
                     "(no association extraction), then its associations are written with "
                     "AssociateBatch. A bad line, or an export's error line, stops the import "
                     "with an error naming the line, before its batch is sent.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("import jsonl", positionals, {"<FILE|->"}));
  bulk.retry.max_attempts = static_cast<int>(retries) + 1;
  const std::string ns = inv.options().ns;
  LineParser parse = [ns](absl::string_view line, size_t) { return ParseJsonlRecord(line, ns); };
  ASSIGN_OR_RETURN(ImportSummary summary,
                   ImportFrom(inv, positionals[0],
                              [&](const RpcClient& client, Progress* progress, std::istream& in,
                                  absl::string_view name, uint64_t size) {
                                return ImportLines(client, in, name, size, parse, ns, bulk,
                                                   progress, inv.io().sleep, inv.io().now,
                                                   inv.io().err);
                              }));
  return FinishImport(inv, summary);
}

absl::Status ImportWordNetCommand(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("import wordnet");
  WordNetImportOptions options;
  uint64_t limit = 0;
  uint32_t retries = 5;
  parser.AddUint64("limit", &limit, 0, UINT64_MAX, "N",
                   "import only the first N synsets (and the associations among them)");
  parser.AddBool("verbs", &options.verbs,
                 "also import the verb synsets (wn-v-<offset>): verb hypernyms as HIERARCHICAL, "
                 "causes as CAUSAL (\"kill\" -> \"die\"), entailments as SEMANTIC");
  parser.AddUint("batch", &options.bulk.batch, 1, kMaxBatch, "N",
                 "concepts per LearnBatch and associations per AssociateBatch (default 500)");
  parser.AddUint("parallel", &options.bulk.parallel, 1, 64, "N", "batches in flight (default 4)");
  parser.AddUint("associate_parallel", &options.bulk.associate_parallel, 1, 256, "N",
                 "AssociateBatch calls in flight (default 4; --batch associations each)");
  parser.AddUint("retries", &retries, 0, 100, "N",
                 "retries of a call refused with RESOURCE_EXHAUSTED/UNAVAILABLE (default 5)");
  if (inv.help) {
    return PrintHelp(inv, "import wordnet [DIR] [--limit N] [--verbs]",
                     "Imports WordNet's noun synsets from DIR (default /usr/share/wordnet, "
                     "Debian package wordnet-base) into --namespace (default \"wordnet\", created "
                     "with the hashing embedder when missing): concepts \"wn-n-<offset>\", "
                     "hypernyms as HIERARCHICAL, holonyms as COMPOSITIONAL, domains as SEMANTIC "
                     "associations. Re-running is idempotent.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("import wordnet", positionals, {"[DIR]"}, /*optional=*/1));
  options.dir = positionals.empty() ? kDefaultWordNetDir : positionals[0];
  options.ns = inv.options().ns_from_flag ? inv.options().ns : "wordnet";
  options.limit = static_cast<size_t>(limit);
  options.bulk.retry.max_attempts = static_cast<int>(retries) + 1;
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  ASSIGN_OR_RETURN(ImportSummary summary, ImportWordNet(*client, options, &progress, inv.io().err,
                                                        inv.io().sleep, inv.io().now));
  return FinishImport(inv, summary);
}

}  // namespace

absl::Status Import(Invocation& inv, const std::vector<std::string>& args) {
  std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  std::string kind = args.empty() ? "" : args[0];
  if (kind == "jsonl") return ImportJsonl(inv, rest);
  if (kind == "wordnet") return ImportWordNetCommand(inv, rest);
  if (inv.help) {
    *inv.io().out << "usage: engramctl import jsonl <FILE|-> | engramctl import wordnet [DIR]\n"
                  << "Run 'engramctl import jsonl --help' or 'engramctl import wordnet --help'.\n";
    return absl::OkStatus();
  }
  if (kind.empty()) return UsageError("import: missing argument jsonl|wordnet");
  return UsageError(absl::StrCat("import: '", kind, "' is not jsonl or wordnet"));
}

absl::Status Export(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("export");
  double deadline = 0;
  parser.AddDouble("deadline", &deadline, 0, 7 * 86400, "SECONDS",
                   "bound on the whole export (default none: each server page has its own "
                   "deadline; --timeout does not apply)");
  if (inv.help) {
    return PrintHelp(inv, "export [FILE|-] [--deadline SECONDS]",
                     "Writes --namespace as NDJSON to FILE (default stdout): a namespace line, "
                     "every concept with its vector and attributes, then every association, from "
                     "one point-in-time view. A FILE appears only when the export is complete "
                     "(written to FILE.part, fsynced, renamed). 'engramctl import jsonl' takes it "
                     "back, into the same or a new namespace.",
                     &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("export", positionals, {"[FILE|-]"}, /*optional=*/1));
  const std::string file = positionals.empty() ? "-" : positionals[0];
  ASSIGN_OR_RETURN(const RpcClient* client, inv.Client());
  Progress progress = MakeProgress(inv.io());
  const absl::Duration timeout = deadline > 0 ? absl::Seconds(deadline) : absl::InfiniteDuration();
  const absl::Time start = inv.io().now();
  ExportSummary summary;
  if (file == "-") {
    RETURN_IF_ERROR(ExportNamespace(
        *client, inv.options().ns, timeout,
        [&](absl::string_view lines) {
          inv.io().out->write(lines.data(), static_cast<std::streamsize>(lines.size()));
          if (!*inv.io().out) return absl::DataLossError("export: cannot write to stdout");
          return absl::OkStatus();
        },
        &progress, &summary));
    inv.io().out->flush();
  } else {
    ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::Create(file));
    RETURN_IF_ERROR(ExportNamespace(
        *client, inv.options().ns, timeout,
        [&out](absl::string_view lines) { return out.Append(lines); }, &progress, &summary));
    RETURN_IF_ERROR(out.Commit());
  }
  const double seconds = absl::ToDoubleSeconds(inv.io().now() - start);
  // stdout may hold the export itself: the summary goes to stderr.
  *inv.io().err << absl::StrFormat(
      "exported namespace %s: %d concepts, %d associations, %d bytes to %s in %.1f s (%.1f MB/s)\n",
      inv.options().ns, summary.concepts, summary.associations, summary.bytes,
      file == "-" ? "stdout" : file, seconds,
      seconds > 0 ? static_cast<double>(summary.bytes) / 1e6 / seconds : 0.0);
  return absl::OkStatus();
}

}  // namespace engram::cli::commands
