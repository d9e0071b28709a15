// KeywordIndex: a BM25 inverted index over the contents of a namespace's concepts, with lock-free
// readers at a snapshot sequence.
//
// Usage (the namespace's writer thread adds and retires documents; any thread scores):
//   KeywordIndex index;
//   uint32_t doc = index.Add(concept_number, "A yolk is part of an egg.", /*born=*/seq);
//   index.Retire(doc, /*dead=*/later_seq);            // the concept was updated or deleted
//   KeywordIndex::Scores s = index.Score(KeywordIndex::QueryTerms("yolk egg"), snapshot_seq);
//
// A document is one concept version's content, split with text::TokenizeText (lowercased), the
// tokenizer engram-hybrid's embedders use (common/text/tokenizer.h); there is no stemming and no
// stop list. A document is visible at sequence S when born <= S < dead, exactly like a concept
// version, so a reader never sees a half-applied batch nor misses an acknowledged one.
//
// Ranking is Okapi BM25 as SQLite FTS5 computes it (k1 = 1.2, b = 0.75):
//   score(d) = sum over distinct query terms t in d of
//              idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t)   = log((N - n(t) + 0.5) / (n(t) + 0.5)), at least 1e-6
// where n(t) is the number of documents holding t that are visible at the reader's sequence
// (exact), and N and avgdl are the live documents and their mean length as the writer last left
// them (a reader may see a batch not yet published in these two numbers only).
//
// The index lives in memory and is derived state: the namespace rebuilds it from its record arena
// when it opens (recovery and snapshot restore), as it does the id table. Retired documents keep
// their postings until the namespace is reopened (bounded by the records the arena keeps).
//
// Thread-safety: Add and Retire from one writer thread; Score from any number of threads
// concurrently with the writer, without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "storage-server/engine/id_table.h"
#include "storage-server/engine/stable_array.h"

namespace engram::storage {

class KeywordIndex {
 public:
  static constexpr double kK1 = 1.2;
  static constexpr double kB = 0.75;
  static constexpr size_t kMaxQueryTerms = 64;  // distinct terms scored per query

  KeywordIndex();
  ~KeywordIndex();
  KeywordIndex(const KeywordIndex&) = delete;
  KeywordIndex& operator=(const KeywordIndex&) = delete;

  // The distinct terms of a query, in first-appearance order, at most kMaxQueryTerms.
  static std::vector<std::string> QueryTerms(absl::string_view text);

  // ---- writer ----
  // Adds the content of a concept version born at `born`; returns its document number.
  uint32_t Add(uint32_t concept_number, absl::string_view content, uint64_t born);
  // The document stops being visible at `dead` (its concept was updated or deleted then).
  void Retire(uint32_t doc, uint64_t dead);

  // ---- readers ----
  // How a document matches a query: its BM25 score, and the IDF of the query terms it holds.
  struct Match {
    double bm25 = 0;
    double matched_idf = 0;
  };
  // Every document visible at `seq` that holds at least one of `terms`, keyed by concept number
  // (one visible version per concept). `query_idf`, when given, receives the IDF summed over all
  // of `terms`, a term no document holds counting as if one did: matched_idf / query_idf is the
  // share of the query's word weight a document holds (1 = every word; rare words weigh most).
  using Scores = absl::flat_hash_map<uint32_t, Match>;
  Scores Score(const std::vector<std::string>& terms, uint64_t seq,
               double* query_idf = nullptr) const;

  uint64_t live_documents() const { return live_docs_.load(std::memory_order_relaxed); }
  uint64_t term_count() const { return term_count_.load(std::memory_order_relaxed); }
  uint64_t memory_bytes() const { return memory_bytes_.load(std::memory_order_relaxed); }

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  // Postings of a term, newest block first; a full block is never written again.
  struct Block {
    uint32_t capacity = 0;
    std::atomic<uint32_t> count{0};
    Block* older = nullptr;
    Posting* postings() { return reinterpret_cast<Posting*>(this + 1); }
    const Posting* postings() const { return reinterpret_cast<const Posting*>(this + 1); }
  };
  struct Term {
    std::string text;              // set before the term is published in terms_by_hash_
    std::atomic<Block*> head{nullptr};
  };
  struct Doc {
    std::atomic<uint32_t> concept_number{0};
    std::atomic<uint32_t> length{0};  // tokens
    std::atomic<uint64_t> born{0};
    std::atomic<uint64_t> dead{UINT64_MAX};
  };

  std::optional<uint32_t> FindTerm(absl::string_view text) const;
  std::optional<uint32_t> FindTerm(absl::string_view text, uint64_t hash) const;
  void Append(absl::string_view term, uint64_t hash, Posting posting);  // writer

  IdTable terms_by_hash_;
  StableArray<Term, 12> terms_;
  StableArray<Doc> docs_;
  uint32_t doc_count_ = 0;  // writer only
  std::atomic<uint32_t> term_count_{0};
  std::atomic<uint64_t> live_docs_{0};
  std::atomic<uint64_t> live_tokens_{0};
  std::atomic<uint64_t> memory_bytes_{0};
};

}  // namespace engram::storage
