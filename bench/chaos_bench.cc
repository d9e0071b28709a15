// chaos_bench: starts the real suite (engram-storage, --hybrids engram-hybrid replicas, --apis
// engram-api replicas) on loopback, drives a paced mixed load through the api replicas with a
// verifying client, and meanwhile kills, freezes and restarts the services at random.
//
//   chaos_bench [--duration_s=60] [--seed=1] [--rate=40] [--faults=true]
//               [--outage_ms=300,3000] [--quiet_ms=1000,3000] [--recovery_limit_s=30]
//               [--csv=samples.csv] [--sample_s=10] [--json=result.json] [--work_dir=DIR]
//               [--api_flags=--key_rate=0,...] [--deadline_ms=2000] [--max_inflight=512]
//
// Topology: storage on a fixed port; each hybrid talks to it; each api talks to storage and to
// every hybrid through one round-robin target "ipv4:127.0.0.1:h0,127.0.0.1:h1". The client calls
// the api replicas in turn (a new call goes to the next replica).
//
// Load (open loop, --rate calls/s, at most --max_inflight outstanding; a call past that cap is
// not sent and counted as "client_shed"): learn 30% (a new id each time, half of them with
// association extraction), get 25%, associate 15%, search 15%, reason 15%. Every call has a
// --deadline_ms deadline.
//
// What counts as a right answer (anything else is a "wrong answer" and fails the run):
//   learn      OK: the response names the id sent; the write is then "acknowledged" and recorded.
//   get        of an acknowledged id: OK with exactly the id and content learned. NOT_FOUND is a
//              lost write.
//   associate  of two acknowledged concepts (CAUSAL / TEMPORAL / COMPOSITIONAL, which the
//              extractor never writes): OK echoes source, target and type; then acknowledged.
//              NOT_FOUND is a lost write.
//   search     by the exact content of an acknowledged concept: at most k results, scores never
//              increasing, every id one this run issued, and every acknowledged one carrying
//              exactly its learned content. Whether the concept itself is among the results is
//              reported (self_hits), not required: the index is approximate.
//   reason     every concept it names (answer, best guess, support, paths) is one this run
//              issued, with its learned content when acknowledged.
// A failed call must fail with UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED; any other
// code (INTERNAL, UNKNOWN, NOT_FOUND of an acknowledged id, ...) fails the run.
//
// Faults (with --faults): a quiet spell of --quiet_ms, then one fault on a random service:
// SIGKILL then a restart after the outage, SIGSTOP then SIGCONT after the outage, or SIGTERM (a
// graceful drain) then a restart. The outage lasts a random time in --outage_ms. From the
// moment the service is back (restarted and logging "serving", or continued), recovery is timed
// until every path through it serves again:
//   storage  each api answers a get and --probe_streak searches in a row (api -> hybrid ->
//            storage), and each hybrid reports ready (its storage channel connected);
//   hybrid   each api answers --probe_streak searches in a row;
//   api      that api answers a get.
// Probes are verified calls too. After every fault, a checkpoint reads back every write
// acknowledged since the previous checkpoint and a random sample of older ones (reads retried on
// UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED for up to --recovery_limit_s). At the end
// the load stops, storage is SIGKILLed and restarted once more, and every acknowledged write is
// read back.
//
// Sampling (--csv): every --sample_s seconds one row: calls ok/s and failed/s, p50/p99 of the
// interval's successful calls, and per process RSS (MiB), open fds and threads.
//
// Exit status 0 when the run passed: no lost write, no wrong answer, no unexpected code, no
// service that exited on its own, every recovery within --recovery_limit_s.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc/channel.h"
#include "engram/v1/engram.grpc.pb.h"
#include "engram/v1/engram.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_client.h"
#include "tests/testing/process.h"

ABSL_FLAG(double, duration_s, 60, "Seconds of load (faults stop with it; then the final check).");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the fault schedule and the load.");
ABSL_FLAG(double, rate, 40, "Calls per second started (open loop; 0: none, the suite only).");
ABSL_FLAG(int, max_inflight, 512, "Most outstanding calls; more are not sent (client_shed).");
ABSL_FLAG(int, deadline_ms, 2000, "Deadline of each load call.");
ABSL_FLAG(std::string, mix, "learn=30,get=25,associate=15,search=15,reason=15",
          "Weights of the load's operations (learn, get, associate, search, reason).");
ABSL_FLAG(bool, distinct_searches, false,
          "Search by content plus a number, so the api's cache never answers (overload runs).");
ABSL_FLAG(int64_t, preload, 0,
          "Concepts learned (LearnBatch, no extraction) before the load starts, acknowledged.");
ABSL_FLAG(bool, faults, true, "Inject faults (false: a soak or an overload run).");
ABSL_FLAG(std::string, outage_ms, "300,3000", "Outage length range, min,max milliseconds.");
ABSL_FLAG(std::string, quiet_ms, "1000,3000", "Quiet spell before each fault, min,max ms.");
ABSL_FLAG(double, recovery_limit_s, 30, "Longest allowed recovery (and checkpoint read retry).");
ABSL_FLAG(int, probe_streak, 6, "Searches in a row each api must answer to count as recovered.");
ABSL_FLAG(int, hybrids, 2, "engram-hybrid replicas.");
ABSL_FLAG(int, apis, 2, "engram-api replicas.");
ABSL_FLAG(std::string, api_flags, "--key_rate=0",
          "Extra engram-api flags, comma-separated (e.g. --key_rate=500,--key_burst=500).");
ABSL_FLAG(std::string, hybrid_flags, "", "Extra engram-hybrid flags, comma-separated.");
ABSL_FLAG(std::string, csv, "", "Write one sample row every --sample_s seconds to this file.");
ABSL_FLAG(double, sample_s, 10, "Sampling interval of --csv.");
ABSL_FLAG(std::string, json, "", "Also write the summary as JSON to this file.");
ABSL_FLAG(std::string, work_dir, "", "Data and logs (default: a new directory under /tmp).");
ABSL_FLAG(bool, keep_work, false, "Keep --work_dir (logs) after a passing run.");
ABSL_FLAG(std::string, storage_bin, ENGRAM_STORAGE_BIN, "engram-storage binary.");
ABSL_FLAG(std::string, hybrid_bin, ENGRAM_HYBRID_BIN, "engram-hybrid binary.");
ABSL_FLAG(std::string, api_bin, ENGRAM_API_BIN, "engram-api binary.");

namespace {

namespace v1 = ::engram::v1;
using Clock = std::chrono::steady_clock;
using engram::testing::ChildProcess;

constexpr char kKey[] = "ek_chaos_bench_0123456789abcdef";
constexpr char kNamespace[] = "chaos";

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// gRPC's codes are absl's, one to one: "UNAVAILABLE", "DEADLINE_EXCEEDED", ...
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

bool Transient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

double Percentile(std::vector<float> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

std::pair<int, int> Range(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  int lo = 0, hi = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &lo) || !absl::SimpleAtoi(parts[1], &hi) ||
      lo < 0 || hi < lo) {
    fprintf(stderr, "bad range '%s' (min,max)\n", text.c_str());
    exit(2);
  }
  return {lo, hi};
}

// ---------------------------------------------------------------------------------------------
// The suite's processes.

struct Service {
  std::string name;  // storage, hybrid0, api1, ...
  std::string binary;
  std::vector<std::string> args;
  int grpc_port = 0;
  int http_port = 0;  // read from the log after each start
  int starts = 0;
  std::unique_ptr<ChildProcess> process;
  std::atomic<pid_t> pid{-1};  // for the sampler
};

class Suite {
 public:
  explicit Suite(std::filesystem::path dir) : dir_(std::move(dir)) {}

  Service* Add(std::string name, std::string binary, std::vector<std::string> args, int port) {
    auto s = std::make_unique<Service>();
    s->name = std::move(name);
    s->binary = std::move(binary);
    s->args = std::move(args);
    s->grpc_port = port;
    services_.push_back(std::move(s));
    return services_.back().get();
  }

  // Starts `s` and waits for its "serving" line; false (with the log tail) when it does not come.
  bool Start(Service& s) {
    s.process = std::make_unique<ChildProcess>(
        s.binary, s.args, dir_ / absl::StrCat(s.name, ".", ++s.starts, ".log"));
    if (!s.process->Start().ok()) return false;
    auto line = s.process->WaitForLine("serving on grpc", absl::Seconds(120));
    if (!line.ok()) {
      fprintf(stderr, "%s did not start: %s\n", s.name.c_str(),
              std::string(line.status().message()).substr(0, 2000).c_str());
      return false;
    }
    s.http_port = s.process->PortAfter(" http ");
    s.pid = s.process->pid();
    return true;
  }

  // SIGKILL or SIGTERM, and reap.
  void Stop(Service& s, int sig) {
    s.pid = -1;
    if (s.process) s.process->Kill(sig);
  }

  // True when a service we did not stop has exited (its name is added to `crashed`).
  bool AnyExited(std::vector<std::string>* crashed) {
    bool any = false;
    for (auto& s : services_) {
      if (!s->process || !s->process->running()) continue;
      int status = 0;
      if (::waitpid(s->process->pid(), &status, WNOHANG) == s->process->pid()) {
        crashed->push_back(absl::StrCat(s->name, " (status ", status, ", log ",
                                        s->process->log_path().string(), ")"));
        s->pid = -1;
        s->process.reset();  // reaped: nothing left to kill
        any = true;
      }
    }
    return any;
  }

  std::vector<std::unique_ptr<Service>>& services() { return services_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<Service>> services_;
};

// ---------------------------------------------------------------------------------------------
// What the client knows: every acknowledged write, and the tally of every call.

struct AckedConcept {
  std::string id;
  std::string content;
};

struct AckedEdge {
  std::string source, target;
  v1::AssociationType type;
};

class Ledger {
 public:
  void AddConcept(AckedConcept c) {
    std::lock_guard<std::mutex> lock(mu_);
    index_[c.id] = concepts_.size();
    concepts_.push_back(std::move(c));
  }
  void AddEdge(AckedEdge e) {
    std::lock_guard<std::mutex> lock(mu_);
    edges_.push_back(std::move(e));
  }
  // A random acknowledged concept; false when there is none yet.
  bool Pick(std::mt19937_64& rng, AckedConcept* out) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (concepts_.empty()) return false;
    *out = concepts_[rng() % concepts_.size()];
    return true;
  }
  // The learned content of `id` when acknowledged.
  bool Content(const std::string& id, std::string* content) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(id);
    if (it == index_.end()) return false;
    *content = concepts_[it->second].content;
    return true;
  }
  size_t concepts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return concepts_.size();
  }
  size_t edges() const {
    std::lock_guard<std::mutex> lock(mu_);
    return edges_.size();
  }
  std::vector<AckedConcept> ConceptsFrom(size_t first) const {
    std::lock_guard<std::mutex> lock(mu_);
    return {concepts_.begin() + static_cast<ptrdiff_t>(std::min(first, concepts_.size())),
            concepts_.end()};
  }
  std::vector<AckedEdge> EdgesFrom(size_t first) const {
    std::lock_guard<std::mutex> lock(mu_);
    return {edges_.begin() + static_cast<ptrdiff_t>(std::min(first, edges_.size())), edges_.end()};
  }

 private:
  mutable std::mutex mu_;
  std::vector<AckedConcept> concepts_;
  std::map<std::string, size_t> index_;
  std::vector<AckedEdge> edges_;
};

class Tally {
 public:
  // latency_ms < 0: a probe or a read-back, not part of the load's latency figures.
  void Record(const std::string& op, const grpc::Status& status, float latency_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    ++codes_[op][CodeName(status.error_code())];
    if (latency_ms < 0) {
      if (!status.ok() && !Transient(status.error_code())) {
        ++bad_codes_;
        Note(absl::StrCat(op, ": unexpected ", CodeName(status.error_code()), ": ",
                          status.error_message()));
      }
      return;
    }
    if (status.ok()) {
      interval_ms_.push_back(latency_ms);
      all_ms_.push_back(latency_ms);
      ++interval_ok_;
    } else {
      ++interval_failed_;
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        refused_ms_.push_back(latency_ms);
      if (!Transient(status.error_code())) {
        ++bad_codes_;
        Note(absl::StrCat(op, ": unexpected ", CodeName(status.error_code()), ": ",
                          status.error_message()));
      }
    }
  }
  void Wrong(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++wrong_;
    Note("wrong answer: " + what);
  }
  void Lost(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++lost_;
    Note("lost write: " + what);
  }
  void Shed() {
    std::lock_guard<std::mutex> lock(mu_);
    ++shed_;
  }
  void SelfHit(bool hit) {
    std::lock_guard<std::mutex> lock(mu_);
    ++searches_checked_;
    self_hits_ += hit ? 1 : 0;
  }
  // The interval's ok and failed counts and successful latencies, then a new interval.
  void TakeInterval(int64_t* ok, int64_t* failed, std::vector<float>* ms) {
    std::lock_guard<std::mutex> lock(mu_);
    *ok = interval_ok_;
    *failed = interval_failed_;
    ms->swap(interval_ms_);
    interval_ms_.clear();
    interval_ok_ = interval_failed_ = 0;
  }

  nlohmann::json Summary() const {
    std::lock_guard<std::mutex> lock(mu_);
    nlohmann::json out;
    // The load's calls, apart from the probes and read-backs (probe_*, verify_*).
    std::map<std::string, int64_t> failures;
    int64_t calls = 0, ok = 0;
    for (const auto& [op, codes] : codes_) {
      if (op.rfind("probe_", 0) == 0 || op.rfind("verify_", 0) == 0) continue;
      for (const auto& [code, n] : codes) {
        calls += n;
        if (code == "OK")
          ok += n;
        else
          failures[code] += n;
      }
    }
    out["load_calls"] = calls;
    out["load_ok"] = ok;
    out["load_failures_by_code"] = failures;
    out["by_op"] = codes_;
    out["client_shed"] = shed_;
    out["unexpected_codes"] = bad_codes_;
    out["wrong_answers"] = wrong_;
    out["lost_writes"] = lost_;
    out["ok_p50_ms"] = Percentile(all_ms_, 0.5);
    out["ok_p99_ms"] = Percentile(all_ms_, 0.99);
    out["ok_p999_ms"] = Percentile(all_ms_, 0.999);
    out["refused_p50_ms"] = Percentile(refused_ms_, 0.5);
    out["refused_p99_ms"] = Percentile(refused_ms_, 0.99);
    out["searches_checked"] = searches_checked_;
    out["search_self_hits"] = self_hits_;
    out["notes"] = notes_;
    return out;
  }
  bool Clean() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_codes_ == 0 && wrong_ == 0 && lost_ == 0;
  }

 private:
  void Note(std::string text) {  // mu_ held
    if (notes_.size() < 50) {
      fprintf(stderr, "!! %s\n", text.c_str());
      notes_.push_back(std::move(text));
    }
  }

  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, int64_t>> codes_;  // op -> code -> calls
  std::vector<float> interval_ms_, all_ms_, refused_ms_;
  int64_t interval_ok_ = 0, interval_failed_ = 0;
  int64_t bad_codes_ = 0, wrong_ = 0, lost_ = 0, shed_ = 0;
  int64_t searches_checked_ = 0, self_hits_ = 0;
  std::vector<std::string> notes_;
};

// ---------------------------------------------------------------------------------------------
// Calls and their checks.

std::unique_ptr<grpc::ClientContext> Context(int deadline_ms) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", std::string("Bearer ") + kKey);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  return ctx;
}

class Checker {
 public:
  Checker(const std::string& run, Ledger* ledger, Tally* tally)
      : prefix_(absl::StrCat("c-", run, "-")), ledger_(ledger), tally_(tally) {}

  std::string NewId() { return absl::StrCat(prefix_, next_.fetch_add(1)); }

  // A concept id this run issued (acknowledged or not).
  bool Issued(const std::string& id) const {
    if (id == kSentinelId) return true;
    if (id.rfind(prefix_, 0) != 0) return false;
    uint64_t n = 0;
    return absl::SimpleAtoi(id.substr(prefix_.size()), &n) && n < next_.load();
  }

  // A concept named in an answer: issued by this run, and with its learned content when known.
  void CheckNamed(const std::string& op, const std::string& id, const std::string& content,
                  bool has_content) {
    if (!Issued(id))
      return tally_->Wrong(absl::StrCat(op, " named an id never learned: '", id, "'"));
    std::string learned;
    if (has_content && ledger_->Content(id, &learned) && learned != content) {
      tally_->Wrong(absl::StrCat(op, " gave '", id, "' the content '", content, "', learned '",
                                 learned, "'"));
    }
  }

  void CheckGet(const AckedConcept& want, const grpc::Status& status, const v1::Concept& got) {
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      return tally_->Lost(absl::StrCat("get '", want.id, "': NOT_FOUND"));
    }
    if (!status.ok()) return;
    if (got.id() != want.id || got.content() != want.content) {
      tally_->Wrong(absl::StrCat("get '", want.id, "' returned id '", got.id(), "' content '",
                                 got.content(), "', learned '", want.content, "'"));
    }
  }

  void CheckSearch(const std::string& self_id, uint32_t k, const grpc::Status& status,
                   const v1::SearchResponse& r) {
    if (!status.ok()) return;
    if (r.results_size() > static_cast<int>(k)) {
      tally_->Wrong(absl::StrCat("search returned ", r.results_size(), " results for k=", k));
    }
    bool self = false;
    for (int i = 0; i < r.results_size(); ++i) {
      const v1::SearchResult& hit = r.results(i);
      CheckNamed("search", hit.id(), hit.content(), true);
      if (i > 0 && hit.score() > r.results(i - 1).score() + 1e-5f) {
        tally_->Wrong(absl::StrCat("search scores increase at rank ", i));
      }
      self = self || hit.id() == self_id;
    }
    tally_->SelfHit(self);
  }

  void CheckReason(const grpc::Status& status, const v1::ReasonResponse& r) {
    if (!status.ok()) return;
    auto ref = [this](const v1::ConceptRef& c) {
      if (!c.id().empty()) CheckNamed("reason", c.id(), c.content(), true);
    };
    if (r.has_answer()) ref(r.answer());
    if (r.has_best_guess()) ref(r.best_guess());
    for (const auto& c : r.path_concepts()) ref(c);
    for (const auto& s : r.support()) CheckNamed("reason", s.id(), s.content(), true);
    for (const auto& p : r.paths()) {
      for (const auto& id : p.concept_ids()) CheckNamed("reason", id, "", false);
    }
  }

  static constexpr char kSentinelId[] = "sentinel";

 private:
  const std::string prefix_;
  std::atomic<uint64_t> next_{0};
  Ledger* ledger_;
  Tally* tally_;
};

template <typename Request, typename Response>
struct Call {
  std::unique_ptr<grpc::ClientContext> ctx;
  Request request;
  Response response;
  Clock::time_point start = Clock::now();
  float ms() const {
    return static_cast<float>(
        std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
};

// ---------------------------------------------------------------------------------------------
// The open-loop load.

class Load {
 public:
  Load(std::vector<std::unique_ptr<v1::Engram::Stub>>* stubs, Checker* checker, Ledger* ledger,
       Tally* tally, double rate, int max_inflight, int deadline_ms, uint64_t seed)
      : stubs_(stubs),
        checker_(checker),
        ledger_(ledger),
        tally_(tally),
        rate_(rate),
        max_inflight_(max_inflight),
        deadline_ms_(deadline_ms),
        rng_(seed) {}

  // Weights of learn, get, associate, search, reason (--mix); before Start().
  void SetMix(std::array<int, 5> weights) {
    int total = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
      total += weights[i];
      cumulative_[i] = total;
    }
  }
  void SetDistinctSearches(bool distinct) { distinct_searches_ = distinct; }

  void Start() {
    if (rate_ > 0) thread_ = std::thread([this] { Pace(); });
  }
  // Stops starting calls and waits (bounded by the deadlines) for the outstanding ones.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    while (inflight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

 private:
  void Pace() {
    const Clock::time_point t0 = Clock::now();
    uint64_t started = 0;
    while (!stop_) {
      const uint64_t due = static_cast<uint64_t>(Since(t0) * rate_);
      for (; started < due && !stop_; ++started) {
        if (inflight_.load() >= max_inflight_) {
          tally_->Shed();
          continue;
        }
        StartOne();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  v1::Engram::Stub* NextStub() { return (*stubs_)[next_stub_++ % stubs_->size()].get(); }

  template <typename Request, typename Response, typename Method, typename Check>
  void Launch(const std::string& op, Request request, Method method, Check check) {
    auto call = std::make_shared<Call<Request, Response>>();
    call->ctx = Context(deadline_ms_);
    call->request = std::move(request);
    ++inflight_;
    method(NextStub(), call->ctx.get(), &call->request, &call->response,
           [this, op, call, check](grpc::Status status) {
             tally_->Record(op, status, call->ms());
             check(status, call->request, call->response);
             --inflight_;
           });
  }

  void StartOne() {
    const int dice = static_cast<int>(rng_() % static_cast<uint64_t>(cumulative_[4]));
    AckedConcept a, b;
    const bool have = ledger_->Pick(rng_, &a) && ledger_->Pick(rng_, &b);
    if (dice < cumulative_[0] || !have) {
      v1::LearnRequest request;
      request.set_namespace_(kNamespace);
      request.set_id(checker_->NewId());
      request.set_content(Sentence());
      request.mutable_extract_associations()->set_value(rng_() % 2 == 0);
      Launch<v1::LearnRequest, v1::LearnResponse>(
          "learn", std::move(request),
          [](v1::Engram::Stub* s, auto* c, auto* q, auto* r, auto cb) {
            s->async()->Learn(c, q, r, std::move(cb));
          },
          [this](const grpc::Status& status, const v1::LearnRequest& q,
                 const v1::LearnResponse& r) {
            if (!status.ok()) return;
            if (r.id() != q.id()) {
              return tally_->Wrong(absl::StrCat("learn '", q.id(), "' answered id '", r.id(), "'"));
            }
            ledger_->AddConcept({q.id(), q.content()});
          });
    } else if (dice < cumulative_[1]) {
      v1::GetConceptRequest request;
      request.set_namespace_(kNamespace);
      request.set_id(a.id);
      Launch<v1::GetConceptRequest, v1::Concept>(
          "get", std::move(request),
          [](v1::Engram::Stub* s, auto* c, auto* q, auto* r, auto cb) {
            s->async()->GetConcept(c, q, r, std::move(cb));
          },
          [this, a](const grpc::Status& status, const auto&, const v1::Concept& r) {
            checker_->CheckGet(a, status, r);
          });
    } else if (dice < cumulative_[2]) {
      static constexpr v1::AssociationType kTypes[] = {v1::CAUSAL, v1::TEMPORAL, v1::COMPOSITIONAL};
      v1::AssociateRequest request;
      request.set_namespace_(kNamespace);
      request.set_source(a.id);
      request.set_target(b.id);
      request.set_type(kTypes[rng_() % 3]);
      Launch<v1::AssociateRequest, v1::Association>(
          "associate", std::move(request),
          [](v1::Engram::Stub* s, auto* c, auto* q, auto* r, auto cb) {
            s->async()->Associate(c, q, r, std::move(cb));
          },
          [this](const grpc::Status& status, const v1::AssociateRequest& q,
                 const v1::Association& r) {
            if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
              return tally_->Lost(absl::StrCat("associate '", q.source(), "' -> '", q.target(),
                                               "': NOT_FOUND (", status.error_message(), ")"));
            }
            if (!status.ok()) return;
            if (r.source() != q.source() || r.target() != q.target() || r.type() != q.type()) {
              return tally_->Wrong(absl::StrCat("associate '", q.source(), "' -> '", q.target(),
                                                "' answered ", r.ShortDebugString()));
            }
            ledger_->AddEdge({q.source(), q.target(), q.type()});
          });
    } else if (dice < cumulative_[3]) {
      v1::SearchRequest request;
      request.set_namespace_(kNamespace);
      // Without --distinct_searches the exact content (it must find itself; repeats may come
      // from the api's cache); with it, the content and a number (never cached).
      request.set_query(distinct_searches_ ? absl::StrCat(a.content, " ", search_seq_++)
                                           : a.content);
      request.set_k(10);
      Launch<v1::SearchRequest, v1::SearchResponse>(
          "search", std::move(request),
          [](v1::Engram::Stub* s, auto* c, auto* q, auto* r, auto cb) {
            s->async()->Search(c, q, r, std::move(cb));
          },
          [this, a](const grpc::Status& status, const auto&, const v1::SearchResponse& r) {
            checker_->CheckSearch(a.id, 10, status, r);
          });
    } else {
      v1::ReasonRequest request;
      request.set_namespace_(kNamespace);
      request.set_query(a.content + "?");
      request.set_k(5);
      Launch<v1::ReasonRequest, v1::ReasonResponse>(
          "reason", std::move(request),
          [](v1::Engram::Stub* s, auto* c, auto* q, auto* r, auto cb) {
            s->async()->Reason(c, q, r, std::move(cb));
          },
          [this](const grpc::Status& status, const auto&, const v1::ReasonResponse& r) {
            checker_->CheckReason(status, r);
          });
    }
  }

  std::string Sentence() {
    static constexpr const char* kWords[] = {
        "river",   "stone",  "light",  "cloud",  "forest", "signal",  "engine", "copper",
        "winter",  "garden", "market", "bridge", "silver", "thunder", "harbor", "lantern",
        "meadow",  "pepper", "rocket", "violet", "canyon", "marble",  "falcon", "ember",
        "glacier", "orbit",  "quartz", "saddle", "tundra", "walnut",  "anchor", "beacon",
        "cobalt",  "dune",   "fjord",  "granite"};
    std::string out;
    const int n = 6 + static_cast<int>(rng_() % 8);
    for (int i = 0; i < n; ++i) {
      if (i > 0) out += ' ';
      out += kWords[rng_() % (sizeof(kWords) / sizeof(kWords[0]))];
    }
    return absl::StrCat(out, " ", rng_() % 1000000, ".");  // unique enough to find itself
  }

  std::vector<std::unique_ptr<v1::Engram::Stub>>* stubs_;
  Checker* checker_;
  Ledger* ledger_;
  Tally* tally_;
  const double rate_;
  const int max_inflight_;
  const int deadline_ms_;
  std::mt19937_64 rng_;  // the pacing thread's
  std::array<int, 5> cumulative_ = {30, 55, 70, 85, 100};
  uint64_t search_seq_ = 0;
  bool distinct_searches_ = false;
  uint64_t next_stub_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> inflight_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Sampling /proc.

struct ProcSample {
  double rss_mb = 0;
  int fds = 0;
  int threads = 0;
};

ProcSample ReadProc(pid_t pid) {
  ProcSample out;
  if (pid <= 0) return out;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")),
                           &kb))
        out.rss_mb = static_cast<double>(kb) / 1024.0;
    } else if (line.rfind("Threads:", 0) == 0) {
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(8)), &out.threads))
        out.threads = 0;
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++out.fds;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run.

class Chaos {
 public:
  Chaos(std::filesystem::path dir, uint64_t seed)
      : dir_(std::move(dir)),
        suite_(dir_),
        rng_(seed),
        checker_(absl::StrCat(seed), &ledger_, &tally_) {}

  bool Setup() {
    std::filesystem::create_directories(dir_);
    std::ofstream keys(dir_ / "keys.json");
    keys << nlohmann::json{{"keys",
                            {{{"name", "chaos"},
                              {"key", kKey},
                              {"role", "admin"},
                              {"namespaces", {"*"}}}}}}
                .dump();
    keys.close();
    const std::vector<std::string> common = {"--listen_address=127.0.0.1", "--http_port=0",
                                             "--drain_seconds=1"};
    const int storage_port = engram::testing::PickFreePort();
    storage_ = suite_.Add("storage", absl::GetFlag(FLAGS_storage_bin),
                          Args(common, {"--data_dir=" + (dir_ / "storage").string(),
                                        absl::StrCat("--grpc_port=", storage_port)}),
                          storage_port);
    std::vector<std::string> hybrid_addrs;
    for (int i = 0; i < absl::GetFlag(FLAGS_hybrids); ++i) {
      const int port = engram::testing::PickFreePort();
      std::vector<std::string> args =
          Args(common, {absl::StrCat("--grpc_port=", port),
                        absl::StrCat("--storage_addr=127.0.0.1:", storage_port)});
      for (absl::string_view f :
           absl::StrSplit(absl::GetFlag(FLAGS_hybrid_flags), ',', absl::SkipEmpty()))
        args.emplace_back(f);
      hybrids_.push_back(suite_.Add(absl::StrCat("hybrid", i), absl::GetFlag(FLAGS_hybrid_bin),
                                    std::move(args), port));
      hybrid_addrs.push_back(absl::StrCat("127.0.0.1:", port));
    }
    for (int i = 0; i < absl::GetFlag(FLAGS_apis); ++i) {
      const int port = engram::testing::PickFreePort();
      std::vector<std::string> args =
          Args(common, {absl::StrCat("--grpc_port=", port),
                        absl::StrCat("--storage_addr=127.0.0.1:", storage_port),
                        "--hybrid_addr=ipv4:" + absl::StrJoin(hybrid_addrs, ","),
                        "--api_keys_file=" + (dir_ / "keys.json").string()});
      for (absl::string_view f :
           absl::StrSplit(absl::GetFlag(FLAGS_api_flags), ',', absl::SkipEmpty()))
        args.emplace_back(f);
      apis_.push_back(
          suite_.Add(absl::StrCat("api", i), absl::GetFlag(FLAGS_api_bin), std::move(args), port));
      grpc::ChannelArguments channel_args = engram::grpc_util::DownstreamChannelArguments(
          {.max_reconnect_backoff = absl::Milliseconds(500)});
      channel_args.SetInt("engram.chaos.api", i);  // one connection per replica
      stubs_.push_back(v1::Engram::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), channel_args)));
    }
    for (auto& s : suite_.services()) {
      if (!suite_.Start(*s)) return false;
    }
    // The namespace and a sentinel concept the probes read.
    const Clock::time_point t0 = Clock::now();
    while (true) {
      v1::CreateNamespaceRequest request;
      request.set_name(kNamespace);
      request.set_embedder("hashing");
      v1::Namespace ns;
      grpc::Status s = stubs_[0]->CreateNamespace(Context(5000).get(), request, &ns);
      if (s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS) break;
      if (Since(t0) > 60) {
        fprintf(stderr, "CreateNamespace: %s: %s\n", CodeName(s.error_code()).c_str(),
                s.error_message().c_str());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    sentinel_ = {Checker::kSentinelId, "the sentinel concept of the chaos run"};
    while (true) {
      v1::LearnRequest request;
      request.set_namespace_(kNamespace);
      request.set_id(sentinel_.id);
      request.set_content(sentinel_.content);
      v1::LearnResponse response;
      grpc::Status s = stubs_[0]->Learn(Context(5000).get(), request, &response);
      if (s.ok()) break;
      if (Since(t0) > 60) {
        fprintf(stderr, "Learn sentinel: %s\n", s.error_message().c_str());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ledger_.AddConcept(sentinel_);
    return true;
  }

  int Run() {
    if (!Setup()) return 1;
    const double duration = absl::GetFlag(FLAGS_duration_s);
    if (!Preload(absl::GetFlag(FLAGS_preload))) return 1;
    Load load(&stubs_, &checker_, &ledger_, &tally_, absl::GetFlag(FLAGS_rate),
              absl::GetFlag(FLAGS_max_inflight), absl::GetFlag(FLAGS_deadline_ms), rng_());
    load.SetMix(Mix(absl::GetFlag(FLAGS_mix)));
    load.SetDistinctSearches(absl::GetFlag(FLAGS_distinct_searches));
    for (size_t i = 0; i < apis_.size(); ++i) {
      printf("%s: grpc 127.0.0.1:%d http 127.0.0.1:%d (key %s)\n", apis_[i]->name.c_str(),
             apis_[i]->grpc_port, apis_[i]->http_port, kKey);
    }
    fflush(stdout);
    const Clock::time_point t0 = Clock::now();
    StartSampler(t0);
    load.Start();
    const auto [quiet_lo, quiet_hi] = Range(absl::GetFlag(FLAGS_quiet_ms));
    const auto [outage_lo, outage_hi] = Range(absl::GetFlag(FLAGS_outage_ms));
    while (Since(t0) < duration && healthy_) {
      const int quiet =
          quiet_lo + static_cast<int>(rng_() % static_cast<uint64_t>(quiet_hi - quiet_lo + 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(quiet));
      CheckCrashes();
      if (!absl::GetFlag(FLAGS_faults) || Since(t0) >= duration || !healthy_) continue;
      const int outage =
          outage_lo + static_cast<int>(rng_() % static_cast<uint64_t>(outage_hi - outage_lo + 1));
      Fault(outage);
      Checkpoint(/*all=*/false);
    }
    load.Stop();
    StopSampler();
    printf(
        "load stopped after %.0f s; final check: SIGKILL storage, restart, read back everything\n",
        Since(t0));
    fflush(stdout);
    if (healthy_) {
      suite_.Stop(*storage_, SIGKILL);
      if (!suite_.Start(*storage_)) {
        healthy_ = false;
        failures_.push_back("storage did not restart for the final check");
      } else {
        Recover(storage_, "final");
        Checkpoint(/*all=*/true);
      }
    }
    CheckCrashes();
    return Report(Since(t0));
  }

 private:
  static std::array<int, 5> Mix(const std::string& text) {
    static constexpr const char* kOps[] = {"learn", "get", "associate", "search", "reason"};
    std::array<int, 5> weights = {0, 0, 0, 0, 0};
    for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
      int w = -1;
      size_t i = 0;
      while (i < 5 && kv.first != kOps[i]) ++i;
      if (i == 5 || !absl::SimpleAtoi(kv.second, &w) || w < 0) {
        fprintf(stderr, "--mix: bad entry '%s'\n", std::string(part).c_str());
        exit(2);
      }
      weights[i] = w;
    }
    if (weights[0] + weights[1] + weights[2] + weights[3] + weights[4] == 0) {
      fprintf(stderr, "--mix: every weight is 0\n");
      exit(2);
    }
    return weights;
  }

  // Learns `n` concepts in batches of 500 (retrying transient refusals) and acknowledges them.
  bool Preload(int64_t n) {
    for (int64_t first = 0; first < n; first += 500) {
      v1::LearnBatchRequest request;
      request.set_namespace_(kNamespace);
      std::vector<AckedConcept> batch;
      for (int64_t i = first; i < std::min(n, first + 500); ++i) {
        batch.push_back({checker_.NewId(), absl::StrCat("preloaded concept number ", i, " about ",
                                                        rng_() % 1000000, " things.")});
        v1::LearnRequest* item = request.add_concepts();
        item->set_id(batch.back().id);
        item->set_content(batch.back().content);
        item->mutable_extract_associations()->set_value(false);
      }
      v1::LearnBatchResponse response;
      grpc::Status s = ReadBack(
          [&](grpc::ClientContext* ctx) { return stubs_[0]->LearnBatch(ctx, request, &response); });
      if (!s.ok()) {
        fprintf(stderr, "preload: %s: %s\n", CodeName(s.error_code()).c_str(),
                s.error_message().c_str());
        return false;
      }
      for (AckedConcept& c : batch) ledger_.AddConcept(std::move(c));
    }
    if (n > 0) printf("preloaded %lld concepts\n", static_cast<long long>(n));
    return true;
  }

  static std::vector<std::string> Args(const std::vector<std::string>& a,
                                       const std::vector<std::string>& b) {
    std::vector<std::string> out = a;
    out.insert(out.end(), b.begin(), b.end());
    return out;
  }

  void CheckCrashes() {
    std::vector<std::string> crashed;
    if (suite_.AnyExited(&crashed)) {
      for (const auto& c : crashed) failures_.push_back("exited on its own: " + c);
      healthy_ = false;
    }
  }

  void Fault(int outage_ms) {
    std::vector<Service*> all = {storage_};
    all.insert(all.end(), hybrids_.begin(), hybrids_.end());
    all.insert(all.end(), apis_.begin(), apis_.end());
    Service* target = all[rng_() % all.size()];
    const int kind = static_cast<int>(rng_() % 5);  // 0,1 kill; 2,3 stop; 4 term
    const char* kind_name = kind < 2 ? "kill" : kind < 4 ? "stop" : "term";
    ++cycles_;
    printf("[%4.0f s] cycle %d: %s %s for %d ms", Since(start_), cycles_, kind_name,
           target->name.c_str(), outage_ms);
    fflush(stdout);
    if (kind < 2 || kind == 4) {
      suite_.Stop(*target, kind == 4 ? SIGTERM : SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(outage_ms));
      if (!suite_.Start(*target)) {
        healthy_ = false;
        failures_.push_back(absl::StrCat(target->name, " did not restart"));
        printf("\n");
        return;
      }
    } else if (target->process) {
      target->process->Signal(SIGSTOP);
      std::this_thread::sleep_for(std::chrono::milliseconds(outage_ms));
      target->process->Signal(SIGCONT);
    }
    const double seconds = Recover(target, absl::StrCat(kind_name, " ", target->name));
    printf(", recovered in %.2f s; %zu concepts and %zu associations acknowledged\n", seconds,
           ledger_.concepts(), ledger_.edges());
    fflush(stdout);
  }

  // Probes until every path through `target` serves again; returns the seconds it took (and
  // records them), or the limit when it never did (a failure).
  double Recover(Service* target, const std::string& label) {
    const Clock::time_point back = Clock::now();
    const double limit = absl::GetFlag(FLAGS_recovery_limit_s);
    const int streak = absl::GetFlag(FLAGS_probe_streak);
    std::string blocker;  // the check that failed last: what recovery waited for
    auto served = [&]() -> bool {
      if (target == storage_) {
        for (Service* h : hybrids_) {
          if (engram::testing::HttpCall(h->http_port, "GET", "/readyz", "", {}, 2).status != 200) {
            blocker = h->name + " readyz";
            return false;
          }
        }
      }
      for (size_t i = 0; i < apis_.size(); ++i) {
        if (target == apis_[i] || target == storage_) {
          if (!ProbeGet(i)) {
            blocker = apis_[i]->name + " get";
            return false;
          }
        }
        if (target == storage_ ||
            std::find(hybrids_.begin(), hybrids_.end(), target) != hybrids_.end()) {
          for (int n = 0; n < streak; ++n) {
            if (!ProbeSearch(i)) {
              blocker = apis_[i]->name + " search";
              return false;
            }
          }
        }
      }
      return true;
    };
    while (!served()) {
      if (Since(back) > limit) {
        failures_.push_back(absl::StrCat(label, ": not serving ", limit, " s after it returned"));
        healthy_ = false;
        recoveries_[target->name].push_back(limit);
        return limit;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double seconds = Since(back);
    recoveries_[KindOf(target)].push_back(seconds);
    if (!blocker.empty()) printf(" (last waited for: %s)", blocker.c_str());
    return seconds;
  }

  std::string KindOf(const Service* s) const {
    if (s == storage_) return "storage";
    return s->name.substr(0, s->name.size() - 1);  // hybrid0 -> hybrid
  }

  bool ProbeGet(size_t api) {
    v1::GetConceptRequest request;
    request.set_namespace_(kNamespace);
    request.set_id(sentinel_.id);
    v1::Concept response;
    grpc::Status s = stubs_[api]->GetConcept(Context(1000).get(), request, &response);
    tally_.Record("probe_get", s, -1);
    checker_.CheckGet(sentinel_, s, response);
    return s.ok();
  }

  bool ProbeSearch(size_t api) {
    v1::SearchRequest request;
    request.set_namespace_(kNamespace);
    request.set_query(absl::StrCat(sentinel_.content, " ", probe_seq_++));  // not from the cache
    request.set_k(3);
    v1::SearchResponse response;
    grpc::Status s = stubs_[api]->Search(Context(1000).get(), request, &response);
    tally_.Record("probe_search", s, -1);
    if (s.ok()) {
      for (const auto& hit : response.results())
        checker_.CheckNamed("search", hit.id(), hit.content(), true);
    }
    return s.ok();
  }

  // Reads back acknowledged writes: all of them, or the ones since the last checkpoint plus a
  // random sample of older ones.
  void Checkpoint(bool all) {
    std::vector<AckedConcept> concepts = ledger_.ConceptsFrom(all ? 0 : concepts_checked_);
    std::vector<AckedEdge> edges = ledger_.EdgesFrom(all ? 0 : edges_checked_);
    if (!all) {
      concepts_checked_ += concepts.size();
      edges_checked_ += edges.size();
      for (int i = 0; i < 50; ++i) {  // and a sample of everything acknowledged so far
        AckedConcept c;
        if (ledger_.Pick(rng_, &c)) concepts.push_back(c);
      }
    }
    size_t api = 0;
    int64_t read = 0;
    for (const AckedConcept& c : concepts) {
      v1::GetConceptRequest request;
      request.set_namespace_(kNamespace);
      request.set_id(c.id);
      v1::Concept response;
      grpc::Status s = ReadBack([&](grpc::ClientContext* ctx) {
        return stubs_[api++ % stubs_.size()]->GetConcept(ctx, request, &response);
      });
      tally_.Record("verify_get", s, -1);
      checker_.CheckGet(c, s, response);
      if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
        tally_.Lost(absl::StrCat("'", c.id, "' could not be read back: ", s.error_message()));
      }
      ++read;
    }
    for (const AckedEdge& e : edges) {
      v1::NeighborsRequest request;
      request.set_namespace_(kNamespace);
      request.set_id(e.source);
      request.set_type(e.type);
      request.set_direction(v1::OUT);
      request.set_limit(1000);
      v1::NeighborsResponse response;
      grpc::Status s = ReadBack([&](grpc::ClientContext* ctx) {
        response.Clear();
        return stubs_[api++ % stubs_.size()]->Neighbors(ctx, request, &response);
      });
      tally_.Record("verify_neighbors", s, -1);
      bool found = false;
      for (const auto& n : response.neighbors()) found = found || n.node().id() == e.target;
      if (!s.ok() || !found) {
        tally_.Lost(absl::StrCat("association '", e.source, "' -> '", e.target, "' (type ", e.type,
                                 "): ", s.ok() ? "missing" : s.error_message()));
      }
      ++read;
    }
    verified_ += read;
    printf("           checkpoint: %lld writes read back%s\n", static_cast<long long>(read),
           all ? " (all)" : "");
    fflush(stdout);
  }

  // Retries a read on transient codes for up to --recovery_limit_s.
  template <typename F>
  grpc::Status ReadBack(F call) {
    const Clock::time_point t0 = Clock::now();
    while (true) {
      auto ctx = Context(2000);
      grpc::Status s = call(ctx.get());
      if (s.ok() || !Transient(s.error_code()) || Since(t0) > absl::GetFlag(FLAGS_recovery_limit_s))
        return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void StartSampler(Clock::time_point t0) {
    start_ = t0;
    const std::string path = absl::GetFlag(FLAGS_csv);
    if (path.empty()) return;
    csv_.open(path);
    csv_ << "t_s,ok_per_s,failed_per_s,p50_ms,p99_ms";
    for (auto& s : suite_.services()) {
      csv_ << "," << s->name << "_rss_mb," << s->name << "_fds," << s->name << "_threads";
    }
    csv_ << "\n";
    sampler_ = std::thread([this] {
      const double interval = absl::GetFlag(FLAGS_sample_s);
      std::unique_lock<std::mutex> lock(sampler_mu_);
      Clock::time_point last = Clock::now();
      while (!sampler_cv_.wait_for(lock, std::chrono::duration<double>(interval),
                                   [this] { return sampler_stop_; })) {
        const double dt = Since(last);
        last = Clock::now();
        int64_t ok = 0, failed = 0;
        std::vector<float> ms;
        tally_.TakeInterval(&ok, &failed, &ms);
        const double p50 = Percentile(ms, 0.5), p99 = Percentile(ms, 0.99);
        csv_ << absl::StrFormat("%.1f,%.1f,%.1f,%.2f,%.2f", Since(start_), ok / dt, failed / dt,
                                p50, p99);
        for (auto& s : suite_.services()) {
          ProcSample p = ReadProc(s->pid.load());
          csv_ << absl::StrFormat(",%.1f,%d,%d", p.rss_mb, p.fds, p.threads);
          ProcSample& peak = peaks_[s->name];
          peak.rss_mb = std::max(peak.rss_mb, p.rss_mb);
          peak.fds = std::max(peak.fds, p.fds);
          peak.threads = std::max(peak.threads, p.threads);
        }
        csv_ << "\n";
        csv_.flush();
      }
    });
  }

  void StopSampler() {
    if (!sampler_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(sampler_mu_);
      sampler_stop_ = true;
    }
    sampler_cv_.notify_all();
    sampler_.join();
  }

  int Report(double seconds) {
    nlohmann::json out = tally_.Summary();
    out["seconds"] = seconds;
    out["seed"] = absl::GetFlag(FLAGS_seed);
    out["rate"] = absl::GetFlag(FLAGS_rate);
    out["cycles"] = cycles_;
    out["acknowledged_concepts"] = ledger_.concepts();
    out["acknowledged_associations"] = ledger_.edges();
    out["reads_verified"] = verified_;
    nlohmann::json rec = nlohmann::json::object();
    double worst = 0;
    for (auto& [kind, v] : recoveries_) {
      worst = std::max(worst, *std::max_element(v.begin(), v.end()));
      rec[kind] = {{"faults", v.size()},
                   {"p50_s", Percentile(std::vector<float>(v.begin(), v.end()), 0.5)},
                   {"max_s", *std::max_element(v.begin(), v.end())}};
    }
    out["recovery"] = rec;
    out["recovery_max_s"] = worst;
    out["failures"] = failures_;
    for (const auto& [name, peak] : peaks_) {
      out["peak"][name] = {{"rss_mb", peak.rss_mb}, {"fds", peak.fds}, {"threads", peak.threads}};
    }
    const bool pass = healthy_ && failures_.empty() && tally_.Clean();
    out["pass"] = pass;
    printf("\n%s\n", out.dump(2).c_str());
    printf(
        "\nchaos: %s — %d fault cycles, %zu concepts + %zu associations acknowledged, %lld lost, "
        "%lld wrong answers, %lld unexpected codes, worst recovery %.2f s\n",
        pass ? "PASS" : "FAIL", cycles_, ledger_.concepts(), ledger_.edges(),
        static_cast<long long>(out["lost_writes"].get<int64_t>()),
        static_cast<long long>(out["wrong_answers"].get<int64_t>()),
        static_cast<long long>(out["unexpected_codes"].get<int64_t>()), worst);
    if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
      std::ofstream(path) << out.dump(2) << "\n";
    }
    return pass ? 0 : 1;
  }

  std::filesystem::path dir_;
  Suite suite_;
  std::mt19937_64 rng_;  // the main thread's
  Ledger ledger_;
  Tally tally_;
  Checker checker_;
  Service* storage_ = nullptr;
  std::vector<Service*> hybrids_, apis_;
  std::vector<std::unique_ptr<v1::Engram::Stub>> stubs_;
  AckedConcept sentinel_;
  uint64_t probe_seq_ = 0;
  Clock::time_point start_ = Clock::now();
  int cycles_ = 0;
  size_t concepts_checked_ = 0, edges_checked_ = 0;
  int64_t verified_ = 0;
  bool healthy_ = true;
  std::vector<std::string> failures_;
  std::map<std::string, std::vector<double>> recoveries_;  // storage / hybrid / api -> seconds

  std::ofstream csv_;
  std::map<std::string, ProcSample> peaks_;  // per service, written by the sampler only
  std::thread sampler_;
  std::mutex sampler_mu_;
  std::condition_variable sampler_cv_;
  bool sampler_stop_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Chaos, overload and soak runs of the whole suite (see the top of "
      "bench/chaos_bench.cc).");
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  std::filesystem::path dir = absl::GetFlag(FLAGS_work_dir);
  const bool made_dir = dir.empty();
  if (made_dir) {
    char tmpl[] = "/tmp/engram-chaos.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 2;
    dir = tmpl;
  }
  printf("chaos_bench: work dir %s, seed %llu, rate %.0f/s, %d hybrids, %d apis, faults %s\n",
         dir.c_str(), static_cast<unsigned long long>(absl::GetFlag(FLAGS_seed)),
         absl::GetFlag(FLAGS_rate), absl::GetFlag(FLAGS_hybrids), absl::GetFlag(FLAGS_apis),
         absl::GetFlag(FLAGS_faults) ? "on" : "off");
  fflush(stdout);
  int rc;
  {
    Chaos chaos(dir, absl::GetFlag(FLAGS_seed));
    rc = chaos.Run();
  }  // the children are killed here
  if (rc == 0 && made_dir && !absl::GetFlag(FLAGS_keep_work)) std::filesystem::remove_all(dir);
  if (rc != 0) printf("logs kept in %s\n", dir.c_str());
  return rc;
}
