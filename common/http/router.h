// Maps (method, path) to a handler, with {param} segments and Google-API style custom methods.
//
// A pattern is a '/'-separated list of segments. Each segment is either a literal ("concepts",
// "concepts:batch") or a parameter "{name}", optionally followed by a literal suffix
// ("{id}:undelete"). Parameters match one non-empty segment; their values are percent-decoded
// (so "%2F" inside an id is allowed and does not split segments).
//
//   router.Add("POST", "/v1/namespaces/{namespace}/concepts:batch", ...);
//   router.Add("GET",  "/v1/namespaces/{namespace}/concepts/{id}", ...);
//
// When several patterns match a path, the most specific one wins: segments are compared left to
// right, a literal beating a parameter with a suffix beating a bare parameter.
//
// Thread-safety: Add() is not thread-safe; Route() is const and may run concurrently once all
// routes are added.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace engram::http {

template <typename Handler>
class Router {
 public:
  enum class Outcome {
    kFound,             // handler, pattern and params are set.
    kNotFound,          // No pattern matches the path.
    kMethodNotAllowed,  // Some pattern matches the path, none for this method; see allowed.
    kBadPath,           // A parameter has an invalid percent-encoding.
  };
  struct Result {
    Outcome outcome = Outcome::kNotFound;
    const Handler* handler = nullptr;
    std::string pattern;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // Sorted; for kMethodNotAllowed.
  };

  // INVALID_ARGUMENT for a malformed pattern, ALREADY_EXISTS for a duplicate (method, pattern).
  absl::Status Add(std::string method, std::string_view pattern, Handler handler);

  // `path` is the path part of the request target (no query string).
  Result Route(std::string_view method, std::string_view path) const;

 private:
  struct Segment {
    std::string literal;  // The whole literal, or the suffix after a parameter.
    std::string param;    // Parameter name; empty for a literal segment.
  };
  struct RouteEntry {
    std::string pattern;
    std::vector<Segment> segments;
    std::vector<int> specificity;
    std::map<std::string, Handler, std::less<>> handlers;  // By method.
  };

  // Whether `route` matches `segments`; fills `params` with raw (undecoded) values.
  static bool Matches(const RouteEntry& route, const std::vector<std::string_view>& segments,
                      std::vector<std::pair<std::string, std::string_view>>* params);

  std::vector<RouteEntry> routes_;
};

// Validates and splits a pattern; exposed for Router's template code.
namespace router_internal {
struct ParsedSegment {
  std::string literal;
  std::string param;
};
absl::Status ParsePattern(std::string_view pattern, std::vector<ParsedSegment>* segments);
std::vector<std::string_view> SplitPath(std::string_view path);
}  // namespace router_internal

}  // namespace engram::http

#include "common/http/router_impl.h"  // IWYU pragma: export
