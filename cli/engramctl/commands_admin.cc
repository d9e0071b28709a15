// engramctl's operator commands: stats (the store's statistics), snapshot (engram-storage's
// snapshots: create, list, download, delete, restore; snapshot.h) and storage (engram-storage's
// namespaces with their compaction state, and compaction; compaction.h).
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/engramctl/commands.h"
#include "cli/engramctl/render.h"

namespace engram::cli::commands {

absl::Status Stats(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("stats");
  if (inv.help) return PrintHelp(inv, "stats", "Prints the store's statistics.", &parser);
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  RETURN_IF_ERROR(ExpectPositionals("stats", positionals, {}));
  engram::v1::Stats response;
  RETURN_IF_ERROR(inv.Call(&Stub::GetStats, engram::v1::GetStatsRequest(), &response));
  inv.Print(response, RenderStats(response));
  return absl::OkStatus();
}

absl::Status Snapshot(Invocation& inv, const std::vector<std::string>& args) {
  FlagParser parser("snapshot");
  double transfer_timeout = 3600;
  parser.AddDouble("transfer_timeout", &transfer_timeout, 1, 7 * 86400, "SECONDS",
                   "deadline of create, download and restore (default 3600; list and delete use "
                   "--timeout)");
  if (inv.help) {
    return PrintHelp(
        inv, "snapshot create | list | download NAME [FILE] | delete NAME | restore FILE",
        "Snapshots of engram-storage (--storage_addr): create one while writes continue, "
        "list them, download one to FILE (default ./NAME.tar; verified against the "
        "server's SHA-256, written with a .sha256 file beside it), delete one, or restore "
        "an archive into an empty engram-storage.",
        &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, args));
  if (positionals.empty())
    return UsageError("snapshot: expected create, list, download, delete or restore");
  const std::string action = positionals[0];
  positionals.erase(positionals.begin());
  if (action == "create") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot create", positionals, {}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(transfer_timeout));
    ASSIGN_OR_RETURN(storage::v1::SnapshotInfo info, calls.Create());
    inv.Print(info, absl::StrCat("created ", RenderSnapshot(info)));
    return absl::OkStatus();
  }
  if (action == "list") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot list", positionals, {}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(inv.options().timeout_seconds));
    ASSIGN_OR_RETURN(std::vector<storage::v1::SnapshotInfo> all, calls.List());
    if (inv.json()) {
      for (const auto& info : all) inv.Print(info, "");
    } else if (all.empty()) {
      *inv.io().out << "no snapshots\n";
    } else {
      for (const auto& info : all) *inv.io().out << RenderSnapshot(info);
    }
    return absl::OkStatus();
  }
  if (action == "download") {
    if (positionals.empty() || positionals.size() > 2) {
      return UsageError("snapshot download: expected NAME [FILE]");
    }
    const std::string file = positionals.size() == 2 ? positionals[1] : positionals[0] + ".tar";
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(transfer_timeout));
    ASSIGN_OR_RETURN(storage::v1::SnapshotInfo info, calls.Download(positionals[0], file));
    inv.Print(info, absl::StrCat("downloaded ", info.name(), " to ", file, " (", info.size_bytes(),
                                 " bytes, SHA-256 verified)\n"));
    return absl::OkStatus();
  }
  if (action == "delete") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot delete", positionals, {"<NAME>"}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(inv.options().timeout_seconds));
    RETURN_IF_ERROR(calls.Delete(positionals[0]));
    inv.Print(storage::v1::DeleteSnapshotResponse(),
              absl::StrCat("deleted snapshot ", positionals[0], "\n"));
    return absl::OkStatus();
  }
  if (action == "restore") {
    RETURN_IF_ERROR(ExpectPositionals("snapshot restore", positionals, {"<FILE>"}));
    ASSIGN_OR_RETURN(SnapshotCalls calls, inv.Snapshots(transfer_timeout));
    ASSIGN_OR_RETURN(storage::v1::RestoreSnapshotResponse restored, calls.Restore(positionals[0]));
    inv.Print(restored, absl::StrCat("restored ", restored.snapshot().name(), ": ",
                                     restored.stats().concepts(), " concepts, ",
                                     restored.stats().associations(), " associations\n"));
    return absl::OkStatus();
  }
  return UsageError(
      absl::StrCat("snapshot: '", action, "' is not create, list, download, delete or restore"));
}

absl::Status Storage(Invocation& inv, const std::vector<std::string>& args) {
  // The action comes first (as for `namespaces`), so each action has only its own flags.
  std::string action;
  std::vector<std::string> rest = args;
  if (!args.empty() && !absl::StartsWith(args[0], "-")) {
    action = args[0];
    rest.erase(rest.begin());
  }
  FlagParser parser(action.empty() ? "storage" : absl::StrCat("storage ", action));
  bool wait = false;
  double wait_timeout = 3600;
  if (action == "compact" || inv.help) {
    parser.AddBool("wait", &wait,
                   "compact: wait until the compaction has finished and print its result");
    parser.AddDouble("wait_timeout", &wait_timeout, 1, 7 * 86400, "SECONDS",
                     "compact --wait: stop waiting after this long (default 3600; the compaction "
                     "goes on); each call is bounded by --timeout");
  }
  if (inv.help) {
    return PrintHelp(
        inv, "storage namespaces | compact NAME [--wait] [--wait_timeout SECONDS]",
        "engram-storage's own view of the namespaces (--storage_addr): data bytes, bytes a "
        "compaction would reclaim, generation and compaction state; or compact a namespace "
        "online (it is rewritten without superseded versions and deleted data while reads and "
        "writes go on). compact returns once the compaction is queued; with --wait it polls "
        "every 500 ms and prints the result (exit 1 when the compaction failed).",
        &parser);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> positionals, inv.Parse(&parser, rest));
  if (action.empty()) {
    return UsageError(positionals.empty()
                          ? "storage: expected namespaces or compact"
                          : "storage: namespaces or compact must come right after 'storage'");
  }
  if (action == "namespaces") {
    RETURN_IF_ERROR(ExpectPositionals("storage namespaces", positionals, {}));
    ASSIGN_OR_RETURN(CompactionCalls calls, inv.Compactions());
    ASSIGN_OR_RETURN(std::vector<storage::v1::NamespaceInfo> all, calls.ListNamespaces());
    if (inv.json()) {
      for (const auto& info : all) inv.Print(info, "");
    } else {
      *inv.io().out << RenderStorageNamespaces(all);
    }
    return absl::OkStatus();
  }
  if (action == "compact") {
    RETURN_IF_ERROR(ExpectPositionals("storage compact", positionals, {"<NAME>"}));
    const std::string& name = positionals[0];
    ASSIGN_OR_RETURN(CompactionCalls calls, inv.Compactions());
    ASSIGN_OR_RETURN(storage::v1::NamespaceInfo queued, calls.Compact(name));
    if (!wait) {
      inv.Print(queued, absl::StrCat("compaction of ", name, ": ",
                                     RenderCompactionState(queued.compaction()), " (generation ",
                                     queued.generation(), ", ",
                                     HumanBytes(queued.reclaimable_bytes()),
                                     " reclaimable); `engramctl storage namespaces` shows when it "
                                     "ends, or use --wait\n"));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(
        storage::v1::NamespaceInfo done,
        calls.Wait(name, queued,
                   {.timeout = absl::Seconds(wait_timeout), .now = inv.io().now,
                    .sleep = inv.io().sleep}));
    absl::Status result = CompactionResult(done);
    inv.Print(done, result.ok() ? RenderCompacted(done) : "");
    return result;
  }
  return UsageError(absl::StrCat("storage: '", action, "' is not namespaces or compact"));
}

}  // namespace engram::cli::commands
