// NamespaceCompaction (namespace_compaction.h): copying a store's live records into the next
// generation's store, then what was published after the cut.
#include "storage-server/engine/namespace_compaction.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"

namespace engram::storage {

namespace {

constexpr uint64_t kCancelCheckRecords = 4096;
constexpr size_t kGraphBatch = 512;

}  // namespace

absl::StatusOr<std::unique_ptr<NamespaceCompaction>> NamespaceCompaction::Start(
    std::shared_ptr<const NamespaceStore> old, const std::filesystem::path& dir,
    const NamespaceState& state, const Limits* limits) {
  if (state.arena_end != 0 || state.slot_count != 0 || state.compacted_seq == 0) {
    return absl::InvalidArgumentError("compaction: the new generation's state must be empty");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // debris of a compaction that did not finish
  if (ec) return absl::InternalError(absl::StrCat("remove ", dir.string(), ": ", ec.message()));
  ASSIGN_OR_RETURN(std::unique_ptr<NamespaceStore> fresh,
                   NamespaceStore::OpenImpl(dir, state, limits, /*use_derived=*/false));
  return std::unique_ptr<NamespaceCompaction>(
      new NamespaceCompaction(std::move(old), std::move(fresh), state.compacted_seq));
}

absl::Status NamespaceCompaction::Build(const std::function<bool()>& cancelled) {
  const uint64_t cut = cut_seq();
  // Every record with seq <= cut lies below the published end read after the cut was published.
  const uint64_t end = old_->published_end();
  // The associations live at the cut: the newest record of each (source, target, type) in its
  // source's outgoing chain, when that is not a tombstone and both ends are live.
  absl::flat_hash_set<const AssocRecord*> live_edges;
  live_edges.reserve(old_->association_count());
  const uint32_t numbers = old_->number_count_.load(std::memory_order_acquire);
  for (uint32_t n = 0; n < numbers; ++n) {
    if (old_->Visible(n, cut) == nullptr) continue;
    old_->ForEachEdge(n, v1::OUT, cut, [&](const NamespaceStore::EdgeView& e) {
      if (old_->Visible(e.other, cut) != nullptr) live_edges.insert(e.record);
    });
    if (n % kCancelCheckRecords == 0 && cancelled()) {
      return absl::CancelledError("compaction cancelled");
    }
  }
  // The concepts first (a live association may be older than its concepts' live versions), in
  // the order of their numbers, so that ties that rank by number (search) rank as before.
  for (uint32_t n = 0; n < numbers; ++n) {
    if (const ConceptRecord* r = old_->Visible(n, cut)) RETURN_IF_ERROR(CopyConcept(*r));
    if (n % kCancelCheckRecords == 0 && cancelled()) {
      return absl::CancelledError("compaction cancelled");
    }
  }
  RETURN_IF_ERROR(CopyRange(end, Pass::kLiveAssociations, &live_edges, &cancelled));
  live_edges = {};
  RETURN_IF_ERROR(IndexGraph(&cancelled));
  // Durable before the switch, so that the checkpoint switching to it only adds the catch-up.
  RETURN_IF_ERROR(new_->FlushData().status());
  RETURN_IF_ERROR(new_->CheckpointIndex());
  if (absl::Status s = new_->PersistDerived(/*force=*/true); !s.ok()) {
    // A cache: the next open scans the arena instead.
    spdlog::warn("namespace {}: compacted store's derived state not persisted: {}", new_->name(),
                 s.ToString());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> NamespaceCompaction::CatchUp() {
  const uint64_t from = old_offset_;
  RETURN_IF_ERROR(CopyRange(old_->published_end(), Pass::kAll, nullptr, nullptr));
  RETURN_IF_ERROR(IndexGraph(nullptr));
  // Written back here rather than by the switch's checkpoint, on the writer thread: inserting the
  // caught-up vectors dirtied graph pages all over the new files.
  RETURN_IF_ERROR(new_->FlushData().status());
  RETURN_IF_ERROR(new_->CheckpointIndex());
  return old_offset_ - from;
}

absl::StatusOr<std::shared_ptr<NamespaceStore>> NamespaceCompaction::Finish() {
  RETURN_IF_ERROR(CopyRange(old_->published_end(), Pass::kAll, nullptr, nullptr));
  new_->PublishApplied();
  return std::shared_ptr<NamespaceStore>(std::move(new_));
}

absl::Status NamespaceCompaction::CopyRange(
    uint64_t end, Pass pass, const absl::flat_hash_set<const AssocRecord*>* live_edges,
    const std::function<bool()>* cancelled) {
  const uint64_t cut = cut_seq();
  const bool only_live_at_cut = pass != Pass::kAll;
  uint64_t offset = old_offset_;
  uint64_t examined = 0;
  while (offset < end) {
    const RecordHeader* h = old_->HeaderAt(offset);
    if (h->kind == kRecordPadding) {
      offset = old_->arena_->ContiguousEnd(offset);
      continue;
    }
    if (only_live_at_cut && h->seq > cut) break;  // records are in sequence order
    switch (h->kind) {
      case kRecordConcept:
      case kRecordConceptTomb:
        if (pass == Pass::kAll) {
          RETURN_IF_ERROR(CopyConcept(*reinterpret_cast<const ConceptRecord*>(h)));
        }
        break;
      case kRecordAssoc:
      case kRecordAssocTomb: {
        const auto* r = reinterpret_cast<const AssocRecord*>(h);
        if (pass == Pass::kAll || (pass == Pass::kLiveAssociations && live_edges->contains(r))) {
          RETURN_IF_ERROR(CopyAssociation(*r));
        }
        break;
      }
      default:
        return absl::DataLossError(
            absl::StrFormat("namespace %s: unknown record kind 0x%08x at arena offset %d",
                            new_->name(), h->kind, offset));
    }
    offset += h->length;
    old_offset_ = offset;
    if (cancelled != nullptr && ++examined % kCancelCheckRecords == 0 && (*cancelled)()) {
      return absl::CancelledError("compaction cancelled");
    }
  }
  old_offset_ = offset;
  return absl::OkStatus();
}

absl::Status NamespaceCompaction::CopyConcept(const ConceptRecord& r) {
  if (r.concept_number >= numbers_.size()) numbers_.resize(r.concept_number + 1, 0);
  uint32_t& mapped = numbers_[r.concept_number];
  // A concept seen first here (or deleted before the cut and created again) gets the next number.
  if (mapped == 0) mapped = new_->number_count_.load(std::memory_order_relaxed) + 1;
  const uint32_t n = mapped - 1;
  const bool has_vector = r.slot != kNoSlot;
  RETURN_IF_ERROR(new_->Reserve(WritePlan{r.h.length, has_vector ? 1u : 0u}));
  new_->entries_.EnsureSize(n + 1);
  const uint64_t offset = new_->AppendRecord(r.h.length);
  auto* c = reinterpret_cast<ConceptRecord*>(new_->arena_->At(offset));
  std::memcpy(c, &r, r.h.length);
  c->prev = new_->entries_[n].head.load(std::memory_order_relaxed);
  c->concept_number = n;
  if (has_vector) {
    c->slot = new_->slot_count_;
    RETURN_IF_ERROR(new_->vectors_->Put(c->slot, old_->vectors_->Get(r.slot)));
  }
  new_->IndexRecord(offset);
  ++records_copied_;
  return absl::OkStatus();
}

absl::Status NamespaceCompaction::CopyAssociation(const AssocRecord& r) {
  auto number = [&](uint32_t old_number) -> absl::StatusOr<uint32_t> {
    if (old_number >= numbers_.size() || numbers_[old_number] == 0) {
      return absl::InternalError(absl::StrFormat(
          "namespace %s: compaction met an association of concept %d before the concept",
          new_->name(), old_number));
    }
    return numbers_[old_number] - 1;
  };
  ASSIGN_OR_RETURN(const uint32_t source, number(r.source));
  ASSIGN_OR_RETURN(const uint32_t target, number(r.target));
  RETURN_IF_ERROR(new_->Reserve(WritePlan{sizeof(AssocRecord), 0}));
  const uint64_t offset = new_->AppendRecord(sizeof(AssocRecord));
  auto* a = reinterpret_cast<AssocRecord*>(new_->arena_->At(offset));
  std::memcpy(a, &r, sizeof(AssocRecord));
  a->prev_out = new_->entries_[source].out_head.load(std::memory_order_relaxed);
  a->prev_in = new_->entries_[target].in_head.load(std::memory_order_relaxed);
  a->source = source;
  a->target = target;
  new_->IndexRecord(offset);
  ++records_copied_;
  return absl::OkStatus();
}

absl::Status NamespaceCompaction::IndexGraph(const std::function<bool()>* cancelled) {
  RETURN_IF_ERROR(new_->vectors_->WriteStaged());
  new_->PublishApplied();
  while (true) {
    ASSIGN_OR_RETURN(size_t inserted, new_->IndexPending(kGraphBatch));
    if (inserted == 0) return absl::OkStatus();
    if (cancelled != nullptr && (*cancelled)()) return absl::CancelledError("compaction cancelled");
  }
}

}  // namespace engram::storage
