// NamespaceStore's derived-state file (derived_state.h): writing the DRAM indexes at a checkpoint
// and loading them at open, so that open scans only the arena past the offset they cover.
#include <xxhash.h>

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

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

// Body: header fields, the concept entries (chain heads, keyword document, id hash), the vector
// slots' liveness, the writer's association map, then the keyword index (KeywordIndex::EncodeTo).
absl::Status NamespaceStore::PersistDerived(bool force) {
  const uint64_t end = state_.arena_end;  // what the checkpoint just made durable
  if (end == 0 || end == derived_end_ || arena_end_ != end || slot_count_ != state_.slot_count ||
      !pending_vectors_.empty() || !pending_keywords_.empty()) {
    return absl::OkStatus();  // nothing new, or the DRAM state is not exactly the flushed arena's
  }
  if (!force && end - derived_end_ < std::max(kDerivedMinTailBytes, derived_end_ / 8)) {
    return absl::OkStatus();
  }
  const uint32_t numbers = number_count_.load(std::memory_order_relaxed);
  ByteWriter w;
  w.out().reserve(size_t{numbers} * 200 + edges_.size() * 12 + (size_t{1} << 20));
  w.U64(state_.id);
  w.U64(end);
  w.U32(slot_count_);
  w.U32(numbers);
  w.U64(ArenaFingerprint(end));
  w.U64(live_concepts_.load(std::memory_order_relaxed));
  w.U64(live_assocs_.load(std::memory_order_relaxed));
  w.U64(live_vectors_.load(std::memory_order_relaxed));
  w.U64(live_concept_bytes_.load(std::memory_order_relaxed));
  // The keyword index first, behind its length, so that open decodes it on a second thread.
  const size_t keyword_length_at = w.size();
  w.U64(0);
  keywords_->EncodeTo(&w);
  w.PatchU64(keyword_length_at, w.size() - keyword_length_at - 8);
  for (uint32_t n = 0; n < numbers; ++n) {
    const ConceptEntry& e = entries_[n];
    w.Varint(e.head.load(std::memory_order_relaxed));
    w.Varint(e.out_head.load(std::memory_order_relaxed));
    w.Varint(e.in_head.load(std::memory_order_relaxed));
    w.Varint(e.keyword_doc);
    w.U64(XXH3_64bits(IdOf(n).data(), IdOf(n).size()));
  }
  for (uint32_t slot = 0; slot < slot_count_; ++slot) {
    const SlotMeta& m = slots_[slot];
    w.Varint(m.record.load(std::memory_order_relaxed));
    w.Varint(m.born.load(std::memory_order_relaxed));
    w.Varint(m.dead.load(std::memory_order_relaxed) + 1);  // UINT64_MAX (alive) -> 0
  }
  w.U64(edges_.size());
  for (const auto& [key, record] : edges_) {
    w.Varint(key.source);
    w.Varint(key.target);
    w.Varint(key.type);
    w.Varint(record);
  }
  RETURN_IF_ERROR(WriteDerivedFile(dir_ / kDerivedFileName, w.out()));
  derived_end_ = end;
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
  derived_end_ = end;
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
  slots_.EnsureSize(slots);
  for (uint32_t i = 0; i < slots; ++i) {
    SlotMeta& m = slots_[i];
    const uint64_t record = r.Varint(), born = r.Varint(), dead = r.Varint() - 1;
    if (record > end) return abort("a slot's record lies outside the covered arena");
    m.record.store(record, std::memory_order_relaxed);
    m.born.store(born, std::memory_order_relaxed);
    m.dead.store(dead, std::memory_order_relaxed);
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
