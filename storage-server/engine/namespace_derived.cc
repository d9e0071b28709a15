// NamespaceStore's derived-state file (derived_state.h): writing the DRAM indexes at a checkpoint
// and loading them at open, so that open scans only the arena past the offset they cover.
#include <xxhash.h>

#include <algorithm>
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
  keywords_->EncodeTo(&w);
  RETURN_IF_ERROR(WriteDerivedFile(dir_ / kDerivedFileName, w.out()));
  derived_end_ = end;
  return absl::OkStatus();
}

uint64_t NamespaceStore::LoadDerived() {
  const std::filesystem::path path = dir_ / kDerivedFileName;
  absl::StatusOr<std::string> body = ReadDerivedFile(path);
  if (!body.ok()) {
    if (!absl::IsNotFound(body.status())) {
      spdlog::warn("namespace {}: ignoring the derived-state file ({}); rebuilding from the arena",
                   name(), body.status().ToString());
    }
    return 0;
  }
  auto reject = [&](absl::string_view why) {
    spdlog::warn("namespace {}: ignoring {} ({}); rebuilding from the arena", name(), path.string(),
                 std::string(why));
    return uint64_t{0};
  };
  ByteReader r(*body);
  const uint64_t id = r.U64();
  const uint64_t end = r.U64();
  const uint32_t slots = r.U32();
  const uint32_t numbers = r.U32();
  const uint64_t fingerprint = r.U64();
  const uint64_t live_concepts = r.U64(), live_assocs = r.U64(), live_vectors = r.U64();
  if (!r.ok()) return reject("truncated header");
  if (id != state_.id) return reject(absl::StrFormat("written for namespace incarnation %d", id));
  if (end > state_.arena_end || slots > state_.slot_count) {
    return reject(absl::StrFormat("covers %d arena bytes and %d slots, the checkpoint %d and %d",
                                  end, slots, state_.arena_end, state_.slot_count));
  }
  if (ArenaFingerprint(end) != fingerprint) return reject("the arena before its offset differs");
  if (numbers > r.remaining() / 12 || slots > r.remaining() / 3) return reject("counts beyond the data");

  // Decode and check everything before touching the store, so a bad file changes nothing.
  struct Entry {
    uint64_t head, out_head, in_head, hash;
    uint32_t keyword_doc;
  };
  std::vector<Entry> entries(numbers);
  for (Entry& e : entries) {
    e.head = r.Varint();
    e.out_head = r.Varint();
    e.in_head = r.Varint();
    e.keyword_doc = static_cast<uint32_t>(r.Varint());
    e.hash = r.U64();
    if (e.head == 0 || e.head > end || e.out_head > end || e.in_head > end) {
      return reject("a concept's chain head lies outside the covered arena");
    }
  }
  struct Slot {
    uint64_t record, born, dead;
  };
  std::vector<Slot> slot_meta(slots);
  for (Slot& s : slot_meta) {
    s.record = r.Varint();
    s.born = r.Varint();
    s.dead = r.Varint() - 1;
    if (s.record > end) return reject("a slot's record lies outside the covered arena");
  }
  const uint64_t edge_count = r.U64();
  if (!r.ok() || edge_count > r.remaining() / 4) return reject("edge count beyond the data");
  std::vector<std::pair<EdgeKey, uint64_t>> edges(edge_count);
  for (auto& [key, record] : edges) {
    key.source = static_cast<uint32_t>(r.Varint());
    key.target = static_cast<uint32_t>(r.Varint());
    key.type = static_cast<uint32_t>(r.Varint());
    record = r.Varint();
    if (key.source >= numbers || key.target >= numbers || record == 0 || record > end) {
      return reject("an association outside the covered concepts or arena");
    }
  }
  if (!r.ok()) return reject("truncated");
  auto keywords = std::make_unique<KeywordIndex>(keywords_->attributes());
  if (absl::Status s = keywords->DecodeFrom(&r); !s.ok()) return reject(s.message());
  if (!r.done()) return reject("trailing bytes");
  for (const Entry& e : entries) {
    if (e.keyword_doc > keywords->document_count()) return reject("a keyword document out of range");
  }

  // Commit.
  entries_.EnsureSize(numbers);
  ids_.Reserve(numbers);
  for (uint32_t n = 0; n < numbers; ++n) {
    ConceptEntry& e = entries_[n];
    e.head.store(entries[n].head, std::memory_order_relaxed);
    e.out_head.store(entries[n].out_head, std::memory_order_relaxed);
    e.in_head.store(entries[n].in_head, std::memory_order_relaxed);
    e.keyword_doc = entries[n].keyword_doc;
    ids_.Insert(entries[n].hash, n);
  }
  number_count_.store(numbers, std::memory_order_release);
  slots_.EnsureSize(slots);
  for (uint32_t i = 0; i < slots; ++i) {
    SlotMeta& m = slots_[i];
    m.record.store(slot_meta[i].record, std::memory_order_relaxed);
    m.born.store(slot_meta[i].born, std::memory_order_relaxed);
    m.dead.store(slot_meta[i].dead, std::memory_order_relaxed);
  }
  slot_count_ = slots;
  edges_.reserve(edges.size());
  for (const auto& [key, record] : edges) edges_.emplace(key, record);
  live_concepts_.store(live_concepts, std::memory_order_relaxed);
  live_assocs_.store(live_assocs, std::memory_order_relaxed);
  live_vectors_.store(live_vectors, std::memory_order_relaxed);
  keywords_ = std::move(keywords);
  derived_end_ = end;
  opened_from_derived_ = true;
  return end;
}

}  // namespace engram::storage
