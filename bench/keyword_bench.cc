// keyword_bench: engram-storage's BM25 keyword search beside SQLite FTS5, and what keyword, vector
// and hybrid search retrieve on WordNet questions with known answers.
//
//   keyword_bench [--wordnet_dir=/usr/share/wordnet] [--questions=1000] [--repeat=3]
//                 [--embedders=hashing,use-lite] [--model_dir=build/models]
//                 [--vector_cache=/tmp/wn_use_lite.bin] [--exact=true] [--sections=peer,quality]
//                 [--dir=<scratch>] [--show_disagreements=0]
//
// Corpus: every WordNet noun synset of Debian's wordnet-base (82,115) as a concept, content exactly
// as `engramctl import wordnet` makes it (SynsetToLearnRequest: "lemma, lemma: gloss").
//
// Questions (deterministic, evenly spaced samples of --questions each):
//   word -> sense   "What is a <lemma>?" for synsets whose first lemma is one word; right: any
//                   synset having that lemma (any sense of the word).
//   gloss -> synset the synset's definition (its gloss up to the first ';' or '"', trimmed);
//                   right: that synset only.
//
// Section "peer" (--repeat runs, each on a fresh scratch directory; the tables show medians):
//   Engram   storage Engine in process (wal sync always), one namespace without vectors, loaded
//            with Engine::Write in batches of 1000 put_concept mutations; queries are
//            Engine::Search(mode KEYWORD, k 10).
//   FTS5     SQLite in process, a file in the same scratch directory,
//            `fts5(content, tokenize='unicode61 remove_diacritics 0')`, every row inserted in one
//            transaction; each row's content is Engram's tokens joined by single spaces, so both
//            rank the same token streams. Queries are one prepared statement
//            `... WHERE docs MATCH ?1 ORDER BY bm25(docs) LIMIT 10` bound to '"t1" OR "t2" ...'
//            over the query's distinct terms (KeywordIndex::QueryTerms).
//   Load: the time to write every document and commit (Engram: CreateNamespace and the writes;
//   FTS5: CREATE VIRTUAL TABLE, the inserts and COMMIT). Latency: one thread, one untimed pass,
//   then every question once per system, per-query median and p99; which system goes first
//   alternates between runs. Agreement of the two top-10 lists (first run): a rank agrees when both
//   name the same synset or their scores are equal to 1e-6 relative (a tie, whose order is
//   arbitrary in either system).
//
// Section "quality" (once; deterministic): MRR@10, hit@1 and hit@10 of KEYWORD (content alone:
// BM25; with the lemmas field as `engramctl import wordnet` sets it: BM25F), FTS5, and VECTOR
// and HYBRID for each embedder (hashing 384-d; use-lite 512-d), two namespaces per embedder, the
// query vector from the same embedder. --exact (default) scans the vectors instead of the HNSW
// graph, so the numbers measure the retrieval method, not the ANN index's recall. use-lite takes
// ~15 minutes to embed the 82,115 glosses: --vector_cache keeps them (reason_quality_bench's
// format: synsets in ReadWordNetNouns order, float32 row-major, written when absent).
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/engramctl/wordnet.h"
#include "common/text/tokenizer.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "services/hybrid/embed/use_lite_embedder.h"
#include "storage-server/engine/engine.h"
#include "storage-server/engine/keyword_index.h"

ABSL_FLAG(std::string, wordnet_dir, engram::cli::kDefaultWordNetDir, "WordNet data directory.");
ABSL_FLAG(int, questions, 1000, "Questions per set (a deterministic, evenly spaced sample).");
ABSL_FLAG(int, repeat, 3, "Runs of the peer section (load and latency); medians are reported.");
ABSL_FLAG(std::string, embedders, "hashing,use-lite", "Embedders of the quality section.");
ABSL_FLAG(std::string, model_dir, "build/models", "Where use-lite/ is (the build installs it).");
ABSL_FLAG(
    std::string, vector_cache, "",
    "A file keeping the use-lite vectors of the concepts between runs (written when absent).");
ABSL_FLAG(int, threads, 2, "Threads embedding concepts and questions.");
ABSL_FLAG(bool, exact, true, "Quality: exact vector search instead of the HNSW graph.");
ABSL_FLAG(std::string, sections, "peer,quality", "peer (load, latency, agreement), quality.");
ABSL_FLAG(std::string, dir, "", "Scratch directory (default: a new one in /tmp, removed after).");
ABSL_FLAG(int, show_disagreements, 0, "Print this many queries whose top-10 lists disagree.");

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::engram::storage::v1;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kTopK = 10;
constexpr size_t kBatch = 1000;
constexpr double kTieTolerance = 1e-6;  // relative

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}
double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

bool SameScore(double a, double b) {
  return std::abs(a - b) <= kTieTolerance * std::max(std::abs(a), std::abs(b));
}

// ---- corpus and questions ----

struct Corpus {
  std::vector<engram::v1::LearnRequest> learns;      // row i: synsets[i]
  std::vector<std::string> fts_contents;             // Engram's tokens joined by spaces
  std::unordered_map<std::string, uint32_t> row_of;  // concept id -> row
};

struct Question {
  std::string text;
  std::set<uint32_t> right;  // rows
  std::string focus;         // word questions: the lemma asked about
};

struct QuestionSet {
  std::string name;
  std::vector<Question> questions;
};

std::vector<Question> Sample(std::vector<Question> eligible, size_t want) {
  want = std::min(want, eligible.size());
  std::vector<Question> out;
  for (size_t i = 0; i < want; ++i) out.push_back(std::move(eligible[i * eligible.size() / want]));
  return out;
}

QuestionSet WordQuestions(const std::vector<cli::WordNetSynset>& synsets, size_t want) {
  std::unordered_map<std::string, std::set<uint32_t>> senses;  // lowercased lemma -> rows
  for (uint32_t row = 0; row < synsets.size(); ++row) {
    for (const std::string& lemma : synsets[row].lemmas) {
      senses[absl::AsciiStrToLower(lemma)].insert(row);
    }
  }
  std::vector<Question> eligible;
  for (const cli::WordNetSynset& s : synsets) {
    if (s.lemmas.empty() || s.lemmas[0].find(' ') != std::string::npos) continue;
    const std::string& lemma = s.lemmas[0];
    const bool vowel = std::string("aeiouAEIOU").find(lemma[0]) != std::string::npos;
    eligible.push_back({absl::StrCat("What is ", vowel ? "an " : "a ", lemma, "?"),
                        senses[absl::AsciiStrToLower(lemma)], lemma});
  }
  return {"word → sense", Sample(std::move(eligible), want)};
}

QuestionSet GlossQuestions(const std::vector<cli::WordNetSynset>& synsets, size_t want) {
  std::vector<Question> eligible;
  for (uint32_t row = 0; row < synsets.size(); ++row) {
    const std::string& gloss = synsets[row].gloss;
    const std::string definition(
        absl::StripAsciiWhitespace(absl::string_view(gloss).substr(0, gloss.find_first_of(";\""))));
    if (definition.empty()) continue;
    eligible.push_back({absl::StrReplaceAll(definition, {{"_", " "}}), {row}});
  }
  return {"gloss → synset", Sample(std::move(eligible), want)};
}

// ---- Engram ----

struct Hit {
  uint32_t row;
  double score;
};

absl::StatusOr<std::unique_ptr<storage::Engine>> OpenEngine(const fs::path& dir) {
  storage::EngineOptions options;
  options.data_dir = dir;
  options.sync_mode = storage::wal::SyncMode::kAlways;
  options.create_default_namespace = false;
  return storage::Engine::Open(std::move(options));
}

// The namespace's write batches: every concept, with its row of `vectors` when not empty.
std::vector<v1::WriteRequest> WriteBatches(const Corpus& corpus, const std::string& ns,
                                           const std::vector<float>& vectors, int dimension) {
  std::vector<v1::WriteRequest> batches;
  for (size_t i = 0; i < corpus.learns.size(); ++i) {
    if (i % kBatch == 0) batches.emplace_back().set_namespace_(ns);
    const engram::v1::LearnRequest& learn = corpus.learns[i];
    v1::Concept* c = batches.back().add_mutations()->mutable_put_concept();
    c->set_id(learn.id());
    c->set_content(learn.content());
    c->mutable_attributes()->insert(learn.attributes().begin(), learn.attributes().end());
    if (!vectors.empty()) {
      c->mutable_vector()->Add(vectors.begin() + i * dimension,
                               vectors.begin() + (i + 1) * dimension);
    }
  }
  return batches;
}

// `lemmas_field`: the namespace as `engramctl import wordnet` creates it, scoring the "lemmas"
// attribute beside the content (BM25F, cli::WordNetLemmasField); otherwise the content alone.
absl::Status LoadNamespace(storage::Engine& engine, const std::string& ns, int dimension,
                           const std::string& embedder, bool lemmas_field,
                           std::vector<v1::WriteRequest> batches) {
  v1::NamespaceConfig config;
  config.set_name(ns);
  config.set_dimension(static_cast<uint32_t>(dimension));
  config.set_metric(v1::COSINE);
  config.set_embedder(embedder);
  if (lemmas_field) {
    const engram::v1::KeywordField lemmas = cli::WordNetLemmasField();
    v1::KeywordField* f = config.add_keyword_fields();
    f->set_attribute(lemmas.attribute());
    f->set_weight(lemmas.weight());
    f->set_b(lemmas.b());
  }
  if (absl::StatusOr<v1::NamespaceInfo> info = engine.CreateNamespace(config); !info.ok()) {
    return info.status();
  }
  for (v1::WriteRequest& batch : batches) {
    if (absl::StatusOr<v1::WriteResponse> r = engine.Write(std::move(batch)); !r.ok()) {
      return r.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Hit>> ToHits(const Corpus& corpus,
                                        const absl::StatusOr<v1::SearchResponse>& response) {
  if (!response.ok()) return response.status();
  std::vector<Hit> hits;
  for (const v1::SearchResult& r : response->results()) {
    auto it = corpus.row_of.find(r.node().id());
    if (it == corpus.row_of.end()) return absl::InternalError("unknown id " + r.node().id());
    hits.push_back({it->second, r.score()});
  }
  return hits;
}

// ---- SQLite FTS5 ----

// One FTS5 table in a file; rowid = row + 1. Not thread-safe.
class Fts5 {
 public:
  static absl::StatusOr<std::unique_ptr<Fts5>> Open(const fs::path& file) {
    auto fts = std::unique_ptr<Fts5>(new Fts5);
    if (sqlite3_open(file.c_str(), &fts->db_) != SQLITE_OK) return fts->Error("open");
    return fts;
  }
  ~Fts5() {
    sqlite3_finalize(query_);
    sqlite3_close(db_);
  }

  absl::Status Load(const std::vector<std::string>& contents) {
    if (!Exec("CREATE VIRTUAL TABLE docs USING fts5(content, "
              "tokenize='unicode61 remove_diacritics 0')") ||
        !Exec("BEGIN")) {
      return Error("create");
    }
    sqlite3_stmt* insert = nullptr;
    if (sqlite3_prepare_v2(db_, "INSERT INTO docs(rowid, content) VALUES (?1, ?2)", -1, &insert,
                           nullptr) != SQLITE_OK) {
      return Error("prepare insert");
    }
    for (size_t i = 0; i < contents.size(); ++i) {
      sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(i + 1));
      sqlite3_bind_text(insert, 2, contents[i].data(), static_cast<int>(contents[i].size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        sqlite3_finalize(insert);
        return Error("insert");
      }
      sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    if (!Exec("COMMIT")) return Error("commit");
    if (sqlite3_prepare_v2(db_,
                           "SELECT rowid, content, -bm25(docs) FROM docs WHERE docs MATCH ?1 "
                           "ORDER BY bm25(docs) LIMIT 10",
                           -1, &query_, nullptr) != SQLITE_OK) {
      return Error("prepare query");
    }
    return absl::OkStatus();
  }

  // '"t1" OR "t2" ...': each term a quoted string (a '"' inside doubled), so no term is read as
  // an FTS5 operator or column filter.
  static std::string MatchExpression(const std::vector<std::string>& terms) {
    std::vector<std::string> quoted;
    for (const std::string& t : terms) {
      quoted.push_back(absl::StrCat("\"", absl::StrReplaceAll(t, {{"\"", "\"\""}}), "\""));
    }
    return absl::StrJoin(quoted, " OR ");
  }

  // The best 10 of the prepared query; `content_bytes` adds up what was read, as a caller would.
  absl::StatusOr<std::vector<Hit>> Query(const std::string& match, size_t* content_bytes) {
    sqlite3_bind_text(query_, 1, match.data(), static_cast<int>(match.size()), SQLITE_STATIC);
    std::vector<Hit> hits;
    int rc;
    while ((rc = sqlite3_step(query_)) == SQLITE_ROW) {
      const auto row = static_cast<uint32_t>(sqlite3_column_int64(query_, 0) - 1);
      *content_bytes += static_cast<size_t>(sqlite3_column_bytes(query_, 1));
      hits.push_back({row, sqlite3_column_double(query_, 2)});
    }
    sqlite3_reset(query_);
    if (rc != SQLITE_DONE) return Error("query");
    return hits;
  }

 private:
  Fts5() = default;
  bool Exec(const char* sql) {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  absl::Status Error(const char* what) const {
    return absl::InternalError(absl::StrCat("sqlite ", what, ": ", sqlite3_errmsg(db_)));
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* query_ = nullptr;
};

// ---- section "peer" ----

struct Agreement {
  double overlap = 0;        // |ids in both top-10s| / list length
  double tie_agreement = 0;  // ranks with the same id or an equal score
  double top1_same = 0;
  double top1_tie = 0;
  double max_score_diff = 0;  // relative, over documents in both lists
  size_t queries = 0;
};

void Compare(const std::vector<Hit>& ours, const std::vector<Hit>& theirs, Agreement* a) {
  const size_t n = std::max(ours.size(), theirs.size());
  ++a->queries;
  if (n == 0) {
    a->overlap += 1;
    a->tie_agreement += 1;
    a->top1_same += 1;
    a->top1_tie += 1;
    return;
  }
  size_t both = 0, agree = 0;
  for (const Hit& h : ours) {
    for (const Hit& t : theirs) {
      if (h.row != t.row) continue;
      ++both;
      a->max_score_diff = std::max(
          a->max_score_diff, std::abs(h.score - t.score) / std::max(std::abs(t.score), 1e-300));
    }
  }
  for (size_t i = 0; i < std::min(ours.size(), theirs.size()); ++i) {
    agree += ours[i].row == theirs[i].row || SameScore(ours[i].score, theirs[i].score);
  }
  a->overlap += static_cast<double>(both) / static_cast<double>(n);
  a->tie_agreement += static_cast<double>(agree) / static_cast<double>(n);
  if (!ours.empty() && !theirs.empty()) {
    a->top1_same += ours[0].row == theirs[0].row;
    a->top1_tie += ours[0].row == theirs[0].row || SameScore(ours[0].score, theirs[0].score);
  }
}

struct PeerRun {
  double engram_load_s = 0, fts_load_s = 0;
  double index_load_s = 0;  // KeywordIndex::Add of every document, nothing else
  uint64_t index_bytes = 0;
  std::vector<double> engram_median_us, engram_p99_us, fts_median_us, fts_p99_us;  // per set
};

// One run: load both systems in `dir`, an untimed pass (which fills `agreement` and `fts_hits`
// when given), a timed pass.
absl::StatusOr<PeerRun> RunPeer(const Corpus& corpus, const std::vector<QuestionSet>& sets,
                                const fs::path& dir, bool engram_first,
                                std::vector<Agreement>* agreement,
                                std::vector<std::vector<std::vector<Hit>>>* fts_hits) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  PeerRun run;
  {
    const Clock::time_point t0 = Clock::now();
    storage::KeywordIndex index;
    for (uint32_t i = 0; i < corpus.learns.size(); ++i) {
      index.Add(i, {corpus.learns[i].content()}, /*born=*/1);
    }
    run.index_load_s = SecondsSince(t0);
    run.index_bytes = index.memory_bytes();
  }
  std::vector<v1::WriteRequest> batches = WriteBatches(corpus, "keyword", {}, 0);
  absl::StatusOr<std::unique_ptr<storage::Engine>> engine = OpenEngine(dir / "engram");
  if (!engine.ok()) return engine.status();
  absl::StatusOr<std::unique_ptr<Fts5>> fts = Fts5::Open(dir / "fts5.db");
  if (!fts.ok()) return fts.status();
  for (int side = 0; side < 2; ++side) {
    const Clock::time_point t0 = Clock::now();
    if ((side == 0) == engram_first) {
      absl::Status s = LoadNamespace(**engine, "keyword", 0, "none", /*lemmas_field=*/false,
                                     std::move(batches));
      if (!s.ok()) return s;
      run.engram_load_s = SecondsSince(t0);
    } else {
      absl::Status s = (*fts)->Load(corpus.fts_contents);
      if (!s.ok()) return s;
      run.fts_load_s = SecondsSince(t0);
    }
  }

  // The requests and match expressions are made before timing.
  std::vector<std::vector<v1::SearchRequest>> requests(sets.size());
  std::vector<std::vector<std::string>> matches(sets.size());
  for (size_t s = 0; s < sets.size(); ++s) {
    for (const Question& q : sets[s].questions) {
      v1::SearchRequest& r = requests[s].emplace_back();
      r.set_namespace_("keyword");
      r.set_text(q.text);
      r.set_k(kTopK);
      r.set_mode(v1::SEARCH_MODE_KEYWORD);
      matches[s].push_back(Fts5::MatchExpression(storage::KeywordIndex::QueryTerms(q.text)));
    }
  }
  size_t sink = 0;
  // Untimed pass: warms both, and compares the lists.
  if (agreement != nullptr) agreement->assign(sets.size(), {});
  if (fts_hits != nullptr) fts_hits->assign(sets.size(), {});
  int shown = 0;
  for (size_t s = 0; s < sets.size(); ++s) {
    for (size_t i = 0; i < requests[s].size(); ++i) {
      absl::StatusOr<std::vector<Hit>> ours = ToHits(corpus, (*engine)->Search(requests[s][i]));
      absl::StatusOr<std::vector<Hit>> theirs = (*fts)->Query(matches[s][i], &sink);
      if (!ours.ok()) return ours.status();
      if (!theirs.ok()) return theirs.status();
      if (agreement != nullptr) {
        const double before = (*agreement)[s].tie_agreement;
        Compare(*ours, *theirs, &(*agreement)[s]);
        const bool disagrees = (*agreement)[s].tie_agreement - before < 1 - 1e-9;
        if (disagrees && shown < absl::GetFlag(FLAGS_show_disagreements)) {
          ++shown;
          std::fprintf(stderr, "disagree: %s\n", sets[s].questions[i].text.c_str());
          for (size_t r = 0; r < std::max(ours->size(), theirs->size()); ++r) {
            std::fprintf(
                stderr, "  %2zu  engram %s  fts5 %s\n", r + 1,
                r < ours->size()
                    ? absl::StrFormat("%6u %.9g", (*ours)[r].row, (*ours)[r].score).c_str()
                    : "-",
                r < theirs->size()
                    ? absl::StrFormat("%6u %.9g", (*theirs)[r].row, (*theirs)[r].score).c_str()
                    : "-");
          }
        }
      }
      if (fts_hits != nullptr) (*fts_hits)[s].push_back(*std::move(theirs));
    }
  }
  // Timed pass.
  for (size_t s = 0; s < sets.size(); ++s) {
    std::vector<double> ours_us, theirs_us;
    for (int side = 0; side < 2; ++side) {
      const bool engram = (side == 0) == engram_first;
      for (size_t i = 0; i < requests[s].size(); ++i) {
        const Clock::time_point t0 = Clock::now();
        if (engram) {
          absl::StatusOr<v1::SearchResponse> r = (*engine)->Search(requests[s][i]);
          if (!r.ok()) return r.status();
          sink += static_cast<size_t>(r->results_size());
          ours_us.push_back(SecondsSince(t0) * 1e6);
        } else {
          absl::StatusOr<std::vector<Hit>> r = (*fts)->Query(matches[s][i], &sink);
          if (!r.ok()) return r.status();
          theirs_us.push_back(SecondsSince(t0) * 1e6);
        }
      }
    }
    run.engram_median_us.push_back(Median(ours_us));
    run.engram_p99_us.push_back(Percentile(ours_us, 0.99));
    run.fts_median_us.push_back(Median(theirs_us));
    run.fts_p99_us.push_back(Percentile(theirs_us, 0.99));
  }
  if (sink == 0) std::fprintf(stderr, "(no results)\n");
  fts->reset();
  if (absl::Status s = (*engine)->Close(); !s.ok()) return s;
  engine->reset();
  fs::remove_all(dir);
  return run;
}

// ---- section "quality" ----

struct Quality {
  double mrr = 0, hit1 = 0, hit10 = 0;
  size_t n = 0;
};

void Score(const std::vector<Hit>& hits, const Question& q, Quality* quality) {
  ++quality->n;
  for (size_t i = 0; i < hits.size() && i < kTopK; ++i) {
    if (!q.right.contains(hits[i].row)) continue;
    quality->mrr += 1.0 / static_cast<double>(i + 1);
    quality->hit1 += i == 0;
    quality->hit10 += 1;
    return;
  }
}

std::string QualityCells(const Quality& q) {
  const double n = std::max<double>(1, static_cast<double>(q.n));
  return absl::StrFormat(" %.3f | %.1f %% | %.1f %% |", q.mrr / n, 100 * q.hit1 / n,
                         100 * q.hit10 / n);
}

absl::StatusOr<std::shared_ptr<const hybrid::Embedder>> MakeEmbedder(const std::string& name) {
  if (name == "hashing") {
    absl::StatusOr<std::unique_ptr<hybrid::HashingEmbedder>> e = hybrid::HashingEmbedder::Create();
    if (!e.ok()) return e.status();
    return std::shared_ptr<const hybrid::Embedder>(*std::move(e));
  }
  if (name == "use-lite") {
    auto e = hybrid::UseLiteEmbedder::Load(absl::GetFlag(FLAGS_model_dir) + "/use-lite");
    if (!e.ok()) return e.status();
    return std::shared_ptr<const hybrid::Embedder>(*e);
  }
  return absl::InvalidArgumentError("--embedders: hashing or use-lite, not " + name);
}

// Row-major vectors of `texts`, computed on --threads threads.
absl::StatusOr<std::vector<float>> EmbedAll(const hybrid::Embedder& embedder,
                                            const std::vector<std::string>& texts) {
  const size_t dim = static_cast<size_t>(embedder.dimension());
  std::vector<float> out(texts.size() * dim);
  std::vector<absl::Status> errors(static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_threads))));
  std::vector<std::thread> workers;
  for (size_t t = 0; t < errors.size(); ++t) {
    workers.emplace_back([&, t] {
      for (size_t i = t; i < texts.size() && errors[t].ok(); i += errors.size()) {
        absl::StatusOr<std::vector<float>> v = embedder.Embed(texts[i]);
        if (!v.ok()) {
          errors[t] = v.status();
          break;
        }
        std::copy(v->begin(), v->end(), out.begin() + static_cast<std::ptrdiff_t>(i * dim));
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (const absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  return out;
}

// The concepts' vectors: from --vector_cache for use-lite when it holds them, else computed (and
// written to the cache).
absl::StatusOr<std::vector<float>> ConceptVectors(const hybrid::Embedder& embedder,
                                                  const std::string& name, const Corpus& corpus) {
  const std::string cache = name == "use-lite" ? absl::GetFlag(FLAGS_vector_cache) : "";
  const size_t size = corpus.learns.size() * static_cast<size_t>(embedder.dimension());
  if (!cache.empty()) {
    std::vector<float> vectors(size);
    std::ifstream in(cache, std::ios::binary);
    if (in.read(reinterpret_cast<char*>(vectors.data()),
                static_cast<std::streamsize>(size * sizeof(float))) &&
        in.peek() == std::char_traits<char>::eof()) {
      return vectors;
    }
    std::fprintf(stderr, "%s: no usable cache, embedding %zu concepts (minutes)...\n", name.c_str(),
                 corpus.learns.size());
  }
  std::vector<std::string> texts;
  for (const engram::v1::LearnRequest& l : corpus.learns) texts.push_back(l.content());
  absl::StatusOr<std::vector<float>> vectors = EmbedAll(embedder, texts);
  if (vectors.ok() && !cache.empty()) {
    std::ofstream(cache, std::ios::binary)
        .write(reinterpret_cast<const char*>(vectors->data()),
               static_cast<std::streamsize>(size * sizeof(float)));
  }
  return vectors;
}

absl::Status RunQuality(const Corpus& corpus, const std::vector<QuestionSet>& sets,
                        const fs::path& dir,
                        const std::vector<std::vector<std::vector<Hit>>>& fts_hits) {
  fs::remove_all(dir);
  absl::StatusOr<std::unique_ptr<storage::Engine>> engine = OpenEngine(dir);
  if (!engine.ok()) return engine.status();
  struct Row {
    std::string name;
    std::vector<Quality> per_set;
  };
  std::vector<Row> rows;
  if (!fts_hits.empty()) {
    Row& fts = rows.emplace_back(Row{"SQLite FTS5 bm25()", std::vector<Quality>(sets.size())});
    for (size_t s = 0; s < sets.size(); ++s) {
      for (size_t i = 0; i < sets[s].questions.size(); ++i) {
        Score(fts_hits[s][i], sets[s].questions[i], &fts.per_set[s]);
      }
    }
  }
  const std::vector<std::string> names =
      absl::StrSplit(absl::GetFlag(FLAGS_embedders), ',', absl::SkipEmpty());
  auto search = [&](v1::SearchRequest& request, const Question& q, Quality* quality,
                    bool focus = false) {
    request.set_k(kTopK);
    request.set_exact(absl::GetFlag(FLAGS_exact));
    request.set_text(focus ? q.focus : q.text);
    absl::StatusOr<std::vector<Hit>> hits = ToHits(corpus, (*engine)->Search(request));
    if (!hits.ok()) return hits.status();
    Score(*hits, q, quality);
    return absl::OkStatus();
  };
  bool keyword_done = false;
  for (const std::string& name : names) {
    absl::StatusOr<std::shared_ptr<const hybrid::Embedder>> embedder = MakeEmbedder(name);
    if (!embedder.ok()) return embedder.status();
    const int dim = (*embedder)->dimension();
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<std::vector<float>> vectors = ConceptVectors(**embedder, name, corpus);
    if (!vectors.ok()) return vectors.status();
    // Two namespaces: the content alone (BM25), and with the lemmas field (BM25F) as
    // `engramctl import wordnet` creates it.
    const std::string ns = absl::StrReplaceAll(name, {{"-", "_"}});
    const std::string ns_fields = ns + "_lemmas";
    for (const auto& [target, fields] : {std::pair{ns, false}, std::pair{ns_fields, true}}) {
      absl::Status loaded = LoadNamespace(**engine, target, dim, name, fields,
                                          WriteBatches(corpus, target, *vectors, dim));
      if (!loaded.ok()) return loaded;
    }
    std::fprintf(stderr, "%s: %zu concepts embedded and loaded twice in %.1f s\n", name.c_str(),
                 corpus.learns.size(), SecondsSince(t0));
    if (!keyword_done) {
      keyword_done = true;
      for (const auto& [target, label] :
           {std::pair{ns, "BM25"}, std::pair{ns_fields, "BM25F, lemmas^3:1"}}) {
        rows.push_back(Row{absl::StrCat("Engram KEYWORD (", label, ")"), {}});
        // Diagnostic: the word asked about alone, without the question's words (no stop list).
        rows.push_back(
            Row{absl::StrCat("Engram KEYWORD (", label, "), the asked word alone (diagnostic)"), {}});
        Row& keyword = rows[rows.size() - 2];
        Row& focus = rows.back();
        for (const QuestionSet& set : sets) {
          Quality& q = keyword.per_set.emplace_back();
          Quality& fq = focus.per_set.emplace_back();
          for (const Question& question : set.questions) {
            v1::SearchRequest request;
            request.set_namespace_(target);
            request.set_mode(v1::SEARCH_MODE_KEYWORD);
            if (absl::Status s = search(request, question, &q); !s.ok()) return s;
            if (question.focus.empty()) continue;
            if (absl::Status s = search(request, question, &fq, /*focus=*/true); !s.ok()) return s;
          }
        }
      }
    }
    Row vector_row{absl::StrCat("VECTOR ", name, " ", dim, "-d"), {}};
    Row hybrid_row{absl::StrCat("HYBRID ", name, " + BM25"), {}};
    Row hybrid_fields_row{absl::StrCat("HYBRID ", name, " + BM25F (lemmas^3:1)"), {}};
    for (const QuestionSet& set : sets) {
      std::vector<std::string> texts;
      for (const Question& q : set.questions) texts.push_back(q.text);
      absl::StatusOr<std::vector<float>> query_vectors = EmbedAll(**embedder, texts);
      if (!query_vectors.ok()) return query_vectors.status();
      Quality& vq = vector_row.per_set.emplace_back();
      Quality& hq = hybrid_row.per_set.emplace_back();
      Quality& hfq = hybrid_fields_row.per_set.emplace_back();
      for (size_t i = 0; i < set.questions.size(); ++i) {
        v1::SearchRequest request;
        request.set_namespace_(ns);
        request.mutable_vector()->Add(
            query_vectors->begin() + static_cast<std::ptrdiff_t>(i * dim),
            query_vectors->begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
        request.set_mode(v1::SEARCH_MODE_VECTOR);
        if (absl::Status s = search(request, set.questions[i], &vq); !s.ok()) return s;
        request.set_mode(v1::SEARCH_MODE_HYBRID);
        if (absl::Status s = search(request, set.questions[i], &hq); !s.ok()) return s;
        request.set_namespace_(ns_fields);
        if (absl::Status s = search(request, set.questions[i], &hfq); !s.ok()) return s;
      }
    }
    rows.push_back(std::move(vector_row));
    rows.push_back(std::move(hybrid_row));
    rows.push_back(std::move(hybrid_fields_row));
  }
  if (absl::Status s = (*engine)->Close(); !s.ok()) return s;
  engine->reset();
  fs::remove_all(dir);

  std::printf("\n### Retrieval: %s (%zu questions) and %s (%zu questions), top %u%s\n\n",
              sets[0].name.c_str(), sets[0].questions.size(), sets[1].name.c_str(),
              sets[1].questions.size(), kTopK,
              absl::GetFlag(FLAGS_exact) ? ", exact vector search" : ", HNSW");
  std::printf("| method |");
  for (const QuestionSet& set : sets) {
    std::printf(" %s MRR@10 | hit@1 | hit@10 |", set.name.c_str());
  }
  std::printf("\n|---|");
  for (size_t s = 0; s < sets.size(); ++s) std::printf("---:|---:|---:|");
  std::printf("\n");
  for (const Row& row : rows) {
    std::printf("| %s |", row.name.c_str());
    for (const Quality& q : row.per_set) {
      std::printf("%s", q.n == 0 ? " — | — | — |" : QualityCells(q).c_str());
    }
    std::printf("\n");
  }
  return absl::OkStatus();
}

// ---- main ----

int Run() {
  const std::string wordnet = absl::GetFlag(FLAGS_wordnet_dir);
  absl::StatusOr<std::vector<cli::WordNetSynset>> synsets = cli::ReadWordNetNouns(wordnet);
  absl::StatusOr<cli::LexNames> lexnames = cli::ReadLexNames(wordnet);
  if (!synsets.ok() || !lexnames.ok()) {
    std::fprintf(stderr, "keyword_bench: %s\n",
                 (!synsets.ok() ? synsets.status() : lexnames.status()).ToString().c_str());
    return 1;
  }
  Corpus corpus;
  size_t tokens = 0;
  for (const cli::WordNetSynset& s : *synsets) {
    engram::v1::LearnRequest learn = cli::SynsetToLearnRequest(s, *lexnames);
    std::vector<std::string> words = text::TokenizeText(learn.content(), /*lowercase=*/true);
    tokens += words.size();
    corpus.row_of[learn.id()] = static_cast<uint32_t>(corpus.learns.size());
    corpus.fts_contents.push_back(absl::StrJoin(words, " "));
    corpus.learns.push_back(std::move(learn));
  }
  const size_t want = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_questions)));
  const std::vector<QuestionSet> sets = {WordQuestions(*synsets, want),
                                         GlossQuestions(*synsets, want)};

  fs::path dir = absl::GetFlag(FLAGS_dir);
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "keyword_bench.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("keyword_bench: mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  std::printf(
      "WordNet nouns: %zu concepts, %zu tokens (mean %.1f per concept); questions: %zu %s, "
      "%zu %s; SQLite %s\n",
      corpus.learns.size(), tokens,
      static_cast<double>(tokens) / static_cast<double>(corpus.learns.size()),
      sets[0].questions.size(), sets[0].name.c_str(), sets[1].questions.size(),
      sets[1].name.c_str(), sqlite3_libversion());

  const std::string sections = absl::GetFlag(FLAGS_sections);
  std::vector<std::vector<std::vector<Hit>>> fts_hits;
  int rc = 0;
  if (absl::StrContains(sections, "peer")) {
    const int repeat = std::max(1, absl::GetFlag(FLAGS_repeat));
    std::vector<PeerRun> runs;
    std::vector<Agreement> agreement;
    for (int r = 0; r < repeat; ++r) {
      absl::StatusOr<PeerRun> run =
          RunPeer(corpus, sets, dir / "peer", r % 2 == 0, r == 0 ? &agreement : nullptr,
                  r == 0 ? &fts_hits : nullptr);
      if (!run.ok()) {
        std::fprintf(stderr, "keyword_bench: %s\n", run.status().ToString().c_str());
        rc = 1;
        break;
      }
      std::fprintf(stderr, "run %d: load engram %.2f s fts5 %.2f s index alone %.2f s;", r + 1,
                   run->engram_load_s, run->fts_load_s, run->index_load_s);
      for (size_t s = 0; s < sets.size(); ++s) {
        std::fprintf(stderr, " %s median %.0f/%.0f us p99 %.0f/%.0f us;", sets[s].name.c_str(),
                     run->engram_median_us[s], run->fts_median_us[s], run->engram_p99_us[s],
                     run->fts_p99_us[s]);
      }
      std::fprintf(stderr, "\n");
      runs.push_back(*std::move(run));
    }
    if (rc == 0) {
      auto median_of = [&](auto field) {
        std::vector<double> v;
        for (const PeerRun& run : runs) v.push_back(field(run));
        return Median(v);
      };
      std::printf("\n### Load (index build) of %zu documents, median of %zu runs\n\n",
                  corpus.learns.size(), runs.size());
      std::printf(
          "| Engram Engine::Write (s) | FTS5 (s) | Engram / FTS5 | KeywordIndex::Add alone (s) "
          "| KeywordIndex / FTS5 | KeywordIndex memory (MiB) |\n|---:|---:|---:|---:|---:|---:|\n");
      std::printf("| %.2f | %.2f | %.2f | %.2f | %.2f | %.1f |\n",
                  median_of([](const PeerRun& r) { return r.engram_load_s; }),
                  median_of([](const PeerRun& r) { return r.fts_load_s; }),
                  median_of([](const PeerRun& r) { return r.engram_load_s / r.fts_load_s; }),
                  median_of([](const PeerRun& r) { return r.index_load_s; }),
                  median_of([](const PeerRun& r) { return r.index_load_s / r.fts_load_s; }),
                  static_cast<double>(runs[0].index_bytes) / (1 << 20));
      std::printf("\n### Query latency, one thread, top 10 (µs per query), median of %zu runs\n\n",
                  runs.size());
      std::printf(
          "| questions | Engram median | FTS5 median | Engram / FTS5 | Engram p99 | FTS5 p99 "
          "| Engram / FTS5 |\n|---|---:|---:|---:|---:|---:|---:|\n");
      for (size_t s = 0; s < sets.size(); ++s) {
        std::printf(
            "| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n", sets[s].name.c_str(),
            median_of([&](const PeerRun& r) { return r.engram_median_us[s]; }),
            median_of([&](const PeerRun& r) { return r.fts_median_us[s]; }),
            median_of([&](const PeerRun& r) { return r.engram_median_us[s] / r.fts_median_us[s]; }),
            median_of([&](const PeerRun& r) { return r.engram_p99_us[s]; }),
            median_of([&](const PeerRun& r) { return r.fts_p99_us[s]; }),
            median_of([&](const PeerRun& r) { return r.engram_p99_us[s] / r.fts_p99_us[s]; }));
      }
      std::printf(
          "\n### Top-10 agreement with FTS5 bm25() (ties: equal score to 1e-6 relative)\n\n");
      std::printf(
          "| questions | same ids in top 10 | ranks agreeing (id or tied score) | same top-1 id "
          "| top-1 same id or tied | max score difference, same doc |\n"
          "|---|---:|---:|---:|---:|---:|\n");
      for (size_t s = 0; s < sets.size(); ++s) {
        const Agreement& a = agreement[s];
        const double n = std::max<double>(1, static_cast<double>(a.queries));
        std::printf("| %s | %.2f %% | %.2f %% | %.1f %% | %.1f %% | %.1e |\n", sets[s].name.c_str(),
                    100 * a.overlap / n, 100 * a.tie_agreement / n, 100 * a.top1_same / n,
                    100 * a.top1_tie / n, a.max_score_diff);
      }
    }
  }
  if (rc == 0 && absl::StrContains(sections, "quality")) {
    absl::Status s = RunQuality(corpus, sets, dir / "quality", fts_hits);
    if (!s.ok()) {
      std::fprintf(stderr, "keyword_bench: %s\n", s.ToString().c_str());
      rc = 1;
    }
  }
  if (own_dir) fs::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace engram::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Engram's BM25 keyword search beside SQLite FTS5, and keyword / vector / hybrid retrieval "
      "on WordNet (see the comment at the top).");
  absl::ParseCommandLine(argc, argv);
  return engram::bench::Run();
}
