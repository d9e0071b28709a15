// Helpers shared by the storage benchmarks (ingest_bench, read_bench, startup_bench): request
// building, latency statistics, and running the real engram-storage binary as a child process.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "engram/storage/v1/storage.grpc.pb.h"
#include "engram/storage/v1/storage.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace engram::bench::storage {

namespace v1 = ::engram::storage::v1;

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A pool of random vectors so that building requests costs little next to what is measured.
class VectorPool {
 public:
  VectorPool(uint32_t dim, size_t count, uint32_t seed = 42) : dim_(dim) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0, 1);
    data_.resize(size_t{dim} * count);
    for (float& x : data_) x = d(rng);
    count_ = count;
  }
  const float* Get(uint64_t i) const { return data_.data() + (i % count_) * dim_; }
  uint32_t dim() const { return dim_; }

 private:
  uint32_t dim_;
  size_t count_;
  std::vector<float> data_;
};

inline std::string ConceptId(uint64_t i) { return absl::StrFormat("c%010d", i); }

// The benchmark concept: id, ~100 bytes of content, 2 attributes, a `dim`-d vector.
inline void FillConcept(uint64_t i, const VectorPool& pool, v1::Concept* c) {
  c->set_id(ConceptId(i));
  c->set_content(absl::StrFormat(
      "concept %010d: a benchmark memory of about one hundred bytes of UTF-8 text, padded %06d.", i,
      i % 1000000));
  const float* v = pool.Get(i);
  c->mutable_vector()->Add(v, v + pool.dim());
  (*c->mutable_attributes())["source"] = "bench";
  (*c->mutable_attributes())["shard"] = absl::StrCat(i % 16);
}

// A write of concepts [first, first + n), plus `assocs_per_concept` SEMANTIC associations from
// each to earlier concepts (ids in [0, first + k)), so every target exists.
inline v1::WriteRequest ConceptBatch(const std::string& ns, uint64_t first, uint32_t n,
                                     const VectorPool& pool, uint32_t assocs_per_concept = 0,
                                     std::mt19937_64* rng = nullptr) {
  v1::WriteRequest r;
  r.set_namespace_(ns);
  for (uint32_t k = 0; k < n; ++k) FillConcept(first + k, pool, r.add_mutations()->mutable_put_concept());
  if (assocs_per_concept > 0 && rng != nullptr) {
    for (uint32_t k = 0; k < n; ++k) {
      uint64_t src = first + k;
      if (src == 0) continue;
      for (uint32_t a = 0; a < assocs_per_concept; ++a) {
        uint64_t dst = (*rng)() % src;
        auto* m = r.add_mutations()->mutable_put_association();
        m->set_source(ConceptId(src));
        m->set_target(ConceptId(dst));
        m->set_type(v1::SEMANTIC);
        m->set_confidence(0.5f + 0.5f * static_cast<float>((*rng)() % 1000) / 1000.0f);
      }
    }
  }
  return r;
}

inline v1::NamespaceConfig BenchNamespace(const std::string& name, uint32_t dim, uint32_t m,
                                          uint32_t ef_construction) {
  v1::NamespaceConfig c;
  c.set_name(name);
  c.set_dimension(dim);
  c.set_metric(v1::COSINE);
  c.set_embedder("none");
  if (m > 0) c.mutable_index_params()->set_m(m);
  if (ef_construction > 0) c.mutable_index_params()->set_ef_construction(ef_construction);
  return c;
}

// Latency samples in seconds.
struct Latencies {
  std::vector<double> s;
  void Add(double x) { s.push_back(x); }
  void Merge(const Latencies& o) { s.insert(s.end(), o.s.begin(), o.s.end()); }
  double Quantile(double q) {
    if (s.empty()) return 0;
    size_t k = std::min(s.size() - 1, static_cast<size_t>(q * static_cast<double>(s.size())));
    std::nth_element(s.begin(), s.begin() + static_cast<ptrdiff_t>(k), s.end());
    return s[k];
  }
};

// "1,16,64" -> {1, 16, 64}; entries that are not integers are skipped.
inline std::vector<int> ParseIntList(const std::string& s) {
  std::vector<int> out;
  for (absl::string_view p : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int v;
    if (absl::SimpleAtoi(p, &v)) out.push_back(v);
  }
  return out;
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A free TCP port on loopback (bound, read, closed; racy but fine for a benchmark).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// GET on the HTTP port (e.g. "/metrics"); empty on error.
inline std::string HttpGetRaw(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) < 0) {
    close(fd);
    return "";
  }
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// The engram-storage binary as a child process. Its stdout/stderr go to `log_path`.
class StorageProcess {
 public:
  StorageProcess(std::string binary, std::string data_dir, std::string sync, std::string log_path)
      : binary_(std::move(binary)), data_dir_(std::move(data_dir)), sync_(std::move(sync)),
        log_path_(std::move(log_path)) {}
  ~StorageProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Spawns on fresh fixed ports (so readiness can be polled from the first instant).
  bool Spawn(const std::vector<std::string>& extra = {}) {
    grpc_port_ = FreePort();
    http_port_ = FreePort();
    std::vector<std::string> args = {binary_,
                                     "--data_dir=" + data_dir_,
                                     "--listen_address=127.0.0.1",
                                     absl::StrCat("--grpc_port=", grpc_port_),
                                     absl::StrCat("--http_port=", http_port_),
                                     "--sync=" + sync_,
                                     "--log_level=warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    spawn_time_ = Clock::now();
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                   grpc::InsecureChannelCredentials());
    return true;
  }

  // Polls GET /readyz on the HTTP port every ~2 ms until 200, then confirms that
  // grpc.health.v1 Check("") says SERVING. Returns seconds from Spawn to the first 200, or -1 on
  // timeout or if the child died. (A gRPC channel polled before the port listens sits in
  // connection backoff for seconds, which would be measured instead of the server.)
  double WaitServing(double timeout_s) {
    while (SecondsSince(spawn_time_) < timeout_s) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return -1;
      }
      std::string r = HttpGetRaw(http_port_, "/readyz");
      if (r.rfind("HTTP/1.1 200", 0) == 0 || r.rfind("HTTP/1.0 200", 0) == 0) {
        double t = SecondsSince(spawn_time_);
        auto health = grpc::health::v1::Health::NewStub(channel_);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        ctx.set_wait_for_ready(true);
        grpc::health::v1::HealthCheckResponse resp;
        grpc::Status s = health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
        if (s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) return t;
        fprintf(stderr, "/readyz 200 but gRPC health is not SERVING (%s)\n", s.error_message().c_str());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return -1;
  }

  // Sends `sig` and waits for exit; returns seconds until the process exited.
  double Stop(int sig) {
    if (pid_ <= 0) return 0;
    auto t0 = Clock::now();
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return SecondsSince(t0);
  }

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<v1::Storage::Stub> NewStub() const { return v1::Storage::NewStub(channel_); }
  // A separate TCP connection (gRPC shares subchannels for equal args otherwise).
  std::unique_ptr<v1::Storage::Stub> NewStubOwnConnection(int i) const {
    grpc::ChannelArguments args;
    args.SetInt("engram.bench.channel", i);
    return v1::Storage::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", grpc_port_), grpc::InsecureChannelCredentials(), args));
  }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  std::string binary_, data_dir_, sync_, log_path_;
  pid_t pid_ = -1;
  int grpc_port_ = 0, http_port_ = 0;
  Clock::time_point spawn_time_;
  std::shared_ptr<grpc::Channel> channel_;
};

// CPU seconds (user + system, all threads) a process has used so far: `pid` from /proc, or this
// process (pid 0) from getrusage. The difference across a measurement, divided by its calls, is
// the CPU each call cost that side, which the shared machine's load changes far less than rates.
inline double ProcessCpuSeconds(pid_t pid = 0) {
  if (pid == 0) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  }
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(f, line);
  size_t close_paren = line.rfind(')');  // the command name may hold spaces
  if (close_paren == std::string::npos) return -1;
  std::istringstream rest(line.substr(close_paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15 are utime and stime
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A closed-loop load of asynchronous unary gRPC calls: `threads` client threads, each with its
// own completion queue, together keep `inflight` calls outstanding (spread evenly) until
// `seconds` have passed or `next` has no more requests; each completion is checked, timed and
// replaced by the next call. This is how a production client holds many requests in flight;
// a thread blocked per call (the synchronous stub) costs the client several times more CPU,
// which on a shared 2-core machine is taken from the server being measured.
//
// next(thread, &req): fills the next request (built before its call is timed); false = no more.
// prepare(thread, &ctx, req, &cq): returns the call, not yet started (stub->PrepareAsyncX).
// check(resp): false fails the run.
struct AsyncLoadResult {
  int64_t calls = 0;
  bool failed = false;
  double elapsed_s = 0;
  Latencies latency;
};

// Shuts a client completion queue down and takes what is left on it.
inline void ShutdownAndDrain(grpc::CompletionQueue* cq) {
  cq->Shutdown();
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) {
  }
}

// The result of a closed-loop load that began at `begin`: every thread's latencies merged.
inline AsyncLoadResult LoadResultOf(Clock::time_point begin, bool failed, std::vector<Latencies>* lat) {
  AsyncLoadResult r;
  r.elapsed_s = SecondsSince(begin);
  r.failed = failed;
  for (auto& l : *lat) r.latency.Merge(l);
  r.calls = static_cast<int64_t>(r.latency.s.size());
  return r;
}

// One asynchronous call of RunAsyncUnary / RunOpenLoopUnary, and its two ends.
template <class Req, class Resp>
struct AsyncBenchCall {
  using Prepare = std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(
      int, grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>;
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
  Clock::time_point t0;

  // Starts the call (its request already filled) on `cq`, timed from `start`; the call is the tag.
  void Start(int thread, const Prepare& prepare, grpc::CompletionQueue* cq, Clock::time_point start) {
    t0 = start;
    reader = prepare(thread, &ctx, req, cq);
    reader->StartCall();
    reader->Finish(&resp, &status, this);
  }
  // On completion: records the latency, or reports the first failure and sets `failed`; deletes
  // the call.
  static void Complete(AsyncBenchCall* c, bool ok, const std::function<bool(const Resp&)>& check,
                       std::atomic<bool>* failed, Latencies* lat) {
    if (!ok || !c->status.ok() || !check(c->resp)) {
      if (!failed->exchange(true)) {
        fprintf(stderr, "async call failed: %d %s\n", c->status.error_code(), c->status.error_message().c_str());
      }
    } else {
      lat->Add(SecondsSince(c->t0));
    }
    delete c;
  }
};

template <class Req, class Resp>
AsyncLoadResult RunAsyncUnary(
    int threads, int inflight, double seconds, const std::function<bool(int, Req*)>& next,
    const std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(
        int, grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>& prepare,
    const std::function<bool(const Resp&)>& check) {
  using Call = AsyncBenchCall<Req, Resp>;
  std::atomic<bool> failed{false};
  std::vector<Latencies> lat(static_cast<size_t>(threads));
  const auto t_begin = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      grpc::CompletionQueue cq;
      auto issue = [&]() -> bool {
        if (failed.load(std::memory_order_relaxed) || SecondsSince(t_begin) >= seconds) return false;
        auto* c = new Call;
        if (!next(t, &c->req)) {
          delete c;
          return false;
        }
        c->Start(t, prepare, &cq, Clock::now());
        return true;
      };
      int mine = inflight / threads + (t < inflight % threads ? 1 : 0);
      int outstanding = 0;
      for (int i = 0; i < mine && issue(); ++i) ++outstanding;
      void* tag;
      bool ok;
      while (outstanding > 0 && cq.Next(&tag, &ok)) {
        --outstanding;
        Call::Complete(static_cast<Call*>(tag), ok, check, &failed, &lat[static_cast<size_t>(t)]);
        if (issue()) ++outstanding;
      }
      ShutdownAndDrain(&cq);
    });
  }
  for (auto& th : ts) th.join();
  return LoadResultOf(t_begin, failed.load(), &lat);
}

// A closed-loop load on bidirectional streams: `threads` client threads, each with its own
// completion queue, together hold `streams` streams open (spread evenly), each with `depth`
// requests in flight: when an answer comes (answers come in request order) it is timed from the
// moment its request was queued, and the next request is queued, until `seconds` have passed or
// `next` has no more requests. Then each stream half-closes once its answers are in, and is
// finished. A stream writes one request at a time; while one is being written the next ones wait,
// and when more than one waits, all but the last go with gRPC's buffer hint, so they leave in one
// send. depth 1 is a client sending single writes in turn; depth > 1 a client pipelining them
// (each still its own request with its own answer).
// next, check: as for RunAsyncUnary. prepare(thread, &ctx, &cq): the stream, not yet started
// (stub->PrepareAsyncX).
template <class Req, class Resp>
AsyncLoadResult RunAsyncStreams(
    int threads, int streams, int depth, double seconds, const std::function<bool(int, Req*)>& next,
    const std::function<std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>>(
        int, grpc::ClientContext*, grpc::CompletionQueue*)>& prepare,
    const std::function<bool(const Resp&)>& check) {
  struct Stream;
  enum class Kind { kStarted, kWritten, kRead, kHalfClosed, kFinished };
  struct Event {
    Stream* stream;
    Kind kind;
  };
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>> rw;
    Resp resp;
    grpc::Status status;
    std::deque<Req> to_send;                  // queued, not yet written; the front may be in flight
    std::deque<Clock::time_point> unanswered;  // when each request without an answer was queued
    bool started = false, writing = false, reading = false;
    bool no_more = false;  // time is up or `next` is done: queue nothing more
    bool broken = false;   // an operation failed: finish without half-closing
    bool ending = false;   // WritesDone or Finish was called
    Event started_ev{this, Kind::kStarted}, written{this, Kind::kWritten}, read{this, Kind::kRead},
        half_closed{this, Kind::kHalfClosed}, finished{this, Kind::kFinished};
  };
  std::atomic<bool> failed{false};
  auto fail = [&](const char* what, const grpc::Status& s) {
    if (!failed.exchange(true)) {
      fprintf(stderr, "stream %s failed: %d %s\n", what, s.error_code(), s.error_message().c_str());
    }
  };
  std::vector<Latencies> lat(static_cast<size_t>(threads));
  const auto t_begin = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      grpc::CompletionQueue cq;
      const int mine = streams / threads + (t < streams % threads ? 1 : 0);
      std::vector<std::unique_ptr<Stream>> own;
      for (int i = 0; i < mine; ++i) {
        own.push_back(std::make_unique<Stream>());
        Stream* s = own.back().get();
        s->rw = prepare(t, &s->ctx, &cq);
        s->rw->StartCall(&s->started_ev);
      }
      // Queues requests up to `depth` unanswered.
      auto top_up = [&](Stream* s) {
        while (!s->no_more && s->unanswered.size() < static_cast<size_t>(depth)) {
          Req req;
          if (failed.load(std::memory_order_relaxed) || SecondsSince(t_begin) >= seconds || !next(t, &req)) {
            s->no_more = true;
            break;
          }
          s->to_send.push_back(std::move(req));
          s->unanswered.push_back(Clock::now());
        }
      };
      // Starts what the stream can do now: the next write, a read for an owed answer, the end.
      auto pump = [&](Stream* s) {
        if (!s->started || s->ending) return;
        if (s->broken) {
          if (!s->writing && !s->reading) {
            s->ending = true;
            s->rw->Finish(&s->status, &s->finished);
          }
          return;
        }
        if (!s->writing && !s->to_send.empty()) {
          grpc::WriteOptions options;
          if (s->to_send.size() > 1) options.set_buffer_hint();
          s->writing = true;
          s->rw->Write(s->to_send.front(), options, &s->written);
        }
        if (!s->reading && !s->unanswered.empty()) {
          s->reading = true;
          s->rw->Read(&s->resp, &s->read);
        }
        if (s->no_more && s->unanswered.empty() && !s->writing && !s->reading) {
          s->ending = true;
          s->rw->WritesDone(&s->half_closed);
        }
      };
      int open = mine;
      void* tag;
      bool ok;
      while (open > 0 && cq.Next(&tag, &ok)) {
        auto* e = static_cast<Event*>(tag);
        Stream* s = e->stream;
        switch (e->kind) {
          case Kind::kStarted:
            s->started = true;
            if (!ok) s->broken = true;
            top_up(s);
            break;
          case Kind::kWritten:
            s->writing = false;
            s->to_send.pop_front();
            if (!ok) s->broken = true;
            break;
          case Kind::kRead:
            s->reading = false;
            if (!ok) {
              s->broken = true;
            } else {
              if (check(s->resp)) {
                lat[static_cast<size_t>(t)].Add(SecondsSince(s->unanswered.front()));
              } else {
                fail("request", grpc::Status(grpc::StatusCode::UNKNOWN, "a bad answer"));
              }
              s->unanswered.pop_front();
              top_up(s);
            }
            break;
          case Kind::kHalfClosed:
            s->rw->Finish(&s->status, &s->finished);
            break;
          case Kind::kFinished:
            if (!s->status.ok()) fail("finish", s->status);
            --open;
            break;
        }
        if (s->broken && !s->ending && !s->writing && !s->reading && !s->unanswered.empty()) {
          fail("request", grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream broke with answers owed"));
        }
        pump(s);
      }
      ShutdownAndDrain(&cq);
    });
  }
  for (auto& th : ts) th.join();
  return LoadResultOf(t_begin, failed.load(), &lat);
}

// An open-loop load of the same calls: one pacing thread starts calls on a fixed schedule, `rate`
// per second, with at most `inflight` outstanding; another takes the completions off the queue.
// A call's latency counts from its scheduled start, so time spent waiting for a free slot (or for
// a pacer that fell behind) is included rather than omitted. This measures latency at a given
// load below saturation, which a closed loop (each completion starts the next call at once)
// cannot: it always runs the machine flat out. The pacer sleeps until each start
// (clock_nanosleep), so the schedule does not depend on the completion queue's timer resolution.
// next, prepare, check: as for RunAsyncUnary (thread is always 0).
template <class Req, class Resp>
AsyncLoadResult RunOpenLoopUnary(
    double rate, int inflight, double seconds, const std::function<bool(int, Req*)>& next,
    const std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(
        int, grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>& prepare,
    const std::function<bool(const Resp&)>& check) {
  using Call = AsyncBenchCall<Req, Resp>;
  grpc::CompletionQueue cq;
  std::atomic<bool> failed{false};
  std::atomic<int> outstanding{0};
  Latencies lat;
  const auto t_begin = Clock::now();
  std::thread drainer([&] {
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
      Call::Complete(static_cast<Call*>(tag), ok, check, &failed, &lat);
      outstanding.fetch_sub(1, std::memory_order_release);
    }
  });
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / rate));
  for (Clock::time_point at = t_begin; !failed.load(std::memory_order_relaxed); at += interval) {
    if (std::chrono::duration<double>(at - t_begin).count() >= seconds) break;
    std::this_thread::sleep_until(at);
    while (outstanding.load(std::memory_order_acquire) >= inflight) std::this_thread::yield();
    auto* c = new Call;
    if (!next(0, &c->req)) {
      delete c;
      break;
    }
    outstanding.fetch_add(1, std::memory_order_relaxed);
    c->Start(0, prepare, &cq, at);  // timed from the scheduled start, however late it starts
  }
  while (outstanding.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  AsyncLoadResult r;
  r.elapsed_s = SecondsSince(t_begin);
  cq.Shutdown();
  drainer.join();
  r.failed = failed.load();
  r.latency = std::move(lat);
  r.calls = static_cast<int64_t>(r.latency.s.size());
  return r;
}

// Value of the first sample line starting with `name` (+ space or '{') in Prometheus text.
inline double PromValue(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find(name, pos)) != std::string::npos) {
    bool line_start = pos == 0 || text[pos - 1] == '\n';
    size_t after = pos + name.size();
    if (line_start && after < text.size() && (text[after] == ' ' || text[after] == '{')) {
      size_t sp = text.find(' ', text[after] == '{' ? text.find('}', after) : after);
      return std::atof(text.c_str() + sp + 1);
    }
    pos = after;
  }
  return -1;
}

}  // namespace engram::bench::storage
