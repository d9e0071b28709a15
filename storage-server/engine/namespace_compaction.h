// NamespaceCompaction: builds the compacted next generation of a namespace store while the store
// keeps serving reads and writes.
//
// A namespace's record arena only grows: an update appends a version, a delete a tombstone, and
// superseded vectors keep their slots and graph nodes. Compaction writes a new store, in the next
// generation's directory (ns/<id>.<generation>), that holds what a reader at the cut sequence S
// sees -- the visible version of each live concept, each live association, the vectors of the
// live concepts in a freshly built HNSW graph, and the keyword index over them -- and then copies
// every record the old store published after S, verbatim. From S on, the new store therefore
// answers every read exactly as the old one does; the engine switches the namespace over between
// two write groups with one checkpoint (engine_compaction.cc).
//
// Concept numbers and vector slots are internal: the new store renumbers both densely. The live
// concepts are written in the order of their old numbers (creation order), so ties that rank by
// number (search) rank as before, and a scan, which follows the arena, lists them in creation
// order rather than in the order of their last update; then the live associations in their old
// order, so a concept's associations keep theirs. Versions older than S are gone: the new store
// refuses reads at a sequence below S (NamespaceStore::min_read_seq).
//
// Threads: Start(), Build() and CatchUp() run on one background thread, which is the new store's
// only writer until Finish(); Finish() runs on the engine's writer thread between two groups (so
// the old store does not change during it) and hands the new store over. The old store is only
// read, lock-free, at offsets it has published -- the way any reader reads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage-server/engine/namespace_store.h"

namespace engram::storage {

class NamespaceCompaction {
 public:
  // Creates the new store, empty, in `dir` (anything there is removed first). `state` is the new
  // generation's: its id, config and create time are the old store's; arena_end and slot_count
  // must be 0 and compacted_seq the cut.
  static absl::StatusOr<std::unique_ptr<NamespaceCompaction>> Start(
      std::shared_ptr<const NamespaceStore> old, const std::filesystem::path& dir,
      const NamespaceState& state, const Limits* limits);

  // Copies the records visible at the cut, builds the graph over their vectors, and makes the new
  // files durable (arena, vectors, graph header, derived-state file). Returns Cancelled as soon
  // as `cancelled()` is true (it is polled every few thousand records or graph inserts).
  absl::Status Build(const std::function<bool()>& cancelled);

  // Copies the records the old store published since the cut (or the last call), indexes their
  // vectors and writes the new files back. Returns the old arena bytes it covered.
  absl::StatusOr<uint64_t> CatchUp();

  // On the writer thread, between groups: copies the rest and publishes it in the new store,
  // which from then on is the namespace's (the caller checkpoints it). Its last vectors may not
  // be in the graph yet; the engine's indexer inserts them, and searches scan them until then.
  // Fails only for lack of room (the new store is then to be discarded).
  absl::StatusOr<std::shared_ptr<NamespaceStore>> Finish();

  uint64_t cut_seq() const { return cut_seq_; }
  uint64_t records_copied() const { return records_copied_; }
  uint64_t old_bytes_covered() const { return old_offset_; }

 private:
  NamespaceCompaction(std::shared_ptr<const NamespaceStore> old,
                      std::unique_ptr<NamespaceStore> fresh, uint64_t cut_seq)
      : old_(std::move(old)), new_(std::move(fresh)), cut_seq_(cut_seq) {}
  // Which old records CopyRange copies: the concept versions or the associations visible at the
  // cut (a record with seq > cut ends the pass), or every one.
  enum class Pass { kLiveConcepts, kLiveAssociations, kAll };
  // Copies the old records in [old_offset_, end) that `pass` selects into the new store.
  absl::Status CopyRange(uint64_t end, Pass pass,
                         const absl::flat_hash_set<const AssocRecord*>* live_edges,
                         const std::function<bool()>* cancelled);
  absl::Status CopyConcept(const ConceptRecord& r);
  absl::Status CopyAssociation(const AssocRecord& r);
  absl::Status IndexGraph(const std::function<bool()>* cancelled);

  const std::shared_ptr<const NamespaceStore> old_;
  std::unique_ptr<NamespaceStore> new_;  // null once Finish() handed it over
  const uint64_t cut_seq_;
  uint64_t old_offset_ = 0;        // the next old arena offset to copy
  std::vector<uint32_t> numbers_;  // old concept number -> new number + 1 (0: not copied yet)
  uint64_t records_copied_ = 0;
};

}  // namespace engram::storage
