#include "tests/testing/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace engram::testing {
namespace {

int Connect(int port, int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{.tv_sec = timeout_s, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Parses a complete response (status line, headers, body by Content-Length or until close).
HttpResult Parse(const std::string& raw) {
  HttpResult result;
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return result;
  const size_t sp = raw.find(' ');
  if (sp == std::string::npos || sp > head_end) return result;
  result.status = std::atoi(raw.c_str() + sp + 1);
  size_t line = raw.find("\r\n") + 2;
  while (line < head_end) {
    size_t eol = raw.find("\r\n", line);
    std::string header = raw.substr(line, eol - line);
    size_t colon = header.find(':');
    if (colon != std::string::npos) {
      std::string value = header.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      result.headers.emplace_back(header.substr(0, colon), value);
    }
    line = eol + 2;
  }
  result.body = raw.substr(head_end + 4);
  if (strcasecmp(result.Header("Transfer-Encoding").c_str(), "chunked") == 0) {
    std::string decoded;
    size_t at = 0;
    result.truncated = true;
    while (at < result.body.size()) {
      const size_t eol = result.body.find("\r\n", at);
      if (eol == std::string::npos) break;
      const size_t size = std::strtoul(result.body.substr(at, eol - at).c_str(), nullptr, 16);
      if (size == 0) {
        result.truncated = false;
        break;
      }
      if (eol + 2 + size > result.body.size()) break;
      decoded.append(result.body, eol + 2, size);
      at = eol + 2 + size + 2;
    }
    result.body = std::move(decoded);
    return result;
  }
  std::string length = result.Header("Content-Length");
  if (!length.empty()) result.body.resize(std::min(result.body.size(), std::stoul(length)));
  return result;
}

}  // namespace

int ConnectLoopback(int port) { return Connect(port, 30); }

std::string HttpResult::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                    const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    int timeout_s) {
  int fd = Connect(port, timeout_s);
  if (fd < 0) return {};
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    request += k + ": " + v + "\r\n";
    if (strcasecmp(k.c_str(), "Content-Type") == 0) has_type = true;
  }
  if (!body.empty() && !has_type) request += "Content-Type: application/json\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string raw;
  if (WriteAll(fd, request)) {
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Parse(raw);
}

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace engram::testing
