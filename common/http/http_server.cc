#include "common/http/http_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
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
#include "boost/asio/local/stream_protocol.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "boost/beast/websocket.hpp"
#include "common/http/json_error.h"
#include "common/http/router.h"
#include "common/http/tls_context.h"
#include "common/http/url.h"
#include "common/logging/correlation.h"
#include "common/metrics/metrics.h"
#include "common/sync/mutex.h"
#include "spdlog/spdlog.h"

namespace engram::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
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

// A blocking view of a session's socket for stream handlers, on which Beast's synchronous
// algorithms run. asio's own synchronous operations are not used: on a socket in non-blocking
// mode they wait for readiness without a deadline, so a stalled client would hold the I/O thread
// forever. Here every read_some/write_some waits at most `timeout` for progress (poll()), and
// fails at once when the server aborts streams at the end of the shutdown drain (`aborted` is
// set and `abort_fd`, an eventfd, becomes readable).
class PollingSocket {
 public:
  PollingSocket(int fd, const std::atomic<bool>* aborted, int abort_fd,
                std::chrono::steady_clock::duration timeout)
      : fd_(fd), aborted_(aborted), abort_fd_(abort_fd), timeout_(timeout) {}

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    IoVecs iov(buffers);
    return Transfer(iov, /*write=*/false, ec);
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(beast::system_error(ec));
    return n;
  }
  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, beast::error_code& ec) {
    IoVecs iov(buffers);
    return Transfer(iov, /*write=*/true, ec);
  }
  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(beast::system_error(ec));
    return n;
  }

  // Shuts the connection down in both directions at once.
  void ShutdownBoth() { ::shutdown(fd_, SHUT_RDWR); }

  // Whether the peer has closed (or reset) the connection, or the server is aborting streams;
  // does not wait and consumes nothing.
  bool PeerClosed() const {
    if (aborted_->load(std::memory_order_acquire)) return true;
    pollfd fd{fd_, POLLRDHUP, 0};
    if (::poll(&fd, 1, 0) <= 0) return false;
    return (fd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
  }

 private:
  // The first buffers of a sequence (a partial transfer is allowed by read_some/write_some).
  struct IoVecs {
    template <class BufferSequence>
    explicit IoVecs(const BufferSequence& buffers) {
      for (auto it = asio::buffer_sequence_begin(buffers);
           it != asio::buffer_sequence_end(buffers) && count < static_cast<int>(vecs.size());
           ++it) {
        const asio::const_buffer buffer(*it);
        if (buffer.size() == 0) continue;
        vecs[count++] = {const_cast<void*>(buffer.data()), buffer.size()};
        bytes += buffer.size();
      }
    }
    std::array<iovec, 16> vecs;
    int count = 0;
    size_t bytes = 0;
  };

  size_t Transfer(IoVecs& iov, bool write, beast::error_code& ec) {
    ec = {};
    if (iov.bytes == 0) return 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (true) {
      if (aborted_->load(std::memory_order_acquire)) {
        ec = asio::error::operation_aborted;
        return 0;
      }
      msghdr message{};
      message.msg_iov = iov.vecs.data();
      message.msg_iovlen = static_cast<size_t>(iov.count);
      const ssize_t n = write ? ::sendmsg(fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : ::recvmsg(fd_, &message, MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        ec = asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec.assign(errno, beast::system_category());
        return 0;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        ec = beast::error::timeout;
        return 0;
      }
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      pollfd fds[2] = {{fd_, static_cast<short>(write ? POLLOUT : POLLIN), 0},
                       {abort_fd_, POLLIN, 0}};
      if (::poll(fds, 2, static_cast<int>(std::min<int64_t>(wait, INT_MAX))) < 0 &&
          errno != EINTR) {
        ec.assign(errno, beast::system_category());
        return 0;
      }
    }
  }

  const int fd_;
  const std::atomic<bool>* const aborted_;
  const int abort_fd_;
  const std::chrono::steady_clock::duration timeout_;
};

// The status a stream handler sees for a failed read or write on its connection.
absl::Status StreamError(const beast::error_code& ec, const char* what) {
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(
        absl::StrCat("client made no progress within the idle timeout while ", what));
  }
  if (ec == asio::error::operation_aborted) {
    return absl::UnavailableError(absl::StrCat("server shutting down while ", what));
  }
  if (ec == bhttp::error::body_limit) {
    return absl::ResourceExhaustedError("request body exceeds the route's limit");
  }
  if (ec == asio::error::eof || ec == bhttp::error::end_of_stream ||
      ec == bhttp::error::partial_message || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe) {
    return absl::UnavailableError(absl::StrCat("client disconnected while ", what));
  }
  if (&ec.category() == &bhttp::make_error_code(bhttp::error::bad_chunk).category()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed request body: ", ec.message()));
  }
  return absl::UnavailableError(absl::StrCat("connection failed while ", what, ": ", ec.message()));
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
  class Connection;
  class Session;
  class StreamContextImpl;
  class WebSocketSession;
  class WebSocketHandle;
  class TlsRelay;

  // What a route serves: exactly one of handler, stream and websocket is set.
  struct RouteTarget {
    Handler handler;
    StreamHandler stream;
    size_t max_body_bytes = 0;  // For `stream`.
    std::shared_ptr<const WebSocketHandler> websocket;
  };
  using RouteMatch = Router<RouteTarget>::Result;

  explicit Impl(Options options)
      : options_(std::move(options)),
        abort_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        tls_ioc_(std::max(1, options_.threads)),
        ioc_(std::max(1, options_.threads)) {
    if (options_.metrics != nullptr) {
      requests_ = &options_.metrics->AddCounter("http_requests_total", "HTTP requests handled.",
                                                {"route", "method", "code"});
      durations_ = &options_.metrics->AddHistogram(
          "http_request_duration_seconds",
          "Time from receiving a request's headers to having its response ready.",
          {"route", "method"}, metrics::DefaultLatencyBuckets());
    }
  }

  ~Impl() {
    Shutdown();
    if (abort_fd_ >= 0) ::close(abort_fd_);
  }

  void AddRoute(std::string method, std::string pattern, RouteTarget target) {
    if (started_.load()) {
      std::fprintf(stderr, "engram::http: route %s %s added after Start()\n", method.c_str(),
                   pattern.c_str());
      std::abort();
    }
    absl::Status status = router_.Add(std::move(method), pattern, std::move(target));
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
  RouteMatch Route(std::string_view method, std::string_view path) const {
    return router_.Route(method, path);
  }
  Response Dispatch(Request& request, std::string_view raw_query, RouteMatch match);
  void Record(std::string_view route, std::string_view method, int code,
              std::chrono::steady_clock::time_point start);
  void ConnectionStarted(const std::shared_ptr<Connection>& connection);
  void ConnectionEnded(Connection* connection);
  // A new strand for a Session on the I/O threads.
  asio::strand<asio::io_context::executor_type> NewSessionStrand() {
    return asio::make_strand(ioc_);
  }
  PollingSocket StreamSocket(int fd) const {
    return PollingSocket(fd, &streams_aborted_, abort_fd_, ToChrono(options_.idle_timeout));
  }

 private:
  void DoAccept();
  // Serves an accepted connection: plain HTTP, or TLS through a TlsRelay.
  void StartConnection(tcp::socket socket);

  // Constant after construction / Start().
  const Options options_;
  std::unique_ptr<ServerTlsContext> tls_;  // Set by Start() when Options::tls is enabled.
  Router<RouteTarget> router_;
  metrics::CounterFamily* requests_ = nullptr;
  metrics::HistogramFamily* durations_ = nullptr;
  // Readable (and streams_aborted_ set) once the drain timeout of Shutdown() has passed.
  const int abort_fd_;

  std::atomic<bool> started_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> streams_aborted_{false};
  std::atomic<int> port_{0};

  // Declared before ioc_: connections destroyed with the io_context still deregister here.
  sync::Mutex mu_;
  sync::CondVar connections_changed_;  // connections_ shrank
  std::map<Connection*, std::weak_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  // TLS connections (TlsRelay) run here, on threads of their own: a stream handler blocks an
  // ioc_ thread while it writes, and its bytes must still reach the client. Declared before ioc_
  // so that it outlives it: a pending accept on ioc_ holds a socket bound to tls_ioc_, destroyed
  // with ioc_'s pending operations (UBSan saw the dead executor when tls_ioc_ went first).
  asio::io_context tls_ioc_;
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_retry_timer_;
  std::vector<std::thread> threads_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> tls_work_guard_;
  std::vector<std::thread> tls_threads_;
};

// A live connection (HTTP or WebSocket), registered with the server so Shutdown() reaches it.
class HttpServer::Impl::Connection {
 public:
  explicit Connection(Impl* server) : server_(server) {}
  virtual ~Connection() { server_->ConnectionEnded(this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Called by Shutdown() (any thread): close what is idle, let in-flight work finish.
  virtual void OnShutdown() = 0;

 protected:
  Impl* const server_;
};

// The StreamContext of one stream-route request; lives on the session's strand thread for the
// duration of the handler call.
class HttpServer::Impl::StreamContextImpl final : public StreamContext {
 public:
  StreamContextImpl(const Impl* server, Request request, PollingSocket socket,
                    beast::flat_buffer* buffer, bhttp::request_parser<bhttp::buffer_body>* parser,
                    bool expect_continue, unsigned version, bool client_keep_alive)
      : server_(server),
        request_(std::move(request)),
        socket_(socket),
        buffer_(buffer),
        parser_(parser),
        expect_continue_(expect_continue),
        version_(version),
        client_keep_alive_(client_keep_alive),
        chunked_(version >= 11) {}

  const Request& request() const override { return request_; }

  absl::StatusOr<size_t> ReadBody(char* data, size_t size) override {
    if (aborted_) return absl::FailedPreconditionError("ReadBody after Abort()");
    if (!read_error_.ok()) return read_error_;
    if (parser_->is_done()) return 0;
    if (size == 0) return absl::InvalidArgumentError("ReadBody: empty buffer");
    if (expect_continue_ && !continue_sent_) {
      continue_sent_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::error_code ec;
      asio::write(socket_, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) return read_error_ = StreamError(ec, "sending 100 Continue");
    }
    while (true) {
      bhttp::buffer_body::value_type& body = parser_->get().body();
      body.data = data;
      body.size = size;
      body.more = true;
      beast::error_code ec;
      bhttp::read_some(socket_, *buffer_, *parser_, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) return read_error_ = StreamError(ec, "reading the request body");
      const size_t n = size - parser_->get().body().size;
      // A read may consume only a chunk header; go on until body bytes or the end arrive.
      if (n > 0 || parser_->is_done()) return n;
    }
  }

  absl::Status StartResponse(
      int status, std::string_view content_type,
      const std::vector<std::pair<std::string, std::string>>& headers) override {
    if (started_ || aborted_) {
      return absl::FailedPreconditionError("StartResponse: already started or aborted");
    }
    if (status < 200 || status > 599) {
      return absl::InvalidArgumentError(absl::StrCat("StartResponse: bad status ", status));
    }
    started_ = true;
    status_ = status;
    // Reusing the connection needs the whole request body consumed and a delimited response.
    keep_alive_ = client_keep_alive_ && chunked_ && parser_->is_done() && !server_->shutting_down();
    bhttp::response<bhttp::empty_body> response;
    response.version(version_);
    response.result(static_cast<unsigned>(status));
    if (!content_type.empty()) response.set(bhttp::field::content_type, BeastView(content_type));
    for (const auto& [name, value] : headers) {
      if (beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
          beast::iequals(name, "Connection")) {
        continue;  // Framing is the server's.
      }
      response.insert(name, value);
    }
    for (const auto& [name, value] : server_->options().default_headers) {
      if (response.find(BeastView(name)) == response.end()) response.set(BeastView(name), value);
    }
    response.set(BeastView(kCorrelationHeader), request_.correlation_id);
    response.keep_alive(keep_alive_);
    if (chunked_) response.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> serializer(response);
    beast::error_code ec;
    bhttp::write_header(socket_, serializer, ec);
    if (ec) return write_error_ = StreamError(ec, "writing the response headers");
    return absl::OkStatus();
  }

  absl::Status Write(std::string_view data) override {
    if (absl::Status status = CheckWritable("Write"); !status.ok()) return status;
    if (data.empty()) return absl::OkStatus();  // An empty chunk would end the body.
    beast::error_code ec;
    const asio::const_buffer buffer(data.data(), data.size());
    if (chunked_) {
      asio::write(socket_, bhttp::make_chunk(buffer), ec);
    } else {
      asio::write(socket_, buffer, ec);
    }
    if (ec) return write_error_ = StreamError(ec, "writing the response body");
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    if (absl::Status status = CheckWritable("Finish"); !status.ok()) return status;
    if (chunked_) {
      beast::error_code ec;
      asio::write(socket_, bhttp::make_chunk_last(), ec);
      if (ec) return write_error_ = StreamError(ec, "writing the last chunk");
    }
    finished_ = true;
    return absl::OkStatus();
  }

  bool ClientGone() override { return socket_.PeerClosed(); }

  void Abort() override {
    if (finished_ || aborted_) return;
    aborted_ = true;
    socket_.ShutdownBoth();  // The client sees the truncation now, not when the handler returns.
  }

  bool started() const { return started_; }
  bool finished() const { return finished_; }
  bool aborted() const { return aborted_; }
  bool keep_alive() const { return keep_alive_; }
  int status() const { return status_; }

 private:
  absl::Status CheckWritable(const char* what) const {
    if (!started_) {
      return absl::FailedPreconditionError(absl::StrCat(what, " before StartResponse"));
    }
    if (aborted_) return absl::FailedPreconditionError(absl::StrCat(what, " after Abort()"));
    if (finished_) return absl::FailedPreconditionError(absl::StrCat(what, " after Finish()"));
    return write_error_;
  }

  const Impl* const server_;
  const Request request_;
  PollingSocket socket_;
  beast::flat_buffer* const buffer_;
  bhttp::request_parser<bhttp::buffer_body>* const parser_;
  const bool expect_continue_;
  const unsigned version_;
  const bool client_keep_alive_;
  const bool chunked_;  // HTTP/1.0 clients get a body delimited by closing the connection.

  bool continue_sent_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool aborted_ = false;
  bool keep_alive_ = false;
  int status_ = 0;
  absl::Status read_error_;   // Sticky: the connection is unusable after one failure.
  absl::Status write_error_;  // Likewise.
};

// What the application holds of a WebSocket: it never keeps the socket (or the io_context)
// alive, so it may outlive the connection and the server.
class HttpServer::Impl::WebSocketHandle final : public WebSocketConnection {
 public:
  WebSocketHandle(Request request, size_t max_queued)
      : request_(std::move(request)), max_queued_(max_queued) {}

  bool Send(std::string text) override;
  void Close() override;
  bool open() const override { return open_.load(std::memory_order_acquire); }
  const Request& request() const override { return request_; }

 private:
  friend class WebSocketSession;

  const Request request_;
  const size_t max_queued_;
  std::weak_ptr<WebSocketSession> session_;  // Set before the handle is shared.
  std::atomic<bool> open_{false};
  std::atomic<size_t> queued_{0};  // Sent, not yet written.
};

// One accepted WebSocket. All members are used on its strand only.
class HttpServer::Impl::WebSocketSession final
    : public Connection,
      public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(Impl* server, beast::tcp_stream stream,
                   std::shared_ptr<const WebSocketHandler> handler, Request request)
      : Connection(server),
        ws_(std::move(stream)),
        executor_(ws_.get_executor()),
        handler_(std::move(handler)),
        handle_(std::make_shared<WebSocketHandle>(std::move(request), handler_->max_queued)),
        close_timer_(executor_) {}

  ~WebSocketSession() override { NotifyClosed(); }

  void Start(bhttp::request<bhttp::string_body> upgrade) {
    handle_->session_ = weak_from_this();
    upgrade_ = std::move(upgrade);
    beast::get_lowest_layer(ws_).expires_never();  // The websocket's own timeouts apply.
    websocket::stream_base::timeout timeouts =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = ToChrono(server_->options().idle_timeout);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [cid = handle_->request().correlation_id](websocket::response_type& response) {
          response.set(BeastView(kCorrelationHeader), cid);
        }));
    ws_.read_message_max(handler_->max_message_bytes);
    ws_.async_accept(*upgrade_,
                     beast::bind_front_handler(&WebSocketSession::OnAccept, shared_from_this()));
  }

  void OnShutdown() override {
    asio::post(executor_, [self = shared_from_this()] {
      self->handle_->open_.store(false, std::memory_order_release);
      if (self->finished_) return;  // The timer would only keep it alive.
      self->StartClose(websocket::close_code::going_away);
      if (!self->close_started_) return;  // Still in the handshake: the socket is closed.
      // A peer that does not answer the close frame is cut off within the drain timeout.
      self->close_timer_.expires_after(ToChrono(self->server_->options().drain_timeout) / 2);
      self->close_timer_.async_wait([self](beast::error_code ec) {
        if (!ec) self->CloseSocket();
      });
    });
  }

  // Any thread.
  void PostEnqueue(std::string text) {
    asio::post(executor_, [self = shared_from_this(), text = std::move(text)]() mutable {
      self->Enqueue(std::move(text));
    });
  }
  void PostClose(bool hard) {
    asio::post(executor_, [self = shared_from_this(), hard] {
      if (hard) return self->CloseSocket();
      self->StartClose(websocket::close_code::normal);
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) {
      spdlog::debug("http: WebSocket handshake on {} failed: {}", handle_->request().route,
                    ec.message());
      return;
    }
    if (server_->shutting_down()) {
      ws_.async_close(websocket::close_code::going_away,
                      [self = shared_from_this()](beast::error_code) { self->CloseSocket(); });
      return;
    }
    opened_ = true;
    handle_->open_.store(true, std::memory_order_release);
    {
      logging::ScopedCorrelationId correlation(handle_->request().correlation_id);
      try {
        handler_->on_open(handle_);
      } catch (const std::exception& e) {
        spdlog::error("http: WebSocket on_open for {} threw: {}", handle_->request().route,
                      e.what());
        CloseSocket();
      } catch (...) {
        spdlog::error("http: WebSocket on_open for {} threw", handle_->request().route);
        CloseSocket();
      }
    }
    Read();
  }

  // The one read loop: Beast answers pings and the peer's close frame inside it; it ends with
  // an error when the connection closes for any reason.
  void Read() {
    ws_.async_read(read_buffer_,
                   beast::bind_front_handler(&WebSocketSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return Finished(ec);
    read_buffer_.consume(read_buffer_.size());  // The server does not act on messages.
    Read();
  }

  void Enqueue(std::string text) {
    if (!handle_->open() || close_started_) return;
    queue_.push_back(std::move(text));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(queue_.front()),
                    beast::bind_front_handler(&WebSocketSession::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    writing_ = false;
    if (ec) return CloseSocket();  // The read loop then ends and reports the close.
    queue_.pop_front();
    handle_->queued_.fetch_sub(1, std::memory_order_acq_rel);
    if (!queue_.empty() && !close_started_) WriteNext();
  }

  // Sends a close frame after the message being written (queued ones are dropped); the read
  // loop ends when the peer answers.
  void StartClose(websocket::close_code code) {
    if (!opened_) return CloseSocket();  // Still in the handshake.
    if (close_started_ || finished_) return;
    close_started_ = true;
    handle_->open_.store(false, std::memory_order_release);
    while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
    ws_.async_close(code, [self = shared_from_this()](beast::error_code ec) {
      if (ec) self->CloseSocket();
    });
  }

  void CloseSocket() { beast::get_lowest_layer(ws_).close(); }

  void Finished(beast::error_code ec) {
    finished_ = true;
    close_timer_.cancel();
    queue_.clear();
    CloseSocket();
    if (ec != websocket::error::closed && ec != asio::error::operation_aborted) {
      spdlog::debug("http: WebSocket on {} closed: {}", handle_->request().route, ec.message());
    }
    NotifyClosed();
  }

  void NotifyClosed() {
    handle_->open_.store(false, std::memory_order_release);
    if (!opened_ || on_close_called_) return;
    on_close_called_ = true;
    if (!handler_->on_close) return;
    logging::ScopedCorrelationId correlation(handle_->request().correlation_id);
    try {
      handler_->on_close(handle_.get());
    } catch (const std::exception& e) {
      spdlog::error("http: WebSocket on_close for {} threw: {}", handle_->request().route,
                    e.what());
    } catch (...) {
      spdlog::error("http: WebSocket on_close for {} threw", handle_->request().route);
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  const asio::any_io_executor executor_;  // The connection's strand.
  const std::shared_ptr<const WebSocketHandler> handler_;
  const std::shared_ptr<WebSocketHandle> handle_;
  asio::steady_timer close_timer_;
  std::optional<bhttp::request<bhttp::string_body>> upgrade_;
  beast::flat_buffer read_buffer_;
  std::deque<std::string> queue_;  // queue_.front() is being written while writing_.
  bool writing_ = false;
  bool opened_ = false;
  bool close_started_ = false;
  bool finished_ = false;
  bool on_close_called_ = false;
};

bool HttpServer::Impl::WebSocketHandle::Send(std::string text) {
  if (!open()) return false;
  std::shared_ptr<WebSocketSession> session = session_.lock();
  if (session == nullptr) return false;
  if (queued_.fetch_add(1, std::memory_order_acq_rel) >= max_queued_) {
    queued_.fetch_sub(1, std::memory_order_acq_rel);
    if (open_.exchange(false, std::memory_order_acq_rel)) {
      spdlog::warn("http: WebSocket client on {} is too slow ({} messages queued); closing",
                   request_.route, max_queued_);
      session->PostClose(/*hard=*/true);
    }
    return false;
  }
  session->PostEnqueue(std::move(text));
  return true;
}

void HttpServer::Impl::WebSocketHandle::Close() {
  if (!open_.exchange(false, std::memory_order_acq_rel)) return;
  if (std::shared_ptr<WebSocketSession> session = session_.lock()) {
    session->PostClose(/*hard=*/false);
  }
}

// One client connection. Lives as long as an asynchronous operation holds a shared_ptr to it;
// all its handlers run on its strand.
class HttpServer::Impl::Session final : public Connection,
                                        public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : Connection(server), stream_(std::move(socket)), executor_(stream_.get_executor()) {}

  void Start() {
    asio::dispatch(executor_, [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Closes the connection unless a request is being served.
  void OnShutdown() override {
    asio::post(executor_, [self = shared_from_this()] {
      if (self->state_ != State::kBusy) self->Close();
    });
  }

 private:
  enum class State { kIdle, kBusy, kClosing, kUpgraded };

  const HttpServer::Options& options() const { return server_->options(); }

  void ReadHeader() {
    if (server_->shutting_down()) return Close();
    state_ = State::kIdle;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options().max_header_bytes));
    // The limit depends on the route, so it is checked once the header is parsed (OnHeader).
    // Not boost::none: Beast 1.74 then rejects every Content-Length.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(ToChrono(options().idle_timeout));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        return SendError(431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "request headers too large");
      }
      if (IsDisconnect(ec)) return Close();
      return SendError(400, "INVALID_ARGUMENT",
                       absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    state_ = State::kBusy;
    start_ = std::chrono::steady_clock::now();
    const bhttp::request<bhttp::string_body>& header = parser_->get();
    const std::string_view target(header.target().data(), header.target().size());
    match_ = server_->Route(
        std::string_view(header.method_string().data(), header.method_string().size()),
        target.substr(0, target.find('?')));
    if (match_.outcome == Router<RouteTarget>::Outcome::kFound) {
      if (match_.handler->stream) return ServeStream(*match_.handler);
      if (match_.handler->websocket && websocket::is_upgrade(header)) {
        return ServeUpgrade(*match_.handler);
      }
    }
    // A plain route, or an error Dispatch answers once the body is read.
    if (const auto length = parser_->content_length();
        length.has_value() && *length > options().max_body_bytes) {
      return SendError(413, "PAYLOAD_TOO_LARGE",
                       absl::StrCat("request body of ", *length, " bytes exceeds the limit of ",
                                    options().max_body_bytes));
    }
    parser_->body_limit(options().max_body_bytes);
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

  // The request's method, path, headers and correlation id. `raw_query` views the target inside
  // `header`.
  static Request RequestFromHeader(const bhttp::request<bhttp::string_body>& header,
                                   std::string_view* raw_query) {
    Request request;
    request.method = std::string(header.method_string());
    const std::string_view target(header.target().data(), header.target().size());
    const size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    *raw_query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    request.raw_query = std::string(*raw_query);
    for (const auto& field : header) {
      std::string name(field.name_string());
      std::string_view value(field.value().data(), field.value().size());
      auto [it, inserted] = request.headers.emplace(std::move(name), std::string(value));
      if (!inserted) absl::StrAppend(&it->second, ", ", std::string(value));
    }
    request.correlation_id = logging::CorrelationIdOrNew(request.Header(kCorrelationHeader));
    return request;
  }

  // Fills route, path and query parameters for a stream or WebSocket route (plain routes get
  // them in Dispatch). False for a malformed query.
  bool ApplyMatch(Request& request, std::string_view raw_query) {
    request.route = match_.pattern;
    request.path_params = std::move(match_.params);
    absl::StatusOr<std::map<std::string, std::string>> query = ParseQuery(raw_query);
    if (!query.ok()) return false;
    request.query = *std::move(query);
    return true;
  }

  void HandleRequest() {
    bhttp::request<bhttp::string_body>& message = parser_->get();
    std::string_view raw_query;
    Request request = RequestFromHeader(message, &raw_query);
    request.body = std::move(message.body());
    // The raw target must stay alive until Dispatch has parsed the query from it.
    Response response = server_->Dispatch(request, raw_query, std::move(match_));
    Respond(std::move(response), request, message.keep_alive(), message.version());
  }

  // Runs a stream route's handler synchronously on this strand's thread, over a PollingSocket.
  void ServeStream(const RouteTarget& route) {
    const bhttp::request<bhttp::string_body>& header = parser_->get();
    if (const auto length = parser_->content_length();
        length.has_value() && *length > route.max_body_bytes) {
      return SendError(413, "PAYLOAD_TOO_LARGE",
                       absl::StrCat("request body of ", *length, " bytes exceeds the limit of ",
                                    route.max_body_bytes));
    }
    const unsigned version = header.version();
    const bool client_keep_alive = header.keep_alive();
    const bool expect_continue =
        version >= 11 && beast::iequals(header[bhttp::field::expect], "100-continue");
    std::string_view raw_query;
    Request request = RequestFromHeader(header, &raw_query);
    if (!ApplyMatch(request, raw_query)) {
      return Respond(
          JsonErrorResponse(400, "INVALID_ARGUMENT", "invalid percent-encoding in the query",
                            request.correlation_id),
          request, client_keep_alive && parser_->is_done(), version);
    }
    // The header parser becomes a body parser that reads into the handler's buffers.
    stream_parser_.emplace(std::move(*parser_));
    parser_.reset();
    stream_parser_->body_limit(route.max_body_bytes);
    stream_.expires_never();
    StreamContextImpl context(server_, std::move(request),
                              server_->StreamSocket(stream_.socket().native_handle()), &buffer_,
                              &*stream_parser_, expect_continue, version, client_keep_alive);
    const Request& req = context.request();
    Response fallback;
    bool threw = false;
    {
      logging::ScopedCorrelationId correlation(req.correlation_id);
      try {
        fallback = route.stream(context);
      } catch (const std::exception& e) {
        threw = true;
        spdlog::error("http: stream handler for {} {} threw: {}", req.method, req.route, e.what());
      } catch (...) {
        threw = true;
        spdlog::error("http: stream handler for {} {} threw a non-exception", req.method,
                      req.route);
      }
    }
    const bool body_done = stream_parser_->is_done();
    stream_parser_.reset();
    if (!context.started() && !context.aborted()) {
      if (threw) {
        fallback = JsonErrorResponse(absl::InternalError("handler failed"), req.correlation_id);
      }
      return Respond(std::move(fallback), req, client_keep_alive && body_done, version);
    }
    server_->Record(req.route, req.method, context.started() ? context.status() : 500, start_);
    if (context.finished()) {
      if (context.keep_alive()) return ReadHeader();
      return LingerAndClose();
    }
    if (!context.aborted() && !threw) {
      spdlog::warn("http: stream handler for {} {} returned without Finish(); response aborted",
                   req.method, req.route);
    }
    Close();
  }

  // Authorizes a WebSocket upgrade and hands the connection to a WebSocketSession.
  void ServeUpgrade(const RouteTarget& route) {
    const bhttp::request<bhttp::string_body>& header = parser_->get();
    const unsigned version = header.version();
    const bool reusable = header.keep_alive() && parser_->is_done();
    std::string_view raw_query;
    Request request = RequestFromHeader(header, &raw_query);
    if (!ApplyMatch(request, raw_query)) {
      return Respond(
          JsonErrorResponse(400, "INVALID_ARGUMENT", "invalid percent-encoding in the query",
                            request.correlation_id),
          request, reusable, version);
    }
    if (!parser_->is_done()) {
      return Respond(JsonErrorResponse(400, "INVALID_ARGUMENT",
                                       "a WebSocket upgrade request must not have a body",
                                       request.correlation_id),
                     request, /*reusable=*/false, version);
    }
    absl::Status allowed = absl::OkStatus();
    if (route.websocket->authorize) {
      logging::ScopedCorrelationId correlation(request.correlation_id);
      try {
        allowed = route.websocket->authorize(request);
      } catch (const std::exception& e) {
        spdlog::error("http: WebSocket authorize for {} threw: {}", request.route, e.what());
        allowed = absl::InternalError("authorize failed");
      } catch (...) {
        spdlog::error("http: WebSocket authorize for {} threw", request.route);
        allowed = absl::InternalError("authorize failed");
      }
    }
    if (allowed.ok() && server_->shutting_down()) {
      allowed = absl::UnavailableError("server shutting down");
    }
    if (!allowed.ok()) {
      return Respond(JsonErrorResponse(allowed, request.correlation_id), request, reusable,
                     version);
    }
    server_->Record(request.route, request.method, 101, start_);
    state_ = State::kUpgraded;
    auto session = std::make_shared<WebSocketSession>(server_, std::move(stream_), route.websocket,
                                                      std::move(request));
    server_->ConnectionStarted(session);
    session->Start(parser_->release());
  }

  // Sends the response to a dispatched request (metrics recorded), keeping the connection only
  // when `reusable` (the client allows it and the request body was read to its end) and the
  // server is not shutting down.
  void Respond(Response response, const Request& request, bool reusable, unsigned version) {
    server_->Record(request.route.empty() ? kUnmatchedRoute : request.route, request.method,
                    response.status, start_);
    Send(std::move(response), request.correlation_id, reusable && !server_->shutting_down(),
         version);
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
    for (const auto& [name, value] : options().default_headers) {
      if (response_->find(BeastView(name)) == response_->end()) response_->set(BeastView(name), value);
    }
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
    if (state_ == State::kUpgraded) return;  // The socket now belongs to a WebSocketSession.
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
  const asio::any_io_executor executor_;  // The connection's strand (outlives an upgrade).
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  RouteMatch match_;
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
    sync::MutexLock lock(&mu_);
    if (stopped_) return absl::FailedPreconditionError("HttpServer: already shut down");
  }
  if (options_.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<ServerTlsContext>> tls = ServerTlsContext::Create(options_.tls);
    if (!tls.ok()) return tls.status();
    tls_ = *std::move(tls);
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
  const auto run = [](asio::io_context& ioc) {
    // Handlers catch their own exceptions; this is the last line of defence.
    while (true) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("http: uncaught exception on I/O thread: {}", e.what());
      }
    }
  };
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this, run] { run(ioc_); });
  if (tls_ != nullptr) {
    tls_work_guard_.emplace(tls_ioc_.get_executor());
    for (int i = 0; i < options_.threads; ++i) {
      tls_threads_.emplace_back([this, run] { run(tls_ioc_); });
    }
  }
  return absl::OkStatus();
}

void HttpServer::Impl::DoAccept() {
  // A TLS connection is accepted straight onto the TLS threads.
  acceptor_->async_accept(asio::make_strand(tls_ != nullptr ? tls_ioc_ : ioc_),
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
                            StartConnection(std::move(socket));
                            DoAccept();
                          });
}

// TLS in front of a plain Session: the relay does the TLS handshake, then copies bytes between
// the TLS stream and one end of a socketpair whose other end is an ordinary Session. Every HTTP
// feature (keep-alive, stream routes on their blocking sockets, WebSockets, drain) thus works the
// same over TLS, in one place, and no plaintext port is ever open. Relays run on the TLS threads
// (tls_ioc_), so a stream handler blocking an I/O thread never stalls its own bytes. The relay
// is a Connection, so Shutdown() waits for it to flush the last response before stopping the I/O
// threads.
class HttpServer::Impl::TlsRelay final : public Connection,
                                         public std::enable_shared_from_this<TlsRelay> {
 public:
  TlsRelay(tcp::socket socket, std::shared_ptr<asio::ssl::context> context, Impl* server)
      : Connection(server),
        context_(std::move(context)),
        executor_(socket.get_executor()),
        stream_(beast::tcp_stream(std::move(socket)), *context_),
        local_(executor_) {}

  void Start() {
    asio::dispatch(executor_, [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_)
          .expires_after(ToChrono(self->server_->options().idle_timeout));
      self->stream_.async_handshake(asio::ssl::stream_base::server,
                                    [self](beast::error_code ec) { self->OnHandshake(ec); });
    });
  }

  // A connection still in its handshake is closed; a relaying one ends with its Session.
  void OnShutdown() override {
    asio::post(executor_, [self = shared_from_this()] {
      if (!self->relaying_) self->Close();
    });
  }

 private:
  void OnHandshake(beast::error_code ec) {
    if (ec) {
      // A plaintext client, a wrong CA or a missing client certificate ends here.
      spdlog::debug("http: TLS handshake failed: {}", ec.message());
      return Close();
    }
    if (server_->shutting_down()) return Close();
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      spdlog::warn("http: socketpair failed: {}", std::strerror(errno));
      return Close();
    }
    beast::error_code assign_ec;
    local_.assign(asio::local::stream_protocol(), fds[0], assign_ec);
    tcp::socket inner(server_->NewSessionStrand());
    if (!assign_ec) inner.assign(tcp::v4(), fds[1], assign_ec);
    if (assign_ec) {
      if (!local_.is_open()) ::close(fds[0]);
      if (!inner.is_open()) ::close(fds[1]);
      return Close();
    }
    relaying_ = true;
    beast::get_lowest_layer(stream_).expires_never();  // The Session's timeouts apply.
    auto session = std::make_shared<Session>(std::move(inner), server_);
    server_->ConnectionStarted(session);
    session->Start();
    ReadFromClient();
    ReadFromSession();
  }

  void ReadFromClient() {
    reading_client_ = true;
    stream_.async_read_some(asio::buffer(up_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->reading_client_ = false;
                              if (self->closing_) return self->SendCloseNotify();
                              if (ec) {
                                // The client is done (or gone): the Session sees the end of its
                                // input.
                                beast::error_code ignored;
                                self->local_.shutdown(asio::socket_base::shutdown_send, ignored);
                                return;
                              }
                              asio::async_write(self->local_, asio::buffer(self->up_.data(), n),
                                                [self](beast::error_code write_ec, size_t) {
                                                  if (self->closing_) return;
                                                  if (write_ec) return self->Close();
                                                  self->ReadFromClient();
                                                });
                            });
  }

  void ReadFromSession() {
    local_.async_read_some(asio::buffer(down_),
                           [self = shared_from_this()](beast::error_code ec, size_t n) {
                             if (ec) {
                               // The Session closed the connection: close_notify, once no client
                               // read is pending.
                               self->closing_ = true;
                               if (self->reading_client_) {
                                 beast::get_lowest_layer(self->stream_).socket().cancel();
                               } else {
                                 self->SendCloseNotify();
                               }
                               return;
                             }
                             asio::async_write(self->stream_, asio::buffer(self->down_.data(), n),
                                               [self](beast::error_code write_ec, size_t) {
                                                 if (write_ec) return self->Close();
                                                 self->ReadFromSession();
                                               });
                           });
  }

  void SendCloseNotify() {
    if (shutdown_sent_) return;
    shutdown_sent_ = true;
    // Waits for the client's close_notify for a short while, as Session::LingerAndClose does.
    beast::get_lowest_layer(stream_).expires_after(kLingerTime);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->Close(); });
  }

  void Close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
    local_.close(ignored);
  }

  const std::shared_ptr<asio::ssl::context> context_;  // Outlives stream_.
  const asio::any_io_executor executor_;               // The connection's strand.
  beast::ssl_stream<beast::tcp_stream> stream_;
  asio::local::stream_protocol::socket local_;
  std::array<char, 16 << 10> up_{};    // client -> session
  std::array<char, 16 << 10> down_{};  // session -> client
  bool relaying_ = false;
  bool reading_client_ = false;
  bool closing_ = false;
  bool shutdown_sent_ = false;
};

void HttpServer::Impl::StartConnection(tcp::socket socket) {
  if (tls_ != nullptr) {
    auto relay = std::make_shared<TlsRelay>(std::move(socket), tls_->Current(), this);
    ConnectionStarted(relay);
    relay->Start();
    return;
  }
  auto session = std::make_shared<Session>(std::move(socket), this);
  ConnectionStarted(session);
  session->Start();
}

void HttpServer::Impl::ConnectionStarted(const std::shared_ptr<Connection>& connection) {
  sync::MutexLock lock(&mu_);
  connections_.emplace(connection.get(), connection);
}

void HttpServer::Impl::ConnectionEnded(Connection* connection) {
  sync::MutexLock lock(&mu_);
  connections_.erase(connection);
  connections_changed_.SignalAll();
}

void HttpServer::Impl::Shutdown() {
  {
    sync::MutexLock lock(&mu_);
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
  std::vector<std::shared_ptr<Connection>> live;
  {
    sync::MutexLock lock(&mu_);
    for (auto& [unused, weak] : connections_) {
      if (std::shared_ptr<Connection> connection = weak.lock()) {
        live.push_back(std::move(connection));
      }
    }
  }
  for (const std::shared_ptr<Connection>& connection : live) connection->OnShutdown();
  live.clear();
  {
    const auto deadline = std::chrono::steady_clock::now() + ToChrono(options_.drain_timeout);
    sync::MutexLock lock(&mu_);
    while (!connections_.empty() &&
           connections_changed_.WaitUntil(&mu_, deadline) == std::cv_status::no_timeout) {
    }
    if (!connections_.empty()) {
      spdlog::warn("http: {} connection(s) still open after the drain timeout; abandoning them",
                   connections_.size());
    }
  }
  // Stream handlers blocked on their sockets fail now, so the I/O threads can be joined.
  streams_aborted_.store(true, std::memory_order_release);
  if (abort_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(abort_fd_, &one, sizeof(one));
  }
  work_guard_.reset();
  ioc_.stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  tls_work_guard_.reset();
  tls_ioc_.stop();
  for (std::thread& thread : tls_threads_) thread.join();
  tls_threads_.clear();
}

Response HttpServer::Impl::Dispatch(Request& request, std::string_view raw_query,
                                    RouteMatch match) {
  logging::ScopedCorrelationId correlation(request.correlation_id);
  const std::string& cid = request.correlation_id;
  switch (match.outcome) {
    case Router<RouteTarget>::Outcome::kNotFound:
      return JsonErrorResponse(404, "NOT_FOUND", absl::StrCat("no route for ", request.path), cid);
    case Router<RouteTarget>::Outcome::kMethodNotAllowed: {
      Response response = JsonErrorResponse(
          405, "METHOD_NOT_ALLOWED",
          absl::StrCat("method ", request.method, " is not allowed on ", request.path), cid);
      response.headers.emplace_back("Allow", absl::StrJoin(match.allowed_methods, ", "));
      return response;
    }
    case Router<RouteTarget>::Outcome::kBadPath:
      return JsonErrorResponse(400, "INVALID_ARGUMENT", "invalid percent-encoding in the path",
                               cid);
    case Router<RouteTarget>::Outcome::kFound:
      break;
  }
  request.route = std::move(match.pattern);
  request.path_params = std::move(match.params);
  absl::StatusOr<std::map<std::string, std::string>> query = ParseQuery(raw_query);
  if (!query.ok()) {
    return JsonErrorResponse(400, "INVALID_ARGUMENT", "invalid percent-encoding in the query", cid);
  }
  request.query = *std::move(query);
  if (match.handler->websocket) {
    Response response = JsonErrorResponse(
        426, "UPGRADE_REQUIRED",
        absl::StrCat(request.route,
                     " is a WebSocket endpoint: send GET with \"Connection: Upgrade\" and "
                     "\"Upgrade: websocket\""),
        cid);
    response.headers.emplace_back("Upgrade", "websocket");
    return response;
  }
  try {
    Response response = match.handler->handler(request);
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
  impl_->AddRoute(std::move(method), std::move(pattern), {.handler = std::move(handler)});
}

void HttpServer::HandleStream(std::string method, std::string pattern, StreamHandler handler,
                              size_t max_body_bytes) {
  impl_->AddRoute(std::move(method), std::move(pattern),
                  {.stream = std::move(handler), .max_body_bytes = max_body_bytes});
}

void HttpServer::HandleWebSocket(std::string pattern, WebSocketHandler handler) {
  if (!handler.on_open) {
    std::fprintf(stderr, "engram::http: HandleWebSocket(%s) without on_open\n", pattern.c_str());
    std::abort();
  }
  impl_->AddRoute("GET", std::move(pattern),
                  {.websocket = std::make_shared<const WebSocketHandler>(std::move(handler))});
}

absl::Status HttpServer::Start() { return impl_->Start(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Shutdown() { impl_->Shutdown(); }

}  // namespace engram::http
