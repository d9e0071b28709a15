// The derived-state file (derived_state.h): a namespace opened from it answers exactly as one
// rebuilt by scanning the whole arena -- at every snapshot sequence, for reads, neighbours,
// keyword and vector search, and for the writes that follow -- also when the file covers only a
// prefix of the checkpointed arena (a crash between the checkpoint's data flush and the file's
// write); a torn, truncated or damaged file is ignored and the arena is scanned.
#include "storage-server/engine/derived_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage-server/engine/limits.h"
#include "storage-server/engine/namespace_store.h"
#include "storage-server/engine/testing/engine_fixture.h"

namespace engram::storage {
namespace {

using namespace engram::storage::testing;  // NOLINT

constexpr uint32_t kDim = 4;
constexpr int kConcepts = 60;

const char* const kWords[] = {"alpha", "beta", "gamma", "delta", "river", "bank", "stone", "egg"};

std::string Text(int i, int version) {
  return absl::StrCat(kWords[i % 8], " ", kWords[(i * 3 + version) % 8], " item", i, " v", version);
}

std::vector<float> Vec(int i, int version) {
  return {1.0f + i, 0.5f * version, static_cast<float>(i % 7), 1.0f};
}

class DerivedStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir("ns");
    state_.id = 7;
    state_.config = Config("n", kDim);
    ASSERT_TRUE(NormalizeNamespaceConfig(limits_, &state_.config).ok());
    state_.create_micros = 1000;
    initial_state_ = state_;
    store_ = Open(dir_);
  }

  std::unique_ptr<NamespaceStore> Open(const std::filesystem::path& dir) {
    return Open(dir, state_);
  }
  std::unique_ptr<NamespaceStore> Open(const std::filesystem::path& dir,
                                       const NamespaceState& state) {
    auto ns = NamespaceStore::Open(dir, state, &limits_);
    EXPECT_TRUE(ns.ok()) << ns.status();
    return ns.ok() ? std::move(*ns) : nullptr;
  }

  void Write(NamespaceStore* store, uint64_t seq, std::vector<v1::Mutation> mutations) {
    v1::WriteRequest request = Batch("n", std::move(mutations));
    absl::Status normalized = NormalizeWriteRequest(limits_, kDim, &request);
    ASSERT_TRUE(normalized.ok()) << normalized;
    auto plan = store->Plan(request);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_TRUE(store->Reserve(*plan).ok());
    store->Apply(request, seq, static_cast<int64_t>(seq) * 1000);
    store->PublishApplied();
  }

  // The target of concept i's association in `round`: never a multiple of 5.
  static int Target(int i, int round) {
    int t = (i * 7 + round) % kConcepts;
    return t % 5 == 0 ? t + 1 : t;
  }

  // Batch `round` of a deterministic history: new concepts, updates, associations, deletes.
  std::vector<v1::Mutation> Round(int round) {
    std::vector<v1::Mutation> m;
    for (int i = 0; i < kConcepts; ++i) {
      if ((i + round) % 3 == 0 || round == 0) {
        m.push_back(PutConcept(absl::StrCat("c", i), Text(i, round),
                               i % 4 == 0 ? std::vector<float>{} : Vec(i, round)));
      }
    }
    if (round > 0) {
      for (int i = 1; i < kConcepts; i += 2) {
        if (i % 5 == 0) continue;  // multiples of 5 get deleted
        m.push_back(PutAssoc(absl::StrCat("c", i), absl::StrCat("c", Target(i, round)),
                             static_cast<v1::AssociationType>(1 + round % 3),
                             0.3f + 0.05f * round));
      }
    }
    if (round >= 2) {
      v1::Mutation del;
      del.set_delete_concept(absl::StrCat("c", round * 5 % kConcepts));
      m.push_back(del);
      v1::Mutation del_assoc;
      del_assoc.mutable_delete_association()->set_source("c1");
      del_assoc.mutable_delete_association()->set_target(absl::StrCat("c", Target(1, round - 1)));
      del_assoc.mutable_delete_association()->set_type(
          static_cast<v1::AssociationType>(1 + (round - 1) % 3));
      m.push_back(del_assoc);
    }
    return m;
  }

  void WriteRounds(NamespaceStore* store, int from, int to) {
    for (int round = from; round < to; ++round) Write(store, round + 1, Round(round));
  }

  // Everything a reader can observe, at every sequence up to `last_seq`.
  std::string View(NamespaceStore* store, uint64_t last_seq) {
    std::string out = absl::StrFormat("concepts %d assocs %d vectors %d\n", store->concept_count(),
                                      store->association_count(), store->vector_count());
    for (uint64_t seq = 1; seq <= last_seq; ++seq) {
      v1::GetConceptsRequest get;
      for (int i = 0; i < kConcepts + 2; ++i) get.add_ids(absl::StrCat("c", i));
      get.set_include_vector(true);
      absl::StrAppend(&out, "seq ", seq, " get ", store->Get(get, seq).ShortDebugString(), "\n");
      for (int i = 0; i < kConcepts; i += 5) {
        v1::NeighborsRequest nr;
        nr.set_id(absl::StrCat("c", i));
        auto n = store->Neighbors(nr, seq);
        absl::StrAppend(&out, "neighbors ", n.ok() ? n->ShortDebugString() : n.status().ToString(),
                        "\n");
      }
      for (const char* text : {"alpha", "bank stone", "item7 egg", "v2 gamma river"}) {
        v1::SearchRequest sr;
        sr.set_text(text);
        sr.set_k(20);
        auto s = store->Search(sr, seq);
        absl::StrAppend(&out, "keyword ", s.ok() ? s->ShortDebugString() : s.status().ToString(),
                        "\n");
      }
      v1::SearchRequest vr;
      for (float x : Vec(3, 1)) vr.add_vector(x);
      vr.set_k(10);
      vr.set_exact(true);
      auto v = store->Search(vr, seq);
      absl::StrAppend(&out, "vector ", v.ok() ? v->ShortDebugString() : v.status().ToString(),
                      "\n");
    }
    return out;
  }

  // A checkpoint as the engine makes one: flush the data, then persist the derived state.
  void Checkpoint(bool persist) {
    auto flushed = store_->FlushData();
    ASSERT_TRUE(flushed.ok()) << flushed.status();
    state_ = *flushed;
    if (persist) ASSERT_TRUE(store_->PersistDerived(/*force=*/true).ok());
  }

  // The same directory opened without the derived-state file: the full arena scan.
  std::unique_ptr<NamespaceStore> OpenRebuilt() {
    std::filesystem::path copy = FreshDir("rebuilt");
    std::filesystem::copy(dir_, copy, std::filesystem::copy_options::recursive);
    std::filesystem::remove(copy / kDerivedFileName);
    auto store = Open(copy);
    EXPECT_FALSE(store->opened_from_derived());
    return store;
  }

  std::filesystem::path derived() const { return dir_ / kDerivedFileName; }

  Limits limits_;
  std::filesystem::path dir_;
  NamespaceState state_, initial_state_;
  std::unique_ptr<NamespaceStore> store_;
};

TEST_F(DerivedStateTest, OpenFromTheFileAnswersLikeTheFullScanAndWritesOn) {
  WriteRounds(store_.get(), 0, 5);
  Checkpoint(/*persist=*/true);
  ASSERT_TRUE(std::filesystem::exists(derived()));
  store_.reset();

  store_ = Open(dir_);
  ASSERT_TRUE(store_->opened_from_derived());
  EXPECT_EQ(store_->derived_end(), state_.arena_end);
  auto rebuilt = OpenRebuilt();
  EXPECT_EQ(View(store_.get(), 5), View(rebuilt.get(), 5));

  // Later writes update, retire and delete what the file restored (keyword documents, chain
  // heads, the association map) exactly as on the rebuilt store.
  WriteRounds(store_.get(), 5, 8);
  WriteRounds(rebuilt.get(), 5, 8);
  EXPECT_EQ(View(store_.get(), 8), View(rebuilt.get(), 8));
}

// The file is written off the writer thread: cut at a checkpoint, encoded while later writes
// update and retire keyword documents, move chain heads, delete concepts and associations and
// add vector slots. What it holds is the state at the cut -- open loads it and scans the arena
// after the cut -- whether the writes came before the encoding or ran beside it.
TEST_F(DerivedStateTest, AFileCutBeforeLaterWritesHoldsTheStateAtTheCut) {
  for (const bool concurrent : {false, true}) {
    SCOPED_TRACE(concurrent ? "writes beside the encoding" : "writes before the encoding");
    dir_ = FreshDir(concurrent ? "concurrent" : "sequential");
    state_ = initial_state_;
    store_ = Open(dir_);
    WriteRounds(store_.get(), 0, 4);
    Checkpoint(/*persist=*/false);
    std::optional<NamespaceStore::DerivedCut> cut = store_->CutDerived(/*force=*/true);
    ASSERT_TRUE(cut.has_value());
    EXPECT_EQ(cut->end, state_.arena_end);
    EXPECT_FALSE(store_->CutDerived(/*force=*/false).has_value());  // nothing new since
    if (concurrent) {
      absl::Status written;
      std::thread encoder([&] { written = store_->WriteDerived(*cut); });
      WriteRounds(store_.get(), 4, 9);
      encoder.join();
      ASSERT_TRUE(written.ok()) << written;
    } else {
      WriteRounds(store_.get(), 4, 9);
      ASSERT_TRUE(store_->WriteDerived(*cut).ok());
    }
    EXPECT_EQ(store_->derived_end(), cut->end);
    Checkpoint(/*persist=*/false);  // the arena after the cut is durable, not in the file
    const std::string live = View(store_.get(), 9);
    store_.reset();

    store_ = Open(dir_);
    ASSERT_TRUE(store_->opened_from_derived());
    EXPECT_EQ(store_->derived_end(), cut->end);
    EXPECT_EQ(View(store_.get(), 9), live);
    EXPECT_EQ(View(store_.get(), 9), View(OpenRebuilt().get(), 9));
  }
}

// A crash after the checkpoint made the arena durable but before (or while) the derived-state
// file was written leaves an older file: open loads it and scans the arena past its offset.
TEST_F(DerivedStateTest, AnOlderFileIsCompletedByScanningTheArenaTail) {
  WriteRounds(store_.get(), 0, 3);
  Checkpoint(/*persist=*/true);
  const uint64_t persisted_end = state_.arena_end;
  WriteRounds(store_.get(), 3, 7);
  Checkpoint(/*persist=*/false);  // the "SIGKILL" falls between flush and derived write
  // A torn temp file of the interrupted write is ignored (it was never renamed into place).
  std::ofstream(dir_ / absl::StrCat(kDerivedFileName, ".tmp")) << "torn";
  ASSERT_GT(state_.arena_end, persisted_end);
  store_.reset();

  store_ = Open(dir_);
  ASSERT_TRUE(store_->opened_from_derived());
  EXPECT_EQ(store_->derived_end(), persisted_end);
  auto rebuilt = OpenRebuilt();
  EXPECT_EQ(View(store_.get(), 7), View(rebuilt.get(), 7));
  WriteRounds(store_.get(), 7, 9);
  WriteRounds(rebuilt.get(), 7, 9);
  EXPECT_EQ(View(store_.get(), 9), View(rebuilt.get(), 9));

  // The next forced persist covers everything again.
  Checkpoint(/*persist=*/true);
  EXPECT_EQ(store_->derived_end(), state_.arena_end);
}

TEST_F(DerivedStateTest, ADamagedFileIsIgnoredAndTheArenaScanned) {
  WriteRounds(store_.get(), 0, 5);
  Checkpoint(/*persist=*/true);
  store_.reset();
  std::string good;
  {
    std::ifstream in(derived(), std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(good.size(), 64u);
  const std::string expected = View(OpenRebuilt().get(), 5);

  struct Damage {
    std::string name;
    std::string bytes;
  };
  std::vector<Damage> damages;
  damages.push_back({"empty", ""});
  damages.push_back({"header only", good.substr(0, 32)});
  damages.push_back({"truncated to half", good.substr(0, good.size() / 2)});
  damages.push_back({"last byte missing", good.substr(0, good.size() - 1)});
  damages.push_back({"one extra byte", good + "x"});
  for (size_t at : {size_t{0}, size_t{9}, size_t{40}, good.size() / 2, good.size() - 1}) {
    std::string flipped = good;
    flipped[at] ^= 0x20;
    damages.push_back({absl::StrCat("bit flipped at ", at), flipped});
  }
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    std::ofstream(derived(), std::ios::binary | std::ios::trunc) << d.bytes;
    store_ = Open(dir_);
    ASSERT_NE(store_, nullptr);
    EXPECT_FALSE(store_->opened_from_derived());
    EXPECT_EQ(View(store_.get(), 5), expected);
    store_.reset();
  }

  // An intact file of another arena (a different history with the same namespace id) fails the
  // fingerprint of the arena before its offset.
  std::filesystem::path other = FreshDir("other");
  {
    auto o = Open(other, initial_state_);
    Write(o.get(), 1, {PutConcept("x", "something else entirely", Vec(1, 1))});
    Write(o.get(), 2, {PutConcept("y", "and more words here", Vec(2, 1))});
    auto flushed = o->FlushData();
    ASSERT_TRUE(flushed.ok());
    ASSERT_TRUE(o->PersistDerived(true).ok());
  }
  std::filesystem::copy_file(other / kDerivedFileName, derived(),
                             std::filesystem::copy_options::overwrite_existing);
  store_ = Open(dir_);
  EXPECT_FALSE(store_->opened_from_derived());
  EXPECT_EQ(View(store_.get(), 5), expected);
}

TEST_F(DerivedStateTest, PersistsOnlyWhenForcedOrTheTailGrewEnough) {
  WriteRounds(store_.get(), 0, 3);
  auto flushed = store_->FlushData();
  ASSERT_TRUE(flushed.ok());
  state_ = *flushed;
  // A small tail (below NamespaceStore::kDerivedMinTailBytes) is not worth a file...
  ASSERT_TRUE(store_->PersistDerived(/*force=*/false).ok());
  EXPECT_FALSE(std::filesystem::exists(derived()));
  EXPECT_EQ(store_->derived_end(), 0u);
  // ...unless forced (the final checkpoint at shutdown, an explicit Checkpoint).
  ASSERT_TRUE(store_->PersistDerived(/*force=*/true).ok());
  EXPECT_TRUE(std::filesystem::exists(derived()));
  EXPECT_EQ(store_->derived_end(), state_.arena_end);
}

TEST_F(DerivedStateTest, SnapshotsDoNotCopyTheFile) {
  WriteRounds(store_.get(), 0, 2);
  Checkpoint(/*persist=*/true);
  for (const auto& f : store_->DataFiles()) EXPECT_NE(f.filename(), kDerivedFileName);
  for (const auto& f : store_->IndexFiles()) EXPECT_NE(f.filename(), kDerivedFileName);
}

TEST(ByteReaderTest, ReadsWhatTheWriterWroteAndStopsAtTheEnd) {
  ByteWriter w;
  w.U32(7);
  w.Varint(0);
  w.Varint(300);
  w.Varint(UINT64_MAX);
  w.Bytes("abc");
  w.U64(1ull << 40);
  ByteReader r(w.out());
  EXPECT_EQ(r.U32(), 7u);
  EXPECT_EQ(r.Varint(), 0u);
  EXPECT_EQ(r.Varint(), 300u);
  EXPECT_EQ(r.Varint(), UINT64_MAX);
  EXPECT_EQ(r.Bytes(), "abc");
  EXPECT_EQ(r.U64(), 1ull << 40);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.U32(), 0u);
  EXPECT_FALSE(r.ok());
  const std::string eleven_ff(11, '\xff');
  ByteReader overlong(eleven_ff);
  overlong.Varint();
  EXPECT_FALSE(overlong.ok());
}

}  // namespace
}  // namespace engram::storage
