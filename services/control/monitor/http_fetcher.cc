#include "services/control/monitor/http_fetcher.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/host_name_verification.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "common/http/tls_context.h"
#include "fmt/format.h"

namespace engram::control {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr uint32_t kMaxHeaderBytes = 64 << 10;

std::string FormatAddress(const asio::ip::address& ip, unsigned short port) {
  if (ip.is_v6()) return fmt::format("[{}]:{}", ip.to_string(), port);
  return fmt::format("{}:{}", ip.to_string(), port);
}

class BeastHttpFetcher final : public HttpFetcher {
 public:
  explicit BeastHttpFetcher(tls::ClientTlsConfig tls) : tls_(std::move(tls)) {}

  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view host_port) override {
    absl::StatusOr<HostPort> split = SplitHostPort(host_port);
    if (!split.ok()) return split.status();
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    const tcp::resolver::results_type results =
        resolver.resolve(split->host, split->port, tcp::resolver::numeric_service, ec);
    if (ec) {
      return absl::UnavailableError(
          fmt::format("cannot resolve '{}': {}", split->host, ec.message()));
    }
    std::vector<asio::ip::address> v4;
    std::vector<asio::ip::address> v6;
    unsigned short port = 0;
    for (const auto& entry : results) {
      const tcp::endpoint endpoint = entry.endpoint();
      port = endpoint.port();
      (endpoint.address().is_v4() ? v4 : v6).push_back(endpoint.address());
    }
    const std::vector<asio::ip::address>& chosen = v4.empty() ? v6 : v4;
    std::vector<std::string> addresses;
    for (const asio::ip::address& ip : chosen) addresses.push_back(FormatAddress(ip, port));
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    if (addresses.empty()) {
      return absl::UnavailableError(fmt::format("'{}' resolved to no address", split->host));
    }
    return addresses;
  }

  absl::StatusOr<HttpResponse> Get(std::string_view address, std::string_view path,
                                   absl::Duration timeout, size_t max_body_bytes) override {
    absl::StatusOr<HostPort> split = SplitHostPort(address);
    if (!split.ok()) return split.status();
    boost::system::error_code ec;
    const asio::ip::address ip = asio::ip::make_address(split->host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not a numeric address (resolve it first)", address));
    }
    const tcp::endpoint endpoint(ip, static_cast<unsigned short>(std::stoi(split->port)));
    if (!tls_.enabled()) {
      asio::io_context ioc;
      beast::tcp_stream stream(ioc);
      return Exchange(ioc, stream, endpoint, address, path, timeout, max_body_bytes);
    }
    // A new context per request: rotated CA and client certificate files apply at once.
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> context = http::MakeClientSslContext(tls_);
    if (!context.ok()) return context.status();
    asio::io_context ioc;
    beast::ssl_stream<beast::tcp_stream> stream(ioc, **context);
    const std::string server_name = tls_.server_name.empty() ? split->host : tls_.server_name;
    // SNI only carries host names, never addresses.
    boost::system::error_code not_an_address;
    asio::ip::make_address(server_name, not_an_address);
    if (not_an_address) SSL_set_tlsext_host_name(stream.native_handle(), server_name.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(server_name));
    return Exchange(ioc, stream, endpoint, address, path, timeout, max_body_bytes);
  }

 private:
  template <class Stream>
  absl::StatusOr<HttpResponse> Exchange(asio::io_context& ioc, Stream& stream,
                                        const tcp::endpoint& endpoint, std::string_view address,
                                        std::string_view path, absl::Duration timeout,
                                        size_t max_body_bytes) {
    bhttp::request<bhttp::empty_body> request(bhttp::verb::get,
                                              beast::string_view(path.data(), path.size()), 11);
    request.set(bhttp::field::host, beast::string_view(address.data(), address.size()));
    request.set(bhttp::field::user_agent, "engram-control");
    request.set(bhttp::field::connection, "close");
    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(max_body_bytes);
    beast::flat_buffer buffer;

    // Boost 1.74's parser does not enforce body_limit (its optional comparison is broken), so the
    // limit is checked here: Content-Length up front, the body read so far after every read.
    std::function<void()> read_body;
    beast::error_code result;
    read_body = [&] {
      if (parser.is_done()) return;
      bhttp::async_read_some(stream, buffer, parser, [&](beast::error_code read_ec, size_t) {
        if (read_ec) {
          result = read_ec;
        } else if (parser.get().body().size() > max_body_bytes) {
          result = bhttp::error::body_limit;
        } else {
          read_body();
        }
      });
    };

    // One deadline for the whole request: the stream's expiry applies to every operation started
    // until it is changed.
    beast::get_lowest_layer(stream).expires_after(absl::ToChronoNanoseconds(timeout));
    std::string_view stage = "connect to";
    std::function<void()> send = [&] {
      stage = "send request to";
      bhttp::async_write(stream, request, [&](beast::error_code write_ec, size_t) {
        if (write_ec) {
          result = write_ec;
          return;
        }
        stage = "read response from";
        bhttp::async_read_header(stream, buffer, parser, [&](beast::error_code header_ec, size_t) {
          if (header_ec) {
            result = header_ec;
            return;
          }
          if (parser.content_length().has_value() && *parser.content_length() > max_body_bytes) {
            result = bhttp::error::body_limit;
            return;
          }
          read_body();
        });
      });
    };
    beast::get_lowest_layer(stream).async_connect(endpoint, [&](beast::error_code connect_ec) {
      if (connect_ec) {
        result = connect_ec;
        return;
      }
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        send();
      } else {
        stage = "complete a TLS handshake with";
        stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code tls_ec) {
          if (tls_ec) {
            result = tls_ec;
            return;
          }
          send();
        });
      }
    });
    ioc.run();
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream).socket().close(ignored);

    if (result == beast::error::timeout) {
      return absl::DeadlineExceededError(fmt::format("GET {}: no answer from {} within {} ({})",
                                                     path, address, absl::FormatDuration(timeout),
                                                     stage));
    }
    if (result == bhttp::error::body_limit) {
      return absl::ResourceExhaustedError(fmt::format(
          "GET {}: the response from {} exceeds {} bytes", path, address, max_body_bytes));
    }
    if (result) {
      return absl::UnavailableError(
          fmt::format("GET {}: cannot {} {}: {}", path, stage, address, result.message()));
    }
    HttpResponse response;
    response.status = static_cast<int>(parser.get().result_int());
    response.body = std::move(parser.get().body());
    return response;
  }

  const tls::ClientTlsConfig tls_;
};

}  // namespace

std::shared_ptr<HttpFetcher> NewBeastHttpFetcher(tls::ClientTlsConfig tls) {
  return std::make_shared<BeastHttpFetcher>(std::move(tls));
}

}  // namespace engram::control
