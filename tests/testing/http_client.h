// A minimal blocking HTTP/1.1 client for cross-service tests (one request per connection).
//
//   HttpResult r = HttpCall(port, "POST", "/v1/namespaces", R"({"name":"x"})",
//                           {{"Authorization", "Bearer " + key}});
//   EXPECT_EQ(r.status, 201) << r.body;
//   r.Header("X-Correlation-ID");
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace engram::testing {

struct HttpResult {
  int status = 0;  // 0 when the connection failed or the response was malformed
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // chunked bodies are decoded
  // A chunked body that ended without its last chunk (the server cut the response off).
  bool truncated = false;
  // The first header with this name (ASCII case-insensitive), "" when absent.
  std::string Header(const std::string& name) const;
};

// Sends one request to 127.0.0.1:port with Content-Length and "Connection: close"; waits at most
// `timeout_s` seconds for the whole response.
HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    int timeout_s = 30);

// A connected TCP socket to 127.0.0.1:port (30 s send/receive timeouts), or -1; the caller
// writes a raw request and closes it (e.g. to go away in the middle of a stream).
int ConnectLoopback(int port);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close). For tests that
// must restart a server on the same port.
int PickFreePort();

}  // namespace engram::testing
