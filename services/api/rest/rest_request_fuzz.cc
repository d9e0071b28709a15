// libFuzzer target: the REST gateway's request binding, from the bytes of an HTTP request to a
// validated engram.v1 request message. Covers what a client controls: the method and path (routed
// by http::Router with percent-decoded {params}, as the server does), the query string
// (http::ParseQuery and the gateway's typed query fields), the headers (Authorization bearer,
// grpc-timeout) and the JSON body (syntax check, then the protobuf JSON mapping), then the edge
// validation of api/core (Validate*) that runs before anything reaches a dependency.
//
// Input, as text: "METHOD /path?query\n", header lines "Name: value\n", an empty line, the body.
// Every outcome must be OK or INVALID_ARGUMENT (the gateway's and the validators' one error code
// for bad requests); a crash, an exception or another code is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http/router.h"
#include "common/http/url.h"
#include "services/api/core/validation.h"
#include "services/api/rest/rest_gateway.h"

namespace {

namespace api = engram::api;
namespace v1 = engram::v1;
namespace http = engram::http;

const http::Router<size_t>& Routes() {
  static const http::Router<size_t>* const router = [] {
    auto* r = new http::Router<size_t>();
    const auto& routes = api::RestRoutes();
    for (size_t i = 0; i < routes.size(); ++i) {
      if (!r->Add(routes[i].method, routes[i].pattern, i).ok()) __builtin_trap();
    }
    return r;
  }();
  return *router;
}

absl::Status Validate(const google::protobuf::Message& m) {
  static const api::ValidationLimits limits;
  if (auto* r = dynamic_cast<const v1::CreateNamespaceRequest*>(&m)) return api::ValidateCreateNamespace(*r, limits);
  if (auto* r = dynamic_cast<const v1::LearnRequest*>(&m)) return api::ValidateLearn(*r, limits);
  if (auto* r = dynamic_cast<const v1::LearnBatchRequest*>(&m)) return api::ValidateLearnBatch(*r, limits);
  if (auto* r = dynamic_cast<const v1::GetConceptRequest*>(&m)) return api::ValidateGetConcept(*r, limits);
  if (auto* r = dynamic_cast<const v1::DeleteConceptRequest*>(&m)) return api::ValidateDeleteConcept(*r, limits);
  if (auto* r = dynamic_cast<const v1::AssociateRequest*>(&m)) return api::ValidateAssociate(*r, limits);
  if (auto* r = dynamic_cast<const v1::AssociateBatchRequest*>(&m)) return api::ValidateAssociateBatch(*r, limits);
  if (auto* r = dynamic_cast<const v1::DeleteAssociationRequest*>(&m)) return api::ValidateDeleteAssociation(*r, limits);
  if (auto* r = dynamic_cast<const v1::ListConceptsRequest*>(&m)) {
    google::protobuf::Map<std::string, std::string> filter;
    return api::ValidateListConcepts(*r, limits, &filter);
  }
  if (auto* r = dynamic_cast<const v1::UpdateConceptRequest*>(&m)) return api::ValidateUpdateConcept(*r, limits);
  if (auto* r = dynamic_cast<const v1::NeighborsRequest*>(&m)) return api::ValidateNeighbors(*r, limits);
  if (auto* r = dynamic_cast<const v1::FindPathsRequest*>(&m)) return api::ValidateFindPaths(*r, limits);
  if (auto* r = dynamic_cast<const v1::SearchRequest*>(&m)) return api::ValidateSearch(*r, limits);
  if (auto* r = dynamic_cast<const v1::ReasonRequest*>(&m)) return api::ValidateReason(*r, limits);
  return absl::OkStatus();
}

void CheckCode(const absl::Status& status) {
  if (!status.ok() && status.code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t eol = input.find('\n');
  std::string_view start = input.substr(0, eol);
  input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);

  http::Request request;
  const size_t space = start.find(' ');
  if (space == std::string_view::npos) return 0;
  request.method = std::string(start.substr(0, space));
  const std::string_view target = start.substr(space + 1);
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.raw_query = std::string(target.substr(question + 1));
  while (!input.empty()) {
    eol = input.find('\n');
    std::string_view line = input.substr(0, eol);
    input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers[std::string(line.substr(0, colon))] = std::string(value);
  }
  request.body = std::string(input);
  request.correlation_id = "fuzz";

  auto match = Routes().Route(request.method, request.path);
  if (match.outcome != http::Router<size_t>::Outcome::kFound) return 0;
  absl::StatusOr<std::map<std::string, std::string>> query = http::ParseQuery(request.raw_query);
  if (!query.ok()) return 0;  // the server answers 400 before any route runs
  request.query = *std::move(query);
  request.route = match.pattern;
  request.path_params = std::move(match.params);

  const api::RestRoute& route = api::RestRoutes()[*match.handler];
  std::unique_ptr<google::protobuf::Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(route.request)->New());
  api::RequestContext ctx;
  const absl::Status bound =
      api::BindRestRequest(route, request, api::RestGatewayOptions{}, message.get(), &ctx);
  CheckCode(bound);
  if (bound.ok()) CheckCode(Validate(*message));
  return 0;
}
