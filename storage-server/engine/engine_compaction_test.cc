// Compaction through the engine: a compacted namespace answers every read as before, reclaims the
// garbage, keeps what was written while it ran, survives restarts and snapshots, and a compaction
// that cannot switch changes nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/engine_internal.h"
#include "storage-server/engine/testing/engine_fixture.h"

namespace engram::storage {
namespace {

using namespace engram::storage::testing;  // NOLINT
using ::testing::HasSubstr;

constexpr uint32_t kDim = 8;

// Everything a reader can ask of a namespace, as text: the scan (order included) with vectors
// and associations, every concept's neighbours, exact and graph vector searches, keyword searches
// and the counts.
std::vector<std::string> Answers(Engine& engine, const std::string& ns) {
  std::vector<std::string> out;
  v1::ScanRequest scan;
  scan.set_namespace_(ns);
  scan.set_page_size(64);
  scan.set_include_vector(true);
  scan.set_include_associations(true);
  std::vector<std::string> ids;
  std::vector<std::string> scanned;
  while (true) {
    auto page = engine.Scan(scan);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return out;
    // (A compaction lists concepts in creation order rather than last-update order.)
    for (const v1::Concept& c : page->concepts()) {
      ids.push_back(c.id());
      scanned.push_back(absl::StrCat("concept ", c.ShortDebugString()));
    }
    for (const v1::Association& a : page->associations()) {
      scanned.push_back(absl::StrCat("assoc ", a.ShortDebugString()));
    }
    if (page->next_page_token().empty()) break;
    scan.set_page_token(page->next_page_token());
  }
  std::sort(scanned.begin(), scanned.end());
  for (std::string& line : scanned) out.push_back(std::move(line));
  std::sort(ids.begin(), ids.end());
  for (const std::string& id : ids) {
    v1::GetConceptsRequest get;
    get.set_namespace_(ns);
    get.add_ids(id);
    auto got = engine.GetConcepts(get);
    EXPECT_TRUE(got.ok());
    if (got.ok()) out.push_back(absl::StrCat("get ", got->ShortDebugString()));
    v1::NeighborsRequest nb;
    nb.set_namespace_(ns);
    nb.set_id(id);
    auto n = engine.Neighbors(nb);
    EXPECT_TRUE(n.ok()) << n.status();
    if (n.ok()) out.push_back(absl::StrCat("neighbors ", id, " ", n->ShortDebugString()));
  }
  std::mt19937 rng(99);
  for (int q = 0; q < 10; ++q) {
    std::vector<float> v = RandomVector(rng, kDim);
    for (bool exact : {true, false}) {
      v1::SearchRequest s;
      s.set_namespace_(ns);
      s.mutable_vector()->Add(v.begin(), v.end());
      s.set_k(5);
      s.set_exact(exact);
      s.set_ef(256);  // the rebuilt graph must find the same neighbours as the old one
      auto r = engine.Search(s);
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok()) out.push_back(absl::StrCat("search ", exact, " ", r->ShortDebugString()));
    }
  }
  for (const char* text : {"apple", "orchard pear", "version 2", "stone fruit"}) {
    v1::SearchRequest s;
    s.set_namespace_(ns);
    s.set_text(text);
    s.set_mode(v1::SEARCH_MODE_KEYWORD);
    s.set_k(8);
    auto r = engine.Search(s);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) out.push_back(absl::StrCat("keyword ", text, " ", r->ShortDebugString()));
  }
  auto info = engine.GetNamespace(ns);
  EXPECT_TRUE(info.ok());
  if (info.ok()) {
    out.push_back(absl::StrCat("counts ", info->concept_count(), " ", info->association_count(),
                               " ", info->vector_count()));
  }
  return out;
}

// The first lines where two answer lists differ, or "" when they are equal.
std::string Diff(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  std::string out;
  int shown = 0;
  for (size_t i = 0; i < std::max(want.size(), got.size()) && shown < 3; ++i) {
    const std::string w = i < want.size() ? want[i] : "(none)";
    const std::string g = i < got.size() ? got[i] : "(none)";
    if (w == g) continue;
    size_t at = 0;
    while (at < w.size() && at < g.size() && w[at] == g[at]) ++at;
    const size_t from = at > 150 ? at - 150 : 0;
    absl::StrAppend(&out, "line ", i, " (", w.substr(0, 40), "...) from char ", from,
                    "\n  want: ", w.substr(from, 400), "\n  got:  ", g.substr(from, 400), "\n");
    ++shown;
  }
  if (want.size() != got.size()) absl::StrAppend(&out, want.size(), " lines vs ", got.size());
  return out;
}

bool Contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const std::string& l : lines) {
    if (l.find(needle) != std::string::npos) return true;
  }
  return false;
}

class CompactionTest : public ::testing::Test {
 protected:
  void Open(EngineOptions options) {
    options_ = options;
    auto e = Engine::Open(std::move(options));
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  void Reopen() {
    ASSERT_TRUE(engine_->Close().ok());
    engine_.reset();
    Open(options_);
  }
  void Write(std::vector<v1::Mutation> mutations) {
    auto w = engine_->Write(Batch("n", std::move(mutations)));
    ASSERT_TRUE(w.ok()) << w.status();
  }
  // 200 concepts with vectors, texts and attributes, 3 associations each; then every concept
  // rewritten twice, half of them deleted, a sixth of the associations removed.
  void LoadWithGarbage(Engine* engine) {
    std::mt19937 rng(7);
    auto write = [&](std::vector<v1::Mutation> m) {
      auto w = engine->Write(Batch("n", std::move(m)));
      ASSERT_TRUE(w.ok()) << w.status();
    };
    const char* words[] = {"apple", "pear", "plum", "orchard", "stone", "fruit", "tree", "seed"};
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 200; i += 20) {
        std::vector<v1::Mutation> batch;
        for (int j = i; j < i + 20; ++j) {
          batch.push_back(
              PutConcept(absl::StrCat("c", j),
                         absl::StrCat(words[j % 8], " ", words[(j / 8) % 8], " version ", round),
                         RandomVector(rng, kDim),
                         {{"group", absl::StrCat(j % 5)}, {"round", absl::StrCat(round)}}));
        }
        write(std::move(batch));
      }
      if (round == 0) {
        for (int i = 0; i < 200; i += 20) {
          std::vector<v1::Mutation> batch;
          for (int j = i; j < i + 20; ++j) {
            for (int k = 1; k <= 3; ++k) {
              batch.push_back(PutAssoc(absl::StrCat("c", j), absl::StrCat("c", (j + k * 7) % 200),
                                       k == 1 ? v1::CAUSAL : v1::HIERARCHICAL, 0.5f + 0.1f * k));
            }
          }
          write(std::move(batch));
        }
      }
    }
    for (int j = 0; j < 200; j += 6) {
      write({DeleteAssoc(absl::StrCat("c", j), absl::StrCat("c", (j + 7) % 200), v1::CAUSAL)});
    }
    for (int j = 1; j < 200; j += 2) write({DeleteConcept(absl::StrCat("c", j))});
  }

  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(CompactionTest, CompactedNamespaceAnswersAsBeforeReclaimsAndSurvivesRestart) {
  const auto dir = FreshDir("data");
  Open(TestOptions(dir));
  ASSERT_TRUE(engine_->CreateNamespace(Config("n", kDim)).ok());
  LoadWithGarbage(engine_.get());
  engine_->WaitForIndexing();
  const std::vector<std::string> before = Answers(*engine_, "n");
  ASSERT_TRUE(Contains(before, "counts 100 "));
  auto info = engine_->GetNamespace("n");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->generation(), 0u);
  EXPECT_GT(info->reclaimable_bytes(), 0u) << info->ShortDebugString();

  auto report = engine_->CompactNamespace("n");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->generation, 1u);
  // (The disk bytes shrink at scale -- bench/compaction_bench -- but at this size both
  // generations are one preallocated segment of each file.)
  // 100 live concepts and their live associations, nothing else.
  EXPECT_LT(report->records_copied, 100u + 300u);
  EXPECT_EQ(Diff(before, Answers(*engine_, "n")), "");
  info = engine_->GetNamespace("n");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->generation(), 1u);
  EXPECT_EQ(info->reclaimable_bytes(), 0u) << info->ShortDebugString();

  // On disk: only the new generation's directory remains.
  std::set<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(dir / "ns")) {
    dirs.insert(e.path().filename().string());
  }
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_THAT(*dirs.begin(), ::testing::EndsWith(".1"));

  // Writes go on into the compacted store, and everything survives a restart.
  std::mt19937 rng(3);
  Write({PutConcept("c0", "apple changed after compaction", RandomVector(rng, kDim)),
         PutConcept("new", "a new stone fruit", RandomVector(rng, kDim)),
         PutAssoc("new", "c0", v1::CAUSAL, 0.8f), DeleteConcept("c2")});
  engine_->WaitForIndexing();
  const std::vector<std::string> after_writes = Answers(*engine_, "n");
  EXPECT_TRUE(Contains(after_writes, "apple changed after compaction"));
  Reopen();
  engine_->WaitForIndexing();
  EXPECT_EQ(Diff(after_writes, Answers(*engine_, "n")), "");
  info = engine_->GetNamespace("n");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->generation(), 1u);

  // A second compaction moves on to generation 2.
  report = engine_->CompactNamespace("n");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->generation, 2u);
  EXPECT_EQ(Diff(after_writes, Answers(*engine_, "n")), "");
}

// Writes acknowledged while the new generation is built, and right before the switch, are all
// in it: the compacted namespace answers exactly as a twin that was never compacted.
TEST_F(CompactionTest, WritesDuringCompactionAreKept) {
  // One constant clock for both, so that their create and update times agree.
  auto clock = [] { return int64_t{1'700'000'000'000'000}; };
  EngineOptions twin_options = TestOptions(FreshDir("twin"));
  twin_options.clock_micros = clock;
  auto twin_or = Engine::Open(twin_options);
  ASSERT_TRUE(twin_or.ok());
  std::unique_ptr<Engine> twin = std::move(*twin_or);
  ASSERT_TRUE(twin->CreateNamespace(Config("n", kDim)).ok());

  std::vector<std::string> phases;
  EngineOptions options = TestOptions(FreshDir("data"));
  options.clock_micros = clock;
  options.compaction_hook = [&](std::string_view phase) {
    phases.emplace_back(phase);
    if (phase == "switched") return;  // on the writer thread
    std::mt19937 rng(phase == "built" ? 1 : 2);
    const std::string tag(phase);
    std::vector<v1::WriteRequest> writes = {
        Batch("n", {PutConcept("c0", "apple rewritten at " + tag, RandomVector(rng, kDim)),
                    PutConcept("late-" + tag, "a late pear " + tag, RandomVector(rng, kDim))}),
        Batch("n", {PutAssoc("late-" + tag, "c0", v1::CAUSAL, 0.7f), DeleteConcept("c4"),
                    DeleteAssoc("c10", "c24", v1::HIERARCHICAL)}),
        // Deleted before the cut, created again after it.
        Batch("n", {PutConcept("c" + std::to_string(phase == "built" ? 1 : 3), "back again",
                               RandomVector(rng, kDim))}),
    };
    for (const v1::WriteRequest& w : writes) {
      ASSERT_TRUE(engine_->Write(w).ok());
      ASSERT_TRUE(twin->Write(w).ok());
    }
  };
  Open(options);
  ASSERT_TRUE(engine_->CreateNamespace(Config("n", kDim)).ok());
  LoadWithGarbage(engine_.get());
  LoadWithGarbage(twin.get());

  auto report = engine_->CompactNamespace("n");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(phases, (std::vector<std::string>{"built", "caught_up", "switched"}));
  engine_->WaitForIndexing();
  twin->WaitForIndexing();
  const std::vector<std::string> expected = Answers(*twin, "n");
  EXPECT_TRUE(Contains(expected, "apple rewritten at caught_up"));
  EXPECT_TRUE(Contains(expected, "back again"));
  EXPECT_EQ(Diff(expected, Answers(*engine_, "n")), "");
  Reopen();
  engine_->WaitForIndexing();
  EXPECT_EQ(Diff(expected, Answers(*engine_, "n")), "");
}

TEST_F(CompactionTest, ScansThatBeganBeforeTheCompactionAreAborted) {
  Open(TestOptions(FreshDir("data")));
  ASSERT_TRUE(engine_->CreateNamespace(Config("n", kDim)).ok());
  LoadWithGarbage(engine_.get());
  v1::ScanRequest scan;
  scan.set_namespace_("n");
  scan.set_page_size(10);
  auto first = engine_->Scan(scan);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_page_token().empty());
  const uint64_t old_view = first->view_sequence();

  ASSERT_TRUE(engine_->CompactNamespace("n").ok());
  scan.set_page_token(first->next_page_token());
  auto next = engine_->Scan(scan);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(next.status().message()), HasSubstr("page_token"));
  EXPECT_THAT(std::string(next.status().message()), HasSubstr("start the scan again"));

  v1::ScanRequest at_old_view;
  at_old_view.set_namespace_("n");
  at_old_view.set_view_sequence(old_view - 1);
  auto old = engine_->Scan(at_old_view);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(old.status().message()), HasSubstr("view_sequence"));

  // A scan that starts now pages through the compacted store.
  v1::ScanRequest fresh;
  fresh.set_namespace_("n");
  fresh.set_page_size(10);
  size_t concepts = 0;
  while (true) {
    auto page = engine_->Scan(fresh);
    ASSERT_TRUE(page.ok()) << page.status();
    concepts += page->concepts_size();
    if (page->next_page_token().empty()) break;
    fresh.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(concepts, 100u);
}

TEST_F(CompactionTest, SnapshotOfACompactedNamespaceRestores) {
  Open(TestOptions(FreshDir("data")));
  ASSERT_TRUE(engine_->CreateNamespace(Config("n", kDim)).ok());
  LoadWithGarbage(engine_.get());
  ASSERT_TRUE(engine_->CompactNamespace("n").ok());
  engine_->WaitForIndexing();
  const std::vector<std::string> expected = Answers(*engine_, "n");
  auto snap = engine_->CreateSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto path = engine_->SnapshotPath(snap->name());
  ASSERT_TRUE(path.ok());

  auto restored_or = Engine::Open(TestOptions(FreshDir("restored")));
  ASSERT_TRUE(restored_or.ok());
  std::unique_ptr<Engine> restored = std::move(*restored_or);
  auto r = restored->RestoreSnapshot(*path);
  ASSERT_TRUE(r.ok()) << r.status();
  restored->WaitForIndexing();
  EXPECT_EQ(Diff(expected, Answers(*restored, "n")), "");
  // The restored namespace keeps the cut: views older than it are refused there too.
  v1::ScanRequest old_view;
  old_view.set_namespace_("n");
  old_view.set_view_sequence(1);
  EXPECT_EQ(restored->Scan(old_view).status().code(), absl::StatusCode::kAborted);
}

// A namespace deleted while it is compacted: the compaction is aborted, its files are removed,
// and nothing else changes.
TEST_F(CompactionTest, CompactionOfADeletedNamespaceChangesNothing) {
  const auto dir = FreshDir("data");
  EngineOptions options = TestOptions(dir);
  options.compaction_hook = [&](std::string_view phase) {
    if (phase == "caught_up") ASSERT_TRUE(engine_->DeleteNamespace("n").ok());
  };
  Open(options);
  ASSERT_TRUE(engine_->CreateNamespace(Config("n", kDim)).ok());
  ASSERT_TRUE(engine_->CreateNamespace(Config("other", kDim)).ok());
  LoadWithGarbage(engine_.get());
  auto report = engine_->CompactNamespace("n");
  EXPECT_EQ(report.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("deleted or replaced"));
  ASSERT_TRUE(engine_->Checkpoint().ok());  // removes the deleted namespace's directory
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(dir / "ns")) {
    dirs.push_back(e.path().filename().string());
  }
  ASSERT_EQ(dirs.size(), 1u);  // "other" only, no compacted generation left behind
  EXPECT_EQ(dirs[0].find('.'), std::string::npos);
  EXPECT_EQ(engine_->CompactNamespace("n").status().code(), absl::StatusCode::kNotFound);
}

// The background compactor: a requested compaction runs and reports in GetNamespace; the
// garbage-ratio trigger compacts by itself.
TEST_F(CompactionTest, RequestedAndTriggeredCompactionsReport) {
  EngineOptions options = TestOptions(FreshDir("data"));
  options.compaction_garbage_ratio = 0;  // requests only, first
  Open(options);
  ASSERT_TRUE(engine_->CreateNamespace(Config("n", kDim)).ok());
  LoadWithGarbage(engine_.get());
  auto queued = engine_->RequestCompaction("n");
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_NE(queued->compaction().state(), v1::CompactionStatus::IDLE);
  v1::NamespaceInfo info;
  for (int i = 0; i < 6000; ++i) {  // the compactor runs on its own thread
    info = *engine_->GetNamespace("n");
    if (info.compaction().state() == v1::CompactionStatus::IDLE) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(info.compaction().state(), v1::CompactionStatus::IDLE) << info.ShortDebugString();
  EXPECT_EQ(info.compaction().last_error(), "");
  EXPECT_EQ(info.generation(), 1u);
  EXPECT_FALSE(info.compaction().last_automatic());
  EXPECT_GT(info.compaction().last_bytes_before(), 0u);
  EXPECT_GT(info.compaction().last_cut_sequence(), 0u);
  EXPECT_EQ(engine_->RequestCompaction("missing").status().code(), absl::StatusCode::kNotFound);

  // The trigger: any garbage at all, checked every 10 ms. It compacts once, then finds nothing.
  for (int j = 0; j < 200; j += 2) Write({PutConcept(absl::StrCat("c", j), "rewritten")});
  ASSERT_GT(engine_->GetNamespace("n")->reclaimable_bytes(), 0u);
  ASSERT_TRUE(engine_->Close().ok());
  engine_.reset();
  options.compaction_garbage_ratio = 0.01;
  options.compaction_min_bytes = 1;
  options.compaction_check_interval = absl::Milliseconds(10);
  Open(options);
  for (int i = 0; i < 6000; ++i) {
    info = *engine_->GetNamespace("n");
    if (info.generation() == 2 && info.compaction().state() == v1::CompactionStatus::IDLE) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(info.generation(), 2u) << info.ShortDebugString();
  EXPECT_TRUE(info.compaction().last_automatic());
  EXPECT_EQ(info.reclaimable_bytes(), 0u);
  absl::SleepFor(absl::Milliseconds(100));  // ten more checks: nothing left to compact
  EXPECT_EQ(engine_->GetNamespace("n")->generation(), 2u);
}

}  // namespace
}  // namespace engram::storage
