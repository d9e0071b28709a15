// NamespaceStore's derived-state file (derived_state.h): writing the DRAM indexes at a checkpoint
// and loading them at open, so that open scans only the arena past the offset they cover.
#include <xxhash.h>

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/derived_state.h"
#include "storage-server/engine/namespace_store.h"

namespace engram::storage {

uint64_t NamespaceStore::ArenaFingerprint(uint64_t end) const {
  if (end == 0) return 0;
  const uint64_t segment_start = (end - 1) & ~(arena_->segment_bytes() - 1);
  const uint64_t begin = std::max(segment_start, end >= 4096 ? end - 4096 : 0);
  return XXH3_64bits(arena_->At(begin), end - begin);
}

std::optional<NamespaceStore::DerivedCut> NamespaceStore::CutDerived(bool force) {
  const uint64_t end = state_.arena_end;  // what the checkpoint just made durable
  const uint64_t covered = std::max(derived_end(), derived_cut_end_);
  if (end == 0 || end == covered || arena_end_ != end || slot_count_ != state_.slot_count ||
      !pending_vectors_.empty() || !pending_keywords_.empty()) {
    return std::nullopt;  // nothing new, or the DRAM state is not exactly the flushed arena's
  }
  if (!force && end - covered < std::max(kDerivedMinTailBytes, covered / 8)) return std::nullopt;
  DerivedCut cut;
  cut.end = end;
  cut.seq = applied_seq_;
  cut.numbers = number_count_.load(std::memory_order_relaxed);
  cut.slots = slot_count_;
  cut.live_concepts = live_concepts_.load(std::memory_order_relaxed);
  cut.live_assocs = live_assocs_.load(std::memory_order_relaxed);
  cut.live_vectors = live_vectors_.load(std::memory_order_relaxed);
  cut.live_concept_bytes = live_concept_bytes_.load(std::memory_order_relaxed);
  cut.keywords = keywords_->TakeCut();
  derived_cut_end_ = end;
  return cut;
}

absl::Status NamespaceStore::PersistDerived(bool force) {
  std::optional<DerivedCut> cut = CutDerived(force);
  return cut ? WriteDerived(*cut) : absl::OkStatus();
}

// Body: header fields, the keyword index (KeywordIndex::EncodeTo), the concept entries (chain
// heads, keyword document, id hash), the vector slots' liveness, the association map. Everything
// as of the cut: records at or past cut.end were appended after it, and a slot or document that
// died after it (dead > cut.seq) was alive then.
absl::Status NamespaceStore::WriteDerived(const DerivedCut& cut) const {
  const uint64_t end = cut.end;
  ByteWriter w;
  w.out().reserve(size_t{cut.numbers} * 200 + size_t{cut.live_assocs} * 12 + (size_t{1} << 20));
  w.U64(state_.id);
  w.U64(end);
  w.U32(cut.slots);
  w.U32(cut.numbers);
  w.U64(ArenaFingerprint(end));
  w.U64(cut.live_concepts);
  w.U64(cut.live_assocs);
  w.U64(cut.live_vectors);
  w.U64(cut.live_concept_bytes);
  // The keyword index first, behind its length, so that open decodes it on a second thread.
  const size_t keyword_length_at = w.size();
  w.U64(0);
  keywords_->EncodeTo(&w, cut.keywords, cut.seq);
  w.PatchU64(keyword_length_at, w.size() - keyword_length_at - 8);
  // Each concept's live keyword document at the cut (its document + 1, 0 for none).
  std::vector<uint32_t> keyword_doc(cut.numbers, 0);
  keywords_->ForEachDocument(cut.keywords, [&](uint32_t doc, uint32_t number, uint64_t born,
                                               uint64_t dead) {
    if (number < cut.numbers && born <= cut.seq && dead > cut.seq) keyword_doc[number] = doc + 1;
  });
  // A chain head as of the cut: the newest record of the chain below cut.end.
  auto before_cut = [&](uint64_t p, auto prev_of) {
    while (p != 0 && p - 1 >= end) p = prev_of(p);
    return p;
  };
  std::vector<uint64_t> out_heads(cut.numbers);
  for (uint32_t n = 0; n < cut.numbers; ++n) {
    const ConceptEntry& e = entries_[n];
    const uint64_t head = before_cut(e.head.load(std::memory_order_acquire),
                                     [&](uint64_t p) { return RecordAt<ConceptRecord>(p)->prev; });
    out_heads[n] = before_cut(e.out_head.load(std::memory_order_acquire),
                              [&](uint64_t p) { return RecordAt<AssocRecord>(p)->prev_out; });
    w.Varint(head);
    w.Varint(out_heads[n]);
    w.Varint(before_cut(e.in_head.load(std::memory_order_acquire),
                        [&](uint64_t p) { return RecordAt<AssocRecord>(p)->prev_in; }));
    w.Varint(keyword_doc[n]);
    const absl::string_view id = RecordAt<ConceptRecord>(head)->id();
    w.U64(XXH3_64bits(id.data(), id.size()));
  }
  for (uint32_t slot = 0; slot < cut.slots; ++slot) {
    const SlotMeta& m = slots_[slot];
    const uint64_t dead = m.dead.load(std::memory_order_relaxed);
    w.Varint(m.record.load(std::memory_order_relaxed));
    w.Varint(m.born.load(std::memory_order_relaxed));
    w.Varint(dead > cut.seq ? 0 : dead + 1);  // alive at the cut -> 0
  }
  // The writer's association map (each live association: its newest record), as the outgoing
  // chains show it at the cut: the first record of each (target, type), unless a tombstone.
  const size_t edge_count_at = w.size();
  w.U64(0);
  uint64_t edges = 0;
  absl::flat_hash_set<uint64_t> seen;
  for (uint32_t n = 0; n < cut.numbers; ++n) {
    seen.clear();
    for (uint64_t p = out_heads[n]; p != 0;) {
      const auto* r = RecordAt<AssocRecord>(p);
      const uint64_t record = p;
      p = r->prev_out;
      if (!seen.insert((uint64_t{r->target} << 8) | r->type).second || r->tombstone()) continue;
      w.Varint(n);
      w.Varint(r->target);
      w.Varint(r->type);
      w.Varint(record);
      ++edges;
    }
  }
  w.PatchU64(edge_count_at, edges);
  RETURN_IF_ERROR(WriteDerivedFile(dir_ / kDerivedFileName, w.out()));
  // Files are written in cut order (one writer at a time per namespace), so this only grows.
  derived_end_.store(end, std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> NamespaceStore::LoadDerived() {
  const std::filesystem::path path = dir_ / kDerivedFileName;
  absl::StatusOr<std::unique_ptr<DerivedFile>> file = DerivedFile::Open(path);
  if (!file.ok()) {
    if (!absl::IsNotFound(file.status())) {
      spdlog::warn("namespace {}: ignoring the derived-state file ({}); rebuilding from the arena",
                   name(), file.status().ToString());
    }
    return 0;
  }
  auto reject = [&](absl::string_view why) {
    spdlog::warn("namespace {}: ignoring {} ({}); rebuilding from the arena", name(), path.string(),
                 std::string(why));
    return uint64_t{0};
  };
  ByteReader r((*file)->body());
  const uint64_t id = r.U64();
  const uint64_t end = r.U64();
  const uint32_t slots = r.U32();
  const uint32_t numbers = r.U32();
  const uint64_t fingerprint = r.U64();
  const uint64_t live_concepts = r.U64(), live_assocs = r.U64(), live_vectors = r.U64();
  const uint64_t live_concept_bytes = r.U64();
  if (!r.ok()) return reject("truncated header");
  if (id != state_.id) return reject(absl::StrFormat("written for namespace incarnation %d", id));
  if (end > state_.arena_end || slots > state_.slot_count) {
    return reject(absl::StrFormat("covers %d arena bytes and %d slots, the checkpoint %d and %d",
                                  end, slots, state_.arena_end, state_.slot_count));
  }
  if (ArenaFingerprint(end) != fingerprint) return reject("the arena before its offset differs");
  const uint64_t keyword_bytes = r.U64();
  ByteReader keyword_reader(r.Take(keyword_bytes));
  if (!r.ok()) return reject("keyword section beyond the data");
  if (numbers > r.remaining() / 12 || slots > r.remaining() / 3) {
    return reject("counts beyond the data");
  }

  // The checksum held, so the body is what PersistDerived wrote: decode it straight into the
  // (empty) indexes. Should a check still fail, the store is half-filled: Open discards it and
  // opens again without the file (Aborted).
  auto abort = [&](absl::string_view why) {
    return absl::AbortedError(absl::StrCat(path.string(), ": ", why));
  };
  // The keyword index (about half the work) on a second thread, the rest on this one.
  absl::Status keyword_status;
  std::thread keyword_thread([&] {
    keyword_status = keywords_->DecodeFrom(&keyword_reader);
    if (keyword_status.ok() && !keyword_reader.done()) {
      keyword_status = absl::DataLossError("keyword index: trailing bytes");
    }
  });
  absl::Status rest = DecodeDerivedRest(&r, end, numbers, slots);
  keyword_thread.join();
  if (!rest.ok()) return abort(rest.message());
  if (!keyword_status.ok()) return abort(keyword_status.message());
  for (uint32_t n = 0; n < numbers; ++n) {
    if (entries_[n].keyword_doc > keywords_->document_count()) {
      return abort("a keyword document out of range");
    }
  }
  live_concepts_.store(live_concepts, std::memory_order_relaxed);
  live_assocs_.store(live_assocs, std::memory_order_relaxed);
  live_vectors_.store(live_vectors, std::memory_order_relaxed);
  live_concept_bytes_.store(live_concept_bytes, std::memory_order_relaxed);
  derived_end_.store(end, std::memory_order_relaxed);
  derived_cut_end_ = end;
  opened_from_derived_ = true;
  return end;
}

// The concept entries, id table, slots and association map of a derived-state body.
absl::Status NamespaceStore::DecodeDerivedRest(ByteReader* in, uint64_t end, uint32_t numbers,
                                               uint32_t slots) {
  ByteReader& r = *in;
  auto abort = [](absl::string_view why) { return absl::DataLossError(why); };
  entries_.EnsureSize(numbers);
  ids_.Reserve(numbers);
  for (uint32_t n = 0; n < numbers; ++n) {
    ConceptEntry& e = entries_[n];
    const uint64_t head = r.Varint(), out_head = r.Varint(), in_head = r.Varint();
    e.keyword_doc = static_cast<uint32_t>(r.Varint());
    const uint64_t hash = r.U64();
    if (head == 0 || head > end || out_head > end || in_head > end) {
      return abort("a concept's chain head lies outside the covered arena");
    }
    e.head.store(head, std::memory_order_relaxed);
    e.out_head.store(out_head, std::memory_order_relaxed);
    e.in_head.store(in_head, std::memory_order_relaxed);
    ids_.Insert(hash, n);
  }
  number_count_.store(numbers, std::memory_order_release);
  for (uint32_t i = 0; i < slots; ++i) {
    const uint64_t record = r.Varint(), born = r.Varint(), dead = r.Varint() - 1;
    if (record > end) return abort("a slot's record lies outside the covered arena");
    SetSlot(i, record, born, dead);
  }
  slot_count_ = slots;
  const uint64_t edge_count = r.U64();
  if (!r.ok() || edge_count > r.remaining() / 4) return abort("edge count beyond the data");
  edges_.reserve(edge_count);
  for (uint64_t i = 0; i < edge_count; ++i) {
    EdgeKey key;
    key.source = static_cast<uint32_t>(r.Varint());
    key.target = static_cast<uint32_t>(r.Varint());
    key.type = static_cast<uint32_t>(r.Varint());
    const uint64_t record = r.Varint();
    if (key.source >= numbers || key.target >= numbers || record == 0 || record > end) {
      return abort("an association outside the covered concepts or arena");
    }
    edges_.emplace(key, record);
  }
  if (!r.ok()) return abort("truncated");
  if (!r.done()) return abort("trailing bytes");
  return absl::OkStatus();
}

}  // namespace engram::storage
