// NamespaceStore: the data of one namespace, in memory-mapped files, with lock-free readers.
//
// Files (in the namespace directory ns/<id>/, or ns/<id>.<generation>/ once compacted):
//   records.NNNNNN   append-only record arena (concept versions, associations, tombstones)
//   vectors.*        slot-addressed vectors (vector::VectorStore)
//   hnsw.*           the HNSW graph over the vectors (vector::HnswIndex)
//   derived          the DRAM indexes below as of some arena offset (derived_state.h; a cache)
// In DRAM, derived from the arena: the id index, per-concept chain heads, per-slot liveness, the
// keyword (BM25) index over contents, and the writer's association index. Open loads them from
// `derived` when it is intact and scans only the arena past the offset it covers; otherwise it
// scans the whole arena.
//
// Implemented in namespace_store.cc (records, reads, search, scan, the writer),
// namespace_graph.cc (Neighbors, FindPaths) and namespace_derived.cc (the derived-state file).
//
// Threading contract:
//   - Exactly one writer thread calls the "writer" methods (Plan, Apply, Checkpoint...).
//     Apply may hand the keyword-index updates to one other thread (its keyword_jobs), which is
//     then the keyword index's only writer until FinishApply() has waited for it.
//   - One indexer thread calls IndexPending(); it takes index_mu_, which Checkpoint and
//     snapshots also take to see the graph at rest.
//   - Any number of reader threads call the const read methods with a snapshot sequence S
//     obtained from the engine after a batch was published; readers never lock and never see a
//     record with seq > S.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sync/mutex.h"
#include "engram/storage/v1/storage.pb.h"
#include "storage-server/engine/id_table.h"
#include "storage-server/engine/keyword_index.h"
#include "storage-server/engine/limits.h"
#include "storage-server/engine/records.h"
#include "storage-server/engine/stable_array.h"
#include "storage-server/mmap/segmented_file.h"
#include "storage-server/vector/hnsw_index.h"
#include "storage-server/vector/vector_store.h"

namespace engram::storage {

class JobQueue;  // job_queue.h

class ByteReader;

// What a checkpoint records about a namespace; enough to reopen it exactly.
struct NamespaceState {
  uint64_t id = 0;  // namespace incarnation (a deleted and re-created namespace gets a new one)
  // How many times it was compacted: each compaction writes a new directory (NamespaceDir).
  uint32_t generation = 0;
  // The sequence the last compaction cut at: the store holds, for each concept, only the version
  // visible then, so nothing may read it at an older sequence. 0: never compacted.
  uint64_t compacted_seq = 0;
  v1::NamespaceConfig config;
  uint64_t arena_end = 0;   // bytes of the record arena covered
  uint32_t slot_count = 0;  // vector slots covered
  int64_t create_micros = 0;
};

// A write planned against the current state: what Apply will do, and the bytes it needs.
struct WritePlan {
  uint64_t arena_bytes = 0;
  uint32_t new_slots = 0;
};

class NamespaceCompaction;

// The space a namespace's files hold and how much of it live data needs; the rest is garbage a
// compaction reclaims (superseded versions, tombstones, deleted associations, dead vector slots
// and their graph nodes).
struct SpaceUsage {
  uint64_t total_bytes = 0;  // arena bytes written + vector slots (vector, norm, graph node)
  uint64_t live_bytes = 0;   // live concept versions + live associations + live vector slots
  uint64_t reclaimable_bytes() const { return total_bytes > live_bytes ? total_bytes - live_bytes : 0; }
  double garbage_ratio() const {
    return total_bytes == 0 ? 0.0 : static_cast<double>(reclaimable_bytes()) / total_bytes;
  }
};

class NamespaceStore : public std::enable_shared_from_this<NamespaceStore> {
 public:
  // `arena_msync`: how the record arena's pages are written back (SegmentedFile::Options::msync;
  // null: ::msync).
  static absl::StatusOr<std::unique_ptr<NamespaceStore>> Open(
      const std::filesystem::path& dir, const NamespaceState& state, const Limits* limits,
      SegmentedFile::MsyncFn arena_msync = nullptr);
  ~NamespaceStore();

  const std::string& name() const { return state_.config.name(); }
  const v1::NamespaceConfig& config() const { return state_.config; }
  uint64_t id() const { return state_.id; }
  uint32_t generation() const { return state_.generation; }
  int64_t create_micros() const { return state_.create_micros; }
  // Readers must read at a sequence >= this: a compacted store holds, for each concept, only the
  // version visible at the compaction's cut (0 for a store that was never compacted).
  uint64_t min_read_seq() const { return state_.compacted_seq; }
  SpaceUsage Space() const;
  uint64_t reclaimable_bytes() const { return Space().reclaimable_bytes(); }
  const std::filesystem::path& dir() const { return dir_; }

  // ---- readers (any thread), at snapshot sequence `seq` ----
  v1::GetConceptsResponse Get(const v1::GetConceptsRequest& request, uint64_t seq) const;
  absl::StatusOr<v1::NeighborsResponse> Neighbors(const v1::NeighborsRequest& request,
                                                  uint64_t seq) const;
  absl::StatusOr<v1::FindPathsResponse> FindPaths(const v1::FindPathsRequest& request,
                                                  uint64_t seq) const;
  absl::StatusOr<v1::SearchResponse> Search(const v1::SearchRequest& request, uint64_t seq) const;
  absl::StatusOr<v1::ScanResponse> Scan(const v1::ScanRequest& request, uint64_t seq) const;
  v1::NamespaceInfo Info() const;

  uint64_t concept_count() const { return live_concepts_.load(std::memory_order_relaxed); }
  uint64_t association_count() const { return live_assocs_.load(std::memory_order_relaxed); }
  uint64_t vector_count() const { return live_vectors_.load(std::memory_order_relaxed); }
  uint64_t indexed_count() const;
  // Vector slots readers can see that the HNSW graph does not hold yet: every vector search
  // scans them exactly, so its cost grows with this count while the indexer trails the writes.
  uint64_t unindexed_count() const;
  uint64_t mapped_bytes() const;

  // ---- writer thread ----
  // Checks what only the current state can tell (association endpoints exist) and sizes the
  // write. Changes nothing. Later mutations see earlier ones in the same request.
  absl::StatusOr<WritePlan> Plan(const v1::WriteRequest& request) const;
  // RESOURCE_EXHAUSTED, naming the namespace, when `plan` adds vectors while at least
  // `max_unindexed` (> 0) of the namespace's vectors, this group's included, wait for the HNSW
  // graph; OK otherwise. Not part of Plan: recovery replays acknowledged writes whatever the
  // backlog.
  absl::Status AdmitVectors(const WritePlan& plan, uint64_t max_unindexed) const;
  // Makes room for a planned write so Apply cannot fail for lack of space.
  absl::Status Reserve(const WritePlan& plan);
  // Appends and indexes the records of a validated, planned write at sequence `seq`. Records stay
  // invisible to readers until the engine publishes a snapshot sequence >= seq.
  //
  // With `defer_index`, the work that no later Plan/Apply reads -- copying the vectors into their
  // slots and adding the contents to the keyword index -- is queued instead of done, so the
  // engine can run it while the log's fdatasync is in flight; FinishApply() does it, in apply
  // order. The request's vectors are read then, so `request` must outlive FinishApply().
  //
  // With `keyword_jobs` as well, the keyword-index updates run on that queue's thread, in chunks
  // posted while Apply goes on (the keyword index and the entries' keyword documents are then
  // written only by that thread until FinishApply() drains it); a group too small to fill a
  // chunk is indexed by FinishApply() itself.
  v1::WriteResponse Apply(const v1::WriteRequest& request, uint64_t seq, int64_t now_micros,
                          bool defer_index = false, JobQueue* keyword_jobs = nullptr);
  // Does the vector copies and keyword-index updates queued by Apply(defer_index=true), and
  // waits for those posted to `keyword_jobs`.
  void FinishApply();
  // Makes everything applied so far visible to scans (call before publishing the sequence).
  // Runs FinishApply() first.
  void PublishApplied();
  // Writer, after PublishApplied(): once kWriteBehindBytes of arena and vector bytes were
  // published beyond what is on disk, posts their msync to `queue` (whole pages; the partial last
  // page is left to the checkpoint), so that a checkpoint finds them written instead of writing
  // them all while writes wait. Only for a store owned by a shared_ptr (the job holds it).
  void WriteBehind(JobQueue* queue);
  static constexpr uint64_t kWriteBehindBytes = uint64_t{8} << 20;
  // Flushes the record arena and vectors; returns the state a checkpoint records. Call after the
  // WriteBehind queue drained: a write-behind failure is returned here, by this and every later
  // call (the failed pages are left clean, so a later msync would not report it).
  absl::StatusOr<NamespaceState> FlushData();
  // Persists the graph header (after the checkpoint file is durable, so the graph never covers
  // slots the checkpoint does not).
  absl::Status CheckpointIndex();
  // The DRAM indexes as of a moment, to write to the derived-state file while writes go on: the
  // arena offset and sequence they cover, the counts of what existed then, and the counters.
  struct DerivedCut {
    uint64_t end = 0;   // arena offset
    uint64_t seq = 0;   // every record below `end` has seq <= this, every later one more
    uint32_t numbers = 0;
    uint32_t slots = 0;
    uint64_t live_concepts = 0, live_assocs = 0, live_vectors = 0, live_concept_bytes = 0;
    KeywordIndex::Cut keywords;
  };
  // Writer thread, after a checkpoint made the arena up to FlushData()'s arena_end durable: the
  // cut to persist when `force`, or when the arena grew past what the file covers (or a cut
  // already handed out will) by at least max(kDerivedMinTailBytes, 1/8 of that offset), which
  // bounds the scan at open; nullopt when there is nothing to write.
  std::optional<DerivedCut> CutDerived(bool force);
  // Any thread, while the writer goes on: encodes the indexes as of `cut` (reading records,
  // chains, slots and keyword documents as a reader at cut.seq does) and writes the file
  // atomically; derived_end() then covers cut.end.
  absl::Status WriteDerived(const DerivedCut& cut) const;
  // Both on the calling thread (no writes in between).
  absl::Status PersistDerived(bool force);
  static constexpr uint64_t kDerivedMinTailBytes = uint64_t{16} << 20;
  // The arena offset the derived-state file covers (what open loaded or the last WriteDerived
  // wrote; 0 if none), and whether this open loaded it.
  uint64_t derived_end() const { return derived_end_.load(std::memory_order_acquire); }
  bool opened_from_derived() const { return opened_from_derived_; }
  // The state a snapshot cut records. Arena bytes below arena_end and slots below slot_count never
  // change afterwards, so they can be copied while writes continue.
  absl::StatusOr<NamespaceState> CutState();
  // The arena offset readers see (everything published).
  uint64_t published_end() const { return published_end_.load(std::memory_order_acquire); }

  // ---- indexer thread ----
  // Inserts up to `max` published, not yet indexed vectors into the graph. Returns how many.
  // Stops early, between two inserts, once `yield_requests` is non-zero: a thread is waiting for
  // index_mu_ (a checkpoint), and a mutex does not hand itself to a waiter, so an indexer with a
  // backlog that kept taking it would make that thread wait for the whole backlog.
  absl::StatusOr<size_t> IndexPending(size_t max, const std::atomic<int>* yield_requests = nullptr);
  // Held while the graph must be at rest (checkpoint, snapshot copy).
  sync::Mutex& index_mutex() const ABSL_LOCK_RETURNED(index_mu_) { return index_mu_; }
  // Under index_mutex(): persists the graph header so its files describe a consistent graph.
  absl::Status CheckpointIndexLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(index_mu_);
  std::vector<std::filesystem::path> IndexFiles() const;  // the graph's files
  std::vector<std::filesystem::path> DataFiles() const;   // everything else
  uint64_t published_slots() const { return vectors_->published_count(); }

 private:
  friend class NamespaceCompaction;  // namespace_compaction.h: builds a store from another's arena

  struct ConceptEntry {
    std::atomic<uint64_t> head{0};  // newest record (offset + 1)
    std::atomic<uint64_t> out_head{0};
    std::atomic<uint64_t> in_head{0};
    // The live version's KeywordIndex document + 1. Written by the writer, or by the keyword
    // thread while the writer applies a group (Apply's keyword_jobs); never read by readers.
    uint32_t keyword_doc = 0;
  };
  struct SlotMeta {
    std::atomic<uint64_t> record{0};  // concept record that owns the slot (offset + 1)
    std::atomic<uint64_t> born{0};
    std::atomic<uint64_t> dead{UINT64_MAX};
  };
  struct EdgeKey {
    uint32_t source, target, type;
    bool operator==(const EdgeKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const EdgeKey& k) {
      return H::combine(std::move(h), k.source, k.target, k.type);
    }
  };
  // A live edge as seen from one concept.
  struct EdgeView {
    const AssocRecord* record;
    uint32_t other;
    v1::Direction direction;  // OUT: record.source is the concept
  };

  NamespaceStore(const std::filesystem::path& dir, const NamespaceState& state,
                 const Limits* limits);
  static absl::StatusOr<std::unique_ptr<NamespaceStore>> OpenImpl(
      const std::filesystem::path& dir, const NamespaceState& state, const Limits* limits,
      bool use_derived, SegmentedFile::MsyncFn arena_msync = nullptr);
  absl::Status Recover(bool use_derived);
  // Loads the derived-state file into the (empty) DRAM indexes if it is intact and fits the
  // checkpoint; returns the arena offset it covers, 0 if it was not used (nothing changed), or
  // Aborted if decoding failed half-way (the store must then be opened again without it).
  absl::StatusOr<uint64_t> LoadDerived();
  absl::Status DecodeDerivedRest(ByteReader* in, uint64_t end, uint32_t numbers, uint32_t slots);
  // XXH3 of the arena bytes just before `end` (at most 4 KiB, within end's segment).
  uint64_t ArenaFingerprint(uint64_t end) const;

  // Record access.
  template <typename T>
  const T* RecordAt(uint64_t offset_plus_one) const {
    return reinterpret_cast<const T*>(arena_->At(offset_plus_one - 1));
  }
  const RecordHeader* HeaderAt(uint64_t offset) const {
    return reinterpret_cast<const RecordHeader*>(arena_->At(offset));
  }
  // Newest version of concept `number` with seq <= `seq`; nullptr if none or deleted.
  const ConceptRecord* Visible(uint32_t number, uint64_t seq) const;
  std::optional<uint32_t> NumberOf(absl::string_view id) const;
  const ConceptRecord* FindVisible(absl::string_view id, uint64_t seq) const;
  absl::string_view IdOf(uint32_t number) const;
  // Calls fn(EdgeView) for every live edge of `number` at `seq` in `direction`.
  void ForEachEdge(uint32_t number, v1::Direction direction, uint64_t seq,
                   absl::FunctionRef<void(const EdgeView&)> fn) const;
  // FindPaths BEST with one path (namespace_graph.cc): the most confident path from `src` to
  // `dst` whatever its length, by a bidirectional Dijkstra on -ln(confidence × decay). kFound
  // fills `nodes` (src … dst) and `hops` (hops[i] joins nodes[i] and nodes[i + 1]); kBudget when
  // the two searches settled `budget` concepts first.
  enum class BestPathOutcome { kFound, kNoPath, kBudget };
  BestPathOutcome MostConfidentPath(uint32_t src, uint32_t dst, const v1::FindPathsRequest& request,
                                    v1::Direction forward, v1::Direction backward, float decay,
                                    uint64_t seq, size_t budget, std::vector<uint32_t>* nodes,
                                    std::vector<const AssocRecord*>* hops) const;
  // FindPaths SHORTEST with one path: the fewest hops from `src` to `dst` (none when more than
  // `max_depth`) and, among such paths, the most confident, by a breadth-first search from both
  // ends that carries each concept's best confidence level by level. Same outputs as above.
  BestPathOutcome FewestHopsPath(uint32_t src, uint32_t dst, const v1::FindPathsRequest& request,
                                 v1::Direction forward, v1::Direction backward, float decay,
                                 uint32_t max_depth, uint64_t seq, size_t budget,
                                 std::vector<uint32_t>* nodes,
                                 std::vector<const AssocRecord*>* hops) const;
  static void FillIdContentAttributes(const ConceptRecord& r, v1::Concept* out);
  void FillConcept(const ConceptRecord& r, bool include_vector, v1::Concept* out) const;
  void FillAssociation(const AssocRecord& r, v1::Association* out) const;
  bool SlotVisible(uint32_t slot, uint64_t seq, const v1::SearchRequest* filter) const;
  // A number n <= `limit` such that every slot below n was born at or before `seq`: a binary
  // search of the slots' births, which grow with the slot number (slots are appended in sequence
  // order, compaction included). 0 if SetSlot ever saw that order broken (a slot out of turn or
  // born before its predecessor).
  uint32_t SlotsBornBy(uint64_t seq, uint32_t limit) const;
  // Whether the slot's version was ever superseded or deleted. Clear means alive at every
  // sequence a reader can hold: the bit is set, after the slot's `dead`, before that sequence
  // is published.
  bool SlotEverDead(uint32_t slot) const {
    return (dead_bits_[slot >> 6].load(std::memory_order_relaxed) >> (slot & 63)) & 1;
  }
  // Writer: one slot's meta (a new version's slot, or one read from the derived-state file).
  void SetSlot(uint32_t slot, uint64_t record, uint64_t born, uint64_t dead);
  // Writer: the slot's version stops being visible at `dead`.
  void KillSlot(uint32_t slot, uint64_t dead);
  // The k best concepts by BM25 for `query` (prepared at `seq`) that pass the request's filter.
  std::vector<std::pair<double, const ConceptRecord*>> TopKeyword(
      const KeywordIndex::Query& query, const v1::SearchRequest& request, uint64_t seq,
      size_t k) const;
  // The texts the keyword index holds for a concept version (its content, then the values of
  // config.keyword_fields' attributes) into `texts`; false if all are absent or empty.
  bool KeywordTexts(const ConceptRecord& r,
                    absl::string_view (&texts)[KeywordIndex::kMaxFields]) const;

  // Writer helpers.
  uint64_t AppendRecord(uint32_t length);
  // `defer_keywords`: queue the keyword part for FinishApply() instead of doing it now.
  void IndexRecord(uint64_t offset, bool defer_keywords = false);
  uint64_t WriteConcept(const v1::Concept& c, uint32_t number, uint64_t seq, int64_t now,
                        bool tomb, bool defer_index);
  // The keyword-index part of IndexRecord for the concept record at `offset`.
  void IndexKeywords(uint64_t offset);
  void WriteAssoc(uint32_t src, uint32_t tgt, uint32_t type, float conf, float weight,
                  int64_t create, uint64_t seq, bool tomb);
  uint32_t NumberFor(absl::string_view id);  // the next new number when unknown
  std::vector<std::filesystem::path> FilesWithPrefix(std::initializer_list<const char*> prefixes,
                                                     bool include) const;

  const std::filesystem::path dir_;
  NamespaceState state_;  // writer-owned except config/id/generation (constant)
  const Limits* const limits_;

  std::unique_ptr<SegmentedFile> arena_;
  std::unique_ptr<vector::VectorStore> vectors_;
  std::unique_ptr<vector::HnswIndex> index_;
  // Graph mutation and checkpoints; searches read the graph without it (HnswIndex allows one
  // writer beside concurrent readers).
  mutable sync::Mutex index_mu_;

  IdTable ids_;
  // BM25F over contents and config.keyword_fields; replaced only by Recover, before readers.
  std::unique_ptr<KeywordIndex> keywords_;
  StableArray<ConceptEntry> entries_;
  StableArray<SlotMeta> slots_;
  // A bit per slot, SlotEverDead; its own small array so that the vector search's per-node
  // visibility check reads a few cache lines instead of each visited node's SlotMeta.
  StableArray<std::atomic<uint64_t>> dead_bits_;
  std::atomic<bool> born_in_order_{true};  // SlotsBornBy's premise; cleared by SetSlot if broken
  uint32_t next_slot_ = 0;                 // writer: the slot SetSlot expects next
  uint64_t last_born_ = 0;                 // writer: the newest slot's birth
  std::atomic<uint32_t> number_count_{0};

  // The arena offset the derived-state file covers; set by WriteDerived (any thread).
  mutable std::atomic<uint64_t> derived_end_{0};

  // Writer-only state.
  uint64_t behind_arena_ = 0;  // WriteBehind: arena bytes and slots below these were posted
  uint32_t behind_slots_ = 0;
  uint64_t derived_cut_end_ = 0;  // the end of the last cut handed out (CutDerived)
  uint64_t applied_seq_ = 0;      // the highest record sequence applied
  bool opened_from_derived_ = false;
  uint64_t arena_end_ = 0;
  uint32_t slot_count_ = 0;
  absl::flat_hash_map<EdgeKey, uint64_t> edges_;  // live association -> record (offset + 1)
  // Queued by Apply(defer_index=true), drained by FinishApply(), in apply order.
  struct PendingVector {
    uint32_t slot;
    const float* data;  // the request's vector, alive until FinishApply()
  };
  std::vector<PendingVector> pending_vectors_;
  std::vector<uint64_t> pending_keywords_;  // concept record offsets
  // Apply's `keyword_jobs`, until FinishApply() drains it; pending_keywords_ are posted to it in
  // chunks of kKeywordChunk (keyword_chunk_posted_ once one was, in this group).
  JobQueue* keyword_jobs_ = nullptr;
  bool keyword_chunk_posted_ = false;
  static constexpr size_t kKeywordChunk = 64;
  void PostKeywordChunk();

  mutable sync::Mutex write_behind_mu_;
  absl::Status write_behind_error_ ABSL_GUARDED_BY(write_behind_mu_);  // the first, kept

  std::atomic<uint64_t> published_end_{0};
  std::atomic<uint64_t> live_concepts_{0};
  std::atomic<uint64_t> live_assocs_{0};
  std::atomic<uint64_t> live_vectors_{0};
  std::atomic<uint64_t> live_concept_bytes_{0};  // record bytes of the live concept versions
};

}  // namespace engram::storage
