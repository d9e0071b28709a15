// hybrid_bench: engram-hybrid's hot paths (docs/benchmarks.md, "engram-hybrid").
//
//   embed   HashingEmbedder throughput by batch size: raw, through an empty EmbeddingCache
//           (cold: every text a miss, plus the insert) and through a warm one (every text a hit).
//   use-lite  the use-lite sentence encoder (Universal Sentence Encoder Lite), single thread, texts/s
//           by batch size (--use_lite_batches) on the same ~70-byte sentences; the TensorFlow.js
//           reference on the same texts: bench/use_lite_peer.mjs (bench/use_lite_peer.sh runs both).
//   learn   HybridCore::Learn over the real engram-storage binary (a child process, --sync=always,
//           the durable default) with association extraction on (semantic links + relations)
//           and off; items/s.
//   reason  HybridCore::Reason p50/p99 at ~100K concepts: synthetic "A <x> is a kind of <y>." /
//           "<x> causes <z>." sentences learned with extraction into a storage running
//           --sync=relaxed (load speed only), then distinct questions "what is a <x>".
// HybridCore runs in this process with a ComputePool, as in engram-hybrid, and talks gRPC to
// storage over loopback; the gRPC hop client -> engram-hybrid is not included.
// There is no external peer: nothing else implements Engram's hashing embedder or its reasoning.
//
//   build/bench/hybrid_bench --binary=build/storage-server/engram-storage [--sections=embed,learn,reason]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/storage_bench_util.h"
#include "services/hybrid/embed/embedding_cache.h"
#include "services/hybrid/embed/hashing_embedder.h"
#include "services/hybrid/embed/use_lite_embedder.h"
#include "services/hybrid/service/compute_pool.h"
#include "services/hybrid/service/hybrid_core.h"

ABSL_FLAG(std::string, sections, "embed,learn,reason", "Which measurements to run.");
ABSL_FLAG(std::string, batches, "1,16,128,1000", "Embed batch sizes.");
ABSL_FLAG(int, embed_texts, 20000, "Texts embedded per embed cell.");
ABSL_FLAG(std::string, use_lite_batches, "1,32", "use-lite batch sizes.");
ABSL_FLAG(int, use_lite_texts, 2000, "Texts embedded per use-lite cell.");
ABSL_FLAG(std::string, model_dir, "build/models", "Where use-lite/ is (the build installs it).");
ABSL_FLAG(std::string, use_lite_dump, "", "Also write the use-lite section's texts here, one per line (for the peer).");
ABSL_FLAG(int, learn_items, 3000, "Items learned per learn cell.");
ABSL_FLAG(int, learn_batch, 100, "Items per Learn call.");
ABSL_FLAG(int, sentences, 50000, "Sentences loaded for the reason section (each adds ~2 concepts).");
ABSL_FLAG(int, questions, 1000, "Distinct questions per reason repetition.");
ABSL_FLAG(int, reps, 3, "Repetitions (medians are reported).");
ABSL_FLAG(int, threads, 2, "Compute pool threads.");
ABSL_FLAG(std::string, storage_concurrency, "16",
          "Storage calls in flight per request for the reason section; a list (e.g. 1,16) compares them.");
ABSL_FLAG(std::string, keyword_seeds, "true",
          "Reason section: seed from the words as well as the vector (true), the vector alone "
          "(false), or both in turn (true,false,...), in the same run.");
ABSL_FLAG(std::string, dir, "/tmp/engram_hybrid_bench", "Scratch directory (wiped).");
ABSL_FLAG(std::string, binary, "build/storage-server/engram-storage", "engram-storage binary.");

namespace engram::bench::hybrid {
namespace {

namespace h = ::engram::hybrid;
namespace sv1 = ::engram::storage::v1;
namespace hv1 = ::engram::hybrid::v1;
using storage::Clock;
using storage::Median;
using storage::SecondsSince;

// Pseudo-words from syllables: distinct for distinct i, pronounceable, tokenised as one word.
std::string Word(uint64_t i, const char* prefix = "") {
  static const char* kSyl[] = {"ba", "ko", "ri", "tes", "mun", "dal", "fe", "gor", "hin", "lu",
                               "ver", "sa", "pim", "no", "qua", "zel", "tor", "wi", "xan", "yo"};
  std::string w = prefix;
  do {
    w += kSyl[i % 20];
    i /= 20;
  } while (i > 0);
  return w;
}

std::vector<std::string> Sentences(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    out.push_back(absl::StrCat("sentence ", seed, "-", i, ": the ", Word(rng() % 5000), " ", Word(rng() % 5000),
                               " near the ", Word(rng() % 5000), " with ", Word(rng() % 5000), " and ",
                               Word(rng() % 5000), "."));
  }
  return out;
}

void EmbedSection() {
  auto embedder = std::shared_ptr<const h::Embedder>(*h::HashingEmbedder::Create(384));
  const int total = absl::GetFlag(FLAGS_embed_texts);
  printf("\n== embed: hashing, dimension 384, %d texts per cell (~70 bytes each), median of %d\n", total,
         absl::GetFlag(FLAGS_reps));
  printf("%6s | %-12s | %12s | %10s\n", "batch", "mode", "texts/s", "us/text");
  for (int batch : storage::ParseIntList(absl::GetFlag(FLAGS_batches))) {
    std::vector<double> raw, cold, warm;
    for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
      std::vector<std::string> texts = Sentences(total, 1000 + rep);
      std::vector<std::string_view> views(texts.begin(), texts.end());
      auto run = [&](const h::Embedder& e) {
        auto t0 = Clock::now();
        for (int b = 0; b < total; b += batch) {
          auto span = absl::MakeConstSpan(views).subspan(b, std::min(batch, total - b));
          auto r = e.EmbedBatch(span);
          if (!r.ok()) {
            fprintf(stderr, "embed: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
        }
        return SecondsSince(t0);
      };
      raw.push_back(run(*embedder));
      h::EmbeddingCache cache(size_t{1} << 30);
      h::CachingEmbedder cached(embedder, &cache);
      cold.push_back(run(cached));
      warm.push_back(run(cached));
    }
    for (auto [name, v] : {std::pair{"raw", &raw}, std::pair{"cache cold", &cold}, std::pair{"cache warm", &warm}}) {
      double s = Median(*v);
      printf("%6d | %-12s | %12.0f | %10.2f\n", batch, name, total / s, s * 1e6 / total);
    }
  }
}

void UseLiteSection() {
  auto loaded = h::UseLiteEmbedder::Load(absl::GetFlag(FLAGS_model_dir) + "/use-lite");
  if (!loaded.ok()) {
    fprintf(stderr, "use-lite: %s\n", loaded.status().ToString().c_str());
    std::exit(1);
  }
  const h::UseLiteEmbedder& model = **loaded;
  const int total = absl::GetFlag(FLAGS_use_lite_texts);
  std::vector<std::string> texts = Sentences(total, 7);
  size_t tokens = 0;
  for (const std::string& t : texts) tokens += model.Tokenize(t).size();
  if (const std::string dump = absl::GetFlag(FLAGS_use_lite_dump); !dump.empty()) {
    std::ofstream out(dump);
    for (const std::string& t : texts) out << t << "\n";
  }
  printf("\n== use-lite: single thread, %d texts per cell (~70 bytes, %.1f tokens each), median of %d\n", total,
         static_cast<double>(tokens) / total, absl::GetFlag(FLAGS_reps));
  printf("%6s | %12s | %10s\n", "batch", "texts/s", "us/text");
  std::vector<std::string_view> views(texts.begin(), texts.end());
  for (int batch : storage::ParseIntList(absl::GetFlag(FLAGS_use_lite_batches))) {
    std::vector<double> seconds;
    for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
      auto t0 = Clock::now();
      for (int b = 0; b < total; b += batch) {
        auto r = model.EmbedBatch(absl::MakeConstSpan(views).subspan(b, std::min(batch, total - b)));
        if (!r.ok()) std::exit(1);
      }
      seconds.push_back(SecondsSince(t0));
    }
    const double s = Median(seconds);
    printf("%6d | %12.0f | %10.1f\n", batch, total / s, s * 1e6 / total);
  }
}

struct Storage {
  std::unique_ptr<storage::StorageProcess> process;
  std::unique_ptr<sv1::Storage::Stub> stub;
};

Storage StartStorage(const std::string& name, const std::string& sync) {
  std::string dir = absl::StrCat(absl::GetFlag(FLAGS_dir), "/", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Storage s;
  s.process = std::make_unique<storage::StorageProcess>(absl::GetFlag(FLAGS_binary), dir + "/data", sync,
                                                        dir + "/storage.log");
  if (!s.process->Spawn() || s.process->WaitServing(60) < 0) {
    fprintf(stderr, "engram-storage did not start (see %s/storage.log)\n", dir.c_str());
    std::exit(1);
  }
  s.stub = s.process->NewStub();
  return s;
}

h::CallContext Call() { return {.deadline = absl::Now() + absl::Seconds(120)}; }

void LearnSection() {
  const int items = absl::GetFlag(FLAGS_learn_items), batch = absl::GetFlag(FLAGS_learn_batch);
  printf("\n== learn: real engram-storage (--sync=always), %d items per cell in Learn calls of %d, "
         "hashing 384-d, median of %d\n",
         items, batch, absl::GetFlag(FLAGS_reps));
  printf("%-28s | %10s | %12s | %14s\n", "extraction", "items/s", "ms/call", "assocs/item");
  for (bool extract : {false, true}) {
    std::vector<double> rate, per_call, assocs;
    for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
      Storage st = StartStorage(absl::StrCat("learn-", extract, "-", rep), "always");
      h::EmbedderRegistry registry({});
      h::EmbeddingCache cache(size_t{256} << 20);
      h::ComputePool pool(absl::GetFlag(FLAGS_threads), 256);
      h::HybridCoreOptions options;
      options.pool = &pool;
      h::HybridCore core(st.stub.get(), &registry, &cache, nullptr, options);
      // Half the items state a relation, as text often does.
      std::mt19937_64 rng(7 + rep);
      uint64_t created = 0;
      auto t0 = Clock::now();
      for (int b = 0; b < items; b += batch) {
        hv1::LearnRequest req;
        req.set_namespace_("default");
        for (int i = b; i < std::min(items, b + batch); ++i) {
          auto* item = req.add_items();
          item->set_content(i % 2 == 0 ? absl::StrCat("A ", Word(i, "x"), " is a kind of ", Word(rng() % 200, "k"), ".")
                                       : absl::StrCat("Note ", i, ": the ", Word(rng() % 5000), " met the ",
                                                      Word(rng() % 5000), " by the ", Word(rng() % 5000), "."));
          item->mutable_extract_associations()->set_value(extract);
        }
        auto r = core.Learn(Call(), req);
        if (!r.ok()) {
          fprintf(stderr, "learn: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
        created += r->associations_created();
      }
      double s = SecondsSince(t0);
      rate.push_back(items / s);
      per_call.push_back(s * 1e3 / ((items + batch - 1) / batch));
      assocs.push_back(static_cast<double>(created) / items);
    }
    printf("%-28s | %10.0f | %12.2f | %14.2f\n",
           extract ? "on (semantic + relations)" : "off", Median(rate), Median(per_call), Median(assocs));
  }
}

void ReasonSection() {
  const int sentences = absl::GetFlag(FLAGS_sentences), questions = absl::GetFlag(FLAGS_questions);
  Storage st = StartStorage("reason", "relaxed");
  h::EmbedderRegistry registry({});
  h::EmbeddingCache cache(size_t{256} << 20);
  h::ComputePool pool(absl::GetFlag(FLAGS_threads), 256);
  h::HybridCoreOptions options;
  options.pool = &pool;
  h::HybridCore core(st.stub.get(), &registry, &cache, nullptr, options);

  // Entities x_i; 500 categories k_j in a 3-level hierarchy; 300 effects.
  auto t0 = Clock::now();
  std::mt19937_64 rng(42);
  for (int b = 0; b < sentences; b += 100) {
    hv1::LearnRequest req;
    req.set_namespace_("default");
    req.mutable_options()->mutable_semantic_links()->set_value(3);
    for (int i = b; i < std::min(sentences, b + 100); ++i) {
      std::string x = Word(i, "x");
      std::string text;
      if (i < 500) {  // the category hierarchy: k_i is a kind of k_(i/8) (roots 0..7), k_i causes e
        text = absl::StrCat("A ", Word(i, "k"), " is a kind of ", Word(i / 8, "k"), ". ", Word(i, "k"),
                            " causes ", Word(i % 300, "e"), ".");
      } else if (i % 10 == 0) {
        text = absl::StrCat("A ", x, " is a kind of ", Word(rng() % 500, "k"), ". ", x, " causes ",
                            Word(rng() % 300, "e"), ".");
      } else {
        text = absl::StrCat("A ", x, " is a kind of ", Word(rng() % 500, "k"), ".");
      }
      req.add_items()->set_content(text);
    }
    auto r = core.Learn(Call(), req);
    if (!r.ok()) {
      fprintf(stderr, "load: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
  }
  double load_s = SecondsSince(t0);
  sv1::GetNamespaceRequest nreq;
  nreq.set_name("default");
  sv1::NamespaceInfo info;
  grpc::ClientContext ctx;
  (void)st.stub->GetNamespace(&ctx, nreq, &info);
  printf("\n== reason: %llu concepts, %llu associations (loaded from %d sentences in %.1f s, --sync=relaxed), "
         "%d distinct questions per repetition, one client, defaults (k 10, depth 4, paths 5), median of %d\n",
         static_cast<unsigned long long>(info.concept_count()),
         static_cast<unsigned long long>(info.association_count()), sentences, load_s, questions,
         absl::GetFlag(FLAGS_reps));
  for (int concurrency : storage::ParseIntList(absl::GetFlag(FLAGS_storage_concurrency))) {
  for (absl::string_view seeds : absl::StrSplit(absl::GetFlag(FLAGS_keyword_seeds), ',', absl::SkipEmpty())) {
  h::HybridCoreOptions q_options = options;
  q_options.max_concurrent_storage_calls = static_cast<size_t>(concurrency);
  q_options.keyword_seeds = seeds == "true";
  h::HybridCore q_core(st.stub.get(), &registry, &cache, nullptr, q_options);
  printf("storage calls in flight per request: %d, keyword seeds: %s\n", concurrency,
         std::string(seeds).c_str());
  printf("%4s | %9s | %9s | %9s | %8s | %10s | %9s\n", "rep", "p50 ms", "p99 ms", "mean ms", "q/s",
         "confident", "expanded");
  std::vector<double> p50s, p99s, means, qps;
  for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
    storage::Latencies lat;
    int confident = 0;
    uint64_t expanded = 0;
    auto r0 = Clock::now();
    for (int q = 0; q < questions; ++q) {
      // Distinct across repetitions: entity index (rep * questions + q) * 7 + 500 < sentences.
      int i = 500 + ((rep * questions + q) * 7) % (sentences - 500);
      hv1::ReasonRequest req;
      req.set_namespace_("default");
      req.set_query(absl::StrCat("what kind of thing is a ", Word(i, "x")));
      auto t = Clock::now();
      auto r = q_core.Reason(Call(), req);
      lat.Add(SecondsSince(t));
      if (!r.ok()) {
        fprintf(stderr, "reason: %s\n", r.status().ToString().c_str());
        std::exit(1);
      }
      confident += r->confident();
      expanded += r->stats().nodes_expanded();
    }
    double total = SecondsSince(r0);
    double mean = total / questions;
    p50s.push_back(lat.Quantile(0.5) * 1e3);
    p99s.push_back(lat.Quantile(0.99) * 1e3);
    means.push_back(mean * 1e3);
    qps.push_back(questions / total);
    printf("%4d | %9.2f | %9.2f | %9.2f | %8.0f | %9.1f%% | %9.1f\n", rep, p50s.back(), p99s.back(), means.back(),
           qps.back(), 100.0 * confident / questions, static_cast<double>(expanded) / questions);
    fflush(stdout);
  }
  printf("%4s | %9.2f | %9.2f | %9.2f | %8.0f |\n", "med", Median(p50s), Median(p99s), Median(means), Median(qps));
  }
  }
}

}  // namespace
}  // namespace engram::bench::hybrid

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string sections = absl::GetFlag(FLAGS_sections);
  for (absl::string_view s : absl::StrSplit(sections, ',', absl::SkipEmpty())) {
    if (s == "embed") {
      engram::bench::hybrid::EmbedSection();
    } else if (s == "use-lite") {
      engram::bench::hybrid::UseLiteSection();
    } else if (s == "learn") {
      engram::bench::hybrid::LearnSection();
    } else if (s == "reason") {
      engram::bench::hybrid::ReasonSection();
    } else {
      fprintf(stderr, "--sections: unknown section '%s' (embed, use-lite, learn, reason)\n", std::string(s).c_str());
      return 2;
    }
  }
  return 0;
}
