// reason_quality_bench: how often the Reasoner's answer is right, on a real graph with questions
// whose answers are known. Not a speed benchmark.
//
//   reason_quality_bench [--wordnet_dir=/usr/share/wordnet] [--questions=400] [--k=10]
//                        [--variants=default,no_consensus,...] [--show_wrong=0]
//
// Graph: every WordNet noun synset as a concept (content and associations exactly as
// `engramctl import wordnet` makes them), embedded with the built-in hashing embedder (384-d) or
// the use-lite sentence encoder (--embedder=use-lite, 512-d).
// It lives in memory behind a GraphSource with exact (brute-force cosine) search, so the numbers
// measure the reasoning, not the ANN index, and are the same on every run and machine.
//
// Questions: "What is a <lemma>?" for a deterministic sample of synsets whose first lemma is one
// word and that have a hypernym (`@` / `@i`). The answer counts as right when it is a sense of the
// word (its gloss answers the question) or a hypernym of one (what it "is a"). Reported per
// variant of the reasoner's configuration: right answers, confident answers, confident and wrong
// (the failure a user trusts), the mean confidence of right and of wrong answers, and what
// raising minConfidence (the quality gate) would keep and how precise the kept answers are.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <fstream>
#include <thread>
#include <vector>

#include <Eigen/Core>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/engramctl/wordnet.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "services/hybrid/embed/use_lite_embedder.h"
#include "services/hybrid/reason/graph_source.h"
#include "services/hybrid/reason/question.h"
#include "services/hybrid/reason/reasoner.h"

ABSL_FLAG(std::string, wordnet_dir, engram::cli::kDefaultWordNetDir, "WordNet data directory.");
ABSL_FLAG(int, questions, 400, "Questions to ask (a deterministic sample).");
ABSL_FLAG(int, k, 10, "Seeds per question (ReasonRequest.k).");
ABSL_FLAG(int, dim, 384, "Dimension of the hashing embedder (a namespace's dimension).");
ABSL_FLAG(std::string, embedder, "hashing", "hashing or use-lite (the sentence encoder).");
ABSL_FLAG(std::string, model_dir, "build/models", "Where use-lite/ is (the build installs it).");
ABSL_FLAG(int, threads, 2, "Threads embedding the concepts.");
ABSL_FLAG(std::string, vector_cache, "",
          "A file keeping the concepts' vectors between runs (written when absent; use-lite takes "
          "minutes to embed 82K glosses).");
ABSL_FLAG(std::string, variants, "default,consensus=1,k=3,k=3+consensus=1",
          "Reasoner configurations to compare, comma-separated: default, or settings joined by "
          "'+': k=N, depth=N, consensus=N (max_consensus_paths), expansions=N, weight=X "
          "(consensus_weight), relation (follow the relation the question asks for), focus (seed from "
          "the question's focus).");
ABSL_FLAG(int, show_wrong, 0, "Print this many confidently wrong answers per variant.");
ABSL_FLAG(std::string, explain, "", "Ask only this question and print seeds, candidates and paths.");

namespace engram::bench {
namespace {

using hybrid::AssociationType;
using hybrid::ConceptLite;
using hybrid::Edge;
using hybrid::Neighbor;
using hybrid::SearchHit;

// Concepts and associations in memory; exact cosine search over L2-normalised rows.
class WordNetGraph final : public hybrid::GraphSource {
 public:
  void Reserve(size_t n, int dim) {
    ids_.reserve(n);
    contents_.reserve(n);
    vectors_.resize(static_cast<Eigen::Index>(n), dim);
  }
  void AddConcept(std::string id, std::string content, const std::vector<float>& v) {
    const auto row = static_cast<Eigen::Index>(ids_.size());
    index_[id] = ids_.size();
    ids_.push_back(std::move(id));
    contents_.push_back(std::move(content));
    Eigen::Map<const Eigen::VectorXf> x(v.data(), static_cast<Eigen::Index>(v.size()));
    const float norm = x.norm();
    vectors_.row(row) = x.transpose();
    if (norm > 0) vectors_.row(row) /= norm;
    adjacency_.emplace_back();
  }
  absl::Status AddEdge(Edge e) {
    auto s = index_.find(e.source), t = index_.find(e.target);
    if (s == index_.end() || t == index_.end()) return absl::NotFoundError(e.source + " " + e.target);
    adjacency_[s->second].push_back(edges_.size());
    adjacency_[t->second].push_back(edges_.size());
    edges_.push_back(std::move(e));
    return absl::OkStatus();
  }
  size_t size() const { return ids_.size(); }
  size_t edge_count() const { return edges_.size(); }

  absl::StatusOr<std::vector<SearchHit>> Search(absl::Span<const float> vector, uint32_t k) override {
    Eigen::Map<const Eigen::VectorXf> q(vector.data(), static_cast<Eigen::Index>(vector.size()));
    const float norm = q.norm();
    if (norm == 0) return std::vector<SearchHit>{};
    const Eigen::VectorXf scores = vectors_ * (q / norm);
    std::vector<uint32_t> order(ids_.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    const size_t n = std::min<size_t>(k, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                      [&](uint32_t a, uint32_t b) {
                        if (scores[a] != scores[b]) return scores[a] > scores[b];
                        return ids_[a] < ids_[b];
                      });
    std::vector<SearchHit> out;
    for (size_t i = 0; i < n; ++i) out.push_back({{ids_[order[i]], contents_[order[i]]}, scores[order[i]]});
    return out;
  }

  // Highest confidence first, ties by the other concept's id (engram-storage's order).
  absl::StatusOr<std::vector<Neighbor>> Neighbors(std::string_view id,
                                                  absl::Span<const AssociationType> types,
                                                  uint32_t limit) override {
    auto it = index_.find(std::string(id));
    if (it == index_.end()) return absl::NotFoundError(absl::StrCat("concept ", std::string(id)));
    std::vector<Neighbor> out;
    for (size_t e : adjacency_[it->second]) {
      const Edge& edge = edges_[e];
      if (!types.empty() && std::find(types.begin(), types.end(), edge.type) == types.end()) continue;
      const std::string& other = edge.source == id ? edge.target : edge.source;
      out.push_back({{other, contents_[index_.at(other)]}, edge});
    }
    std::sort(out.begin(), out.end(), [](const Neighbor& a, const Neighbor& b) {
      if (a.edge.confidence != b.edge.confidence) return a.edge.confidence > b.edge.confidence;
      return a.node.id < b.node.id;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

  absl::StatusOr<std::vector<ConceptLite>> Get(absl::Span<const std::string> ids) override {
    std::vector<ConceptLite> out;
    for (const std::string& id : ids) {
      auto it = index_.find(id);
      if (it != index_.end()) out.push_back({id, contents_[it->second]});
    }
    return out;
  }

 private:
  std::vector<std::string> ids_;
  std::vector<std::string> contents_;
  std::unordered_map<std::string, size_t> index_;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> vectors_;
  std::vector<Edge> edges_;
  std::vector<std::vector<size_t>> adjacency_;
};

struct Question {
  std::string text;
  std::string about;             // the synset asked about
  std::set<std::string> right;   // it and its hypernyms
};

struct Variant {
  std::string name;
  hybrid::ReasonerConfig config;
  hybrid::ReasonOptions options;
  bool relation = false;  // follow the relation the question asks for (ParseQuestion)
  bool focus = false;     // seed from the question's focus ("ptarmigan"), not the whole question
};

// "default", or settings joined by '+': k=N (seeds), depth=N (max_depth), consensus=N
// (max_consensus_paths), expansions=N (max_expansions), weight=X (consensus_weight), relation
// (follow the asked relation), focus (seed from the question's focus), e.g. "k=3+weight=0.25".
absl::StatusOr<Variant> MakeVariant(const std::string& name, uint32_t k) {
  Variant v{name, {}, {}};
  v.options.k = k;
  if (name == "default") return v;
  for (absl::string_view setting : absl::StrSplit(name, '+')) {
    if (setting == "relation" || setting == "focus") {
      (setting == "relation" ? v.relation : v.focus) = true;
      continue;
    }
    std::vector<std::string> kv = absl::StrSplit(setting, '=');
    uint32_t value = 0;
    float real = 0;
    if (kv.size() == 2 && kv[0] == "weight" && absl::SimpleAtof(kv[1], &real)) {
      v.config.consensus_weight = real;
      continue;
    }
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &value)) {
      return absl::InvalidArgumentError(absl::StrCat("--variants: bad setting '", std::string(setting), "'"));
    }
    if (kv[0] == "k") {
      v.options.k = value;
    } else if (kv[0] == "depth") {
      v.options.max_depth = value;
    } else if (kv[0] == "consensus") {
      v.config.max_consensus_paths = value;
    } else if (kv[0] == "expansions") {
      v.config.max_expansions = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--variants: unknown setting '", kv[0], "'"));
    }
  }
  return v;
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_wordnet_dir);
  absl::StatusOr<std::vector<cli::WordNetSynset>> synsets = cli::ReadWordNetNouns(dir);
  absl::StatusOr<cli::LexNames> lexnames = cli::ReadLexNames(dir);
  if (!synsets.ok() || !lexnames.ok()) {
    std::fprintf(stderr, "reason_quality_bench: %s\n",
                 (!synsets.ok() ? synsets.status() : lexnames.status()).ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::shared_ptr<const hybrid::Embedder>> embedder;
  if (absl::GetFlag(FLAGS_embedder) == "use-lite") {
    auto loaded = hybrid::UseLiteEmbedder::Load(absl::GetFlag(FLAGS_model_dir) + "/use-lite");
    if (loaded.ok()) embedder = std::shared_ptr<const hybrid::Embedder>(*loaded);
    else embedder = loaded.status();
  } else if (absl::GetFlag(FLAGS_embedder) == "hashing") {
    auto created = hybrid::HashingEmbedder::Create(absl::GetFlag(FLAGS_dim));
    if (created.ok()) embedder = std::shared_ptr<const hybrid::Embedder>(*std::move(created));
    else embedder = created.status();
  } else {
    embedder = absl::InvalidArgumentError("--embedder: hashing or use-lite");
  }
  if (!embedder.ok()) {
    std::fprintf(stderr, "reason_quality_bench: %s\n", embedder.status().ToString().c_str());
    return 1;
  }

  std::vector<engram::v1::LearnRequest> learns;
  for (const cli::WordNetSynset& s : *synsets) learns.push_back(cli::SynsetToLearnRequest(s, *lexnames));
  const int dimension = (*embedder)->dimension();
  std::vector<float> vectors(learns.size() * dimension);
  const std::string cache = absl::GetFlag(FLAGS_vector_cache);
  bool cached = false;
  if (!cache.empty()) {
    std::ifstream in(cache, std::ios::binary);
    cached = in.read(reinterpret_cast<char*>(vectors.data()), vectors.size() * sizeof(float)) &&
             in.peek() == std::char_traits<char>::eof();
  }
  if (!cached) {
    std::vector<std::thread> workers;
    const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (size_t i = t; i < learns.size(); i += threads) {
          absl::StatusOr<std::vector<float>> v = (*embedder)->Embed(learns[i].content());
          if (!v.ok()) std::abort();
          std::copy(v->begin(), v->end(), vectors.begin() + i * dimension);
        }
      });
    }
    for (std::thread& w : workers) w.join();
    if (!cache.empty()) {
      std::ofstream(cache, std::ios::binary)
          .write(reinterpret_cast<const char*>(vectors.data()), vectors.size() * sizeof(float));
    }
  }
  WordNetGraph graph;
  graph.Reserve(learns.size(), dimension);
  for (size_t i = 0; i < learns.size(); ++i) {
    graph.AddConcept(learns[i].id(), learns[i].content(),
                     std::vector<float>(vectors.begin() + i * dimension, vectors.begin() + (i + 1) * dimension));
  }
  for (const engram::v1::AssociateRequest& a : cli::NounAssociations(*synsets)) {
    std::optional<AssociationType> type =
        hybrid::ParseAssociationType(engram::v1::AssociationType_Name(a.type()));
    if (!type) return 1;
    absl::Status s = graph.AddEdge({a.source(), a.target(), *type, a.confidence().value(), 1.0f});
    if (!s.ok()) {
      std::fprintf(stderr, "reason_quality_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }

  if (const std::string text = absl::GetFlag(FLAGS_explain); !text.empty()) {
    absl::StatusOr<Variant> variant = MakeVariant(
        std::string(absl::StrSplit(absl::GetFlag(FLAGS_variants), ',').begin()->data(),
                    absl::GetFlag(FLAGS_variants).find(',') == std::string::npos
                        ? absl::GetFlag(FLAGS_variants).size()
                        : absl::GetFlag(FLAGS_variants).find(',')),
        static_cast<uint32_t>(absl::GetFlag(FLAGS_k)));
    if (!variant.ok()) return 2;
    absl::StatusOr<std::vector<float>> v = (*embedder)->Embed(text);
    if (!v.ok()) return 1;
    absl::StatusOr<hybrid::ReasonResult> r = hybrid::Reasoner(variant->config).Reason(*v, variant->options, graph);
    if (!r.ok()) return 1;
    std::printf("seeds:\n");
    for (const SearchHit& h : r->support) std::printf("  %.3f %s\n", h.score, h.node.content.substr(0, 90).c_str());
    std::printf("candidates:\n");
    for (const hybrid::Candidate& c : r->candidates) {
      std::printf("  final %.3f (sem %.2f graph %.2f cons %.2f, %u paths) %s\n", c.confidence.final_confidence,
                  c.confidence.semantic, c.confidence.graph, c.confidence.consensus, c.independent_paths,
                  c.node.content.substr(0, 80).c_str());
    }
    std::printf("%s\n", r->explanation.c_str());
    return 0;
  }

  // A question about a word is ambiguous between its senses: every sense of the lemma and every
  // hypernym of one is a right answer.
  std::map<std::string, std::set<std::string>> right_for_lemma;
  for (const cli::WordNetSynset& s : *synsets) {
    for (const std::string& lemma : s.lemmas) {
      std::set<std::string>& right = right_for_lemma[absl::AsciiStrToLower(lemma)];
      right.insert(cli::NounSynsetId(s.offset));
      for (const cli::WordNetPointer& p : s.pointers) {
        if ((p.symbol == "@" || p.symbol == "@i") && p.target_pos == 'n') {
          right.insert(cli::NounSynsetId(p.target_offset));
        }
      }
    }
  }
  // Deterministic sample: evenly spaced eligible synsets (first lemma one word, has a hypernym).
  std::vector<Question> eligible;
  for (const cli::WordNetSynset& s : *synsets) {
    if (s.lemmas.empty() || s.lemmas[0].find(' ') != std::string::npos) continue;
    const bool has_hypernym = std::any_of(s.pointers.begin(), s.pointers.end(), [](const auto& p) {
      return (p.symbol == "@" || p.symbol == "@i") && p.target_pos == 'n';
    });
    if (!has_hypernym) continue;
    Question q;
    q.about = cli::NounSynsetId(s.offset);
    q.right = right_for_lemma[absl::AsciiStrToLower(s.lemmas[0])];
    const std::string& lemma = s.lemmas[0];
    const bool vowel = std::string("aeiouAEIOU").find(lemma[0]) != std::string::npos;
    q.text = absl::StrCat("What is ", vowel ? "an " : "a ", lemma, "?");
    eligible.push_back(std::move(q));
  }
  const size_t want = std::min<size_t>(static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_questions))),
                                       eligible.size());
  std::vector<Question> questions;
  for (size_t i = 0; i < want; ++i) questions.push_back(eligible[i * eligible.size() / want]);

  std::printf("WordNet nouns: %zu concepts, %zu associations, %s %d-d; %zu questions (of %zu eligible), k=%d\n\n",
              graph.size(), graph.edge_count(), (*embedder)->name().c_str(), dimension, questions.size(), eligible.size(),
              absl::GetFlag(FLAGS_k));
  std::printf("| variant | right | confident | confident and wrong | mean final (right) | mean final (wrong) | top seed right |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  const std::vector<std::string> names =
      absl::StrSplit(absl::GetFlag(FLAGS_variants), ',', absl::SkipEmpty());
  // What minConfidence would do: answers kept (confident) and how many of those are right.
  constexpr double kGateThresholds[] = {0.3, 0.4, 0.5, 0.55, 0.6, 0.65};
  std::vector<std::string> gates;
  for (const std::string& name : names) {
    absl::StatusOr<Variant> variant = MakeVariant(name, static_cast<uint32_t>(absl::GetFlag(FLAGS_k)));
    if (!variant.ok()) {
      std::fprintf(stderr, "reason_quality_bench: %s\n", variant.status().ToString().c_str());
      return 2;
    }
    hybrid::Reasoner reasoner(variant->config);
    int right = 0, confident = 0, confident_wrong = 0, shown = 0, seed_right = 0;
    std::vector<std::pair<double, bool>> finals;  // (final, right) per question
    double sum_right = 0, sum_wrong = 0;
    for (const Question& q : questions) {
      const hybrid::Question parsed = hybrid::ParseQuestion(q.text);
      hybrid::ReasonOptions options = variant->options;
      const bool asks = parsed.kind == hybrid::Question::Kind::kRelation;
      if (variant->relation && asks) {
        options.relation = hybrid::AskedRelation{parsed.type, parsed.direction == hybrid::Question::Direction::kOut};
      }
      absl::StatusOr<std::vector<float>> v = (*embedder)->Embed(variant->focus && asks ? parsed.focus : q.text);
      if (!v.ok()) return 1;
      absl::StatusOr<hybrid::ReasonResult> r = reasoner.Reason(*v, options, graph);
      if (!r.ok()) {
        std::fprintf(stderr, "reason_quality_bench: %s\n", r.status().ToString().c_str());
        return 1;
      }
      const bool is_right = r->best_guess && q.right.contains(r->best_guess->id);
      seed_right += !r->support.empty() && q.right.contains(r->support.front().node.id);
      const double final_confidence = r->confidence.final_confidence;
      finals.emplace_back(final_confidence, is_right);
      right += is_right;
      confident += r->confident;
      (is_right ? sum_right : sum_wrong) += final_confidence;
      if (r->confident && !is_right) {
        ++confident_wrong;
        if (shown < absl::GetFlag(FLAGS_show_wrong)) {
          ++shown;
          std::fprintf(stderr, "[%s] %s -> %s (%.2f)\n", name.c_str(), q.text.c_str(),
                       r->best_guess->content.substr(0, 70).c_str(), final_confidence);
        }
      }
    }
    const double n = static_cast<double>(questions.size());
    std::printf("| %s | %.1f %% | %.1f %% | %.1f %% | %.2f | %.2f | %.1f %% |\n", name.c_str(), 100 * right / n,
                100 * confident / n, 100 * confident_wrong / n, right ? sum_right / right : 0.0,
                right < static_cast<int>(n) ? sum_wrong / (n - right) : 0.0, 100 * seed_right / n);
    gates.push_back(absl::StrFormat("| %s |", name));
    for (double t : kGateThresholds) {
      int kept = 0, kept_right = 0;
      for (const auto& [f, ok] : finals) {
        if (f >= t) {
          ++kept;
          kept_right += ok;
        }
      }
      absl::StrAppendFormat(&gates.back(), " %.0f %% / %.0f %% |", 100.0 * kept / n,
                            kept ? 100.0 * kept_right / kept : 0.0);
    }
  }
  std::printf("\nminConfidence as a gate: answers kept / of those right\n\n| variant |");
  for (double t : kGateThresholds) std::printf(" >= %.2f |", t);
  std::printf("\n|---|");
  for (size_t i = 0; i < std::size(kGateThresholds); ++i) std::printf("---:|");
  std::printf("\n");
  for (const std::string& line : gates) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace
}  // namespace engram::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Answer quality of the Reasoner on WordNet (see the comment at the top).");
  absl::ParseCommandLine(argc, argv);
  return engram::bench::Run();
}
