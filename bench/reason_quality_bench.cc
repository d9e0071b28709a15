// reason_quality_bench: how often the Reasoner's answer is right, on a real graph with questions
// whose answers are known. Not a speed benchmark.
//
//   reason_quality_bench [--wordnet_dir=/usr/share/wordnet] [--questions=400] [--k=10]
//                        [--variants=default,no_consensus,...] [--show_wrong=0]
//
// Graph: every WordNet noun synset as a concept (content and associations exactly as
// `engramctl import wordnet` makes them), embedded with the built-in hashing embedder (384-d) or
// the use-lite sentence encoder (--embedder=use-lite, 512-d), loaded into a storage engine in
// process (a temporary directory), the namespace created as the import creates it (keyword search
// scores the lemmas attribute beside the content, BM25F; --lemmas_field=false: the content alone).
// Seeds come from its exact search: HYBRID (the vectors and the keyword scores, fused) as
// engram-hybrid asks for them, or by vector alone (variant
// setting "vector"), so the numbers measure the retrieval and the reasoning, not the ANN index,
// and are the same on every run and machine.
// Questions (a deterministic sample of --questions per set, synsets whose first lemma is one
// word): is-a "What is a <lemma>?" (right: a sense of the word or a hypernym of one); part-of
// "What is a <lemma> part of?" (a holonym of a sense); cause "What does <verb> cause?" (what a
// sense of the verb causes, WordNet's > pointer, --verbs); two-hop "How is a <lemma> related to
// <other>?" (<other> two hypernym/holonym hops away; right: a sense of <other> within two hops);
// is-x-a-y "Is a <lemma> a <hypernym>?" (the first lemma of the synset 1-3 hypernym hops up; right:
// a sense of it above a sense of the word) and is-x-a-y-not, the near miss "Is a dog a feline?" (a
// sibling of that hypernym, above no sense of the word; right: no confident answer); far "How is
// a <lemma> related to <hypernym>?" (the hypernym 3-4 hops up, nothing to follow but the graph;
// right: a sense of it above a sense of the word).
// Reported per set and variant of the reasoner's configuration: right answers, confident answers,
// confident and wrong (the failure a user trusts), the mean confidence of right and of wrong
// answers, the top seed, what raising minConfidence (the quality gate) would keep and how precise
// the kept answers are, and the reliability curve.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <unistd.h>

#include <Eigen/Core>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/engramctl/wordnet.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "services/hybrid/embed/use_lite_embedder.h"
#include "services/hybrid/reason/graph_source.h"
#include "services/hybrid/reason/question.h"
#include "services/hybrid/reason/reasoner.h"
#include "services/hybrid/service/storage_graph_source.h"
#include "storage-server/engine/engine.h"

ABSL_FLAG(std::string, wordnet_dir, engram::cli::kDefaultWordNetDir, "WordNet data directory.");
ABSL_FLAG(int, questions, 400, "Questions to ask (a deterministic sample).");
ABSL_FLAG(int, k, 10, "Seeds per question (ReasonRequest.k).");
ABSL_FLAG(int, dim, 384, "Dimension of the hashing embedder (a namespace's dimension).");
ABSL_FLAG(std::string, embedder, "hashing", "hashing or use-lite (the sentence encoder).");
ABSL_FLAG(std::string, model_dir, "build/models", "Where use-lite/ is (the build installs it).");
ABSL_FLAG(int, threads, 2, "Threads embedding the concepts.");
ABSL_FLAG(std::string, sets, "is-a,part-of,cause,two-hop,is-x-a-y,is-x-a-y-not,far",
          "Question sets to ask.");
ABSL_FLAG(bool, verbs, true,
          "Load the verb synsets too (`engramctl import wordnet --verbs`): the cause questions "
          "need them.");
ABSL_FLAG(bool, lemmas_field, true,
          "Create the namespace as `engramctl import wordnet` does, keyword search scoring the "
          "lemmas attribute beside the content (BM25F); false: the content alone (BM25).");
ABSL_FLAG(bool, sense_counts, true,
          "Learn each synset's strength from cntlist.rev's sense counts, as `engramctl import "
          "wordnet` does; false: every concept at strength 1.");
ABSL_FLAG(std::string, vector_cache, "",
          "A file keeping the concepts' vectors between runs (written when absent; use-lite takes "
          "minutes to embed 82K glosses).");
ABSL_FLAG(std::string, variants, "relation,relation+vector,default",
          "Reasoner configurations to compare, comma-separated: default, or settings joined by "
          "'+': k=N, depth=N, consensus=N (max_consensus_paths), expansions=N, weight=X "
          "(consensus_weight), margin=X (min_margin), neighbors=N (neighbor_limit), relation (ask "
          "as engram-hybrid does: follow the relation the question asks for, seed from the "
          "concepts named what it asks about), focus (embed the question's focus), vector (seed by "
          "the vector alone, no word match).");
ABSL_FLAG(int, show_wrong, 0, "Print this many confidently wrong answers per variant.");
ABSL_FLAG(std::string, outcomes, "",
          "Write every question's outcome to this file (set, variant, right, confident, final, "
          "question, answer), one per line, to diff two builds' answers.");
ABSL_FLAG(int, show_seed_misses, 0,
          "Print this many questions per variant whose top seed is not a sense of the word.");
ABSL_FLAG(std::string, explain, "", "Ask only this question and print seeds, candidates and paths.");

namespace engram::bench {
namespace {

using hybrid::AssociationType;
using hybrid::ConceptLite;
using hybrid::Edge;
using hybrid::Neighbor;
using hybrid::SearchHit;

namespace sv1 = storage::v1;

// The graph in a real storage engine, in process: the Search (exact, VECTOR / KEYWORD / HYBRID),
// Neighbors and GetConcepts engram-storage serves, through the same request and answer mapping
// engram-hybrid uses (storage_graph_source.h), without the network.
class EngineGraph final : public hybrid::GraphSource {
 public:
  EngineGraph(storage::Engine* engine, std::string ns) : engine_(engine), ns_(std::move(ns)) {}

  absl::StatusOr<std::vector<SearchHit>> Search(const hybrid::SeedQuery& query, uint32_t k) override {
    sv1::SearchRequest req = hybrid::SeedSearchRequest(ns_, query, k);
    req.set_exact(true);  // measure the reasoning, not the ANN index
    absl::StatusOr<sv1::SearchResponse> resp = engine_->Search(req);
    if (!resp.ok()) return resp.status();
    return hybrid::SeedHits(*resp);
  }
  absl::StatusOr<std::vector<SearchHit>> SearchNamed(const hybrid::SeedQuery& query, std::string_view name,
                                                     uint32_t k) override {
    sv1::SearchRequest req = hybrid::SeedSearchRequest(ns_, query, k);
    req.set_name(std::string(name));
    absl::StatusOr<sv1::SearchResponse> resp = engine_->Search(req);
    if (!resp.ok()) return resp.status();
    return hybrid::SeedHits(*resp);
  }
  absl::StatusOr<std::vector<Neighbor>> Neighbors(std::string_view id,
                                                  absl::Span<const AssociationType> types,
                                                  uint32_t limit,
                                                  hybrid::EdgeDirection direction) override {
    absl::StatusOr<sv1::NeighborsResponse> resp =
        engine_->Neighbors(hybrid::NeighborsRequestFor(ns_, id, types, limit, direction));
    if (!resp.ok()) return resp.status();
    return hybrid::NeighborsFromProto(*resp);
  }
  absl::StatusOr<std::vector<std::optional<hybrid::FoundPath>>> PathsBetween(
      absl::Span<const hybrid::PathEnds> pairs, absl::Span<const AssociationType> types,
      uint32_t max_depth, hybrid::EdgeDirection direction) override {
    std::vector<std::optional<hybrid::FoundPath>> out;
    for (const hybrid::PathEnds& ends : pairs) {
      absl::StatusOr<sv1::FindPathsResponse> resp =
          engine_->FindPaths(hybrid::PathRequestFor(ns_, ends, types, max_depth, direction));
      if (!resp.ok() && !absl::IsNotFound(resp.status())) return resp.status();
      out.push_back(resp.ok() ? hybrid::PathFromProto(*resp) : std::nullopt);
    }
    return out;
  }
  absl::StatusOr<std::vector<ConceptLite>> Get(absl::Span<const std::string> ids) override {
    sv1::GetConceptsRequest req;
    req.set_namespace_(ns_);
    for (const std::string& id : ids) req.add_ids(id);
    absl::StatusOr<sv1::GetConceptsResponse> resp = engine_->GetConcepts(req);
    if (!resp.ok()) return resp.status();
    std::vector<ConceptLite> out;
    for (const sv1::Concept& c : resp->concepts()) out.push_back({c.id(), c.content()});
    return out;
  }

 private:
  storage::Engine* const engine_;
  const std::string ns_;
};

struct Question {
  std::string text;
  std::string about;             // the synset asked about
  std::set<std::string> right;   // it and its hypernyms
  std::set<std::string> senses;  // the synsets of the asked word (its part of speech)
  std::set<std::string> any_senses;  // ... of any part of speech (a verb "bark" for a noun)
  // "Is X a Y?" where no sense of Y is above a sense of X: right is no confident answer.
  bool expect_no = false;
};

struct Variant {
  std::string name;
  hybrid::ReasonerConfig config;
  hybrid::ReasonOptions options;
  bool relation = false;  // follow the relation the question asks for (ParseQuestion)
  bool focus = false;     // embed the question's focus ("ptarmigan"), not the whole question
  bool vector_only = false;  // seed by the vector alone (no keyword match), as before BM25
};

// "default", or settings joined by '+': k=N (seeds), depth=N (max_depth), consensus=N
// (max_consensus_paths), expansions=N (max_expansions), weight=X (consensus_weight), margin=X
// (min_margin), neighbors=N (neighbor_limit), relation (as engram-hybrid asks), focus (embed
// the question's focus), vector (seed by the vector alone), e.g. "relation+k=3+weight=0.25".
absl::StatusOr<Variant> MakeVariant(const std::string& name, uint32_t k) {
  Variant v{name, {}, {}};
  v.options.k = k;
  if (name == "default") return v;
  for (absl::string_view setting : absl::StrSplit(name, '+')) {
    if (setting == "relation" || setting == "focus" || setting == "vector") {
      (setting == "relation" ? v.relation : setting == "focus" ? v.focus : v.vector_only) = true;
      continue;
    }
    std::vector<std::string> kv = absl::StrSplit(setting, '=');
    uint32_t value = 0;
    float real = 0;
    if (kv.size() == 2 && kv[0] == "weight" && absl::SimpleAtof(kv[1], &real)) {
      v.config.consensus_weight = real;
      continue;
    }
    if (kv.size() == 2 && kv[0] == "margin" && absl::SimpleAtof(kv[1], &real)) {
      v.config.min_margin = real;
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
    } else if (kv[0] == "neighbors") {
      v.config.neighbor_limit = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--variants: unknown setting '", kv[0], "'"));
    }
  }
  return v;
}

// Asks `text` the way `variant` says: the relation followed and only the concept asked about
// matched by words (as engram-hybrid does) with "relation", the focus embedded with "focus", no
// word match with "vector".
absl::StatusOr<hybrid::ReasonResult> Ask(const Variant& variant, const hybrid::Reasoner& reasoner,
                                         const std::string& text, const hybrid::Embedder& embedder,
                                         hybrid::GraphSource& graph) {
  const hybrid::Question parsed = hybrid::ParseQuestion(text);
  hybrid::ReasonOptions options = variant.options;
  const bool asks = parsed.kind == hybrid::Question::Kind::kRelation;
  std::string_view words = variant.vector_only ? std::string_view() : std::string_view(text);
  // The relation a question names ("What is X part of?", "Is X a Y?") is followed.
  if (variant.relation && parsed.type != hybrid::AssociationType::kUnspecified) {
    options.relation = hybrid::AskedRelation{parsed.type, parsed.direction == hybrid::Question::Direction::kOut};
  }
  if (variant.relation && asks) {
    // As engram-hybrid asks it: seeds from the concept asked about (its words; those named it
    // when there are some).
    if (!variant.vector_only) words = hybrid::SeedWords(parsed, text);
    options.source_name = parsed.focus;
  }
  if (parsed.kind == hybrid::Question::Kind::kBetween) {
    // As engram-hybrid asks it (HybridCore::RunReasoner): seeds from X (those named X when there
    // are some), and the answer must be one of Y's best matches (SetBetweenTargets).
    if (!variant.vector_only) words = hybrid::SeedWords(parsed, text);
    options.source_name = parsed.focus;
    options.yes_no = parsed.type == hybrid::AssociationType::kHierarchical;
    absl::StatusOr<std::vector<float>> other = embedder.Embed(parsed.other);
    if (!other.ok()) return other.status();
    absl::Status targets = hybrid::SetBetweenTargets(
        graph, hybrid::SeedQuery{*other, variant.vector_only ? std::string_view() : parsed.other},
        parsed.other, &options);
    if (!targets.ok()) return targets;
  }
  absl::StatusOr<std::vector<float>> v = embedder.Embed(
      variant.focus && parsed.kind != hybrid::Question::Kind::kOpen ? parsed.focus : text);
  if (!v.ok()) return v.status();
  return reasoner.Reason(hybrid::SeedQuery{*v, words}, options, graph);
}

std::string Article(const std::string& word) {
  return std::string("aeiouAEIOU").find(word[0]) != std::string::npos ? "an" : "a";
}

// A noun and a hypernym of it for "Is a <word> a <hypernym>?": the first lemma of a synset (one
// word) and of the synset min_hops + (offset mod hop_spread) hops above it along the first
// hypernym pointers (one word, another word), with what answers: the senses of the hypernym word
// above some sense of the word.
struct YesNoPair {
  std::string about;  // the synset
  std::string word, hypernym;
  std::set<std::string> senses;           // of the word
  std::set<std::string> above;            // every hypernym of every sense of the word
  std::set<std::string> hypernym_senses;  // of the hypernym word
  std::set<std::string> right;            // hypernym_senses that are in `above`
  // A near miss: the first lemma of a sibling of the hypernym (another hyponym of its first
  // hypernym) that is above no sense of the word ("Is a dog a feline?"); empty if none is.
  std::string sibling;
};

std::vector<YesNoPair> YesNoPairs(
    const std::vector<cli::WordNetSynset>& synsets,
    const std::map<std::pair<char, uint32_t>, const cli::WordNetSynset*>& by_offset,
    uint32_t min_hops, uint32_t hop_spread) {
  auto linked = [&](const cli::WordNetSynset& s, absl::string_view symbol) {
    std::vector<const cli::WordNetSynset*> out;
    for (const cli::WordNetPointer& p : s.pointers) {
      if (p.target_pos != 'n' || (p.symbol != symbol && p.symbol != absl::StrCat(symbol, "i"))) continue;
      auto it = by_offset.find({p.target_pos, p.target_offset});
      if (it != by_offset.end()) out.push_back(it->second);
    }
    return out;
  };
  auto hypernyms = [&](const cli::WordNetSynset& s) { return linked(s, "@"); };
  auto first_hypernym = [&](const cli::WordNetSynset& s) -> const cli::WordNetSynset* {
    const std::vector<const cli::WordNetSynset*> up = hypernyms(s);
    return up.empty() ? nullptr : up.front();
  };
  std::map<std::string, std::vector<const cli::WordNetSynset*>> senses_of;  // lowercased lemma
  for (const cli::WordNetSynset& s : synsets) {
    if (s.ss_type != 'n') continue;
    for (const std::string& lemma : s.lemmas) senses_of[absl::AsciiStrToLower(lemma)].push_back(&s);
  }
  auto one_word = [](const cli::WordNetSynset& s) {
    return !s.lemmas.empty() && s.lemmas[0].find(' ') == std::string::npos &&
           s.lemmas[0].find('-') == std::string::npos;
  };
  std::vector<YesNoPair> pairs;
  for (const cli::WordNetSynset& s : synsets) {
    if (s.ss_type != 'n' || !one_word(s)) continue;
    const cli::WordNetSynset* up = &s;
    for (uint32_t hop = 0; up != nullptr && hop < min_hops + s.offset % hop_spread; ++hop) up = first_hypernym(*up);
    if (up == nullptr || !one_word(*up) || absl::EqualsIgnoreCase(up->lemmas[0], s.lemmas[0])) continue;
    const cli::WordNetSynset* parent = first_hypernym(*up);
    YesNoPair pair{cli::SynsetId(s.ss_type, s.offset), s.lemmas[0], up->lemmas[0]};
    for (const cli::WordNetSynset* sense : senses_of[absl::AsciiStrToLower(pair.word)]) {
      pair.senses.insert(cli::SynsetId(sense->ss_type, sense->offset));
      std::vector<const cli::WordNetSynset*> unvisited = hypernyms(*sense);  // depth first
      while (!unvisited.empty()) {
        const cli::WordNetSynset* h = unvisited.back();
        unvisited.pop_back();
        if (!pair.above.insert(cli::SynsetId(h->ss_type, h->offset)).second) continue;
        for (const cli::WordNetSynset* more : hypernyms(*h)) unvisited.push_back(more);
      }
    }
    for (const cli::WordNetSynset* sense : senses_of[absl::AsciiStrToLower(pair.hypernym)]) {
      const std::string id = cli::SynsetId(sense->ss_type, sense->offset);
      pair.hypernym_senses.insert(id);
      if (pair.above.contains(id)) pair.right.insert(id);
    }
    for (const cli::WordNetSynset* sib : parent == nullptr ? std::vector<const cli::WordNetSynset*>()
                                                           : linked(*parent, "~")) {
      if (sib == up || !one_word(*sib) || absl::EqualsIgnoreCase(sib->lemmas[0], pair.word)) continue;
      const std::vector<const cli::WordNetSynset*>& its = senses_of[absl::AsciiStrToLower(sib->lemmas[0])];
      if (std::none_of(its.begin(), its.end(), [&](const cli::WordNetSynset* t) {
            return pair.above.contains(cli::SynsetId(t->ss_type, t->offset));
          })) {
        pair.sibling = sib->lemmas[0];
        break;
      }
    }
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_wordnet_dir);
  absl::StatusOr<std::vector<cli::WordNetSynset>> synsets = cli::ReadWordNetNouns(dir);
  if (synsets.ok() && absl::GetFlag(FLAGS_verbs)) {
    absl::StatusOr<std::vector<cli::WordNetSynset>> verbs = cli::ReadWordNetVerbs(dir);
    if (!verbs.ok()) {
      synsets = verbs.status();
    } else {
      synsets->insert(synsets->end(), verbs->begin(), verbs->end());
    }
  }
  absl::StatusOr<cli::LexNames> lexnames = cli::ReadLexNames(dir);
  if (synsets.ok() && absl::GetFlag(FLAGS_sense_counts)) {
    if (absl::Status s = cli::AddSenseCounts(dir, &*synsets); !s.ok()) synsets = s;
  }
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
  // Load the graph into a storage engine in a fresh directory.
  const std::filesystem::path data_dir =
      std::filesystem::temp_directory_path() / absl::StrFormat("reason_quality_bench.%d", getpid());
  std::filesystem::remove_all(data_dir);
  struct RemoveDir {
    std::filesystem::path dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } remove_dir{data_dir};  // after the engine closes (declared first)
  storage::EngineOptions engine_options;
  engine_options.data_dir = data_dir;
  engine_options.sync_mode = storage::wal::SyncMode::kRelaxed;
  engine_options.create_default_namespace = false;
  absl::StatusOr<std::unique_ptr<storage::Engine>> engine = storage::Engine::Open(engine_options);
  if (!engine.ok()) {
    std::fprintf(stderr, "reason_quality_bench: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  sv1::NamespaceConfig config;
  config.set_name("wordnet");
  config.set_dimension(static_cast<uint32_t>(dimension));
  config.set_metric(sv1::COSINE);
  config.set_embedder((*embedder)->name());
  if (absl::GetFlag(FLAGS_lemmas_field)) {
    const engram::v1::KeywordField lemmas = cli::WordNetLemmasField();
    sv1::KeywordField* f = config.add_keyword_fields();
    f->set_attribute(lemmas.attribute());
    f->set_weight(lemmas.weight());
    f->set_b(lemmas.b());
  }
  if (auto created = (*engine)->CreateNamespace(config); !created.ok()) {
    std::fprintf(stderr, "reason_quality_bench: %s\n", created.status().ToString().c_str());
    return 1;
  }
  auto write = [&](sv1::WriteRequest& batch) {
    if (batch.mutations_size() == 0) return true;
    batch.set_namespace_("wordnet");
    absl::StatusOr<sv1::WriteResponse> w = (*engine)->Write(batch);
    if (!w.ok()) std::fprintf(stderr, "reason_quality_bench: %s\n", w.status().ToString().c_str());
    batch.Clear();
    return w.ok();
  };
  sv1::WriteRequest batch;
  size_t edge_count = 0;
  for (size_t i = 0; i < learns.size(); ++i) {
    sv1::Concept* c = batch.add_mutations()->mutable_put_concept();
    c->set_id(learns[i].id());
    c->set_content(learns[i].content());
    c->mutable_attributes()->insert(learns[i].attributes().begin(), learns[i].attributes().end());
    if (learns[i].has_strength()) c->set_strength(learns[i].strength().value());
    c->mutable_vector()->Assign(vectors.begin() + i * dimension, vectors.begin() + (i + 1) * dimension);
    if (batch.mutations_size() == 1000 && !write(batch)) return 1;
  }
  if (!write(batch)) return 1;
  for (const engram::v1::AssociateRequest& a : cli::WordNetAssociations(*synsets)) {
    sv1::Association* out = batch.add_mutations()->mutable_put_association();
    out->set_source(a.source());
    out->set_target(a.target());
    out->set_type(static_cast<sv1::AssociationType>(a.type()));
    out->set_confidence(a.confidence().value());
    ++edge_count;
    if (batch.mutations_size() == 1000 && !write(batch)) return 1;
  }
  if (!write(batch)) return 1;
  EngineGraph graph(engine->get(), "wordnet");

  if (const std::string text = absl::GetFlag(FLAGS_explain); !text.empty()) {
    absl::StatusOr<Variant> variant = MakeVariant(
        std::string(absl::StrSplit(absl::GetFlag(FLAGS_variants), ',').begin()->data(),
                    absl::GetFlag(FLAGS_variants).find(',') == std::string::npos
                        ? absl::GetFlag(FLAGS_variants).size()
                        : absl::GetFlag(FLAGS_variants).find(',')),
        static_cast<uint32_t>(absl::GetFlag(FLAGS_k)));
    if (!variant.ok()) return 2;
    absl::StatusOr<hybrid::ReasonResult> r =
        Ask(*variant, hybrid::Reasoner(variant->config), text, **embedder, graph);
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

  // Question sets. A question about a word is ambiguous between its senses: what any sense of the
  // word points at is right. "What is a <word>?": a sense of the word (its gloss answers) or a
  // hypernym of one (what it "is a", pointers @ and @i). "What is a <word> part of?": a holonym
  // of a sense (what it is a part, member or substance of, pointers #p, #m and #s). "What does
  // <verb> cause?": what a sense of the verb causes (pointer >). Two hops, "How is a <word>
  // related to <other>?": <other> is the first word of a synset two hops from a sense of <word>
  // (a hypernym's hypernym or holonym); right is any sense of <other> within two such hops of a
  // sense of <word> (its paths are the relation).
  struct QuestionSet {
    std::string name;
    char pos;                           // the part of speech asked about
    std::vector<std::string> pointers;  // the pointers that answer
    bool sense_is_right = false;        // a sense of the word answers too
    std::string prefix, suffix;         // around the word ("What is a " is "What is an " before a vowel)
    std::vector<Question> questions;
    // "Is a <word> a <other>?" (YesNoPairs; pos, pointers, prefix and suffix unused): 1, <other>
    // names a hypernym 1-3 hops above the word's synset; 2, <other> names a sibling of that
    // hypernym, above no sense of the word (right: no confident answer); 3, "How is a <word>
    // related to <other>?", <other> naming a hypernym 3-4 hops above (no relation to follow).
    int yes_no = 0;
  };
  std::vector<QuestionSet> sets = {
      {"is-a", 'n', {"@", "@i"}, true, "What is a ", "?", {}},
      {"part-of", 'n', {"#p", "#m", "#s"}, false, "What is a ", " part of?", {}},
      {"cause", 'v', {">"}, false, "What does ", " cause?", {}},
      {"two-hop", 'n', {"@", "@i", "#p", "#m", "#s"}, false, "How is a ", " related to ", {}},
      {"is-x-a-y", 'n', {}, false, "", "", {}, 1},
      {"is-x-a-y-not", 'n', {}, false, "", "", {}, 2},
      {"far", 'n', {}, false, "", "", {}, 3}};
  std::map<std::pair<char, uint32_t>, const cli::WordNetSynset*> by_offset;
  for (const cli::WordNetSynset& s : *synsets) by_offset[{s.ss_type, s.offset}] = &s;
  const size_t want_per_set = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_questions)));
  const std::vector<YesNoPair> yes_no_pairs = YesNoPairs(*synsets, by_offset, 1, 3);
  const std::vector<YesNoPair> far_pairs = YesNoPairs(*synsets, by_offset, 3, 2);
  size_t question_count = 0;
  for (QuestionSet& set : sets) {
    if (set.pos == 'v' && !absl::GetFlag(FLAGS_verbs)) continue;
    const std::vector<std::string> wanted = absl::StrSplit(absl::GetFlag(FLAGS_sets), ',');
    if (std::find(wanted.begin(), wanted.end(), set.name) == wanted.end()) continue;
    if (set.yes_no != 0) {
      std::vector<const YesNoPair*> eligible;
      for (const YesNoPair& pair : set.yes_no == 3 ? far_pairs : yes_no_pairs) {
        if (set.yes_no != 2 || !pair.sibling.empty()) eligible.push_back(&pair);
      }
      const size_t n = eligible.size();
      const size_t want = std::min(want_per_set, n);
      for (size_t i = 0; i < want; ++i) {
        const YesNoPair& pair = *eligible[i * n / want];
        Question q;
        q.about = pair.about;
        q.senses = pair.senses;
        q.any_senses = pair.senses;
        const std::string& other = set.yes_no == 2 ? pair.sibling : pair.hypernym;
        if (set.yes_no != 2) q.right = pair.right;
        q.expect_no = set.yes_no == 2;
        q.text = set.yes_no == 3
                     ? absl::StrCat("How is ", Article(pair.word), " ", pair.word, " related to ", other, "?")
                     : absl::StrCat("Is ", Article(pair.word), " ", pair.word, " ", Article(other), " ", other, "?");
        set.questions.push_back(std::move(q));
      }
      std::printf("%s: %zu questions of %zu eligible\n", set.name.c_str(), want, n);
      question_count += want;
      continue;
    }
    auto answers = [&](const cli::WordNetPointer& p) {
      return p.target_pos == set.pos &&
             std::find(set.pointers.begin(), set.pointers.end(), p.symbol) != set.pointers.end();
    };
    auto target = [&](const cli::WordNetPointer& p) -> const cli::WordNetSynset* {
      auto it = by_offset.find({p.target_pos, p.target_offset});
      return it == by_offset.end() ? nullptr : it->second;
    };
    const bool two_hop = set.name == "two-hop";
    // Per lemma of the asked part of speech: what answers (one hop; two hops for "two-hop"), and
    // its senses.
    std::map<std::string, std::set<std::string>> right_for_lemma, senses_of_lemma;
    std::map<std::string, std::set<std::string>> any_senses_of_lemma;
    for (const cli::WordNetSynset& s : *synsets) {
      for (const std::string& lemma : s.lemmas) {
        any_senses_of_lemma[absl::AsciiStrToLower(lemma)].insert(cli::SynsetId(s.ss_type, s.offset));
      }
      if (s.ss_type != set.pos) continue;
      for (const std::string& lemma : s.lemmas) {
        senses_of_lemma[absl::AsciiStrToLower(lemma)].insert(cli::SynsetId(s.ss_type, s.offset));
        std::set<std::string>& right = right_for_lemma[absl::AsciiStrToLower(lemma)];
        if (set.sense_is_right) right.insert(cli::SynsetId(s.ss_type, s.offset));
        for (const cli::WordNetPointer& p : s.pointers) {
          if (!answers(p)) continue;
          right.insert(cli::SynsetId(p.target_pos, p.target_offset));
          const cli::WordNetSynset* next = two_hop ? target(p) : nullptr;
          if (next == nullptr) continue;
          for (const cli::WordNetPointer& p2 : next->pointers) {
            if (answers(p2)) right.insert(cli::SynsetId(p2.target_pos, p2.target_offset));
          }
        }
      }
    }
    // Deterministic sample: evenly spaced eligible synsets (first lemma one word, has an answer).
    std::vector<Question> eligible;
    for (const cli::WordNetSynset& s : *synsets) {
      if (s.ss_type != set.pos) continue;
      if (s.lemmas.empty() || s.lemmas[0].find(' ') != std::string::npos) continue;
      const std::string& lemma = s.lemmas[0];
      Question q;
      q.about = cli::SynsetId(s.ss_type, s.offset);
      q.senses = senses_of_lemma[absl::AsciiStrToLower(lemma)];
      q.any_senses = any_senses_of_lemma[absl::AsciiStrToLower(lemma)];
      std::string other;  // two-hop: the word asked about second
      if (two_hop) {
        // The first two-hop synset whose first lemma is one word, not the asked word.
        for (const cli::WordNetPointer& p : s.pointers) {
          const cli::WordNetSynset* mid = answers(p) ? target(p) : nullptr;
          for (size_t i = 0; mid != nullptr && other.empty() && i < mid->pointers.size(); ++i) {
            const cli::WordNetSynset* end = answers(mid->pointers[i]) ? target(mid->pointers[i]) : nullptr;
            if (end == nullptr || end->lemmas.empty()) continue;
            const std::string& word = end->lemmas[0];
            if (word.find(' ') == std::string::npos && !absl::EqualsIgnoreCase(word, lemma) &&
                !absl::EqualsIgnoreCase(word, mid->lemmas[0])) {
              other = word;
            }
          }
          if (!other.empty()) break;
        }
        if (other.empty()) continue;
        // Right: the senses of `other` that are within two hops of a sense of the word.
        const std::set<std::string>& reachable = right_for_lemma[absl::AsciiStrToLower(lemma)];
        for (const cli::WordNetSynset& t : *synsets) {
          if (t.ss_type != set.pos || !reachable.contains(cli::SynsetId(t.ss_type, t.offset))) continue;
          for (const std::string& l : t.lemmas) {
            if (absl::EqualsIgnoreCase(l, other)) q.right.insert(cli::SynsetId(t.ss_type, t.offset));
          }
        }
      } else {
        if (std::none_of(s.pointers.begin(), s.pointers.end(), answers)) continue;
        q.right = right_for_lemma[absl::AsciiStrToLower(lemma)];
      }
      std::string prefix = set.prefix;
      if (absl::EndsWith(prefix, " a ")) prefix.replace(prefix.size() - 2, 1, Article(lemma));
      q.text = absl::StrCat(prefix, lemma, set.suffix, other, two_hop ? "?" : "");
      eligible.push_back(std::move(q));
    }
    const size_t want = std::min(want_per_set, eligible.size());
    for (size_t i = 0; i < want; ++i) set.questions.push_back(eligible[i * eligible.size() / want]);
    std::printf("%s: %zu questions of %zu eligible\n", set.name.c_str(), want, eligible.size());
    question_count += want;
  }

  std::printf("WordNet nouns%s: %zu concepts, %zu associations, %s %d-d; %zu questions, k=%d\n",
              absl::GetFlag(FLAGS_verbs) ? " and verbs" : "", learns.size(), edge_count,
              (*embedder)->name().c_str(), dimension, question_count,
              absl::GetFlag(FLAGS_k));
  std::printf("\n| set | variant | right | confident | confident and wrong | mean final (right) | mean final (wrong) | top seed right | top seed a sense of the word | ... of any part of speech | several answers |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::vector<std::string> names =
      absl::StrSplit(absl::GetFlag(FLAGS_variants), ',', absl::SkipEmpty());
  // What minConfidence would do (with the margin rule): answers kept and how many are right; and
  // the reliability curve: of the answers the margin rule keeps, the share right per confidence.
  constexpr double kGateThresholds[] = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  constexpr double kBuckets[] = {0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01};
  std::vector<std::string> gates, curves, fetches;
  std::ofstream outcomes_file;
  if (!absl::GetFlag(FLAGS_outcomes).empty()) outcomes_file.open(absl::GetFlag(FLAGS_outcomes));
  for (const QuestionSet& set : sets) {
    if (set.questions.empty()) continue;
    for (const std::string& name : names) {
      absl::StatusOr<Variant> variant = MakeVariant(name, static_cast<uint32_t>(absl::GetFlag(FLAGS_k)));
      if (!variant.ok()) {
        std::fprintf(stderr, "reason_quality_bench: %s\n", variant.status().ToString().c_str());
        return 2;
      }
      hybrid::Reasoner reasoner(variant->config);
      int right = 0, confident = 0, confident_wrong = 0, multi_answers = 0, shown = 0, seed_right = 0, seed_sense = 0, seed_any_sense = 0, seed_misses_shown = 0;
      struct Outcome {
        double final_confidence;
        bool right;
        bool decided;  // beats the runner-up by the margin
      };
      std::vector<Outcome> outcomes;
      double sum_right = 0, sum_wrong = 0;
      uint64_t expanded = 0, refetched = 0, bridge_pairs = 0, bridged = 0;
      for (const Question& q : set.questions) {
        absl::StatusOr<hybrid::ReasonResult> r = Ask(*variant, reasoner, q.text, **embedder, graph);
        if (!r.ok()) {
          std::fprintf(stderr, "reason_quality_bench: %s\n", r.status().ToString().c_str());
          return 1;
        }
        expanded += r->stats.nodes_expanded;
        refetched += r->stats.hubs_refetched;
        bridge_pairs += r->stats.bridge_pairs;
        bridged += r->stats.paths_bridged;
        const bool guess_right = r->best_guess && q.right.contains(r->best_guess->id);
        // A confident answer of several concepts (co-answers) is right when each of them is.
        const bool answers_right = std::all_of(r->answers.begin(), r->answers.end(),
            [&](const hybrid::ConceptLite& a) { return q.right.contains(a.id); });
        const bool is_right = q.expect_no ? !r->confident : guess_right && answers_right;
        multi_answers += r->answers.size() > 1;
        seed_right += !r->support.empty() && q.right.contains(r->support.front().node.id);
        const bool sense_first = !r->support.empty() && q.senses.contains(r->support.front().node.id);
        seed_sense += sense_first;
        seed_any_sense += !r->support.empty() && q.any_senses.contains(r->support.front().node.id);
        if (!sense_first && seed_misses_shown < absl::GetFlag(FLAGS_show_seed_misses)) {
          ++seed_misses_shown;
          std::fprintf(stderr, "[%s %s seed] %s -> %s (%.3f)\n", set.name.c_str(), name.c_str(),
                       q.text.c_str(),
                       r->support.empty() ? "-" : r->support.front().node.content.substr(0, 70).c_str(),
                       r->support.empty() ? 0.0 : r->support.front().score);
        }
        const double final_confidence = r->confidence.final_confidence;
        outcomes.push_back({final_confidence, guess_right && answers_right, r->decided});
        if (outcomes_file.is_open()) {
          outcomes_file << set.name << '\t' << name << '\t' << (is_right ? "right" : "wrong") << '\t'
                        << (r->confident ? "confident" : "-") << '\t'
                        << absl::StrFormat("%.3f", final_confidence) << '\t' << q.text << '\t'
                        << (r->best_guess ? r->best_guess->content.substr(0, 60) : "-") << '\t'
                        << r->answers.size() << '\n';
        }
        right += is_right;
        confident += r->confident;
        (is_right ? sum_right : sum_wrong) += final_confidence;
        if (r->confident && !is_right) {
          ++confident_wrong;
          if (shown < absl::GetFlag(FLAGS_show_wrong)) {
            ++shown;
            std::fprintf(stderr, "[%s %s] %s -> %s (%.2f)\n", set.name.c_str(), name.c_str(), q.text.c_str(),
                         r->best_guess->content.substr(0, 70).c_str(), final_confidence);
          }
        }
      }
      const double n = static_cast<double>(set.questions.size());
      std::printf("| %s | %s | %.1f %% | %.1f %% | %.1f %% | %.2f | %.2f | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n", set.name.c_str(),
                  name.c_str(), 100 * right / n, 100 * confident / n, 100 * confident_wrong / n,
                  right ? sum_right / right : 0.0, right < static_cast<int>(n) ? sum_wrong / (n - right) : 0.0,
                  100 * seed_right / n, 100 * seed_sense / n, 100 * seed_any_sense / n,
                  100 * multi_answers / n);
      fetches.push_back(absl::StrFormat("| %s | %s | %.1f | %.2f | %.2f | %.2f |", set.name, name,
                                        expanded / n, refetched / n, bridge_pairs / n, bridged / n));
      gates.push_back(absl::StrFormat("| %s | %s |", set.name, name));
      for (double t : kGateThresholds) {
        int kept = 0, kept_right = 0;
        for (const Outcome& o : outcomes) {
          if (o.final_confidence >= t && o.decided) {
            ++kept;
            kept_right += o.right;
          }
        }
        absl::StrAppendFormat(&gates.back(), " %.0f %% / %.0f %% (%.0f %%) |", 100.0 * kept / n,
                              kept ? 100.0 * kept_right / kept : 0.0, 100.0 * (kept - kept_right) / n);
      }
      curves.push_back(absl::StrFormat("| %s | %s |", set.name, name));
      for (size_t b = 0; b + 1 < std::size(kBuckets); ++b) {
        int in = 0, in_right = 0;
        for (const Outcome& o : outcomes) {
          if (o.decided && o.final_confidence >= kBuckets[b] && o.final_confidence < kBuckets[b + 1]) {
            ++in;
            in_right += o.right;
          }
        }
        if (in == 0) {
          absl::StrAppend(&curves.back(), " 0 |");
        } else {
          absl::StrAppendFormat(&curves.back(), " %d: %.0f %% |", in, 100.0 * in_right / in);
        }
      }
    }
  }
  std::printf("\nGraph reads per question (in engram-hybrid each neighbor list is one "
              "Storage.Neighbors call, each path pair one Storage.FindPaths)\n\n| set | variant | "
              "concepts expanded | hubs fetched again (outgoing) | path pairs (seed, named Y) | "
              "paths found from both ends, new |\n|---|---|---:|---:|---:|---:|\n");
  for (const std::string& line : fetches) std::printf("%s\n", line.c_str());
  std::printf("\nminConfidence as a gate (with the margin rule): answers kept / of those right "
              "(confident and wrong, of all questions)\n\n| set | variant |");
  for (double t : kGateThresholds) std::printf(" >= %.2f |", t);
  std::printf("\n|---|---|");
  for (size_t i = 0; i < std::size(kGateThresholds); ++i) std::printf("---:|");
  std::printf("\n");
  for (const std::string& line : gates) std::printf("%s\n", line.c_str());
  std::printf("\nReliability: answers that beat the runner-up by the margin, by final confidence "
              "(count: share right)\n\n| set | variant |");
  for (size_t b = 0; b + 1 < std::size(kBuckets); ++b) {
    std::printf(" [%.1f, %.1f) |", kBuckets[b], std::min(1.0, kBuckets[b + 1]));
  }
  std::printf("\n|---|---|");
  for (size_t b = 0; b + 1 < std::size(kBuckets); ++b) std::printf("---:|");
  std::printf("\n");
  for (const std::string& line : curves) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace
}  // namespace engram::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Answer quality of the Reasoner on WordNet (see the comment at the top).");
  absl::ParseCommandLine(argc, argv);
  return engram::bench::Run();
}
