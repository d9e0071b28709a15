// Template definitions for router.h; include router.h instead.
#pragma once

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/http/router.h"
#include "common/http/url.h"

namespace engram::http {

template <typename Handler>
absl::Status Router<Handler>::Add(std::string method, std::string_view pattern, Handler handler) {
  std::vector<router_internal::ParsedSegment> parsed;
  if (absl::Status status = router_internal::ParsePattern(pattern, &parsed); !status.ok()) {
    return status;
  }
  for (RouteEntry& route : routes_) {
    if (route.pattern != pattern) continue;
    if (!route.handlers.emplace(method, std::move(handler)).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("route ", method, " ", std::string(pattern), " is already registered"));
    }
    return absl::OkStatus();
  }
  RouteEntry route;
  route.pattern = std::string(pattern);
  for (router_internal::ParsedSegment& segment : parsed) {
    route.specificity.push_back(segment.param.empty() ? 2 : (segment.literal.empty() ? 0 : 1));
    route.segments.push_back({std::move(segment.literal), std::move(segment.param)});
  }
  route.handlers.emplace(std::move(method), std::move(handler));
  routes_.push_back(std::move(route));
  return absl::OkStatus();
}

template <typename Handler>
bool Router<Handler>::Matches(const RouteEntry& route,
                              const std::vector<std::string_view>& segments,
                              std::vector<std::pair<std::string, std::string_view>>* params) {
  if (route.segments.size() != segments.size()) return false;
  params->clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& expected = route.segments[i];
    const std::string_view actual = segments[i];
    if (expected.param.empty()) {
      if (actual != expected.literal) return false;
      continue;
    }
    if (actual.size() <= expected.literal.size()) return false;  // Parameters are non-empty.
    const std::string_view value = actual.substr(0, actual.size() - expected.literal.size());
    if (actual.substr(value.size()) != expected.literal) return false;
    params->emplace_back(expected.param, value);
  }
  return true;
}

template <typename Handler>
typename Router<Handler>::Result Router<Handler>::Route(std::string_view method,
                                                        std::string_view path) const {
  Result result;
  const std::vector<std::string_view> segments = router_internal::SplitPath(path);
  const RouteEntry* best = nullptr;
  std::vector<std::pair<std::string, std::string_view>> best_params;
  std::vector<std::pair<std::string, std::string_view>> params;
  std::set<std::string> allowed;
  for (const RouteEntry& route : routes_) {
    if (!Matches(route, segments, &params)) continue;
    for (const auto& [route_method, unused] : route.handlers) allowed.insert(route_method);
    if (route.handlers.find(method) == route.handlers.end()) continue;
    if (best == nullptr || route.specificity > best->specificity) {
      best = &route;
      best_params = params;
    }
  }
  if (best == nullptr) {
    result.outcome = allowed.empty() ? Outcome::kNotFound : Outcome::kMethodNotAllowed;
    result.allowed_methods.assign(allowed.begin(), allowed.end());
    return result;
  }
  for (const auto& [name, raw] : best_params) {
    absl::StatusOr<std::string> decoded = PercentDecode(raw);
    if (!decoded.ok()) {
      result.outcome = Outcome::kBadPath;
      return result;
    }
    result.params[name] = *std::move(decoded);
  }
  result.outcome = Outcome::kFound;
  result.handler = &best->handlers.find(method)->second;
  result.pattern = best->pattern;
  return result;
}

}  // namespace engram::http
