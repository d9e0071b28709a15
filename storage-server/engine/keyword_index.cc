#include "storage-server/engine/keyword_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/text/names.h"
#include "common/text/tokenizer.h"
#include "storage-server/engine/derived_state.h"
#include "xxhash.h"

namespace engram::storage {
namespace {

uint64_t HashTerm(absl::string_view term) { return XXH3_64bits(term.data(), term.size()); }

constexpr uint32_t kFirstBlockPostings = 4;
constexpr uint32_t kMaxBlockPostings = 8192;

}  // namespace

KeywordIndex::KeywordIndex(std::vector<Field> attributes)
    : attributes_(std::move(attributes)), terms_by_hash_(4096) {
  for (std::atomic<uint32_t>& m : min_length_) m.store(UINT32_MAX, std::memory_order_relaxed);
}

KeywordIndex::~KeywordIndex() {
  const uint32_t n = term_count_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) {
    Block* b = terms_[i].head.load(std::memory_order_relaxed);
    while (b != nullptr) {
      Block* older = b->older;
      b->~Block();  // the slab and the chunks hold the memory
      b = older;
    }
  }
}

void* KeywordIndex::AllocateBlock(size_t bytes) {
  bytes = (bytes + alignof(Block) - 1) / alignof(Block) * alignof(Block);
  if (chunk_left_ < bytes) {
    constexpr size_t kFirstChunk = size_t{64} << 10;
    constexpr size_t kHugePage = size_t{2} << 20;
    chunk_bytes_ = chunk_bytes_ == 0 ? kFirstChunk : std::min(chunk_bytes_ * 2, kHugePage);
    // A block is at most kMaxBlockPostings postings (kMaxFields more for one document's), far
    // below a huge page; a bigger one would get a chunk of its own, in whole huge pages.
    const size_t size =
        bytes <= chunk_bytes_ ? chunk_bytes_ : (bytes + kHugePage - 1) / kHugePage * kHugePage;
    const size_t align = size >= kHugePage ? kHugePage : alignof(std::max_align_t);
    char* chunk = static_cast<char*>(std::aligned_alloc(align, size));
    if (chunk == nullptr) throw std::bad_alloc();
    if (size >= kHugePage) ::madvise(chunk, size, MADV_HUGEPAGE);
    chunks_.emplace_back(chunk);
    block_chunk_bytes_ += size;
    chunk_next_ = chunk;
    chunk_left_ = size;
  }
  void* p = chunk_next_;
  chunk_next_ += bytes;
  chunk_left_ -= bytes;
  return p;
}

std::vector<std::string> KeywordIndex::QueryTerms(absl::string_view text) {
  std::vector<std::string> out;
  absl::flat_hash_set<std::string> seen;
  for (std::string& token : text::TokenizeText(std::string_view(text.data(), text.size()),
                                               /*lowercase=*/true)) {
    if (out.size() == kMaxQueryTerms) break;
    if (seen.insert(token).second) out.push_back(std::move(token));
  }
  return out;
}

std::string KeywordIndex::NameTerm(absl::string_view normalized_name) {
  return absl::StrCat("\x01", normalized_name);
}

std::optional<uint32_t> KeywordIndex::FindTerm(absl::string_view text) const {
  return FindTerm(text, HashTerm(text));
}

std::optional<uint32_t> KeywordIndex::FindTerm(absl::string_view text, uint64_t hash) const {
  return terms_by_hash_.Find(hash, [&](uint32_t t) { return terms_[t].text == text; });
}

void KeywordIndex::NoteLengths(const uint32_t* lengths, uint32_t fields) {
  for (uint32_t f = 0; f < fields; ++f) {
    if (lengths[f] > 0 && lengths[f] < min_length_[f].load(std::memory_order_relaxed)) {
      min_length_[f].store(lengths[f], std::memory_order_relaxed);
    }
  }
}

void KeywordIndex::Append(absl::string_view term, uint64_t hash, const Posting* postings,
                          uint32_t n) {
  std::optional<uint32_t> found = FindTerm(term, hash);
  uint32_t t;
  if (found) {
    t = *found;
  } else {
    t = term_count_.load(std::memory_order_relaxed);
    terms_.EnsureSize(t + 1);
    terms_[t].text.assign(term.data(), term.size());
    // Publishes the term (its text) to readers; its postings follow through `head`.
    terms_by_hash_.Insert(hash, t);
    term_count_.store(t + 1, std::memory_order_release);
    memory_bytes_.fetch_add(sizeof(Term) + term.size() + 16, std::memory_order_relaxed);
  }
  Term& entry = terms_[t];
  uint32_t max_tf = entry.max_tf.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) max_tf = std::max<uint32_t>(max_tf, postings[i].tf);
  entry.max_tf.store(max_tf, std::memory_order_relaxed);
  Block* head = entry.head.load(std::memory_order_relaxed);
  uint32_t count = head == nullptr ? 0 : head->count.load(std::memory_order_relaxed);
  // A document's postings stay together in one block (the rest of a full block is left unused).
  if (head == nullptr || count + n > head->capacity) {
    // At least n: a term in every field of one document is kMaxFields postings.
    const uint32_t capacity = std::max(
        n, head == nullptr ? kFirstBlockPostings : std::min(head->capacity * 2, kMaxBlockPostings));
    void* raw = AllocateBlock(sizeof(Block) + capacity * sizeof(Posting));
    Block* block = new (raw) Block;
    block->capacity = capacity;
    block->older = head;
    memory_bytes_.fetch_add(sizeof(Block) + capacity * sizeof(Posting), std::memory_order_relaxed);
    entry.head.store(block, std::memory_order_release);
    head = block;
    count = 0;
  }
  std::copy(postings, postings + n, head->postings() + count);
  head->count.store(count + n, std::memory_order_release);
}

uint32_t KeywordIndex::FieldLength(uint32_t doc, uint32_t field) const {
  return lengths_[size_t{doc} * (1 + attributes_.size()) + field].load(std::memory_order_relaxed);
}

uint32_t KeywordIndex::Add(uint32_t concept_number, absl::Span<const absl::string_view> texts,
                           uint64_t born) {
  const uint32_t fields = static_cast<uint32_t>(1 + attributes_.size());
  // Every field's tokens into the reused scratch buffers (no string per token), then as
  // (term, field) views into them.
  scratch_.bytes.clear();
  scratch_.spans.clear();
  uint32_t lengths[kMaxFields] = {};
  size_t field_end[kMaxFields] = {};
  for (uint32_t f = 0; f < fields; ++f) {
    if (f < texts.size()) {
      text::TokenizeTextInto(std::string_view(texts[f].data(), texts[f].size()),
                             /*lowercase=*/true, &scratch_.bytes, &scratch_.spans);
    }
    field_end[f] = scratch_.spans.size();
    lengths[f] = static_cast<uint32_t>(field_end[f] - (f == 0 ? 0 : field_end[f - 1]));
  }
  std::vector<std::pair<absl::string_view, uint32_t>>& tokens = scratch_.tokens;
  tokens.resize(scratch_.spans.size());
  for (uint32_t f = 0, i = 0; f < fields; ++f) {
    for (; i < field_end[f]; ++i) {
      tokens[i] = {absl::string_view(scratch_.bytes.data() + scratch_.spans[i].offset,
                                     scratch_.spans[i].length),
                   f};
    }
  }
  const uint32_t doc = doc_count_++;
  docs_.EnsureSize(doc + 1);
  dead_bits_.EnsureSize((doc >> 6) + 1);
  Doc& d = docs_[doc];
  d.concept_number.store(concept_number, std::memory_order_relaxed);
  d.dead.store(UINT64_MAX, std::memory_order_relaxed);
  lengths_.EnsureSize(size_t{doc + 1} * fields);
  for (uint32_t f = 0; f < fields; ++f) {
    lengths_[size_t{doc} * fields + f].store(lengths[f], std::memory_order_relaxed);
  }
  NoteLengths(lengths, fields);
  // Released by the postings' count stores below: a reader that sees a posting sees its doc.
  d.born.store(born, std::memory_order_relaxed);
  if (born < last_born_) born_in_order_.store(false, std::memory_order_relaxed);
  last_born_ = std::max(last_born_, born);
  docs_published_.store(doc + 1, std::memory_order_release);
  // Group equal (term, field) tokens by sorting (hash, index) pairs: the strings are compared
  // only when their hashes tie (in practice only equal terms), and each term is hashed once for
  // the lookup too (a sort of the strings themselves was a quarter of Add on the ingest profile).
  std::vector<std::pair<uint64_t, uint32_t>>& order = scratch_.order;
  order.resize(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    order[i] = {HashTerm(tokens[i].first), static_cast<uint32_t>(i)};
    terms_by_hash_.Prefetch(order[i].first);  // the lookups below then miss the cache together
  }
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return tokens[a.second] < tokens[b.second];
  });
  Posting postings[kMaxFields];
  for (size_t i = 0; i < order.size();) {
    const absl::string_view term = tokens[order[i].second].first;
    const uint64_t hash = order[i].first;
    uint32_t n = 0;
    size_t j = i;
    while (j < order.size() && order[j].first == hash && tokens[order[j].second].first == term) {
      const std::pair<absl::string_view, uint32_t>& token = tokens[order[j].second];
      size_t k = j + 1;
      while (k < order.size() && order[k].first == hash && tokens[order[k].second] == token) ++k;
      postings[n++] = Posting{doc, token.second, static_cast<uint32_t>(k - j)};
      j = k;
    }
    Append(term, hash, postings, n);
    i = j;
  }
  if (!texts.empty()) {
    for (const std::string& name : text::IndexedNames(texts[0])) {
      const std::string term = NameTerm(name);
      const Posting posting{doc, kNameField, 1};
      Append(term, HashTerm(term), &posting, 1);
    }
  }
  live_docs_.fetch_add(1, std::memory_order_relaxed);
  for (uint32_t f = 0; f < fields; ++f) {
    live_tokens_[f].fetch_add(lengths[f], std::memory_order_relaxed);
  }
  return doc;
}

KeywordIndex::Cut KeywordIndex::TakeCut() const {
  Cut cut;
  cut.docs = doc_count_;
  cut.terms = term_count_.load(std::memory_order_relaxed);
  cut.live_docs = live_docs_.load(std::memory_order_relaxed);
  for (uint32_t f = 0; f <= attributes_.size(); ++f) {
    cut.live_tokens[f] = live_tokens_[f].load(std::memory_order_relaxed);
  }
  return cut;
}

void KeywordIndex::EncodeTo(ByteWriter* out, const Cut& cut, uint64_t seq) const {
  const uint32_t fields = static_cast<uint32_t>(1 + attributes_.size());
  out->U32(fields);
  out->U32(cut.docs);
  for (uint32_t doc = 0; doc < cut.docs; ++doc) {
    const Doc& d = docs_[doc];
    const uint64_t dead = d.dead.load(std::memory_order_relaxed);
    out->Varint(d.concept_number.load(std::memory_order_relaxed));
    out->Varint(FieldLength(doc, 0));
    out->Varint(d.born.load(std::memory_order_relaxed));
    out->Varint(dead > seq ? 0 : dead + 1);  // alive at the cut -> 0
  }
  for (uint32_t doc = 0; doc < cut.docs; ++doc) {
    for (uint32_t f = 1; f < fields; ++f) out->Varint(FieldLength(doc, f));
  }
  out->U64(cut.live_docs);
  for (uint32_t f = 0; f < fields; ++f) out->U64(cut.live_tokens[f]);
  out->U32(cut.terms);
  // Each term's blocks, oldest first: documents then ascend, so the postings of documents added
  // after the cut are a suffix, and the rest are delta-encoded.
  std::vector<std::vector<const Block*>> blocks(cut.terms);
  std::vector<uint64_t> totals(cut.terms, 0);
  uint64_t all_postings = 0;
  for (uint32_t t = 0; t < cut.terms; ++t) {
    for (const Block* b = terms_[t].head.load(std::memory_order_acquire); b != nullptr;
         b = b->older) {
      blocks[t].push_back(b);
    }
    std::reverse(blocks[t].begin(), blocks[t].end());
    for (const Block* b : blocks[t]) {
      const uint32_t count = b->count.load(std::memory_order_acquire);
      const Posting* p = b->postings();
      for (uint32_t j = 0; j < count && p[j].doc < cut.docs; ++j) ++totals[t];
    }
    all_postings += totals[t];
  }
  out->U64(all_postings);  // sizes the one allocation DecodeFrom puts every block in
  for (uint32_t t = 0; t < cut.terms; ++t) {
    out->Bytes(terms_[t].text);
    out->Varint(totals[t]);
    uint64_t left = totals[t];
    uint32_t prev = 0;
    for (const Block* b : blocks[t]) {
      const uint32_t count = b->count.load(std::memory_order_acquire);
      const Posting* p = b->postings();
      for (uint32_t j = 0; j < count && left > 0; ++j, --left) {
        out->Varint(p[j].doc - prev);
        out->Varint((uint64_t{p[j].tf} << 4) | p[j].field);
        prev = p[j].doc;
      }
    }
  }
}

absl::Status KeywordIndex::DecodeFrom(ByteReader* in) {
  auto bad = [](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("keyword index: ", why));
  };
  if (doc_count_ != 0 || term_count_.load(std::memory_order_relaxed) != 0) {
    return absl::FailedPreconditionError("keyword index: DecodeFrom needs an empty index");
  }
  const uint32_t fields = static_cast<uint32_t>(1 + attributes_.size());
  if (const uint32_t f = in->U32(); f != fields) {
    return bad(absl::StrFormat("%d fields stored, the namespace has %d", f, fields));
  }
  const uint32_t docs = in->U32();
  if (!in->ok() || docs > in->remaining() / 4) return bad("document count beyond the data");
  docs_.EnsureSize(docs);
  dead_bits_.EnsureSize((size_t{docs} + 63) >> 6);
  lengths_.EnsureSize(size_t{docs} * fields);
  for (uint32_t doc = 0; doc < docs; ++doc) {
    Doc& d = docs_[doc];
    d.concept_number.store(static_cast<uint32_t>(in->Varint()), std::memory_order_relaxed);
    lengths_[size_t{doc} * fields].store(static_cast<uint32_t>(in->Varint()),
                                         std::memory_order_relaxed);
    const uint64_t born = in->Varint();
    const uint64_t dead = in->Varint() - 1;
    d.born.store(born, std::memory_order_relaxed);
    d.dead.store(dead, std::memory_order_relaxed);
    if (dead != UINT64_MAX) MarkDead(doc);
    if (born < last_born_) born_in_order_.store(false, std::memory_order_relaxed);
    last_born_ = std::max(last_born_, born);
  }
  uint32_t lengths[kMaxFields];
  for (uint32_t doc = 0; doc < docs; ++doc) {
    lengths[0] = FieldLength(doc, 0);
    for (uint32_t f = 1; f < fields; ++f) {
      lengths[f] = static_cast<uint32_t>(in->Varint());
      lengths_[size_t{doc} * fields + f].store(lengths[f], std::memory_order_relaxed);
    }
    NoteLengths(lengths, fields);
  }
  live_docs_.store(in->U64(), std::memory_order_relaxed);
  for (uint32_t f = 0; f < fields; ++f) live_tokens_[f].store(in->U64(), std::memory_order_relaxed);
  const uint32_t terms = in->U32();
  const uint64_t all_postings = in->U64();
  if (!in->ok() || terms > in->remaining() || all_postings > in->remaining() / 2) {
    return bad("term or posting count beyond the data");
  }
  terms_by_hash_.Reserve(terms);
  // Every decoded block lives in one slab (a million small allocations took a fifth of the load);
  // blocks that Add appends later are allocated one by one as usual. Huge pages where allowed:
  // the slab is touched once, in order, and page faults dominated the rest.
  const size_t slab_bytes = size_t{terms} * sizeof(Block) + all_postings * sizeof(Posting);
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t slab_alloc = (slab_bytes + kHugePage - 1) / kHugePage * kHugePage;
  slab_.reset(static_cast<char*>(std::aligned_alloc(kHugePage, std::max(slab_alloc, kHugePage))));
  if (slab_ == nullptr)
    return absl::ResourceExhaustedError("keyword index: no memory for the slab");
  ::madvise(slab_.get(), std::max(slab_alloc, kHugePage), MADV_HUGEPAGE);
  char* next_block = slab_.get();
  uint64_t postings_left = all_postings;
  uint64_t memory = 0;
  for (uint32_t t = 0; t < terms; ++t) {
    absl::string_view text = in->Bytes();
    const uint64_t total = in->Varint();
    if (!in->ok() || total == 0 || total > postings_left || total > in->remaining() / 2) {
      return bad(absl::StrFormat("term %d: bad posting count", t));
    }
    postings_left -= total;
    terms_.EnsureSize(t + 1);
    Term& term = terms_[t];
    term.text.assign(text.data(), text.size());
    const uint32_t capacity = static_cast<uint32_t>(total);
    Block* block = new (next_block) Block;
    next_block += sizeof(Block) + capacity * sizeof(Posting);
    block->capacity = capacity;
    term.head.store(block, std::memory_order_relaxed);
    term_count_.store(t + 1, std::memory_order_relaxed);
    memory += sizeof(Term) + text.size() + 16 + sizeof(Block) + capacity * sizeof(Posting);
    Posting* p = block->postings();
    uint32_t max_tf = 0;
    uint64_t doc = 0;
    for (uint64_t j = 0; j < total; ++j) {
      doc += in->Varint();
      const uint64_t tf_field = in->Varint();
      const uint64_t field = tf_field & 15;
      if (doc >= docs || (field >= fields && field != kNameField) || (tf_field >> 4) == 0 ||
          (tf_field >> 4) >= (uint64_t{1} << 28)) {
        return bad(absl::StrFormat("term %d: bad posting", t));
      }
      p[j] = Posting{static_cast<uint32_t>(doc), static_cast<uint32_t>(tf_field & 15),
                     static_cast<uint32_t>(tf_field >> 4)};
      max_tf = std::max<uint32_t>(max_tf, p[j].tf);
    }
    term.max_tf.store(max_tf, std::memory_order_relaxed);
    block->count.store(static_cast<uint32_t>(total), std::memory_order_relaxed);
    if (!in->ok()) return bad(absl::StrFormat("term %d: postings beyond the data", t));
    terms_by_hash_.Insert(HashTerm(text), t);
  }
  doc_count_ = docs;
  docs_published_.store(docs, std::memory_order_release);
  memory_bytes_.store(memory, std::memory_order_relaxed);
  if (!in->ok()) return bad("truncated");
  return absl::OkStatus();
}

void KeywordIndex::Retire(uint32_t doc, uint64_t dead) {
  Doc& d = docs_[doc];
  d.dead.store(dead, std::memory_order_relaxed);
  MarkDead(doc);
  live_docs_.fetch_sub(1, std::memory_order_relaxed);
  for (uint32_t f = 0; f <= attributes_.size(); ++f) {
    live_tokens_[f].fetch_sub(FieldLength(doc, f), std::memory_order_relaxed);
  }
}

bool KeywordIndex::VisibleAt(uint32_t doc, const Query& query) const {
  if (query.born_in_order_) {
    if (doc >= query.born_by_) return false;
    return !EverDead(doc) || docs_[doc].dead.load(std::memory_order_relaxed) > query.seq_;
  }
  const Doc& d = docs_[doc];
  return d.born.load(std::memory_order_relaxed) <= query.seq_ &&
         d.dead.load(std::memory_order_relaxed) > query.seq_;
}

KeywordIndex::Query KeywordIndex::Prepare(const std::vector<std::string>& terms,
                                          uint64_t seq) const {
  Query q;
  q.seq_ = seq;
  const double n_docs = static_cast<double>(live_docs_.load(std::memory_order_relaxed));
  for (uint32_t f = 0; f <= attributes_.size(); ++f) {
    const double weight = f == 0 ? 1.0 : attributes_[f - 1].weight;
    const double b = f == 0 ? kB : attributes_[f - 1].b;
    const double tokens = static_cast<double>(live_tokens_[f].load(std::memory_order_relaxed));
    const double avgdl = n_docs > 0 && tokens > 0 ? tokens / n_docs : 1.0;
    q.norms_[f] = {weight, 1.0 - b, b / avgdl};
  }
  // Every document born by `seq` was added, and published, before `seq` was: when births follow
  // the document numbers, those documents are the prefix below the first one born after it.
  const uint32_t published = docs_published_.load(std::memory_order_acquire);
  if (born_in_order_.load(std::memory_order_relaxed)) {
    q.born_by_ = PartitionPoint(published, [&](uint32_t doc) {
      return docs_[doc].born.load(std::memory_order_relaxed) <= seq;
    });
    q.born_in_order_ = true;
  }
  std::vector<const Block*> chain;
  q.terms_.reserve(terms.size());
  for (const std::string& text : terms) {
    Query::Term& term = q.terms_.emplace_back();
    term.text = text;
    // A name term is never scored (QueryTerms cannot make one).
    const std::optional<uint32_t> t =
        absl::StartsWith(text, "\x01") ? std::nullopt : FindTerm(text);
    uint64_t holders = 0;  // documents visible at `seq` that hold the term
    if (t) {
      chain.clear();
      for (const Block* b = terms_[*t].head.load(std::memory_order_acquire); b != nullptr;
           b = b->older) {
        chain.push_back(b);
      }
      uint32_t prev = UINT32_MAX;
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const uint32_t count = (*it)->count.load(std::memory_order_acquire);
        if (count == 0) continue;  // a new block before its first posting
        const Posting* p = (*it)->postings();
        term.blocks.push_back({p, count});
        for (uint32_t j = 0; j < count; ++j) {
          if (p[j].doc == prev) continue;  // the document's next field
          prev = p[j].doc;
          holders += VisibleAt(prev, q);
        }
      }
    }
    if (holders == 0) term.blocks.clear();
    // A term no visible document holds weighs as one only one document holds.
    const double n = static_cast<double>(std::max<uint64_t>(holders, 1));
    term.idf = std::max(1e-6, std::log((n_docs - n + 0.5) / (n + 0.5)));
    q.query_idf_ += term.idf;
    if (!term.blocks.empty()) {
      // Read after the postings: they cover every posting seen. In field f, a posting's
      // w * tf / (c0 + c1 * |d_f|) grows with tf and falls with |d_f| >= max(tf, the field's
      // fewest tokens), so it is at most w * max_tf / (c0 + c1 * max(max_tf, fewest)); a
      // document may hold the term in every field.
      const uint32_t max_tf = terms_[*t].max_tf.load(std::memory_order_relaxed);
      double x = 0;
      for (uint32_t f = 0; f <= attributes_.size(); ++f) {
        const uint32_t fewest = min_length_[f].load(std::memory_order_relaxed);
        if (fewest == UINT32_MAX) continue;  // no document has this field: no posting either
        const Query::FieldNorm& norm = q.norms_[f];
        x += norm.weight * max_tf / (norm.c0 + norm.c1 * std::max(max_tf, fewest));
      }
      // Widened a hair against rounding.
      term.bound = term.idf * x * (kK1 + 1.0) / (x + kK1) * (1.0 + 1e-9);
    }
  }
  return q;
}

// A term's postings as one ascending sequence of documents, over its blocks.
class KeywordIndex::Cursor {
 public:
  explicit Cursor(const std::vector<Query::Span>* blocks) : blocks_(blocks) {}
  // The current document, UINT32_MAX past the end.
  uint32_t doc() const { return b_ < blocks_->size() ? At(j_).doc : UINT32_MAX; }
  // Calls fn(posting) for each of the current document's postings and moves past them.
  template <typename Fn>
  void Take(Fn&& fn) {
    const uint32_t doc = this->doc();
    const uint32_t count = (*blocks_)[b_].count;
    for (; j_ < count && At(j_).doc == doc; ++j_) fn(At(j_));
    if (j_ == count) {
      ++b_;
      j_ = 0;
    }
  }
  // Moves to the first document at or after `target`.
  void SeekTo(uint32_t target) {
    while (b_ < blocks_->size() && At((*blocks_)[b_].count - 1).doc < target) {
      ++b_;
      j_ = 0;
    }
    if (b_ == blocks_->size()) return;
    const Query::Span& block = (*blocks_)[b_];
    j_ = static_cast<uint32_t>(
        std::lower_bound(block.postings + j_, block.postings + block.count, target,
                         [](const Posting& p, uint32_t d) { return p.doc < d; }) -
        block.postings);
  }

 private:
  const Posting& At(uint32_t j) const { return (*blocks_)[b_].postings[j]; }
  const std::vector<Query::Span>* blocks_;  // each with count > 0
  size_t b_ = 0;
  uint32_t j_ = 0;
};

namespace {

bool Better(const KeywordIndex::Scored& a, const KeywordIndex::Scored& b) {
  return a.match.bm25 > b.match.bm25 ||
         (a.match.bm25 == b.match.bm25 && a.concept_number < b.concept_number);
}

}  // namespace

std::vector<KeywordIndex::Scored> KeywordIndex::Best(
    const Query& query, size_t k, absl::FunctionRef<bool(uint32_t)> accept) const {
  std::vector<Scored> best;  // a heap whose front is the worst of the best
  if (k == 0) return best;
  // The terms some visible document holds, by their share's upper bound, lowest first.
  struct TermCursor {
    size_t term;  // in query order
    double bound;
    Cursor postings;
  };
  std::vector<TermCursor> cursors;
  for (size_t i = 0; i < query.terms_.size(); ++i) {
    const Query::Term& t = query.terms_[i];
    if (t.blocks.empty()) continue;
    cursors.push_back({i, t.bound, Cursor(&t.blocks)});
  }
  std::stable_sort(cursors.begin(), cursors.end(),
                   [](const TermCursor& a, const TermCursor& b) { return a.bound < b.bound; });
  // below[c]: the bounds of cursors [0, c) summed. Cursors below `essential` are the terms a
  // document could hold alone and still not reach the k-th best score: a document is a
  // candidate only if it holds one of the others, and the lower terms are looked up for it.
  std::vector<double> below(cursors.size() + 1, 0.0);
  for (size_t c = 0; c < cursors.size(); ++c) below[c + 1] = below[c] + cursors[c].bound;
  size_t essential = 0;
  double threshold = -std::numeric_limits<double>::infinity();  // the k-th best score
  std::vector<double> shares(query.terms_.size(), 0.0);
  std::vector<uint8_t> held(query.terms_.size(), 0);
  auto share = [&](TermCursor& c, uint32_t doc) {
    double x = 0;
    c.postings.Take([&](const Posting& p) {
      const Query::FieldNorm& n = query.norms_[p.field];
      x += n.weight * p.tf / (n.c0 + n.c1 * FieldLength(doc, p.field));
    });
    const double s = query.terms_[c.term].idf * x * (kK1 + 1.0) / (x + kK1);
    shares[c.term] = s;
    held[c.term] = 1;
    return s;
  };
  while (true) {
    uint32_t doc = UINT32_MAX;
    for (size_t c = essential; c < cursors.size(); ++c) {
      doc = std::min(doc, cursors[c].postings.doc());
    }
    if (doc == UINT32_MAX) break;
    const bool visible = VisibleAt(doc, query);
    double partial = 0;
    for (size_t c = essential; c < cursors.size(); ++c) {
      if (cursors[c].postings.doc() != doc) continue;
      if (visible) {
        partial += share(cursors[c], doc);
      } else {
        cursors[c].postings.Take([](const Posting&) {});
      }
    }
    if (!visible) continue;
    bool reachable = true;
    for (size_t c = essential; c-- > 0;) {
      if (partial + below[c + 1] < threshold) {
        reachable = false;
        break;
      }
      cursors[c].postings.SeekTo(doc);
      if (cursors[c].postings.doc() == doc) partial += share(cursors[c], doc);
    }
    if (reachable) {
      // The exact score: the shares added in the query's order, as an exhaustive pass would.
      Scored s{0, {}};
      for (size_t i = 0; i < shares.size(); ++i) {
        if (!held[i]) continue;
        s.match.bm25 += shares[i];
        s.match.matched_idf += query.terms_[i].idf;
      }
      // The document's concept number only for a score that may enter (a tie is decided by it).
      if (best.size() == k && s.match.bm25 < best.front().match.bm25) {
        std::fill(held.begin(), held.end(), 0);
        continue;
      }
      s.concept_number = docs_[doc].concept_number.load(std::memory_order_relaxed);
      if ((best.size() < k || Better(s, best.front())) && accept(s.concept_number)) {
        if (best.size() == k) {
          std::pop_heap(best.begin(), best.end(), Better);
          best.pop_back();
        }
        best.push_back(s);
        std::push_heap(best.begin(), best.end(), Better);
        if (best.size() == k) {
          threshold = best.front().match.bm25;
          while (essential < cursors.size() && below[essential + 1] < threshold) ++essential;
        }
      }
    }
    std::fill(held.begin(), held.end(), 0);
  }
  std::sort(best.begin(), best.end(), Better);
  return best;
}

KeywordIndex::Match KeywordIndex::MatchOf(const Query& query,
                                          absl::Span<const absl::string_view> texts) const {
  Match m;
  const uint32_t fields = static_cast<uint32_t>(1 + attributes_.size());
  // The texts' tokens as Add splits them, and each field's end among them.
  std::string bytes;
  std::vector<text::TokenSpan> spans;
  size_t field_end[kMaxFields] = {};
  for (uint32_t f = 0; f < fields; ++f) {
    if (f < texts.size()) {
      text::TokenizeTextInto(std::string_view(texts[f].data(), texts[f].size()),
                             /*lowercase=*/true, &bytes, &spans);
    }
    field_end[f] = spans.size();
  }
  for (const Query::Term& term : query.terms_) {
    if (term.blocks.empty()) continue;  // no visible document holds it
    double x = 0;
    bool holds = false;
    for (uint32_t f = 0, i = 0; f < fields; ++f) {
      uint32_t tf = 0;
      const size_t begin = i;
      for (; i < field_end[f]; ++i) {
        tf += std::string_view(bytes.data() + spans[i].offset, spans[i].length) == term.text;
      }
      if (tf == 0) continue;
      holds = true;
      const uint32_t length = static_cast<uint32_t>(field_end[f] - begin);
      const Query::FieldNorm& n = query.norms_[f];
      x += n.weight * tf / (n.c0 + n.c1 * length);
    }
    if (!holds) continue;
    m.bm25 += term.idf * x * (kK1 + 1.0) / (x + kK1);
    m.matched_idf += term.idf;
  }
  return m;
}

std::vector<uint32_t> KeywordIndex::Named(absl::string_view normalized_name, uint64_t seq) const {
  std::vector<uint32_t> out;
  std::optional<uint32_t> t = FindTerm(NameTerm(normalized_name));
  if (!t) return out;
  std::vector<const Block*> chain;
  for (const Block* b = terms_[*t].head.load(std::memory_order_acquire); b != nullptr;
       b = b->older) {
    chain.push_back(b);
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const uint32_t count = (*it)->count.load(std::memory_order_acquire);
    const Posting* p = (*it)->postings();
    for (uint32_t j = 0; j < count; ++j) {
      const Doc& d = docs_[p[j].doc];
      if (d.born.load(std::memory_order_relaxed) <= seq &&
          d.dead.load(std::memory_order_relaxed) > seq) {
        out.push_back(d.concept_number.load(std::memory_order_relaxed));
      }
    }
  }
  return out;
}

}  // namespace engram::storage
