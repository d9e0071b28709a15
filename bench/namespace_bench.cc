// namespace_bench: what an empty namespace costs the storage engine, in memory and at startup.
//
//   namespace_bench [--namespaces=1000] [--dim=128] [--dir=/tmp/engram_namespace_bench]
//
// In process (engram::storage::Engine, --sync=relaxed): creates --namespaces empty namespaces of
// --dim-d vectors one by one and reports the growth of the process's resident set (VmRSS) and of
// the heap in use (mallinfo2) per namespace, and the creation rate; then closes the engine, opens
// it again (every namespace is mapped and its derived state loaded) and reports the open time, the
// resident set per namespace and the process's threads after it. A store that serves one namespace
// per tenant holds thousands of them; their fixed cost is what this measures.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(int, namespaces, 1000, "Empty namespaces to create.");
ABSL_FLAG(uint32_t, dim, 128, "Vector dimension of each namespace.");
ABSL_FLAG(std::string, dir, "/tmp/engram_namespace_bench", "Scratch store directory (wiped).");

namespace {

namespace es = engram::storage;
using Clock = std::chrono::steady_clock;

// A numeric field of /proc/self/status ("VmRSS", "Threads").
double Status(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1));
  }
  return -1;
}
double RssKb() { return Status("VmRSS"); }

double HeapKb() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / 1024;
}

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

absl::StatusOr<std::unique_ptr<es::Engine>> Open(const std::string& dir) {
  es::EngineOptions o;
  o.data_dir = dir;
  o.sync_mode = es::wal::SyncMode::kRelaxed;
  o.create_default_namespace = false;
  return es::Engine::Open(o);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_namespaces);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  if (n < 1) {
    fprintf(stderr, "--namespaces: must be at least 1\n");
    return 2;
  }
  std::filesystem::remove_all(dir);
  {
    auto engine = Open(dir);
    if (!engine.ok()) {
      fprintf(stderr, "open: %s\n", engine.status().ToString().c_str());
      return 1;
    }
    const double rss0 = RssKb(), heap0 = HeapKb();
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      es::v1::NamespaceConfig config;
      config.set_name(absl::StrCat("tenant-", i));
      config.set_dimension(absl::GetFlag(FLAGS_dim));
      if (auto s = (*engine)->CreateNamespace(config); !s.ok()) {
        fprintf(stderr, "create %d: %s\n", i, s.status().ToString().c_str());
        return 1;
      }
    }
    const double create_s = Since(t0);
    printf("created %d namespaces in %.2f s (%.0f/s): RSS +%.1f KB and heap in use +%.1f KB per namespace\n",
           n, create_s, n / create_s, (RssKb() - rss0) / n, (HeapKb() - heap0) / n);
    if (auto s = (*engine)->Close(); !s.ok()) {
      fprintf(stderr, "close: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double rss0 = RssKb();
  const auto t0 = Clock::now();
  auto engine = Open(dir);
  if (!engine.ok()) {
    fprintf(stderr, "reopen: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  printf("reopened %d namespaces in %.3f s: RSS +%.1f KB per namespace, %.0f threads in the process\n",
         n, Since(t0), (RssKb() - rss0) / n, Status("Threads"));
  engine->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
