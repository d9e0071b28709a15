// NamespaceStore's storage: opening and recovering the record arena, record access and edge
// iteration for readers, point reads, vector search and scans, and the writer's plan / reserve /
// apply of a batch. The graph queries (neighbours, paths) are in namespace_graph.cc.
#include "storage-server/engine/namespace_store.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status/status_macros.h"
#include "common/text/names.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"
#include "storage-server/engine/derived_state.h"
#include "storage-server/engine/job_queue.h"

namespace engram::storage {

namespace {

using google::protobuf::util::TimeUtil;

constexpr uint64_t kArenaSegmentBytes = uint64_t{64} << 20;
constexpr uint64_t kWriterView = UINT64_MAX;  // the writer sees everything it applied

vector::Metric ToVectorMetric(v1::Metric m) {
  switch (m) {
    case v1::L2:
      return vector::Metric::kL2;
    case v1::INNER_PRODUCT:
      return vector::Metric::kInnerProduct;
    default:
      return vector::Metric::kCosine;
  }
}

uint64_t HashId(absl::string_view id) { return XXH3_64bits(id.data(), id.size()); }

uint32_t ConceptRecordLength(size_t id_len, size_t content_len, size_t attrs_len) {
  return static_cast<uint32_t>((sizeof(ConceptRecord) + id_len + content_len + attrs_len + 15) &
                               ~size_t{15});
}

size_t EncodedAttributesLength(const v1::Concept& c) {
  size_t n = 0;
  for (const auto& [k, v] : c.attributes()) n += 8 + k.size() + v.size();
  return n;
}

void EncodeAttributes(const v1::Concept& c, char* out) {
  std::vector<std::pair<const std::string*, const std::string*>> sorted;
  for (const auto& [k, v] : c.attributes()) sorted.emplace_back(&k, &v);
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return *a.first < *b.first; });
  for (auto [k, v] : sorted) {
    uint32_t kl = k->size(), vl = v->size();
    std::memcpy(out, &kl, 4);
    std::memcpy(out + 4, k->data(), kl);
    out += 4 + kl;
    std::memcpy(out, &vl, 4);
    std::memcpy(out + 4, v->data(), vl);
    out += 4 + vl;
  }
}

google::protobuf::Timestamp Micros(int64_t micros) {
  return TimeUtil::MicrosecondsToTimestamp(micros);
}

v1::Direction NormalizeDirection(v1::Direction d) {
  return d == v1::DIRECTION_UNSPECIFIED ? v1::BOTH : d;
}

// Whether the encoded attributes hold every (key, value) of `filter`.
bool MatchesFilter(absl::string_view attrs,
                   const google::protobuf::Map<std::string, std::string>& filter) {
  for (const auto& [key, want] : filter) {
    absl::string_view have;
    if (!FindAttribute(attrs, key, &have) || have != want) return false;
  }
  return true;
}

// The result id of an association mutation: "<source>-><target>:<TYPE>".
std::string AssociationResultId(const std::string& source, const std::string& target,
                                v1::AssociationType type) {
  return absl::StrCat(source, "->", target, ":", v1::AssociationType_Name(type));
}

std::vector<KeywordIndex::Field> KeywordFieldsOf(const v1::NamespaceConfig& config) {
  std::vector<KeywordIndex::Field> fields;
  for (const v1::KeywordField& f : config.keyword_fields()) {
    fields.push_back({f.attribute(), f.weight(), f.has_b() ? f.b() : KeywordIndex::kB});
  }
  return fields;
}

}  // namespace

NamespaceStore::NamespaceStore(const std::filesystem::path& dir, const NamespaceState& state,
                               const Limits* limits)
    : dir_(dir),
      state_(state),
      limits_(limits),
      keywords_(std::make_unique<KeywordIndex>(KeywordFieldsOf(state.config))) {}

NamespaceStore::~NamespaceStore() = default;

absl::StatusOr<std::unique_ptr<NamespaceStore>> NamespaceStore::Open(
    const std::filesystem::path& dir, const NamespaceState& state, const Limits* limits,
    SegmentedFile::MsyncFn arena_msync) {
  absl::StatusOr<std::unique_ptr<NamespaceStore>> ns =
      OpenImpl(dir, state, limits, /*use_derived=*/true, arena_msync);
  if (absl::IsAborted(ns.status())) {
    spdlog::warn(
        "namespace {}: the derived-state file did not load ({}); rebuilding from the arena",
        state.config.name(), ns.status().ToString());
    ns = OpenImpl(dir, state, limits, /*use_derived=*/false, arena_msync);
  }
  return ns;
}

absl::StatusOr<std::unique_ptr<NamespaceStore>> NamespaceStore::OpenImpl(
    const std::filesystem::path& dir, const NamespaceState& state, const Limits* limits,
    bool use_derived, SegmentedFile::MsyncFn arena_msync) {
  std::unique_ptr<NamespaceStore> ns(new NamespaceStore(dir, state, limits));
  SegmentedFile::Options arena;
  arena.dir = dir;
  arena.prefix = "records";
  arena.segment_bytes = kArenaSegmentBytes;
  arena.msync = arena_msync;
  ASSIGN_OR_RETURN(ns->arena_, SegmentedFile::Open(arena));
  vector::VectorStore::Options vopts;
  vopts.dir = dir;
  vopts.dim = state.config.dimension();
  ASSIGN_OR_RETURN(ns->vectors_, vector::VectorStore::Open(vopts));
  vector::HnswIndex::Options iopts;
  iopts.dir = dir;
  iopts.metric = ToVectorMetric(state.config.metric());
  iopts.params.M = state.config.index_params().m();
  iopts.params.ef_construction = state.config.index_params().ef_construction();
  // UNSPECIFIED is how namespaces created before the option read back: float, as they were built.
  iopts.quantization = state.config.index_params().quantization() == v1::QUANTIZATION_INT8
                           ? vector::Quantization::kInt8
                           : vector::Quantization::kNone;
  ASSIGN_OR_RETURN(ns->index_, vector::HnswIndex::Open(iopts, ns->vectors_.get()));
  // The vector store may hold slots past the checkpoint (flushed by a checkpoint that did not
  // finish, or by a snapshot cut); the log replay re-puts them.
  if (ns->vectors_->size() < state.slot_count) {
    return absl::DataLossError(absl::StrFormat(
        "namespace %s: %s holds %d vectors, checkpoint needs %d", state.config.name(),
        (dir / "vectors.meta").string(), ns->vectors_->size(), state.slot_count));
  }
  RETURN_IF_ERROR(ns->vectors_->Rewind(state.slot_count));
  RETURN_IF_ERROR(ns->Recover(use_derived));
  return ns;
}

absl::Status NamespaceStore::Recover(bool use_derived) {
  if (state_.arena_end > arena_->capacity()) {
    return absl::DataLossError(
        absl::StrFormat("namespace %s: checkpoint covers %d bytes of %s but only %d exist", name(),
                        state_.arena_end, (dir_ / "records.*").string(), arena_->capacity()));
  }
  // The persisted DRAM indexes cover the arena up to some offset; scan only what follows.
  uint64_t offset = 0;
  if (use_derived) {
    ASSIGN_OR_RETURN(offset, LoadDerived());
  }
  while (offset < state_.arena_end) {
    const RecordHeader* h = HeaderAt(offset);
    auto corrupt = [&](absl::string_view why) {
      return absl::DataLossError(
          absl::StrFormat("namespace %s: corrupt record in %s at offset %d: %s; refusing to start",
                          name(), arena_->SegmentPath(offset / arena_->segment_bytes()).string(),
                          offset % arena_->segment_bytes(), why));
    };
    if (h->kind == kRecordPadding) {
      offset = arena_->ContiguousEnd(offset);
      continue;
    }
    if (h->length < sizeof(RecordHeader) || h->length % 16 != 0 ||
        offset + h->length > arena_->ContiguousEnd(offset)) {
      return corrupt(absl::StrCat("bad length ", h->length));
    }
    switch (h->kind) {
      case kRecordConcept:
      case kRecordConceptTomb: {
        const auto* r = reinterpret_cast<const ConceptRecord*>(h);
        if (h->length < sizeof(ConceptRecord) ||
            sizeof(ConceptRecord) + uint64_t{r->id_len} + r->content_len + r->attrs_len >
                h->length ||
            r->concept_number > number_count_.load(std::memory_order_relaxed) ||
            (r->slot != kNoSlot && r->slot >= state_.slot_count)) {
          return corrupt("inconsistent concept record");
        }
        break;
      }
      case kRecordAssoc:
      case kRecordAssocTomb: {
        const auto* r = reinterpret_cast<const AssocRecord*>(h);
        uint32_t n = number_count_.load(std::memory_order_relaxed);
        if (h->length < sizeof(AssocRecord) || r->source >= n || r->target >= n) {
          return corrupt("association references an unknown concept");
        }
        break;
      }
      default:
        return corrupt(absl::StrFormat("unknown record kind 0x%08x", h->kind));
    }
    IndexRecord(offset);
    offset += h->length;
  }
  arena_end_ = state_.arena_end;
  if (slot_count_ > state_.slot_count) {
    return absl::DataLossError(
        absl::StrFormat("namespace %s: records reference %d vector slots, %d stored", name(),
                        slot_count_, state_.slot_count));
  }
  // Slots stored past the last record's (vectors written before a crash lost their records) own
  // no record; they are marked born with the newest slot so that births stay in slot order.
  for (uint32_t slot = slot_count_; slot < state_.slot_count; ++slot) {
    SetSlot(slot, 0, last_born_, UINT64_MAX);
  }
  slot_count_ = state_.slot_count;
  published_end_.store(arena_end_, std::memory_order_release);
  return absl::OkStatus();
}

// ------------------------------------------------------------------------------------------
// Reader helpers
// ------------------------------------------------------------------------------------------

const ConceptRecord* NamespaceStore::Visible(uint32_t number, uint64_t seq) const {
  uint64_t p = entries_[number].head.load(std::memory_order_acquire);
  while (p != 0) {
    const auto* r = RecordAt<ConceptRecord>(p);
    if (r->h.seq <= seq) return r->tombstone() ? nullptr : r;
    p = r->prev;
  }
  return nullptr;
}

absl::string_view NamespaceStore::IdOf(uint32_t number) const {
  return RecordAt<ConceptRecord>(entries_[number].head.load(std::memory_order_acquire))->id();
}

std::optional<uint32_t> NamespaceStore::NumberOf(absl::string_view id) const {
  return ids_.Find(HashId(id), [&](uint32_t n) { return IdOf(n) == id; });
}

const ConceptRecord* NamespaceStore::FindVisible(absl::string_view id, uint64_t seq) const {
  auto n = NumberOf(id);
  return n ? Visible(*n, seq) : nullptr;
}

void NamespaceStore::ForEachEdge(uint32_t number, v1::Direction direction, uint64_t seq,
                                 absl::FunctionRef<void(const EdgeView&)> fn) const {
  direction = NormalizeDirection(direction);
  absl::flat_hash_set<uint64_t> seen;
  const ConceptEntry& e = entries_[number];
  if (direction != v1::IN) {
    for (uint64_t p = e.out_head.load(std::memory_order_acquire); p != 0;) {
      const auto* r = RecordAt<AssocRecord>(p);
      p = r->prev_out;
      if (r->h.seq > seq) continue;
      if (!seen.insert((uint64_t{r->target} << 8) | r->type).second || r->tombstone()) continue;
      fn(EdgeView{r, r->target, v1::OUT});
    }
  }
  if (direction != v1::OUT) {
    for (uint64_t p = e.in_head.load(std::memory_order_acquire); p != 0;) {
      const auto* r = RecordAt<AssocRecord>(p);
      p = r->prev_in;
      if (r->h.seq > seq) continue;
      if (!seen.insert((uint64_t{r->source} << 8) | r->type | (uint64_t{1} << 63)).second ||
          r->tombstone()) {
        continue;
      }
      fn(EdgeView{r, r->source, v1::IN});
    }
  }
}

void NamespaceStore::FillIdContentAttributes(const ConceptRecord& r, v1::Concept* out) {
  out->set_id(std::string(r.id()));
  out->set_content(std::string(r.content()));
  auto* attrs = out->mutable_attributes();
  ForEachAttribute(r.attrs(), [&](absl::string_view k, absl::string_view v) {
    (*attrs)[std::string(k)] = std::string(v);
    return true;
  });
}

void NamespaceStore::FillConcept(const ConceptRecord& r, bool include_vector,
                                 v1::Concept* out) const {
  FillIdContentAttributes(r, out);
  out->set_strength(r.strength);
  out->set_confidence(r.confidence);
  *out->mutable_create_time() = Micros(r.create_micros);
  *out->mutable_update_time() = Micros(r.update_micros);
  if (include_vector && r.slot != kNoSlot) {
    const float* v = vectors_->Get(r.slot);
    out->mutable_vector()->Add(v, v + state_.config.dimension());
  }
}

void NamespaceStore::FillAssociation(const AssocRecord& r, v1::Association* out) const {
  out->set_source(std::string(IdOf(r.source)));
  out->set_target(std::string(IdOf(r.target)));
  out->set_type(static_cast<v1::AssociationType>(r.type));
  out->set_confidence(r.confidence);
  out->set_weight(r.weight);
  *out->mutable_create_time() = Micros(r.create_micros);
}

// ------------------------------------------------------------------------------------------
// Reads
// ------------------------------------------------------------------------------------------

v1::GetConceptsResponse NamespaceStore::Get(const v1::GetConceptsRequest& request,
                                            uint64_t seq) const {
  v1::GetConceptsResponse response;
  for (const std::string& id : request.ids()) {
    const ConceptRecord* r = FindVisible(id, seq);
    if (r == nullptr) {
      response.add_missing_ids(id);
    } else {
      FillConcept(*r, request.include_vector(), response.add_concepts());
    }
  }
  return response;
}

bool NamespaceStore::SlotVisible(uint32_t slot, uint64_t seq,
                                 const v1::SearchRequest* request) const {
  const SlotMeta& m = slots_[slot];
  if (m.born.load(std::memory_order_relaxed) > seq ||
      m.dead.load(std::memory_order_relaxed) <= seq) {
    return false;
  }
  if (request == nullptr || request->filter().empty()) return true;
  return MatchesFilter(RecordAt<ConceptRecord>(m.record.load(std::memory_order_relaxed))->attrs(),
                       request->filter());
}

uint32_t NamespaceStore::SlotsBornBy(uint64_t seq, uint32_t limit) const {
  if (!born_in_order_.load(std::memory_order_relaxed)) return 0;
  return PartitionPoint(limit, [&](uint32_t slot) {
    return slots_[slot].born.load(std::memory_order_relaxed) <= seq;
  });
}

void NamespaceStore::SetSlot(uint32_t slot, uint64_t record, uint64_t born, uint64_t dead) {
  slots_.EnsureSize(slot + 1);
  dead_bits_.EnsureSize((slot >> 6) + 1);
  SlotMeta& m = slots_[slot];
  m.record.store(record, std::memory_order_relaxed);
  m.born.store(born, std::memory_order_relaxed);
  m.dead.store(UINT64_MAX, std::memory_order_relaxed);
  if (dead != UINT64_MAX) KillSlot(slot, dead);
  if (slot != next_slot_ || born < last_born_)
    born_in_order_.store(false, std::memory_order_relaxed);
  next_slot_ = std::max(next_slot_, slot + 1);
  last_born_ = std::max(last_born_, born);
}

void NamespaceStore::KillSlot(uint32_t slot, uint64_t dead) {
  slots_[slot].dead.store(dead, std::memory_order_relaxed);
  dead_bits_[slot >> 6].fetch_or(uint64_t{1} << (slot & 63), std::memory_order_relaxed);
}

std::vector<std::pair<double, const ConceptRecord*>> NamespaceStore::TopKeyword(
    const KeywordIndex::Query& query, const v1::SearchRequest& request, uint64_t seq,
    size_t k) const {
  // A document visible at `seq` is the version of its concept visible then: without a filter
  // every one is accepted, and only the k found are looked up.
  const bool filtered = !request.filter().empty();
  std::vector<std::pair<double, const ConceptRecord*>> out;
  for (const KeywordIndex::Scored& s :
       keywords_->Best(query, k, [&](uint32_t number) {
         if (!filtered) return true;
         const ConceptRecord* r = Visible(number, seq);
         return r != nullptr && MatchesFilter(r->attrs(), request.filter());
       })) {
    const ConceptRecord* r = Visible(s.concept_number, seq);
    if (r != nullptr) out.emplace_back(s.match.bm25, r);
  }
  return out;
}

bool NamespaceStore::KeywordTexts(const ConceptRecord& r,
                                  absl::string_view (&texts)[KeywordIndex::kMaxFields]) const {
  texts[0] = r.content();
  bool any = r.content_len > 0;
  const std::vector<KeywordIndex::Field>& fields = keywords_->attributes();
  for (size_t f = 0; f < fields.size(); ++f) {
    texts[f + 1] = absl::string_view();
    any |= FindAttribute(r.attrs(), fields[f].attribute, &texts[f + 1]);
  }
  return any;
}

absl::StatusOr<v1::SearchResponse> NamespaceStore::Search(const v1::SearchRequest& request,
                                                          uint64_t seq) const {
  const bool has_vector = !request.vector().empty();
  const bool has_text = !request.text().empty();
  v1::SearchMode mode = request.mode();
  if (mode == v1::SEARCH_MODE_UNSPECIFIED) {
    mode = has_vector || !has_text ? v1::SEARCH_MODE_VECTOR : v1::SEARCH_MODE_KEYWORD;
  }
  if (!v1::SearchMode_IsValid(mode)) return InvalidField("mode", "unknown search mode");
  const bool wants_vector = mode != v1::SEARCH_MODE_KEYWORD;
  const bool wants_text = mode != v1::SEARCH_MODE_VECTOR;
  if (wants_vector || has_vector) {
    if (wants_vector && !has_vector) {
      return InvalidField("vector", absl::StrCat("required for mode ", v1::SearchMode_Name(mode)));
    }
    RETURN_IF_ERROR(ValidateVector("vector", request.vector(), state_.config.dimension()));
  }
  if (wants_text && !has_text) {
    return InvalidField("text", absl::StrCat("required for mode ", v1::SearchMode_Name(mode)));
  }
  RETURN_IF_ERROR(ValidateAtMost("text", request.text().size(), limits_->max_content_bytes));
  uint32_t k = request.k() == 0 ? 10 : request.k();
  RETURN_IF_ERROR(ValidateAtMost("k", k, limits_->max_k));
  RETURN_IF_ERROR(ValidateAtMost("ef", request.ef(), limits_->max_ef));
  for (const auto& [key, value] : request.filter()) {
    if (key.empty()) return InvalidField("filter", "empty attribute key");
  }
  const std::string name = text::NormalizedName(request.name());
  if (!request.name().empty() && (name.empty() || name.size() > text::kMaxIndexedNameBytes)) {
    return InvalidField("name", absl::StrFormat("%d bytes normalized, expected 1..%d", name.size(),
                                                text::kMaxIndexedNameBytes));
  }
  // HYBRID fuses the two lists' best `depth` each (reciprocal-rank fusion, constant 60).
  constexpr uint32_t kRrfConstant = 60;
  const uint32_t depth = mode == v1::SEARCH_MODE_HYBRID
                             ? std::min<uint32_t>(std::max<uint32_t>(2 * k, 100), limits_->max_k)
                             : k;

  // The vector list.
  vector::SearchResults vector_hits;
  if (wants_vector && name.empty()) {
    uint32_t ef = request.ef() == 0 ? state_.config.index_params().ef_search() : request.ef();
    ef = std::max(ef, depth);
    const float* query = request.vector().data();
    // Read the indexed count before the published count: every published slot is then covered
    // by the graph search or by the exact scan of the tail (overlap is deduplicated by MergeTopK).
    uint32_t indexed = request.exact() ? 0 : index_->indexed_count();
    uint32_t published = vectors_->published_count();
    // Most visited slots were born before `seq` and never died: two cached reads decide them.
    const uint32_t born_by = request.filter().empty() ? SlotsBornBy(seq, published) : 0;
    auto allowed = vector::MakeSlotFilter([&](uint32_t slot) {
      return (slot < born_by && !SlotEverDead(slot)) || SlotVisible(slot, seq, &request);
    });
    if (indexed > 0) vector_hits = index_->Search(query, depth, ef, &allowed);
    if (published > indexed) {
      vector_hits = vector::MergeTopK(
          vector_hits, index_->ExactSearch(query, depth, indexed, published, &allowed), depth);
    }
  }
  // The keyword query, and its best `depth` concepts.
  std::optional<KeywordIndex::Query> keyword_query;
  std::vector<std::pair<double, const ConceptRecord*>> keyword_hits;
  if (has_text) {
    keyword_query = keywords_->Prepare(KeywordIndex::QueryTerms(request.text()), seq);
    if (wants_text && name.empty()) keyword_hits = TopKeyword(*keyword_query, request, seq, depth);
  }
  auto keyword_match = [&](const ConceptRecord& r) {
    absl::string_view texts[KeywordIndex::kMaxFields];
    if (!KeywordTexts(r, texts)) return KeywordIndex::Match();
    return keywords_->MatchOf(*keyword_query,
                              absl::MakeConstSpan(texts, 1 + keywords_->attributes().size()));
  };
  if (!name.empty()) {  // the two lists from the concepts of that name alone
    std::vector<const ConceptRecord*> named;
    for (uint32_t number : keywords_->Named(name, seq)) {
      const ConceptRecord* r = Visible(number, seq);
      if (r != nullptr && MatchesFilter(r->attrs(), request.filter())) named.push_back(r);
    }
    if (wants_vector) {
      std::vector<uint32_t> slots;
      for (const ConceptRecord* r : named) {
        if (r->slot != kNoSlot) slots.push_back(r->slot);
      }
      const std::vector<float> similarity = vector::ScoreSlots(
          *vectors_, ToVectorMetric(state_.config.metric()), request.vector().data(), slots);
      for (size_t i = 0; i < slots.size(); ++i) vector_hits.emplace_back(similarity[i], slots[i]);
      std::sort(vector_hits.begin(), vector_hits.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
    }
    if (wants_text) {
      for (const ConceptRecord* r : named) keyword_hits.emplace_back(keyword_match(*r).bm25, r);
      std::sort(keyword_hits.begin(), keyword_hits.end(), [](const auto& a, const auto& b) {
        return a.first > b.first ||
               (a.first == b.first && a.second->concept_number < b.second->concept_number);
      });
    }
  }

  // The ranked list: (score, record).
  std::vector<std::pair<double, const ConceptRecord*>> ranked;
  auto slot_record = [&](uint32_t slot) {
    return RecordAt<ConceptRecord>(slots_[slot].record.load(std::memory_order_relaxed));
  };
  absl::flat_hash_map<uint32_t, float> vector_score;  // concept number -> similarity
  for (const auto& [score, slot] : vector_hits) {
    vector_score[slot_record(slot)->concept_number] = score;
  }
  if (mode == v1::SEARCH_MODE_VECTOR) {
    for (const auto& [score, slot] : vector_hits) ranked.emplace_back(score, slot_record(slot));
  } else if (mode == v1::SEARCH_MODE_KEYWORD) {
    ranked = std::move(keyword_hits);
  } else {
    absl::flat_hash_map<uint32_t, std::pair<double, const ConceptRecord*>> fused;
    for (size_t i = 0; i < vector_hits.size(); ++i) {
      const ConceptRecord* r = slot_record(vector_hits[i].second);
      auto& f = fused[r->concept_number];
      f.first += 1.0 / (kRrfConstant + i + 1);
      f.second = r;
    }
    for (size_t i = 0; i < keyword_hits.size(); ++i) {
      auto& f = fused[keyword_hits[i].second->concept_number];
      f.first += 1.0 / (kRrfConstant + i + 1);
      f.second = keyword_hits[i].second;
    }
    for (const auto& [number, f] : fused) ranked.push_back(f);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first > b.first ||
             (a.first == b.first && a.second->concept_number < b.second->concept_number);
    });
  }
  if (ranked.size() > k) ranked.resize(k);

  // Component scores: the vector similarity of results the vector list did not reach.
  std::vector<uint32_t> missing_slots;
  if (has_vector) {
    for (const auto& [score, r] : ranked) {
      if (r->slot != kNoSlot && !vector_score.contains(r->concept_number)) {
        missing_slots.push_back(r->slot);
      }
    }
  }
  if (!missing_slots.empty()) {
    std::vector<float> scores = vector::ScoreSlots(
        *vectors_, ToVectorMetric(state_.config.metric()), request.vector().data(), missing_slots);
    for (size_t i = 0; i < missing_slots.size(); ++i) {
      vector_score[slot_record(missing_slots[i])->concept_number] = scores[i];
    }
  }
  v1::SearchResponse response;
  const double query_idf = keyword_query ? keyword_query->query_idf() : 0;
  for (const auto& [score, r] : ranked) {
    v1::SearchResult* out = response.add_results();
    FillConcept(*r, request.include_vector(), out->mutable_node());
    out->set_score(static_cast<float>(score));
    if (auto it = vector_score.find(r->concept_number); it != vector_score.end()) {
      out->set_vector_score(it->second);
    }
    if (has_text) {
      // The result's own texts scored against the query: what the postings would give.
      const KeywordIndex::Match match = keyword_match(*r);
      out->set_keyword_score(static_cast<float>(match.bm25));
      out->set_keyword_match(query_idf > 0 ? static_cast<float>(match.matched_idf / query_idf) : 0);
    }
  }
  return response;
}

absl::StatusOr<v1::ScanResponse> NamespaceStore::Scan(const v1::ScanRequest& request,
                                                      uint64_t seq) const {
  uint32_t page = request.page_size() == 0 ? 100 : request.page_size();
  RETURN_IF_ERROR(ValidateAtMost("page_size", page, limits_->max_page_size));
  uint64_t offset = 0;
  // A compaction rewrites the arena (page tokens are arena offsets) and keeps only the versions
  // visible at its cut: a scan that began before it cannot go on.
  auto compacted = [&](absl::string_view field, uint64_t view) {
    return absl::AbortedError(absl::StrFormat(
        "%s: namespace '%s' was compacted at sequence %d, after this scan's view (sequence %d) "
        "began; start the scan again",
        field, name(), min_read_seq(), view));
  };
  if (!request.page_token().empty()) {
    // "<offset>.<view sequence>[.<generation>]" in hex; tokens without a generation are from
    // generation 0.
    std::vector<std::string> parts = absl::StrSplit(request.page_token(), '.');
    uint64_t token_seq = 0;
    uint64_t generation = 0;
    if (parts.size() < 2 || parts.size() > 3 || !absl::SimpleHexAtoi(parts[0], &offset) ||
        !absl::SimpleHexAtoi(parts[1], &token_seq) || token_seq > seq ||
        (parts.size() == 3 && !absl::SimpleHexAtoi(parts[2], &generation))) {
      return InvalidField("page_token", "malformed");
    }
    if (generation != state_.generation) {
      if (generation < state_.generation) return compacted("page_token", token_seq);
      return InvalidField("page_token", "malformed");
    }
    seq = token_seq;  // a scan is one point-in-time view across pages
  } else if (request.view_sequence() != 0) {
    if (request.view_sequence() > seq) {
      return InvalidField("view_sequence",
                          absl::StrFormat("%d is above the last acknowledged sequence %d",
                                          request.view_sequence(), seq));
    }
    seq = request.view_sequence();
    if (seq < min_read_seq()) return compacted("view_sequence", seq);
  }
  if (request.associations_only() && !request.include_associations()) {
    return InvalidField("associations_only", "needs include_associations");
  }
  const uint64_t end = published_end_.load(std::memory_order_acquire);
  if (offset > end || (offset % 16) != 0) return InvalidField("page_token", "malformed");
  v1::ScanResponse response;
  constexpr uint64_t kMaxExaminedPerCall = 65536;
  uint64_t examined = 0;
  uint64_t matched = 0;  // concepts whose associations were returned (associations_only)
  while (offset < end && static_cast<uint64_t>(response.concepts_size()) + matched < page &&
         examined < kMaxExaminedPerCall) {
    const RecordHeader* h = HeaderAt(offset);
    if (h->kind == kRecordPadding) {
      offset = arena_->ContiguousEnd(offset);
      continue;
    }
    if (h->length < sizeof(RecordHeader)) return InvalidField("page_token", "malformed");
    if (h->kind == kRecordConcept && h->seq <= seq) {
      const auto* r = reinterpret_cast<const ConceptRecord*>(h);
      ++examined;
      if (Visible(r->concept_number, seq) == r && MatchesFilter(r->attrs(), request.filter())) {
        if (request.associations_only()) {
          ++matched;
        } else {
          FillConcept(*r, request.include_vector(), response.add_concepts());
        }
        if (request.include_associations()) {
          ForEachEdge(r->concept_number, v1::OUT, seq, [&](const EdgeView& e) {
            if (Visible(e.other, seq) != nullptr) {
              FillAssociation(*e.record, response.add_associations());
            }
          });
        }
      }
    }
    offset += h->length;
  }
  if (offset < end) {
    response.set_next_page_token(state_.generation == 0
                                     ? absl::StrFormat("%x.%x", offset, seq)
                                     : absl::StrFormat("%x.%x.%x", offset, seq, state_.generation));
  }
  response.set_view_sequence(seq);
  return response;
}

uint64_t NamespaceStore::indexed_count() const { return index_->indexed_count(); }

uint64_t NamespaceStore::unindexed_count() const {
  // The indexed count first, as Search reads them: the graph never holds an unpublished slot.
  const uint32_t indexed = index_->indexed_count();
  const uint32_t published = vectors_->published_count();
  return published > indexed ? published - indexed : 0;
}

SpaceUsage NamespaceStore::Space() const {
  // A vector slot holds the vector, its norm and its graph node (int8 codes included).
  const double per_slot = static_cast<double>(vectors_->bytes_per_vector()) +
                          index_->graph_bytes_per_vector() + index_->code_bytes_per_vector();
  const uint64_t slots = vectors_->published_count();
  SpaceUsage u;
  u.total_bytes = published_end_.load(std::memory_order_relaxed) +
                  static_cast<uint64_t>(per_slot * static_cast<double>(slots));
  u.live_bytes =
      live_concept_bytes_.load(std::memory_order_relaxed) +
      live_assocs_.load(std::memory_order_relaxed) * sizeof(AssocRecord) +
      static_cast<uint64_t>(per_slot * static_cast<double>(std::min<uint64_t>(
                                           live_vectors_.load(std::memory_order_relaxed), slots)));
  return u;
}

uint64_t NamespaceStore::mapped_bytes() const {
  return arena_->capacity() + vectors_->mapped_bytes() + index_->mapped_bytes();
}

v1::NamespaceInfo NamespaceStore::Info() const {
  v1::NamespaceInfo info;
  *info.mutable_config() = state_.config;
  info.set_concept_count(concept_count());
  info.set_association_count(association_count());
  info.set_vector_count(vector_count());
  info.set_indexed_vector_count(index_->indexed_count());
  info.set_unindexed_vector_count(unindexed_count());
  info.set_data_bytes(published_end_.load(std::memory_order_relaxed) + vectors_->mapped_bytes() +
                      index_->mapped_bytes());
  *info.mutable_create_time() = Micros(state_.create_micros);
  info.set_generation(state_.generation);
  info.set_reclaimable_bytes(Space().reclaimable_bytes());
  return info;
}

// ------------------------------------------------------------------------------------------
// Writer
// ------------------------------------------------------------------------------------------

absl::Status NamespaceStore::AdmitVectors(const WritePlan& plan, uint64_t max_unindexed) const {
  if (max_unindexed == 0 || plan.new_slots == 0) return absl::OkStatus();
  // slot_count_ counts the slots this group already took, published or not.
  const uint32_t indexed = index_->indexed_count();
  const uint64_t waiting = slot_count_ > indexed ? slot_count_ - indexed : 0;
  if (waiting < max_unindexed) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat(
      "namespace '%s': %d vectors wait for the HNSW index (--max_unindexed_vectors=%d); writes "
      "with vectors are refused until it catches up, retry with backoff",
      name(), waiting, max_unindexed));
}

absl::StatusOr<WritePlan> NamespaceStore::Plan(const v1::WriteRequest& request) const {
  WritePlan plan;
  // id -> exists, for ids touched by this batch; only association puts look ids up.
  absl::flat_hash_map<absl::string_view, bool> overlay;
  const bool lookups = std::any_of(
      request.mutations().begin(), request.mutations().end(),
      [](const v1::Mutation& m) { return m.op_case() == v1::Mutation::kPutAssociation; });
  auto exists = [&](const std::string& id) {
    auto it = overlay.find(id);
    if (it != overlay.end()) return it->second;
    return FindVisible(id, kWriterView) != nullptr;
  };
  const uint64_t mutations = request.mutations_size();
  for (int i = 0; i < request.mutations_size(); ++i) {
    const v1::Mutation& m = request.mutations(i);
    switch (m.op_case()) {
      case v1::Mutation::kPutConcept: {
        const v1::Concept& c = m.put_concept();
        plan.arena_bytes +=
            ConceptRecordLength(c.id().size(), c.content().size(), EncodedAttributesLength(c));
        if (!c.vector().empty()) ++plan.new_slots;
        if (lookups) overlay[c.id()] = true;
        // Apply looks every id up: start loading their id-table slots now (a batch's worth of
        // slots fits in the L2 cache), so those lookups do not miss one after another.
        ids_.Prefetch(HashId(c.id()));
        break;
      }
      case v1::Mutation::kDeleteConcept: {
        uint64_t degree = 0;
        if (auto n = NumberOf(m.delete_concept())) {
          ForEachEdge(*n, v1::BOTH, kWriterView, [&](const EdgeView&) { ++degree; });
        }
        plan.arena_bytes += sizeof(ConceptRecord) + 16 + m.delete_concept().size() +
                            sizeof(AssocRecord) * (degree + mutations);
        if (lookups) overlay[m.delete_concept()] = false;
        break;
      }
      case v1::Mutation::kPutAssociation: {
        const v1::Association& a = m.put_association();
        if (!exists(a.source())) {
          return absl::NotFoundError(
              absl::StrCat(IndexedField("mutations", i, "put_association.source"), ": concept '",
                           a.source(), "' not found"));
        }
        if (!exists(a.target())) {
          return absl::NotFoundError(
              absl::StrCat(IndexedField("mutations", i, "put_association.target"), ": concept '",
                           a.target(), "' not found"));
        }
        plan.arena_bytes += sizeof(AssocRecord);
        break;
      }
      case v1::Mutation::kDeleteAssociation:
        plan.arena_bytes += sizeof(AssocRecord);
        break;
      case v1::Mutation::OP_NOT_SET:
        return InvalidField(IndexedField("mutations", i), "no operation set");
    }
  }
  return plan;
}

absl::Status NamespaceStore::Reserve(const WritePlan& plan) {
  // A record never spans a segment, so each segment crossed may waste up to one record's size.
  const uint64_t max_record =
      sizeof(ConceptRecord) + 16 + limits_->max_id_bytes + limits_->max_content_bytes +
      uint64_t{limits_->max_attributes} *
          (8 + limits_->max_attribute_key_bytes + limits_->max_attribute_value_bytes);
  const uint64_t slack = (plan.arena_bytes / arena_->segment_bytes() + 2) * max_record;
  RETURN_IF_ERROR(arena_->EnsureCapacity(arena_end_ + plan.arena_bytes + slack));
  RETURN_IF_ERROR(vectors_->Reserve(slot_count_ + plan.new_slots));
  slots_.EnsureSize(slot_count_ + plan.new_slots);
  dead_bits_.EnsureSize(((slot_count_ + plan.new_slots) >> 6) + 1);
  return absl::OkStatus();
}

uint64_t NamespaceStore::AppendRecord(uint32_t length) {
  if (arena_end_ + length > arena_->ContiguousEnd(arena_end_)) {
    auto* pad = reinterpret_cast<RecordHeader*>(arena_->At(arena_end_));
    pad->kind = kRecordPadding;
    pad->length = static_cast<uint32_t>(arena_->ContiguousEnd(arena_end_) - arena_end_);
    pad->seq = 0;
    arena_end_ = arena_->ContiguousEnd(arena_end_);
  }
  if (arena_end_ + length > arena_->capacity()) {
    spdlog::critical("namespace {}: record arena write beyond reserved capacity", name());
    std::abort();  // Reserve() guarantees room; anything else is a broken invariant.
  }
  uint64_t offset = arena_end_;
  arena_end_ += length;
  return offset;
}

uint64_t NamespaceStore::WriteConcept(const v1::Concept& c, uint32_t number, uint64_t seq,
                                      int64_t now, bool tomb, bool defer_index) {
  entries_.EnsureSize(number + 1);  // a new concept's entry, before anything reads it
  size_t attrs_len = tomb ? 0 : EncodedAttributesLength(c);
  uint32_t length = ConceptRecordLength(c.id().size(), tomb ? 0 : c.content().size(), attrs_len);
  uint64_t offset = AppendRecord(length);
  auto* r = reinterpret_cast<ConceptRecord*>(arena_->At(offset));
  std::memset(r, 0, length);
  r->h = {tomb ? kRecordConceptTomb : kRecordConcept, length, seq};
  r->prev = entries_[number].head.load(std::memory_order_relaxed);
  const ConceptRecord* prev = Visible(number, kWriterView);
  r->create_micros = prev != nullptr ? prev->create_micros : now;
  r->update_micros = now;
  r->concept_number = number;
  r->slot = kNoSlot;
  r->strength = tomb ? 0 : c.strength();
  r->confidence = tomb ? 0 : c.confidence();
  r->id_len = c.id().size();
  r->content_len = tomb ? 0 : c.content().size();
  r->attrs_len = attrs_len;
  char* p = reinterpret_cast<char*>(r + 1);
  std::memcpy(p, c.id().data(), r->id_len);
  if (!tomb) {
    std::memcpy(p + r->id_len, c.content().data(), r->content_len);
    EncodeAttributes(c, p + r->id_len + r->content_len);
    if (!c.vector().empty()) {
      r->slot = slot_count_;
      if (defer_index) {
        pending_vectors_.push_back({r->slot, c.vector().data()});
      } else if (absl::Status s = vectors_->Put(r->slot, c.vector().data()); !s.ok()) {
        // Reserve() made room and the vector was validated: anything else is a broken invariant.
        spdlog::critical("namespace {}: vector store put failed: {}", name(), s.ToString());
        std::abort();
      }
    }
  }
  IndexRecord(offset, defer_index);
  return offset;
}

void NamespaceStore::FinishApply() {
  for (const PendingVector& v : pending_vectors_) {
    if (absl::Status s = vectors_->Put(v.slot, v.data); !s.ok()) {
      spdlog::critical("namespace {}: vector store put failed: {}", name(), s.ToString());
      std::abort();
    }
  }
  pending_vectors_.clear();
  // The log holds the group: a vector that cannot be stored now is recovered from it.
  if (absl::Status s = vectors_->WriteStaged(); !s.ok()) {
    spdlog::critical("namespace {}: vector store write failed: {}", name(), s.ToString());
    std::abort();
  }
  // A group that posted no chunk (fewer than kKeywordChunk documents) is indexed here: the
  // hand-off to the keyword thread and back cost more than indexing a few documents, and this
  // thread would only wait for the fsync meanwhile.
  if (keyword_jobs_ != nullptr && keyword_chunk_posted_) {
    if (!pending_keywords_.empty()) PostKeywordChunk();
    keyword_jobs_->Drain();
  }
  keyword_jobs_ = nullptr;
  keyword_chunk_posted_ = false;
  for (uint64_t offset : pending_keywords_) IndexKeywords(offset);
  pending_keywords_.clear();
}

void NamespaceStore::PostKeywordChunk() {
  keyword_jobs_->Post([this, chunk = std::move(pending_keywords_)] {
    for (uint64_t offset : chunk) IndexKeywords(offset);
  });
  keyword_chunk_posted_ = true;
  pending_keywords_.clear();
  pending_keywords_.reserve(kKeywordChunk);
}

void NamespaceStore::IndexKeywords(uint64_t offset) {
  const auto* r = RecordAt<ConceptRecord>(offset + 1);
  ConceptEntry& e = entries_[r->concept_number];
  if (e.keyword_doc != 0) {
    keywords_->Retire(e.keyword_doc - 1, r->h.seq);
    e.keyword_doc = 0;
  }
  // The content and each keyword field's attribute (config.keyword_fields), as one document.
  absl::string_view texts[KeywordIndex::kMaxFields];
  if (!r->tombstone() && KeywordTexts(*r, texts)) {
    e.keyword_doc =
        keywords_->Add(r->concept_number,
                       absl::MakeConstSpan(texts, 1 + keywords_->attributes().size()), r->h.seq) +
        1;
  }
}

void NamespaceStore::WriteAssoc(uint32_t src, uint32_t tgt, uint32_t type, float conf, float weight,
                                int64_t create, uint64_t seq, bool tomb) {
  uint64_t offset = AppendRecord(sizeof(AssocRecord));
  auto* r = reinterpret_cast<AssocRecord*>(arena_->At(offset));
  std::memset(r, 0, sizeof(AssocRecord));
  r->h = {tomb ? kRecordAssocTomb : kRecordAssoc, sizeof(AssocRecord), seq};
  r->prev_out = entries_[src].out_head.load(std::memory_order_relaxed);
  r->prev_in = entries_[tgt].in_head.load(std::memory_order_relaxed);
  r->create_micros = create;
  r->source = src;
  r->target = tgt;
  r->type = type;
  r->confidence = conf;
  r->weight = weight;
  IndexRecord(offset);
}

// Updates the DRAM indexes for the record at `offset`. Shared by Apply and recovery, so a
// recovered store is indexed exactly as the live one was.
void NamespaceStore::IndexRecord(uint64_t offset, bool defer_keywords) {
  const RecordHeader* h = HeaderAt(offset);
  applied_seq_ = std::max(applied_seq_, h->seq);
  if (h->kind == kRecordConcept || h->kind == kRecordConceptTomb) {
    const auto* r = reinterpret_cast<const ConceptRecord*>(h);
    const uint32_t n = r->concept_number;
    const bool is_new = n == number_count_.load(std::memory_order_relaxed);
    if (is_new) entries_.EnsureSize(n + 1);
    ConceptEntry& e = entries_[n];
    uint64_t prev = e.head.load(std::memory_order_relaxed);
    if (defer_keywords) {
      pending_keywords_.push_back(offset);
      if (keyword_jobs_ != nullptr && pending_keywords_.size() >= kKeywordChunk) {
        PostKeywordChunk();
      }
    } else {
      IndexKeywords(offset);
    }
    if (prev != 0) {
      const auto* old = RecordAt<ConceptRecord>(prev);
      if (!old->tombstone()) {
        live_concepts_.fetch_sub(1, std::memory_order_relaxed);
        live_concept_bytes_.fetch_sub(old->h.length, std::memory_order_relaxed);
        if (old->slot != kNoSlot) {
          KillSlot(old->slot, r->h.seq);
          live_vectors_.fetch_sub(1, std::memory_order_relaxed);
        }
      }
    }
    if (!r->tombstone()) {
      live_concepts_.fetch_add(1, std::memory_order_relaxed);
      live_concept_bytes_.fetch_add(r->h.length, std::memory_order_relaxed);
      if (r->slot != kNoSlot) {
        SetSlot(r->slot, offset + 1, r->h.seq, UINT64_MAX);
        live_vectors_.fetch_add(1, std::memory_order_relaxed);
        slot_count_ = std::max(slot_count_, r->slot + 1);
      }
    }
    e.head.store(offset + 1, std::memory_order_release);
    if (is_new) {
      ids_.Insert(HashId(r->id()), n);
      number_count_.store(n + 1, std::memory_order_release);
    }
    return;
  }
  const auto* r = reinterpret_cast<const AssocRecord*>(h);
  EdgeKey key{r->source, r->target, r->type};
  if (r->tombstone()) {
    if (edges_.erase(key) > 0) live_assocs_.fetch_sub(1, std::memory_order_relaxed);
  } else {
    auto [it, inserted] = edges_.insert_or_assign(key, offset + 1);
    if (inserted) live_assocs_.fetch_add(1, std::memory_order_relaxed);
  }
  entries_[r->source].out_head.store(offset + 1, std::memory_order_release);
  entries_[r->target].in_head.store(offset + 1, std::memory_order_release);
}

uint32_t NamespaceStore::NumberFor(absl::string_view id) {
  if (auto n = NumberOf(id)) return *n;
  return number_count_.load(std::memory_order_relaxed);
}

v1::WriteResponse NamespaceStore::Apply(const v1::WriteRequest& request, uint64_t seq, int64_t now,
                                        bool defer_index, JobQueue* keyword_jobs) {
  if (defer_index && keyword_jobs != nullptr) keyword_jobs_ = keyword_jobs;
  v1::WriteResponse response;
  response.set_sequence(seq);
  for (const v1::Mutation& m : request.mutations()) {
    v1::MutationResult* result = response.add_results();
    switch (m.op_case()) {
      case v1::Mutation::kPutConcept: {
        const v1::Concept& c = m.put_concept();
        uint32_t n = NumberFor(c.id());
        result->set_id(c.id());
        result->set_created(n == number_count_.load(std::memory_order_relaxed) ||
                            Visible(n, kWriterView) == nullptr);
        WriteConcept(c, n, seq, now, /*tomb=*/false, defer_index);
        break;
      }
      case v1::Mutation::kDeleteConcept: {
        result->set_id(m.delete_concept());
        auto n = NumberOf(m.delete_concept());
        if (!n || Visible(*n, kWriterView) == nullptr) break;
        result->set_found(true);
        std::vector<const AssocRecord*> edges;
        absl::flat_hash_set<const AssocRecord*> unique;
        ForEachEdge(*n, v1::BOTH, kWriterView, [&](const EdgeView& e) {
          if (unique.insert(e.record).second) edges.push_back(e.record);
        });
        for (const AssocRecord* e : edges) {
          WriteAssoc(e->source, e->target, e->type, e->confidence, e->weight, e->create_micros, seq,
                     /*tomb=*/true);
        }
        v1::Concept tomb;
        tomb.set_id(m.delete_concept());
        WriteConcept(tomb, *n, seq, now, /*tomb=*/true, defer_index);
        break;
      }
      case v1::Mutation::kPutAssociation: {
        const v1::Association& a = m.put_association();
        uint32_t src = *NumberOf(a.source());
        uint32_t tgt = *NumberOf(a.target());
        auto it = edges_.find(EdgeKey{src, tgt, static_cast<uint32_t>(a.type())});
        int64_t create = now;
        if (it != edges_.end()) create = RecordAt<AssocRecord>(it->second)->create_micros;
        result->set_id(AssociationResultId(a.source(), a.target(), a.type()));
        result->set_created(it == edges_.end());
        WriteAssoc(src, tgt, a.type(), a.confidence(), a.weight(), create, seq, /*tomb=*/false);
        break;
      }
      case v1::Mutation::kDeleteAssociation: {
        const v1::AssociationKey& k = m.delete_association();
        result->set_id(AssociationResultId(k.source(), k.target(), k.type()));
        auto src = NumberOf(k.source());
        auto tgt = NumberOf(k.target());
        if (!src || !tgt) break;
        auto it = edges_.find(EdgeKey{*src, *tgt, static_cast<uint32_t>(k.type())});
        if (it == edges_.end()) break;
        const auto* r = RecordAt<AssocRecord>(it->second);
        result->set_found(true);
        WriteAssoc(*src, *tgt, k.type(), r->confidence, r->weight, r->create_micros, seq,
                   /*tomb=*/true);
        break;
      }
      case v1::Mutation::OP_NOT_SET:
        break;
    }
  }
  return response;
}

void NamespaceStore::PublishApplied() {
  FinishApply();
  vectors_->Publish(slot_count_);
  published_end_.store(arena_end_, std::memory_order_release);
}

void NamespaceStore::WriteBehind(JobQueue* queue) {
  constexpr uint64_t kPage = 4096;
  // Below the last checkpoint everything is on disk already.
  const uint64_t arena_from = std::max(behind_arena_, state_.arena_end & ~(kPage - 1));
  const uint64_t arena_to = std::max(arena_from, arena_end_ & ~(kPage - 1));
  const uint32_t slots_from = std::max(behind_slots_, state_.slot_count);
  const uint32_t slots_to = std::max(slots_from, vectors_->published_count());
  const uint64_t bytes =
      (arena_to - arena_from) + uint64_t{slots_to - slots_from} * vectors_->bytes_per_vector();
  if (bytes < kWriteBehindBytes) return;
  std::shared_ptr<NamespaceStore> self = weak_from_this().lock();
  if (self == nullptr) return;
  behind_arena_ = arena_to;
  behind_slots_ = slots_to;
  // The job reads only published, never-changing pages and each file's segment directory, which
  // the writer may grow meanwhile (SegmentedFile::Flush).
  queue->Post([self = std::move(self), arena_from, arena_to, slots_from, slots_to] {
    absl::Status s = self->arena_->Flush(arena_from, arena_to);
    if (s.ok()) s = self->vectors_->SyncSlots(slots_from, slots_to);
    if (s.ok()) return;
    sync::MutexLock lock(&self->write_behind_mu_);
    if (self->write_behind_error_.ok()) {
      spdlog::error(
          "namespace {}: writing data back failed: {}; checkpoints fail from now on "
          "(the log keeps every write; a restart replays it)",
          self->name(), s.ToString());
      self->write_behind_error_ = std::move(s);
    }
  });
}

absl::StatusOr<NamespaceState> NamespaceStore::FlushData() {
  {
    sync::MutexLock lock(&write_behind_mu_);
    RETURN_IF_ERROR(write_behind_error_);
  }
  RETURN_IF_ERROR(arena_->Flush(state_.arena_end, arena_end_));
  RETURN_IF_ERROR(vectors_->Flush());
  state_.arena_end = arena_end_;
  state_.slot_count = slot_count_;
  return state_;
}

absl::Status NamespaceStore::CheckpointIndex() {
  sync::MutexLock lock(&index_mu_);
  return CheckpointIndexLocked();
}

absl::StatusOr<NamespaceState> NamespaceStore::CutState() {
  // The vector store's header must cover the cut before the graph is checkpointed for a snapshot
  // (the graph may only reference stored vectors).
  RETURN_IF_ERROR(vectors_->Flush());
  NamespaceState s = state_;
  s.arena_end = arena_end_;
  s.slot_count = slot_count_;
  return s;
}

absl::Status NamespaceStore::CheckpointIndexLocked() { return index_->Checkpoint(); }

std::vector<std::filesystem::path> NamespaceStore::FilesWithPrefix(
    std::initializer_list<const char*> prefixes, bool include) const {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  // An unreadable directory ends the listing (the increment that fails sets ec) rather than throw.
  for (std::filesystem::directory_iterator it(dir_, ec), end; it != end; it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) continue;
    bool match = false;
    for (const char* p : prefixes) match |= name.rfind(p, 0) == 0;
    if (match == include) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::filesystem::path> NamespaceStore::IndexFiles() const {
  return FilesWithPrefix({"hnsw"}, true);
}

std::vector<std::filesystem::path> NamespaceStore::DataFiles() const {
  // Not the derived-state file: a checkpoint may replace it while a snapshot copies, and a
  // restored namespace rebuilds it (its first checkpoints write it again).
  return FilesWithPrefix({"hnsw", kDerivedFileName}, false);
}

absl::StatusOr<size_t> NamespaceStore::IndexPending(size_t max,
                                                    const std::atomic<int>* yield_requests) {
  sync::MutexLock lock(&index_mu_);
  size_t from = index_->indexed_count();
  size_t to = std::min<size_t>(vectors_->published_count(), from + max);
  size_t slot = from;
  for (; slot < to; ++slot) {
    if (yield_requests != nullptr && yield_requests->load(std::memory_order_relaxed) > 0) break;
    RETURN_IF_ERROR(index_->Insert(static_cast<uint32_t>(slot)));
  }
  return slot - from;
}

}  // namespace engram::storage
