#include "common/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "common/http/json_error.h"
#include "common/http/router.h"
#include "common/http/url.h"
#include "common/logging/correlation.h"
#include "common/metrics/metrics.h"
#include "spdlog/spdlog.h"

namespace engram::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr std::string_view kCorrelationHeader = "X-Correlation-ID";
constexpr std::string_view kUnmatchedRoute = "unmatched";
// How long a closing connection keeps reading (and discarding) what the client still sends, so
// that an early error response (413, 400) is not destroyed by a TCP reset.
constexpr auto kLingerTime = std::chrono::seconds(2);

beast::string_view BeastView(std::string_view text) { return {text.data(), text.size()}; }

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// Bounded label values for the method label.
std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",  "POST",    "PUT",  "DELETE",
                                                "HEAD", "OPTIONS", "PATCH"};
  for (std::string_view known : kKnown) {
    if (method == known) return known;
  }
  return "OTHER";
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const char ca = absl::ascii_tolower(static_cast<unsigned char>(a[i]));
    const char cb = absl::ascii_tolower(static_cast<unsigned char>(b[i]));
    if (ca != cb) return ca < cb;
  }
  return a.size() < b.size();
}

std::string_view Request::Header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

class HttpServer::Impl {
 public:
  class Session;

  explicit Impl(Options options)
      : options_(std::move(options)), ioc_(std::max(1, options_.threads)) {
    if (options_.metrics != nullptr) {
      requests_ = &options_.metrics->AddCounter("http_requests_total", "HTTP requests handled.",
                                                {"route", "method", "code"});
      durations_ = &options_.metrics->AddHistogram(
          "http_request_duration_seconds",
          "Time from receiving a request's headers to having its response ready.",
          {"route", "method"}, metrics::DefaultLatencyBuckets());
    }
  }

  ~Impl() { Shutdown(); }

  void Handle(std::string method, std::string pattern, Handler handler) {
    if (started_.load()) {
      std::fprintf(stderr, "engram::http: Handle(%s %s) after Start()\n", method.c_str(),
                   pattern.c_str());
      std::abort();
    }
    absl::Status status = router_.Add(std::move(method), pattern, std::move(handler));
    if (!status.ok()) {
      std::fprintf(stderr, "engram::http: %s\n", status.ToString().c_str());
      std::abort();
    }
  }

  absl::Status Start();
  void Shutdown();
  int port() const { return port_.load(); }

  // For sessions.
  const Options& options() const { return options_; }
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  Response Dispatch(Request& request, std::string_view raw_query);
  void Record(std::string_view route, std::string_view method, int code,
              std::chrono::steady_clock::time_point start);
  void SessionStarted(const std::shared_ptr<Session>& session);
  void SessionEnded(Session* session);

 private:
  void DoAccept();

  // Constant after construction / Start().
  const Options options_;
  Router<Handler> router_;
  metrics::CounterFamily* requests_ = nullptr;
  metrics::HistogramFamily* durations_ = nullptr;

  std::atomic<bool> started_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> port_{0};

  // Declared before ioc_: sessions destroyed with the io_context still deregister here.
  std::mutex mu_;
  std::condition_variable sessions_changed_;
  std::map<Session*, std::weak_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_retry_timer_;
  std::vector<std::thread> threads_;
};

// One client connection. Lives as long as an asynchronous operation holds a shared_ptr to it;
// all its handlers run on its strand.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}
  ~Session() { server_->SessionEnded(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Called at shutdown: closes the connection unless a request is being served.
  void CloseIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ != State::kBusy) self->Close();
    });
  }

 private:
  enum class State { kIdle, kBusy, kClosing };

  const HttpServer::Options& options() const { return server_->options(); }

  void ReadHeader() {
    if (server_->shutting_down()) return Close();
    state_ = State::kIdle;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options().max_header_bytes));
    parser_->body_limit(options().max_body_bytes);
    stream_.expires_after(ToChrono(options().idle_timeout));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        return SendError(431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "request headers too large");
      }
      if (ec == bhttp::error::body_limit) {
        // Beast checks Content-Length against the body limit while parsing the header.
        start_ = std::chrono::steady_clock::now();
        return SendError(
            413, "PAYLOAD_TOO_LARGE",
            absl::StrCat("request body exceeds the limit of ", options().max_body_bytes, " bytes"));
      }
      if (IsDisconnect(ec)) return Close();
      return SendError(400, "INVALID_ARGUMENT",
                       absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    state_ = State::kBusy;
    start_ = std::chrono::steady_clock::now();
    if (const auto length = parser_->content_length();
        length.has_value() && *length > options().max_body_bytes) {
      return SendError(413, "PAYLOAD_TOO_LARGE",
                       absl::StrCat("request body of ", *length, " bytes exceeds the limit of ",
                                    options().max_body_bytes));
    }
    if (parser_->is_done()) return HandleRequest();
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      continue_response_.emplace(bhttp::status::continue_, parser_->get().version());
      return bhttp::async_write(stream_, *continue_response_,
                                [self = shared_from_this()](beast::error_code ec, size_t) {
                                  if (ec) return self->Close();
                                  self->ReadBody();
                                });
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(ToChrono(options().idle_timeout));
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit) {
      return SendError(
          413, "PAYLOAD_TOO_LARGE",
          absl::StrCat("request body exceeds the limit of ", options().max_body_bytes, " bytes"));
    }
    if (ec) {
      if (IsDisconnect(ec) || ec == bhttp::error::partial_message) return Close();
      return SendError(400, "INVALID_ARGUMENT",
                       absl::StrCat("malformed HTTP request body: ", ec.message()));
    }
    HandleRequest();
  }

  void HandleRequest() {
    bhttp::request<bhttp::string_body>& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    const std::string_view target(message.target().data(), message.target().size());
    const size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    const std::string_view raw_query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    for (const auto& field : message) {
      std::string name(field.name_string());
      std::string_view value(field.value().data(), field.value().size());
      auto [it, inserted] = request.headers.emplace(std::move(name), std::string(value));
      if (!inserted) absl::StrAppend(&it->second, ", ", std::string(value));
    }
    request.correlation_id = logging::CorrelationIdOrNew(request.Header(kCorrelationHeader));
    request.body = std::move(message.body());
    // The raw target must stay alive until Dispatch has parsed the query from it.
    Response response = server_->Dispatch(request, raw_query);
    const bool keep_alive = message.keep_alive() && !server_->shutting_down();
    server_->Record(request.route.empty() ? kUnmatchedRoute : request.route, request.method,
                    response.status, start_);
    Send(std::move(response), request.correlation_id, keep_alive, message.version());
  }

  // Answers with an error before a request could be dispatched, then closes the connection.
  void SendError(int status, std::string_view code, std::string_view message) {
    state_ = State::kBusy;
    std::string correlation_id;
    unsigned version = 11;
    if (parser_.has_value() && parser_->is_header_done()) {
      const auto& header = parser_->get();
      version = header.version();
      const auto supplied = header[BeastView(kCorrelationHeader)];
      correlation_id =
          logging::CorrelationIdOrNew(std::string_view(supplied.data(), supplied.size()));
      server_->Record(kUnmatchedRoute, std::string(header.method_string()), status,
                      start_ == std::chrono::steady_clock::time_point()
                          ? std::chrono::steady_clock::now()
                          : start_);
    } else {
      correlation_id = logging::NewCorrelationId();
    }
    Send(JsonErrorResponse(status, code, message, correlation_id), correlation_id,
         /*keep_alive=*/false, version);
  }

  void Send(Response response, const std::string& correlation_id, bool keep_alive,
            unsigned version) {
    response_.emplace();
    response_->version(version);
    const int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
    response_->result(static_cast<unsigned>(status));
    if (!response.content_type.empty()) {
      response_->set(bhttp::field::content_type, response.content_type);
    }
    for (auto& [name, value] : response.headers) response_->insert(name, value);
    response_->set(BeastView(kCorrelationHeader), correlation_id);
    response_->keep_alive(keep_alive);
    response_->body() = std::move(response.body);
    response_->prepare_payload();
    stream_.expires_after(ToChrono(options().idle_timeout));
    bhttp::async_write(stream_, *response_,
                       [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         if (!keep_alive) return self->LingerAndClose();
                         self->ReadHeader();
                       });
  }

  // Half-closes, then discards input until the client closes or kLingerTime passes.
  void LingerAndClose() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec || self->server_->shutting_down()) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  static bool IsDisconnect(const beast::error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::operation_aborted || ec == beast::error::timeout ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::bad_descriptor;
  }

  beast::tcp_stream stream_;
  HttpServer::Impl* const server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_response_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::array<char, 4096> drain_buffer_;
  State state_ = State::kIdle;
  std::chrono::steady_clock::time_point start_;
};

absl::Status HttpServer::Impl::Start() {
  if (options_.threads < 1) return absl::InvalidArgumentError("HttpServer: threads must be >= 1");
  if (options_.port < 0 || options_.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HttpServer: bad port ", options_.port));
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options_.address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("HttpServer: bad address \"", options_.address, "\": ", ec.message()));
  }
  if (started_.exchange(true)) return absl::FailedPreconditionError("HttpServer: already started");
  {
    std::lock_guard lock(mu_);
    if (stopped_) return absl::FailedPreconditionError("HttpServer: already shut down");
  }
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.port));
  acceptor_.emplace(asio::make_strand(ioc_));
  const auto fail = [&](std::string_view what) {
    acceptor_.reset();
    return absl::UnavailableError(absl::StrCat("HttpServer: ", std::string(what), " ",
                                               options_.address, ":", options_.port, ": ",
                                               ec.message()));
  };
  if (acceptor_->open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor_->set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return fail("setsockopt");
  }
  if (acceptor_->bind(endpoint, ec); ec) return fail("bind");
  if (acceptor_->listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  port_.store(acceptor_->local_endpoint().port());
  accept_retry_timer_.emplace(acceptor_->get_executor());
  work_guard_.emplace(ioc_.get_executor());
  DoAccept();
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] {
      // Handlers catch their own exceptions; this is the last line of defence.
      while (true) {
        try {
          ioc_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: uncaught exception on I/O thread: {}", e.what());
        }
      }
    });
  }
  return absl::OkStatus();
}

void HttpServer::Impl::DoAccept() {
  acceptor_->async_accept(asio::make_strand(ioc_),
                          [this](beast::error_code ec, tcp::socket socket) {
                            if (ec == asio::error::operation_aborted || shutting_down()) return;
                            if (ec) {
                              // E.g. out of file descriptors: back off instead of spinning.
                              spdlog::warn("http: accept failed: {}", ec.message());
                              accept_retry_timer_->expires_after(std::chrono::milliseconds(50));
                              accept_retry_timer_->async_wait([this](beast::error_code wait_ec) {
                                if (!wait_ec && !shutting_down()) DoAccept();
                              });
                              return;
                            }
                            // Responses go out as soon as they are written, not held back by
                            // Nagle's algorithm until the client ACKs an earlier segment.
                            beast::error_code nodelay_ec;
                            socket.set_option(tcp::no_delay(true), nodelay_ec);
                            auto session = std::make_shared<Session>(std::move(socket), this);
                            SessionStarted(session);
                            session->Start();
                            DoAccept();
                          });
}

void HttpServer::Impl::SessionStarted(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mu_);
  sessions_.emplace(session.get(), session);
}

void HttpServer::Impl::SessionEnded(Session* session) {
  std::lock_guard lock(mu_);
  sessions_.erase(session);
  sessions_changed_.notify_all();
}

void HttpServer::Impl::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  shutting_down_.store(true, std::memory_order_release);
  if (!acceptor_.has_value()) return;  // Never started (or Start failed).

  asio::post(acceptor_->get_executor(), [this] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    accept_retry_timer_->cancel();
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [unused, weak] : sessions_) {
      if (std::shared_ptr<Session> session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (const std::shared_ptr<Session>& session : live) session->CloseIfIdle();
  live.clear();
  {
    const auto deadline = std::chrono::steady_clock::now() + ToChrono(options_.drain_timeout);
    std::unique_lock lock(mu_);
    sessions_changed_.wait_until(lock, deadline, [this] { return sessions_.empty(); });
    if (!sessions_.empty()) {
      spdlog::warn("http: {} connection(s) still open after the drain timeout; abandoning them",
                   sessions_.size());
    }
  }
  work_guard_.reset();
  ioc_.stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

Response HttpServer::Impl::Dispatch(Request& request, std::string_view raw_query) {
  logging::ScopedCorrelationId correlation(request.correlation_id);
  const std::string& cid = request.correlation_id;
  Router<Handler>::Result match = router_.Route(request.method, request.path);
  switch (match.outcome) {
    case Router<Handler>::Outcome::kNotFound:
      return JsonErrorResponse(404, "NOT_FOUND", absl::StrCat("no route for ", request.path), cid);
    case Router<Handler>::Outcome::kMethodNotAllowed: {
      Response response = JsonErrorResponse(
          405, "METHOD_NOT_ALLOWED",
          absl::StrCat("method ", request.method, " is not allowed on ", request.path), cid);
      response.headers.emplace_back("Allow", absl::StrJoin(match.allowed_methods, ", "));
      return response;
    }
    case Router<Handler>::Outcome::kBadPath:
      return JsonErrorResponse(400, "INVALID_ARGUMENT", "invalid percent-encoding in the path",
                               cid);
    case Router<Handler>::Outcome::kFound:
      break;
  }
  request.route = std::move(match.pattern);
  request.path_params = std::move(match.params);
  absl::StatusOr<std::map<std::string, std::string>> query = ParseQuery(raw_query);
  if (!query.ok()) {
    return JsonErrorResponse(400, "INVALID_ARGUMENT", "invalid percent-encoding in the query", cid);
  }
  request.query = *std::move(query);
  try {
    Response response = (*match.handler)(request);
    // The access log, at debug level (one line per request is too much for busy production logs
    // at info); the line carries the correlation id like every other line of the request.
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("http {} {} -> {}", request.method, request.path, response.status);
    }
    return response;
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} {} threw: {}", request.method, request.route, e.what());
  } catch (...) {
    spdlog::error("http: handler for {} {} threw a non-exception", request.method, request.route);
  }
  return JsonErrorResponse(absl::InternalError("handler failed"), cid);
}

void HttpServer::Impl::Record(std::string_view route, std::string_view method, int code,
                              std::chrono::steady_clock::time_point start) {
  if (requests_ == nullptr) return;
  const std::string method_label(MethodLabel(method));
  requests_->Add({std::string(route), method_label, absl::StrCat(code)}).Increment();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  durations_->Add({std::string(route), method_label}).Observe(elapsed.count());
}

HttpServer::HttpServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpServer::~HttpServer() { impl_->Shutdown(); }

void HttpServer::Handle(std::string method, std::string pattern, Handler handler) {
  impl_->Handle(std::move(method), std::move(pattern), std::move(handler));
}
absl::Status HttpServer::Start() { return impl_->Start(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Shutdown() { impl_->Shutdown(); }

}  // namespace engram::http
