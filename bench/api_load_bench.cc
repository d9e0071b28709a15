// api_load_bench: a closed-loop load generator for the public API (engram.v1.Engram on
// engram-api), driving the whole suite (api -> hybrid / storage).
//
//   api_load_bench [--target=127.0.0.1:50051] [--api_key=...|$ENGRAM_API_KEY]
//                  [--namespace=bench] [--load=100000] [--batch=500] [--load_inflight=4]
//                  [--extract=false] [--ops=get,search,search_vector,reason,learn]
//                  [--concurrency=1,8,32,64,128,256] [--channels=4]
//                  [--duration_s=5 | --requests=N] [--warmup_s=1] [--repeat_queries]
//                  [--json=results.json]
//
// Load phase (--load=N > 0): makes sure --namespace exists (creates it with the "hashing"
// embedder when missing), then learns N concepts with ids "<id_prefix><i>" in LearnBatch calls of
// --batch items, --load_inflight batches in flight, extract_associations = --extract, and reports
// concepts/s. Without --load, --known_ids=N says how many such ids an earlier run loaded (for get).
//
// Measurement: for each op and each concurrency C, C requests are kept outstanding with the gRPC
// callback API over --channels separate HTTP/2 connections (distinct channel args and a local
// subchannel pool). A cell runs --warmup_s unmeasured, then --duration_s (or exactly --requests
// requests); a request counts when it starts after the warmup and ends before the window closes.
// Reported: successful ops/s, p50/p95/p99 latency of successful requests (exact, from all
// samples), and failures by status code.
//
// Operations (every request differs, drawn from a seeded vocabulary, so the api's response cache
// does not flatter the figures):
//   get            GetConcept of a random loaded id
//   search         Search by text, default mode HYBRID (api -> hybrid embeds -> storage vector
//                  and BM25 search, fused)
//   search_keyword Search by text, mode KEYWORD (api -> storage BM25; nothing embedded)
//   search_meaning Search by text, mode VECTOR (api -> hybrid embeds -> storage vector search;
//                  what "search" was before keyword search)
//   search_vector  Search by a random vector of the namespace dimension (api -> storage)
//   reason         Reason over a text question (api -> hybrid)
//   learn          Learn of one new concept (extract_associations = --learn_extract)
// Requests are numbered across the whole run and seeded by --query_seed (from the clock unless
// given, and printed), so neither a later cell nor a later run meets answers cached by an earlier
// one. --repeat_queries adds "<op> (repeat)" cells for search, search_vector and reason that cycle
// through --repeat_pool fixed requests: the cached figures, reported separately.
//
// engram-api rate-limits each key (--key_rate, 1000/s by default): start it with --key_rate=0 to
// measure the suite rather than the limiter (refusals show up as RESOURCE_EXHAUSTED).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engram/v1/engram.grpc.pb.h"
#include "engram/v1/engram.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "engram-api gRPC address.");
ABSL_FLAG(std::string, api_key, "",
          "API key sent as 'authorization: Bearer <key>' (default: $ENGRAM_API_KEY).");
ABSL_FLAG(std::string, namespace, "bench", "Namespace to load and query.");
ABSL_FLAG(int64_t, load, 0, "Concepts to load before measuring (0: none).");
ABSL_FLAG(int64_t, known_ids, -1,
          "Ids <id_prefix>0..N-1 present from an earlier load (default: --load).");
ABSL_FLAG(std::string, id_prefix, "bench-", "Prefix of the loaded concept ids.");
ABSL_FLAG(int, batch, 500, "Concepts per LearnBatch in the load phase (1..1000).");
ABSL_FLAG(int, load_inflight, 4, "LearnBatch calls in flight during the load phase.");
ABSL_FLAG(std::string, quantization, "none",
          "Index quantization of the namespace the load phase creates: none or int8.");
ABSL_FLAG(bool, extract, false, "Load phase: extract associations (semantic links, relations).");
ABSL_FLAG(bool, learn_extract, true, "The learn op: extract associations (the API default).");
ABSL_FLAG(std::string, ops, "get,search,search_vector,reason,learn",
          "Operations to measure: get, search, search_keyword, search_meaning, search_vector, reason, "
          "learn.");
ABSL_FLAG(std::string, concurrency, "1,8,32,64,128,256", "Outstanding requests per cell.");
ABSL_FLAG(int, channels, 4, "gRPC channels (separate HTTP/2 connections).");
ABSL_FLAG(double, duration_s, 5, "Measured seconds per cell (ignored with --requests).");
ABSL_FLAG(int64_t, requests, 0,
          "Measured requests per cell instead of a duration (0: use --duration_s).");
ABSL_FLAG(double, warmup_s, 1, "Unmeasured seconds before each cell.");
ABSL_FLAG(bool, repeat_queries, false,
          "Also measure search/search_vector/reason cycling a small fixed pool (cached).");
ABSL_FLAG(int, repeat_pool, 64, "Distinct requests in the --repeat_queries pool.");
ABSL_FLAG(int, k, 10, "k of search and reason.");
ABSL_FLAG(int, deadline_ms, 10000, "Per-request deadline.");
ABSL_FLAG(uint64_t, seed, 42, "Seed of the vocabulary and the loaded contents.");
ABSL_FLAG(uint64_t, query_seed, 0,
          "Seed of this run's requests (0: from the clock, printed; repeat it to replay a run).");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this file.");

namespace {

namespace v1 = ::engram::v1;
using Clock = std::chrono::steady_clock;
using Stub = v1::Engram::Stub;

double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Deterministic text: a vocabulary of pronounceable pseudo-words, sentences and queries over it.

class Vocabulary {
 public:
  explicit Vocabulary(uint64_t seed, size_t size = 4000) {
    static constexpr char kOnsets[] = "bcdfghjklmnprstvwz";
    static constexpr char kVowels[] = "aeiou";
    std::mt19937_64 rng(seed);
    std::map<std::string, bool> seen;
    while (words_.size() < size) {
      std::string word;
      const int syllables = 2 + static_cast<int>(rng() % 2);
      for (int s = 0; s < syllables; ++s) {
        word += kOnsets[rng() % (sizeof(kOnsets) - 1)];
        word += kVowels[rng() % (sizeof(kVowels) - 1)];
      }
      if (rng() % 3 == 0) word += kOnsets[rng() % (sizeof(kOnsets) - 1)];
      if (seen.emplace(word, true).second) words_.push_back(std::move(word));
    }
  }

  // `count` words drawn with a Zipf-like skew (frequent words exist, as in text).
  std::string Words(std::mt19937_64& rng, int count) const {
    std::string out;
    for (int i = 0; i < count; ++i) {
      const double u = std::uniform_real_distribution<double>(0, 1)(rng);
      const size_t index = static_cast<size_t>(u * u * static_cast<double>(words_.size()));
      if (i > 0) out += ' ';
      out += words_[std::min(index, words_.size() - 1)];
    }
    return out;
  }

  // The content of loaded concept `i`: the same on every run with the same seed.
  std::string Content(uint64_t seed, int64_t i) const {
    std::mt19937_64 rng(seed * 1'000'003 + static_cast<uint64_t>(i));
    return Words(rng, 8 + static_cast<int>(rng() % 9)) + ".";
  }

 private:
  std::vector<std::string> words_;
};

// ---------------------------------------------------------------------------------------------
// The measured operations.

struct Shared {
  std::string ns;
  std::string api_key;
  std::string id_prefix;
  int64_t known_ids = 0;
  uint32_t dimension = 0;
  int k = 10;
  int deadline_ms = 10000;
  bool learn_extract = true;
  uint64_t seed = 42;
  uint64_t query_seed = 0;
  std::string run_nonce;  // makes learn ids of this run new
  const Vocabulary* vocabulary = nullptr;
};

using Done = std::function<void(const grpc::Status&)>;

// Starts one request number `seq` on `stub`; calls `done` exactly once (from a gRPC thread, or
// inline).
struct Op {
  std::string name;
  std::function<void(Stub*, uint64_t seq, Done done)> start;
};

std::unique_ptr<grpc::ClientContext> NewContext(const Shared& shared) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!shared.api_key.empty()) ctx->AddMetadata("authorization", "Bearer " + shared.api_key);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(shared.deadline_ms));
  return ctx;
}

// One call's state, alive until its callback has run.
template <typename Request, typename Response>
struct Call {
  std::unique_ptr<grpc::ClientContext> ctx;
  Request request;
  Response response;
};

// Runs `method` (stub->async()->X) with a heap Call kept alive by the callback.
template <typename Request, typename Response, typename Method>
void StartCall(const Shared& shared, Request request, Method method, Done done) {
  auto call = std::make_shared<Call<Request, Response>>();
  call->ctx = NewContext(shared);
  call->request = std::move(request);
  method(call->ctx.get(), &call->request, &call->response,
         [call, done = std::move(done)](grpc::Status status) { done(status); });
}

// The request seed of `seq` (numbered across the whole run, so no two cells share requests); with
// `pool` > 0 requests cycle through `pool` fixed ones (a salt of their own). query_seed changes
// between runs by default, so a run does not find the previous run's answers in the api's cache.
uint64_t RequestSeed(const Shared& shared, uint64_t op_salt, uint64_t seq, uint64_t pool) {
  const uint64_t n = pool > 0 ? seq % pool : seq;
  const uint64_t salt = pool > 0 ? op_salt + 100 : op_salt;
  return (shared.seed ^ (shared.query_seed * 0xBF58476D1CE4E5B9ull)) * 0x9E3779B97F4A7C15ull +
         salt * 0x100000001B3ull * 0x10000000000ull + n;
}

std::vector<Op> MakeOps(const std::vector<std::string>& names, const Shared& shared,
                        bool repeat_queries, uint64_t repeat_pool) {
  std::vector<Op> ops;
  const Shared* s = &shared;
  for (const std::string& name : names) {
    for (bool repeat : {false, true}) {
      if (repeat && (!repeat_queries || name == "get" || name == "learn")) continue;
      const uint64_t pool = repeat ? repeat_pool : 0;
      const std::string label = repeat ? name + " (repeat)" : name;
      if (name == "get") {
        ops.push_back({label, [s](Stub* stub, uint64_t seq, Done done) {
                         std::mt19937_64 rng(RequestSeed(*s, 1, seq, 0));
                         v1::GetConceptRequest request;
                         request.set_namespace_(s->ns);
                         request.set_id(absl::StrCat(s->id_prefix,
                                                     rng() % static_cast<uint64_t>(s->known_ids)));
                         StartCall<v1::GetConceptRequest, v1::Concept>(
                             *s, std::move(request),
                             [stub](auto* c, auto* q, auto* r, auto cb) {
                               stub->async()->GetConcept(c, q, r, std::move(cb));
                             },
                             std::move(done));
                       }});
      } else if (name == "search" || name == "search_keyword" || name == "search_meaning") {
        const v1::SearchMode mode = name == "search_keyword"   ? v1::KEYWORD
                                    : name == "search_meaning" ? v1::VECTOR
                                                               : v1::SEARCH_MODE_UNSPECIFIED;
        ops.push_back({label, [s, pool, mode](Stub* stub, uint64_t seq, Done done) {
                         std::mt19937_64 rng(RequestSeed(*s, 2, seq, pool));
                         v1::SearchRequest request;
                         request.set_namespace_(s->ns);
                         request.set_mode(mode);
                         request.set_query(
                             s->vocabulary->Words(rng, 3 + static_cast<int>(rng() % 4)));
                         request.set_k(static_cast<uint32_t>(s->k));
                         StartCall<v1::SearchRequest, v1::SearchResponse>(
                             *s, std::move(request),
                             [stub](auto* c, auto* q, auto* r, auto cb) {
                               stub->async()->Search(c, q, r, std::move(cb));
                             },
                             std::move(done));
                       }});
      } else if (name == "search_vector") {
        ops.push_back({label, [s, pool](Stub* stub, uint64_t seq, Done done) {
                         std::mt19937_64 rng(RequestSeed(*s, 3, seq, pool));
                         std::normal_distribution<float> normal(0, 1);
                         v1::SearchRequest request;
                         request.set_namespace_(s->ns);
                         request.mutable_vector()->Reserve(static_cast<int>(s->dimension));
                         for (uint32_t i = 0; i < s->dimension; ++i)
                           request.add_vector(normal(rng));
                         request.set_k(static_cast<uint32_t>(s->k));
                         StartCall<v1::SearchRequest, v1::SearchResponse>(
                             *s, std::move(request),
                             [stub](auto* c, auto* q, auto* r, auto cb) {
                               stub->async()->Search(c, q, r, std::move(cb));
                             },
                             std::move(done));
                       }});
      } else if (name == "reason") {
        ops.push_back({label, [s, pool](Stub* stub, uint64_t seq, Done done) {
                         std::mt19937_64 rng(RequestSeed(*s, 4, seq, pool));
                         v1::ReasonRequest request;
                         request.set_namespace_(s->ns);
                         request.set_query(
                             s->vocabulary->Words(rng, 3 + static_cast<int>(rng() % 4)) + "?");
                         request.set_k(static_cast<uint32_t>(s->k));
                         StartCall<v1::ReasonRequest, v1::ReasonResponse>(
                             *s, std::move(request),
                             [stub](auto* c, auto* q, auto* r, auto cb) {
                               stub->async()->Reason(c, q, r, std::move(cb));
                             },
                             std::move(done));
                       }});
      } else if (name == "learn") {
        ops.push_back(
            {label, [s](Stub* stub, uint64_t seq, Done done) {
               std::mt19937_64 rng(RequestSeed(*s, 5, seq, 0));
               v1::LearnRequest request;
               request.set_namespace_(s->ns);
               request.set_id(absl::StrCat(s->id_prefix, "learn-", s->run_nonce, "-", seq));
               request.set_content(s->vocabulary->Words(rng, 8 + static_cast<int>(rng() % 9)) +
                                   ".");
               request.mutable_extract_associations()->set_value(s->learn_extract);
               StartCall<v1::LearnRequest, v1::LearnResponse>(
                   *s, std::move(request),
                   [stub](auto* c, auto* q, auto* r, auto cb) {
                     stub->async()->Learn(c, q, r, std::move(cb));
                   },
                   std::move(done));
             }});
      } else {
        fprintf(stderr,
                "--ops: unknown operation '%s' (get, search, search_keyword, search_meaning, "
                "search_vector, reason, learn)\n",
                name.c_str());
        exit(2);
      }
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// One cell: `concurrency` request chains over the stubs.

struct CellResult {
  std::string op;
  int concurrency = 0;
  int64_t ok = 0;
  double seconds = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
  std::map<std::string, int64_t> errors;  // status code name -> count (measured requests)
  double ops_per_s() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
};

// gRPC's codes are absl's, one to one: "UNAVAILABLE", "DEADLINE_EXCEEDED", ...
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class Cell {
 public:
  Cell(const Op& op, std::vector<std::unique_ptr<Stub>>& stubs, int concurrency, double warmup_s,
       double duration_s, int64_t requests, uint64_t first_seq)
      : op_(op),
        stubs_(stubs),
        requests_(requests),
        slots_(static_cast<size_t>(concurrency)),
        seq_(first_seq) {
    start_ = Clock::now();
    measure_start_ = start_ + std::chrono::microseconds(static_cast<int64_t>(warmup_s * 1e6));
    end_ = requests > 0
               ? Clock::time_point::max()
               : measure_start_ + std::chrono::microseconds(static_cast<int64_t>(duration_s * 1e6));
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].stub = stubs_[i % stubs_.size()].get();
      slots_[i].samples_us.reserve(1 << 14);
    }
  }

  // The sequence number the next cell should start at (after Run).
  uint64_t next_seq() const { return seq_.load(); }

  CellResult Run() {
    active_ = static_cast<int>(slots_.size());
    driver_ = std::thread([this] { DriveDeferred(); });
    for (Slot& slot : slots_) Next(slot);
    {
      std::unique_lock<std::mutex> lock(mu_);
      drained_.wait(lock, [this] { return active_ == 0; });
      stop_driver_ = true;
    }
    deferred_cv_.notify_all();
    driver_.join();
    return Collect();
  }

 private:
  struct Slot {
    Stub* stub = nullptr;
    std::vector<float> samples_us;  // touched only by this slot's chain (one call at a time)
    std::map<grpc::StatusCode, int64_t> errors;
    Clock::time_point last_end{};
  };

  // Starts the slot's next request, or retires the slot when the cell is over.
  void Next(Slot& slot) {
    const Clock::time_point now = Clock::now();
    bool measured = now >= measure_start_;
    if (now >= end_) return Retire();
    if (measured && requests_ > 0 &&
        measured_issued_.fetch_add(1, std::memory_order_relaxed) >= requests_) {
      return Retire();
    }
    const uint64_t seq = seq_.fetch_add(1, std::memory_order_relaxed);
    op_.start(slot.stub, seq, [this, &slot, now, measured](const grpc::Status& status) {
      const Clock::time_point finished = Clock::now();
      if (measured && finished <= end_) {
        if (status.ok()) {
          slot.samples_us.push_back(static_cast<float>(
              std::chrono::duration<double, std::micro>(finished - now).count()));
        } else {
          ++slot.errors[status.error_code()];
        }
        slot.last_end = finished;
      }
      Continue(slot);
    });
  }

  // A callback may run inline inside the call that started it (a fail-fast error): past a small
  // depth the next request goes to the driver thread instead of recursing.
  void Continue(Slot& slot) {
    thread_local int depth = 0;
    if (depth < 8) {
      ++depth;
      Next(slot);
      --depth;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      deferred_.push_back(&slot);
    }
    deferred_cv_.notify_one();
  }

  void DriveDeferred() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      deferred_cv_.wait(lock, [this] { return stop_driver_ || !deferred_.empty(); });
      if (deferred_.empty()) return;
      Slot* slot = deferred_.front();
      deferred_.pop_front();
      lock.unlock();
      Next(*slot);
      lock.lock();
    }
  }

  void Retire() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) drained_.notify_all();
  }

  CellResult Collect() {
    CellResult result;
    result.op = op_.name;
    result.concurrency = static_cast<int>(slots_.size());
    std::vector<float> all;
    Clock::time_point last_end = measure_start_;
    for (Slot& slot : slots_) {
      all.insert(all.end(), slot.samples_us.begin(), slot.samples_us.end());
      for (const auto& [code, count] : slot.errors) result.errors[CodeName(code)] += count;
      last_end = std::max(last_end, slot.last_end);
    }
    result.ok = static_cast<int64_t>(all.size());
    result.seconds = requests_ > 0 ? SecondsBetween(measure_start_, last_end)
                                   : SecondsBetween(measure_start_, end_);
    std::sort(all.begin(), all.end());
    auto pct = [&all](double q) {
      if (all.empty()) return 0.0;
      // Nearest rank.
      size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(all.size())));
      return static_cast<double>(all[std::clamp<size_t>(rank, 1, all.size()) - 1]) / 1000.0;
    };
    result.p50_ms = pct(0.50);
    result.p95_ms = pct(0.95);
    result.p99_ms = pct(0.99);
    return result;
  }

  const Op& op_;
  std::vector<std::unique_ptr<Stub>>& stubs_;
  const int64_t requests_;
  Clock::time_point start_, measure_start_, end_;
  std::vector<Slot> slots_;
  std::atomic<uint64_t> seq_;
  std::atomic<int64_t> measured_issued_{0};

  std::mutex mu_;
  std::condition_variable drained_;
  std::condition_variable deferred_cv_;
  int active_ = 0;              // guarded by mu_
  std::deque<Slot*> deferred_;  // guarded by mu_
  bool stop_driver_ = false;    // guarded by mu_
  std::thread driver_;
};

// ---------------------------------------------------------------------------------------------
// Setup and load.

std::vector<std::unique_ptr<Stub>> MakeStubs(const std::string& target, int channels) {
  std::vector<std::unique_ptr<Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    // Distinct args and a private subchannel pool: one TCP connection per channel.
    args.SetInt("engram.bench.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    stubs.push_back(v1::Engram::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
}

// The namespace's dimension; creates the namespace (hashing embedder) when `create` and missing.
// 0 when it cannot be read.
uint32_t EnsureNamespace(Stub* stub, const Shared& shared, bool create) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    v1::GetNamespaceRequest get;
    get.set_namespace_(shared.ns);
    v1::Namespace ns;
    auto ctx = NewContext(shared);
    grpc::Status status = stub->GetNamespace(ctx.get(), get, &ns);
    if (status.ok()) return ns.dimension();
    if (status.error_code() != grpc::StatusCode::NOT_FOUND || !create || attempt > 0) {
      fprintf(stderr, "GetNamespace '%s': %s\n", shared.ns.c_str(), Describe(status).c_str());
      return 0;
    }
    v1::CreateNamespaceRequest request;
    request.set_name(shared.ns);
    request.set_embedder("hashing");
    if (absl::GetFlag(FLAGS_quantization) == "int8") {
      request.mutable_index_params()->set_quantization(v1::QUANTIZATION_INT8);
    }
    auto create_ctx = NewContext(shared);
    status = stub->CreateNamespace(create_ctx.get(), request, &ns);
    if (status.ok()) {
      printf("created namespace '%s' (hashing embedder, dimension %u, quantization %s)\n",
             shared.ns.c_str(), ns.dimension(), absl::GetFlag(FLAGS_quantization).c_str());
      return ns.dimension();
    }
    if (status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      fprintf(stderr, "CreateNamespace '%s': %s\n", shared.ns.c_str(), Describe(status).c_str());
      return 0;
    }
  }
  return 0;
}

// Learns concepts 0..n-1 in batches, `inflight` batches at a time (one blocking worker each).
// Batches refused with RESOURCE_EXHAUSTED or UNAVAILABLE are retried after a pause; any other
// failure stops the load. Returns false on failure.
bool Load(std::vector<std::unique_ptr<Stub>>& stubs, const Shared& shared, int64_t n, int batch,
          int inflight, bool extract) {
  const int64_t batches = (n + batch - 1) / batch;
  std::atomic<int64_t> next{0}, loaded{0}, retries{0};
  std::atomic<bool> failed{false};
  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < inflight; ++w) {
    workers.emplace_back([&, w] {
      Stub* stub = stubs[static_cast<size_t>(w) % stubs.size()].get();
      for (int64_t b; !failed && (b = next.fetch_add(1)) < batches;) {
        v1::LearnBatchRequest request;
        request.set_namespace_(shared.ns);
        const int64_t first = b * batch;
        const int64_t last = std::min(n, first + batch);
        for (int64_t i = first; i < last; ++i) {
          v1::LearnRequest* item = request.add_concepts();
          item->set_id(absl::StrCat(shared.id_prefix, i));
          item->set_content(shared.vocabulary->Content(shared.seed, i));
          item->mutable_extract_associations()->set_value(extract);
        }
        for (int attempt = 0;; ++attempt) {
          v1::LearnBatchResponse response;
          auto ctx = NewContext(shared);
          ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
          grpc::Status status = stub->LearnBatch(ctx.get(), request, &response);
          if (status.ok()) break;
          const bool transient = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                                 status.error_code() == grpc::StatusCode::UNAVAILABLE;
          if (!transient || attempt >= 50) {
            fprintf(stderr, "LearnBatch of concepts %lld..%lld: %s\n",
                    static_cast<long long>(first), static_cast<long long>(last - 1),
                    Describe(status).c_str());
            failed = true;
            return;
          }
          ++retries;
          std::this_thread::sleep_for(
              std::chrono::milliseconds(std::min(1000, 50 << std::min(attempt, 4))));
        }
        const int64_t done = loaded.fetch_add(last - first) + (last - first);
        if (done * 10 / n != (done - (last - first)) * 10 / n) {
          printf("  loaded %lld/%lld (%.0f concepts/s)\n", static_cast<long long>(done),
                 static_cast<long long>(n),
                 static_cast<double>(done) / SecondsBetween(t0, Clock::now()));
          fflush(stdout);
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  const double seconds = SecondsBetween(t0, Clock::now());
  if (failed) return false;
  printf(
      "load: %lld concepts in %.1f s = %.0f concepts/s (batches of %d, %d in flight, extract=%s, "
      "%lld retried batches)\n\n",
      static_cast<long long>(n), seconds, static_cast<double>(n) / seconds, batch, inflight,
      extract ? "true" : "false", static_cast<long long>(retries.load()));
  return true;
}

std::string FormatErrors(const std::map<std::string, int64_t>& errors) {
  if (errors.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [code, count] : errors) parts.push_back(absl::StrCat(code, " ", count));
  return absl::StrJoin(parts, ", ");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Load generator for engram.v1.Engram (see the comment at the top of "
      "bench/api_load_bench.cc).");
  absl::ParseCommandLine(argc, argv);

  Shared shared;
  shared.ns = absl::GetFlag(FLAGS_namespace);
  shared.api_key = absl::GetFlag(FLAGS_api_key);
  if (shared.api_key.empty()) {
    if (const char* env = std::getenv("ENGRAM_API_KEY")) shared.api_key = env;
  }
  shared.id_prefix = absl::GetFlag(FLAGS_id_prefix);
  shared.k = absl::GetFlag(FLAGS_k);
  shared.deadline_ms = absl::GetFlag(FLAGS_deadline_ms);
  shared.learn_extract = absl::GetFlag(FLAGS_learn_extract);
  shared.seed = absl::GetFlag(FLAGS_seed);
  shared.run_nonce = absl::StrCat(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  shared.query_seed = absl::GetFlag(FLAGS_query_seed);
  if (shared.query_seed == 0) {
    shared.query_seed =
        static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  }
  const Vocabulary vocabulary(shared.seed);
  shared.vocabulary = &vocabulary;

  if (absl::GetFlag(FLAGS_quantization) != "none" && absl::GetFlag(FLAGS_quantization) != "int8") {
    fprintf(stderr, "--quantization: '%s' is neither none nor int8\n",
            absl::GetFlag(FLAGS_quantization).c_str());
    return 2;
  }
  const int64_t load = absl::GetFlag(FLAGS_load);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int channels = absl::GetFlag(FLAGS_channels);
  const std::vector<std::string> op_names =
      absl::StrSplit(absl::GetFlag(FLAGS_ops), ',', absl::SkipWhitespace());
  std::vector<int> concurrency;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',', absl::SkipWhitespace())) {
    int c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1) {
      fprintf(stderr, "--concurrency: '%s' is not a positive integer\n", std::string(part).c_str());
      return 2;
    }
    concurrency.push_back(c);
  }
  if (load < 0 || batch < 1 || batch > 1000 || channels < 1 ||
      absl::GetFlag(FLAGS_load_inflight) < 1 || absl::GetFlag(FLAGS_repeat_pool) < 1 ||
      shared.k < 1 || shared.deadline_ms < 1 || absl::GetFlag(FLAGS_duration_s) <= 0 ||
      absl::GetFlag(FLAGS_warmup_s) < 0 || absl::GetFlag(FLAGS_requests) < 0) {
    fprintf(
        stderr,
        "bad flags: need --load >= 0, 1 <= --batch <= 1000, --channels >= 1, --load_inflight >= 1, "
        "--repeat_pool >= 1, --k >= 1, --deadline_ms >= 1, --duration_s > 0, --warmup_s >= 0, "
        "--requests >= 0\n");
    return 2;
  }
  shared.known_ids = absl::GetFlag(FLAGS_known_ids) >= 0 ? absl::GetFlag(FLAGS_known_ids) : load;
  const bool wants_get = std::find(op_names.begin(), op_names.end(), "get") != op_names.end();
  if (wants_get && shared.known_ids <= 0) {
    fprintf(stderr,
            "--ops=get needs loaded ids: pass --load=N (or --known_ids=N after an earlier load)\n");
    return 2;
  }

  auto stubs = MakeStubs(absl::GetFlag(FLAGS_target), channels);
  printf("target %s, namespace '%s', %d channels, auth %s, --query_seed=%llu\n",
         absl::GetFlag(FLAGS_target).c_str(), shared.ns.c_str(), channels,
         shared.api_key.empty() ? "none" : "bearer key",
         static_cast<unsigned long long>(shared.query_seed));
  shared.dimension = EnsureNamespace(stubs[0].get(), shared, /*create=*/load > 0);
  if (load > 0) {
    if (shared.dimension == 0) {
      fprintf(stderr, "cannot load: namespace '%s' is not available\n", shared.ns.c_str());
      return 1;
    }
    if (!Load(stubs, shared, load, batch, absl::GetFlag(FLAGS_load_inflight),
              absl::GetFlag(FLAGS_extract))) {
      return 1;
    }
  }
  const bool wants_vector =
      std::find(op_names.begin(), op_names.end(), "search_vector") != op_names.end();
  if (wants_vector && shared.dimension == 0) {
    shared.dimension = 384;  // the hashing embedder's; requests still measure the failure path
    fprintf(stderr, "search_vector: namespace dimension unknown, sending %u-d vectors\n",
            shared.dimension);
  }

  const std::vector<Op> ops = MakeOps(op_names, shared, absl::GetFlag(FLAGS_repeat_queries),
                                      static_cast<uint64_t>(absl::GetFlag(FLAGS_repeat_pool)));
  const int64_t requests = absl::GetFlag(FLAGS_requests);
  std::vector<CellResult> results;
  uint64_t next_seq = 0;
  printf("| op | concurrency | ops/s | p50 ms | p95 ms | p99 ms | errors |\n");
  printf("|---|---:|---:|---:|---:|---:|---|\n");
  fflush(stdout);
  for (const Op& op : ops) {
    for (int c : concurrency) {
      Cell cell(op, stubs, c, absl::GetFlag(FLAGS_warmup_s), absl::GetFlag(FLAGS_duration_s),
                requests, next_seq);
      CellResult r = cell.Run();
      next_seq = cell.next_seq();
      printf("| %s | %d | %.0f | %.2f | %.2f | %.2f | %s |\n", r.op.c_str(), r.concurrency,
             r.ops_per_s(), r.p50_ms, r.p95_ms, r.p99_ms, FormatErrors(r.errors).c_str());
      fflush(stdout);
      results.push_back(std::move(r));
    }
  }

  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    nlohmann::json out;
    out["target"] = absl::GetFlag(FLAGS_target);
    out["namespace"] = shared.ns;
    out["channels"] = channels;
    out["duration_s"] = absl::GetFlag(FLAGS_duration_s);
    out["requests"] = requests;
    out["warmup_s"] = absl::GetFlag(FLAGS_warmup_s);
    out["cells"] = nlohmann::json::array();
    for (const CellResult& r : results) {
      out["cells"].push_back({{"op", r.op},
                              {"concurrency", r.concurrency},
                              {"ok", r.ok},
                              {"seconds", r.seconds},
                              {"ops_per_s", r.ops_per_s()},
                              {"p50_ms", r.p50_ms},
                              {"p95_ms", r.p95_ms},
                              {"p99_ms", r.p99_ms},
                              {"errors", r.errors}});
    }
    std::ofstream file(path);
    file << out.dump(2) << "\n";
    if (!file) {
      fprintf(stderr, "--json: cannot write '%s'\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
