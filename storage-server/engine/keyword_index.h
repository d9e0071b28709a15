// KeywordIndex: a BM25 inverted index over the contents (and chosen attributes) of a namespace's
// concepts, with lock-free readers at a snapshot sequence.
//
// Usage (the namespace's writer thread adds and retires documents; any thread scores):
//   KeywordIndex index;                                 // content only; or KeywordIndex({fields})
//   uint32_t doc = index.Add(concept_number, {"A yolk is part of an egg."}, /*born=*/seq);
//   index.Retire(doc, /*dead=*/later_seq);            // the concept was updated or deleted
//   KeywordIndex::Query q = index.Prepare(KeywordIndex::QueryTerms("yolk egg"), snapshot_seq);
//   for (const KeywordIndex::Scored& s : index.Best(q, /*k=*/10, [](uint32_t) { return true; }))
//
// A document is one concept version: its content (field 0) and, per configured field, one
// attribute's value, each split with text::TokenizeText (lowercased), the tokenizer engram-hybrid's
// embedders use (common/text/tokenizer.h); there is no stemming and no stop list. A document is
// visible at sequence S when born <= S < dead, exactly like a concept version, so a reader never
// sees a half-applied batch nor misses an acknowledged one.
//
// Ranking is BM25F (Robertson & Zaragoza's field-weighted BM25) with SQLite FTS5's constants
// (k1 = 1.2; the content's b = 0.75):
//   x(t,d)   = sum over fields f of w_f * tf(t,d,f) / (1 - b_f + b_f * |d_f| / avgdl_f)
//   score(d) = sum over distinct query terms t in d of idf(t) * x(t,d) * (k1 + 1) / (x(t,d) + k1)
//   idf(t)   = log((N - n(t) + 0.5) / (n(t) + 0.5)), at least 1e-6
// where n(t) is the number of documents holding t in any field that are visible at the reader's
// sequence (exact), and N and avgdl_f are the live documents and their fields' mean lengths as the
// writer last left them (a reader may see a batch not yet published in these numbers only). With
// the content alone (w = 1, b = 0.75) this is exactly Okapi BM25 as FTS5's bm25() computes it.
//
// Names: every concept version's names (common/text/names.h: the content's comma-separated text
// before the first ':', normalized; those of at most text::kMaxIndexedNameBytes) are indexed too,
// as terms of their own that no query word can be (a leading \x01) and that count in no field
// length or statistic: Named() lists the concepts of one name visible at a sequence, so that a
// search can be restricted to them (storage.v1 SearchRequest.name).
//
// The index lives in memory and is derived state: the namespace persists it at checkpoints with
// its other DRAM indexes (derived_state.h) and, when that file is missing or damaged, rebuilds it
// from its record arena when it opens (recovery and snapshot restore), as it does the id table.
// Retired documents keep their postings until the namespace is reopened (bounded by the records the
// arena keeps).
//
// Thread-safety: Add and Retire from one writer thread; Prepare, Best, MatchOf and Named from any
// number of threads concurrently with the writer, without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/text/tokenizer.h"
#include "storage-server/engine/id_table.h"
#include "storage-server/engine/stable_array.h"

namespace engram::storage {

class ByteReader;
class ByteWriter;

class KeywordIndex {
  struct Posting;  // one field of one document holding a term (below)

 public:
  static constexpr double kK1 = 1.2;
  static constexpr double kB = 0.75;
  static constexpr size_t kMaxQueryTerms = 64;  // distinct terms scored per query

  // A scored attribute (NamespaceConfig.keyword_fields, already validated).
  struct Field {
    std::string attribute;
    double weight = 1.0;
    double b = kB;
  };
  static constexpr size_t kMaxFields = 8;  // the content and up to 7 attributes

  // `attributes` are fields 1.. (at most kMaxFields - 1); the content is field 0 (weight 1, b kB).
  explicit KeywordIndex(std::vector<Field> attributes = {});
  ~KeywordIndex();
  KeywordIndex(const KeywordIndex&) = delete;
  KeywordIndex& operator=(const KeywordIndex&) = delete;

  // The distinct terms of a query, in first-appearance order, at most kMaxQueryTerms.
  static std::vector<std::string> QueryTerms(absl::string_view text);

  // ---- writer ----
  // The scored attributes, fields 1.. (field 0 is the content).
  const std::vector<Field>& attributes() const { return attributes_; }
  // Adds a concept version born at `born`; returns its document number. `texts[0]` is the content,
  // `texts[i]` the value of attributes()[i - 1]; missing trailing texts count as empty.
  uint32_t Add(uint32_t concept_number, absl::Span<const absl::string_view> texts, uint64_t born);
  // The document stops being visible at `dead` (its concept was updated or deleted then).
  void Retire(uint32_t doc, uint64_t dead);

  // ---- readers ----
  // How a document matches a query: its BM25 score, and the IDF of the query terms it holds.
  struct Match {
    double bm25 = 0;
    double matched_idf = 0;
    bool operator==(const Match&) const = default;
  };
  // A query as of one sequence: its terms' postings as the reader found them, how many documents
  // visible at the sequence hold each term, and so each term's IDF. Prepare counts the visible
  // holders of each term (a bit per document decides most of them, without touching the
  // document); Best and MatchOf then score with those numbers.
  class Query {
   public:
    // The IDF summed over all the query's terms, a term no visible document holds counting as if
    // one did: matched_idf / query_idf is the share of the query's word weight a document holds
    // (1 = every word; rare words weigh most).
    double query_idf() const { return query_idf_; }

   private:
    friend class KeywordIndex;
    struct Span {
      const Posting* postings;
      uint32_t count;
    };
    struct Term {
      std::string text;
      double idf = 0;
      double bound = 0;          // above any document's share: idf * x * (k1 + 1) / (x + k1)
      std::vector<Span> blocks;  // oldest first: documents ascend; empty if no document holds it
    };
    struct FieldNorm {  // weight, and the length normalisation 1 - b + b * |d_f| / avgdl_f
      double weight, c0, c1;
    };
    uint64_t seq_ = 0;
    uint32_t born_by_ = 0;  // with born_in_order_: the documents born at or before seq_
    bool born_in_order_ = false;
    double query_idf_ = 0;
    FieldNorm norms_[kMaxFields] = {};
    std::vector<Term> terms_;
  };
  // `terms` as QueryTerms gives them (a name term is never scored), at `seq`.
  Query Prepare(const std::vector<std::string>& terms, uint64_t seq) const;

  struct Scored {
    uint32_t concept_number;
    Match match;
  };
  // The best `k` documents visible at the query's sequence that hold at least one of its terms
  // and that `accept(concept_number)` admits, by BM25 (higher first, then the lower concept
  // number), with exactly the scores an exhaustive pass gives: each document's score adds its
  // terms' shares in the order of the query's terms. Documents that cannot reach the k-th best
  // score are skipped without being scored (MaxScore, with each term's bound on its share from
  // its highest tf and each field's fewest tokens).
  // `accept` is asked only about documents that would enter the best k. k = SIZE_MAX: every
  // match.
  std::vector<Scored> Best(const Query& query, size_t k,
                           absl::FunctionRef<bool(uint32_t concept_number)> accept) const;
  // How a document with these texts (as Add takes them: the content, then the attributes'
  // values) matches the query: the same Match Best gives the visible document that has them.
  Match MatchOf(const Query& query, absl::Span<const absl::string_view> texts) const;
  // The concept numbers of the documents visible at `seq` that have the name `normalized_name`
  // (text::NormalizedName'd), ascending by document, one per concept.
  std::vector<uint32_t> Named(absl::string_view normalized_name, uint64_t seq) const;

  // ---- persistence (the namespace's derived-state file, derived_state.h) ----
  // The index as of a moment, to encode while the writer goes on. Taken by the writer thread
  // after every document it added was born at or before some sequence S.
  struct Cut {
    uint32_t docs = 0;
    uint32_t terms = 0;
    uint64_t live_docs = 0;
    uint64_t live_tokens[kMaxFields] = {};
  };
  Cut TakeCut() const;
  // Any thread: appends the index as it was at `cut` (documents, terms, postings) to `out`;
  // documents retired after it (dead > `seq`, the cut's S) are written as alive, and documents
  // and postings added after it are left out.
  void EncodeTo(ByteWriter* out, const Cut& cut, uint64_t seq) const;
  // Any thread: fn(doc, concept number, born, dead) for every document added before `cut`.
  template <typename Fn>
  void ForEachDocument(const Cut& cut, Fn&& fn) const {
    for (uint32_t doc = 0; doc < cut.docs; ++doc) {
      const Doc& d = docs_[doc];
      fn(doc, d.concept_number.load(std::memory_order_relaxed),
         d.born.load(std::memory_order_relaxed), d.dead.load(std::memory_order_relaxed));
    }
  }
  // Fills this empty index (built with the same fields) with what EncodeTo wrote. DataLoss if the
  // bytes do not describe a consistent index; the index must then be discarded.
  absl::Status DecodeFrom(ByteReader* in);

  uint32_t document_count() const { return doc_count_; }  // writer only
  uint64_t live_documents() const { return live_docs_.load(std::memory_order_relaxed); }
  uint64_t term_count() const { return term_count_.load(std::memory_order_relaxed); }
  uint64_t memory_bytes() const { return memory_bytes_.load(std::memory_order_relaxed); }
  // Writer: bytes of the chunks Add's posting blocks are carved from (allocated, not all used).
  uint64_t block_chunk_bytes() const { return block_chunk_bytes_; }

 private:
  // One field of one document holding a term. The postings of one document for one term are
  // adjacent in one block (Add appends them together), so a reader sums them as it walks.
  struct Posting {
    uint32_t doc;
    uint32_t field : 4;  // 0..kMaxFields - 1, or kNameField
    uint32_t tf : 28;
  };
  static constexpr uint32_t kNameField = 15;  // a name term's postings (tf 1)
  static std::string NameTerm(absl::string_view normalized_name);
  // Postings of a term, newest block first; a full block is never written again.
  struct Block {
    uint32_t capacity = 0;
    std::atomic<uint32_t> count{0};
    Block* older = nullptr;
    Posting* postings() { return reinterpret_cast<Posting*>(this + 1); }
    const Posting* postings() const { return reinterpret_cast<const Posting*>(this + 1); }
  };
  struct Term {
    std::string text;  // set before the term is published in terms_by_hash_
    std::atomic<Block*> head{nullptr};
    // The highest tf of any posting ever added (never lowered by a retire): with the shortest
    // field lengths (min_length_) it bounds any document's share of the term
    // (Query::Term::bound). Written before the postings it covers are published.
    std::atomic<uint32_t> max_tf{0};
  };
  struct Doc {
    std::atomic<uint32_t> concept_number{0};
    std::atomic<uint64_t> born{0};
    std::atomic<uint64_t> dead{UINT64_MAX};
  };

  std::optional<uint32_t> FindTerm(absl::string_view text) const;
  std::optional<uint32_t> FindTerm(absl::string_view text, uint64_t hash) const;
  // Appends one document's postings for `term` (1..kMaxFields of them, `hash` its HashTerm) into
  // one block. Writer.
  void Append(absl::string_view term, uint64_t hash, const Posting* postings, uint32_t n);
  // Writer: a document's field lengths, into min_length_.
  void NoteLengths(const uint32_t* lengths, uint32_t fields);
  uint32_t FieldLength(uint32_t doc, uint32_t field) const;
  bool EverDead(uint32_t doc) const {
    return (dead_bits_[doc >> 6].load(std::memory_order_relaxed) >> (doc & 63)) & 1;
  }
  class Cursor;  // a term's postings in document order (keyword_index.cc)
  // Whether `doc` is visible at the query's sequence.
  bool VisibleAt(uint32_t doc, const Query& query) const;
  // Writer: the document's bit in dead_bits_.
  void MarkDead(uint32_t doc) {
    dead_bits_[doc >> 6].fetch_or(uint64_t{1} << (doc & 63), std::memory_order_relaxed);
  }

  // Writer: room for a block of `bytes` from the current chunk (below).
  void* AllocateBlock(size_t bytes);

  // Writer: Add's buffers, reused from one document to the next: no allocation per token or per
  // document.
  struct Scratch {
    std::string bytes;                                           // the tokens, one after another
    std::vector<text::TokenSpan> spans;                          // each token in `bytes`
    std::vector<std::pair<absl::string_view, uint32_t>> tokens;  // (term, field)
    std::vector<std::pair<uint64_t, uint32_t>> order;            // (term hash, token index)
  };
  Scratch scratch_;

  const std::vector<Field> attributes_;
  // The blocks DecodeFrom made, in one allocation (std::aligned_alloc; freed with std::free).
  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char[], FreeDeleter> slab_;
  // The blocks Add allocates, carved from chunks that live as long as the index (no block is
  // freed alone): 64 KiB, doubling to 2 MiB, those on huge pages where allowed. A 4 KiB page
  // fault per page of new postings was a quarter of the keyword thread's time while ingesting;
  // small first chunks keep a small namespace small.
  std::vector<std::unique_ptr<char[], FreeDeleter>> chunks_;
  size_t chunk_bytes_ = 0;          // the last chunk's size
  uint64_t block_chunk_bytes_ = 0;  // all chunks' sizes
  char* chunk_next_ = nullptr;
  size_t chunk_left_ = 0;

  IdTable terms_by_hash_;
  StableArray<Term, 12> terms_;
  StableArray<Doc> docs_;
  // Every field's length in tokens, 1 + attributes_.size() per document (the content first):
  // apart from the documents, so that scoring reads a few dense cache lines instead of each
  // scored document.
  StableArray<std::atomic<uint32_t>> lengths_;
  uint32_t doc_count_ = 0;  // writer only
  std::atomic<uint32_t> term_count_{0};
  // A bit per document, set when it is retired: clear means alive at every sequence a reader
  // can hold (the bit is set, after the document's `dead`, before that sequence is published).
  // With born_in_order_, the documents born by a reader's sequence are a prefix (a binary search
  // of the births), so most visibility checks read a bit instead of the document.
  StableArray<std::atomic<uint64_t>> dead_bits_;
  // Per field, the fewest tokens of any non-empty field ever added (never raised by a retire).
  std::atomic<uint32_t> min_length_[kMaxFields];
  std::atomic<uint32_t> docs_published_{0};  // documents whose born is set (release)
  std::atomic<bool> born_in_order_{true};    // births never decreased with the document number
  uint64_t last_born_ = 0;                   // writer
  std::atomic<uint64_t> live_docs_{0};
  std::atomic<uint64_t> live_tokens_[kMaxFields] = {};  // per field
  std::atomic<uint64_t> memory_bytes_{0};
};

}  // namespace engram::storage
