#include "services/control/server/control_server.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto/sha256.h"
#include "common/http/json_error.h"
#include "common/status/status_macros.h"
#include "common/grpc/channel.h"
#include "common/tls/grpc_credentials.h"
#include "grpcpp/create_channel.h"
#include "spdlog/spdlog.h"

namespace engram::control {

namespace {

constexpr std::string_view kCsp =
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'";

// On every response of the port, errors written by the server itself included (HostConfig's
// default headers), and on ServeAsset's answers (also used without a server, in tests).
std::vector<std::pair<std::string, std::string>> SecurityHeaders() {
  return {{"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "DENY"},
          {"Content-Security-Policy", std::string(kCsp)},
          {"Referrer-Policy", "no-referrer"}};
}

http::Response Json(const json& body, int status = 200) {
  http::Response r{.status = status,
                   .body = body.dump(-1, ' ', false, json::error_handler_t::replace),
                   .headers = {{"Cache-Control", "no-store"}}};
  return r;
}

http::Response NoContent() {
  http::Response r{.status = 204, .content_type = "", .headers = {{"Cache-Control", "no-store"}}};
  return r;
}

http::Response Error(const absl::Status& status, const http::Request& request) {
  http::Response r = http::JsonErrorResponse(status, request.correlation_id);
  return r;
}

absl::StatusOr<json> Body(const http::Request& request) {
  if (request.body.empty()) return json::object();
  json value = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::InvalidArgumentError("body: not valid JSON");
  return value;
}

template <typename T>
http::Response Answer(const absl::StatusOr<T>& result, const http::Request& request) {
  if (!result.ok()) return Error(result.status(), request);
  return Json(*result);
}

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(std::string(flag), ": cannot read ", path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

bool AcceptsGzip(const http::Request& request) {
  for (absl::string_view part : absl::StrSplit(std::string(request.Header("Accept-Encoding")), ',')) {
    std::vector<absl::string_view> fields = absl::StrSplit(part, ';');
    if (absl::AsciiStrToLower(absl::StripAsciiWhitespace(fields[0])) != "gzip") continue;
    for (size_t i = 1; i < fields.size(); ++i) {
      absl::string_view q = absl::StripAsciiWhitespace(fields[i]);
      if (q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000") return false;
    }
    return true;
  }
  return false;
}

}  // namespace

http::Response ServeAsset(const Asset& asset, const http::Request& request) {
  http::Response r{.status = 200, .content_type = asset.mime};
  const bool immutable = absl::StartsWith(asset.path, "assets/");
  r.headers.emplace_back("Cache-Control",
                         immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.emplace_back("ETag", asset.etag);
  r.headers.emplace_back("Vary", "Accept-Encoding");
  for (auto& header : SecurityHeaders()) r.headers.push_back(std::move(header));
  const std::string_view inm = request.Header("If-None-Match");
  bool not_modified = false;
  for (absl::string_view tag : absl::StrSplit(std::string(inm), ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (tag == asset.etag || tag == absl::StrCat("W/", asset.etag) || tag == "*") not_modified = true;
  }
  if (not_modified) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  if (!asset.gzip.empty() && AcceptsGzip(request)) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body = asset.gzip;
  } else {
    r.body = asset.raw;
  }
  if (request.method == "HEAD") {
    r.headers.emplace_back("X-Content-Length", absl::StrCat(r.body.size()));
    r.body.clear();
  }
  return r;
}

absl::Status ControlServerConfig::Validate() const {
  if (absl::Status s = tls::CheckClientTls(downstream_tls); !s.ok()) return s;
  if (api_keys_file.empty()) {
    return absl::InvalidArgumentError(
        "--api_keys_file: required (the same keys file as engram-api; an admin key logs in)");
  }
  if (base_path.empty() || base_path.front() != '/' || base_path.back() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--base_path: '", base_path, "' must start and end with '/' (e.g. /control/)"));
  }
  if (session_ttl < absl::Minutes(1)) return absl::InvalidArgumentError("--session_ttl_s: at least 60");
  if (scrape_interval < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("--scrape_interval_s: at least 0.1");
  }
  if (history < scrape_interval) {
    return absl::InvalidArgumentError("--history_minutes: shorter than one scrape interval");
  }
  if (hybrid_http_port <= 0 || hybrid_http_port > 65535) {
    return absl::InvalidArgumentError("--hybrid_http_port: not a port");
  }
  return host.Validate();
}

namespace {
service::HostConfig Named(service::HostConfig host) {
  host.service = "engram-control";
  host.grpc_service.clear();
  host.default_headers = SecurityHeaders();
  return host;
}

std::string HostOf(const std::string& target) {
  std::string t = target;
  for (const char* scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(t, scheme)) t = t.substr(std::string(scheme).size());
  }
  const size_t comma = t.find(',');
  if (comma != std::string::npos) t = t.substr(0, comma);
  const size_t colon = t.rfind(':');
  return colon == std::string::npos ? t : t.substr(0, colon);
}
}  // namespace

ControlServer::ControlServer(ControlServerConfig config)
    : config_(std::move(config)),
      host_(Named(config_.host)),
      limiter_(/*max_failures_per_client=*/5, /*max_failures_total=*/100, absl::Minutes(1)) {
  // Like every service-to-service channel: a short reconnect backoff (common/grpc/channel.h).
  storage_channel_ = grpc_util::MakeDownstreamChannel(config_.storage_address, {.tls = config_.downstream_tls});
  std::string hybrid_target = config_.hybrid_address;
  if (!absl::StrContains(hybrid_target, ":///") && !absl::StartsWith(hybrid_target, "ipv4:") &&
      !absl::StartsWith(hybrid_target, "ipv6:") && !absl::StartsWith(hybrid_target, "unix:")) {
    hybrid_target = "dns:///" + hybrid_target;
  }
  hybrid_channel_ = grpc_util::MakeDownstreamChannel(hybrid_target,
                                                     {.round_robin = true, .tls = config_.downstream_tls});
  storage_ = storage::v1::Storage::NewStub(storage_channel_);
  hybrid_ = hybrid::v1::Hybrid::NewStub(hybrid_channel_);
  admin_ = std::make_unique<AdminApi>(storage_.get(), hybrid_.get(), config_.admin);
  audit_ = std::make_unique<AuditLog>(storage_.get(),
                                      AuditLog::Options{.ns = config_.admin.audit_namespace});

  host_.SetReadiness([this] {
    http::ReadinessReport report;
    if (!keys_loaded_.load()) report.unavailable.push_back({"keys", "API keys file not loaded"});
    return report;
  });
  RegisterRoutes();
}

ControlServer::~ControlServer() { Shutdown(); }

std::string ControlServer::Route(std::string_view suffix) const {
  return absl::StrCat(config_.base_path, std::string(suffix));
}

absl::Status ControlServer::ReloadKeys() {
  ASSIGN_OR_RETURN(std::string text, ReadFile(config_.api_keys_file, "--api_keys_file"));
  std::string secret_text;
  if (!config_.session_secret_file.empty()) {
    ASSIGN_OR_RETURN(secret_text, ReadFile(config_.session_secret_file, "--session_secret_file"));
  }
  {
    absl::MutexLock lock(&keys_mu_);
    if (keys_.store != nullptr && text == keys_text_) return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(api::ApiKeyStore store, api::ApiKeyStore::Parse(text));
  // Every replica derives the same secret from the same Secret; new keys end old sessions.
  const std::string secret =
      crypto::Sha256Hex(absl::StrCat("engram-control-session-v1\n", secret_text.empty() ? text : secret_text));
  Keys keys{.store = std::make_shared<const api::ApiKeyStore>(std::move(store)),
            .codec = std::make_shared<const SessionCodec>(secret, config_.session_ttl)};
  absl::MutexLock lock(&keys_mu_);
  const bool first = keys_.store == nullptr;
  keys_ = std::move(keys);
  keys_text_ = std::move(text);
  keys_loaded_.store(true);
  spdlog::info("API keys {}: {} keys from {}", first ? "loaded" : "reloaded (sessions reset)",
               keys_.store->size(), config_.api_keys_file);
  return absl::OkStatus();
}

ControlServer::Keys ControlServer::CurrentKeys() const {
  absl::MutexLock lock(&keys_mu_);
  return keys_;
}

void ControlServer::KeysLoop() {
  absl::MutexLock lock(&stop_mu_);
  while (!stopping_) {
    stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), config_.keys_reload_interval);
    if (stopping_) break;
    stop_mu_.Unlock();
    if (absl::Status s = ReloadKeys(); !s.ok()) {
      spdlog::error("API keys not reloaded, the keys in force stay: {}", s.ToString());
    }
    stop_mu_.Lock();
  }
}

std::string ControlServer::CookiePath(const http::Request& request) const {
  // Behind an Ingress that strips its prefix (and says so in X-Forwarded-Prefix), the browser's
  // path is the prefix, not base_path: scope the cookie to it.
  std::string prefix(absl::StripAsciiWhitespace(std::string(request.Header("X-Forwarded-Prefix"))));
  if (prefix.empty() || prefix.front() != '/' || prefix.size() > 256) return config_.base_path;
  for (char c : prefix) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && std::string_view("/-._~").find(c) == std::string_view::npos) {
      return config_.base_path;
    }
  }
  if (prefix.back() != '/') prefix += '/';
  return prefix;
}

std::string ControlServer::Client(const http::Request& request) const {
  std::string_view forwarded = request.Header("X-Forwarded-For");
  if (!forwarded.empty()) {
    std::string first(forwarded.substr(0, forwarded.find(',')));
    return std::string(absl::StripAsciiWhitespace(first)).substr(0, 64);
  }
  return "direct";
}

namespace {

// Control reaches storage directly and acts on the whole store (every namespace, snapshots, the
// audit log), so only an admin key for every namespace ("*") may log in: an admin key limited to
// some namespaces keeps its limits by using engram-api.
absl::Status AdminForEveryNamespace(const api::ApiKey& key) {
  if (key.role != api::Role::kAdmin) {
    return absl::PermissionDeniedError(absl::StrCat("key '", key.name, "' has the role ",
                                                    std::string(api::RoleName(key.role)),
                                                    "; the control UI needs an admin key"));
  }
  if (!key.AllNamespaces()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key '", key.name,
        "' is an admin key for some namespaces only; the control UI acts on the whole store and "
        "needs an admin key for every namespace (\"namespaces\": [\"*\"])"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Session> ControlServer::Authenticate(const http::Request& request, bool mutating) const {
  const std::string_view token = SessionCookieValue(request.Header("Cookie"));
  if (token.empty()) return absl::UnauthenticatedError("not logged in");
  const Keys keys = CurrentKeys();
  if (keys.codec == nullptr) return absl::UnavailableError("API keys not loaded yet");
  ASSIGN_OR_RETURN(Session session, keys.codec->Verify(token, absl::Now()));
  // The key may have been removed, demoted or narrowed to some namespaces since the login.
  const api::ApiKey* key = keys.store->FindByName(session.key_name);
  if (key == nullptr || !AdminForEveryNamespace(*key).ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "key '", session.key_name, "' is no longer an admin key for every namespace; log in again"));
  }
  if (mutating && !keys.codec->CsrfMatches(session, request.Header("X-CSRF-Token"))) {
    return absl::PermissionDeniedError("missing or wrong X-CSRF-Token header");
  }
  return session;
}

void ControlServer::Audit(const Session* session, std::string_view key_name, std::string action,
                          std::string target, const absl::Status& result,
                          const http::Request& request) {
  AuditEntry entry{.time = absl::Now(),
                   .key_name = session != nullptr ? session->key_name : std::string(key_name),
                   .action = std::move(action),
                   .target = std::move(target),
                   .result = result.ok() ? "ok" : result.ToString(),
                   .correlation_id = request.correlation_id,
                   .client = Client(request)};
  if (absl::Status s = audit_->Record(entry); !s.ok()) {
    spdlog::error("audit entry not recorded ({} {} by {}: {}): {}", entry.action, entry.target,
                  entry.key_name, entry.result, s.ToString());
  }
}

void ControlServer::RegisterRoutes() {
  http::HttpServer& http = host_.http();
  // The UI. "<base>" without its slash would resolve relative URLs one level too high.
  if (config_.base_path != "/") {
    const std::string bare = config_.base_path.substr(0, config_.base_path.size() - 1);
    http.Handle("GET", bare, [this](const http::Request&) {
      http::Response r{.status = 308, .content_type = "text/plain",
                       .body = "see " + config_.base_path,
                       .headers = {{"Location", config_.base_path}}};
      return r;
    });
  }
  for (const char* method : {"GET", "HEAD"}) {
    http.Handle(method, config_.base_path, [this](const http::Request& request) {
      return ServeAsset(*assets_.Find("index.html"), request);
    });
  }

  // A handler of a logged-in admin; `mutating` also requires the CSRF header.
  using Authed = std::function<http::Response(const http::Request&, const Session&)>;
  auto guard = [this](bool mutating, Authed handler) -> http::Handler {
    return [this, mutating, handler = std::move(handler)](const http::Request& request) {
      absl::StatusOr<Session> session = Authenticate(request, mutating);
      if (!session.ok()) return Error(session.status(), request);
      return handler(request, *session);
    };
  };
  const auto& p = [this](std::string_view s) { return Route(s); };

  http.Handle("POST", p("api/login"), [this](const http::Request& request) {
    const std::string client = Client(request);
    int64_t retry_after = 0;
    if (absl::Status s = limiter_.Check(client, absl::Now(), &retry_after); !s.ok()) {
      Audit(nullptr, "", "login_failed", client, s, request);
      http::Response r = Error(s, request);
      for (auto& [name, value] : r.headers) {
        if (name == "Retry-After") value = absl::StrCat(retry_after);
      }
      return r;
    }
    absl::StatusOr<json> body = Body(request);
    if (!body.ok()) return Error(body.status(), request);
    if (!body->is_object() || !body->contains("key") || !(*body)["key"].is_string()) {
      return Error(absl::InvalidArgumentError("key: required"), request);
    }
    const std::string presented = (*body)["key"].get<std::string>();
    const Keys keys = CurrentKeys();
    if (keys.store == nullptr) return Error(absl::UnavailableError("API keys not loaded yet"), request);
    absl::StatusOr<const api::ApiKey*> key = keys.store->Authenticate(presented);
    if (!key.ok()) {
      limiter_.RecordFailure(client, absl::Now());
      Audit(nullptr, "", "login_failed", client, key.status(), request);
      return Error(key.status(), request);
    }
    if (absl::Status refused = AdminForEveryNamespace(**key); !refused.ok()) {
      Audit(nullptr, (*key)->name, "login_failed", client, refused, request);
      return Error(refused, request);
    }
    const std::string token = keys.codec->Issue((*key)->name, absl::Now());
    absl::StatusOr<Session> session = keys.codec->Verify(token, absl::Now());
    Audit(&*session, "", "login", client, absl::OkStatus(), request);
    http::Response r = Json({{"keyName", session->key_name},
                             {"expiresAt", absl::FormatTime(absl::RFC3339_sec, session->expires,
                                                            absl::UTCTimeZone())},
                             {"csrfToken", session->csrf_token}});
    r.headers.emplace_back("Set-Cookie", SessionCookie(token, config_.session_ttl, CookiePath(request),
                                                       config_.secure_cookies));
    return r;
  });
  http.Handle("POST", p("api/logout"), guard(true, [this](const http::Request& request, const Session& s) {
    Audit(&s, "", "logout", Client(request), absl::OkStatus(), request);
    http::Response r = NoContent();
    r.headers.emplace_back("Set-Cookie", ClearedSessionCookie(CookiePath(request), config_.secure_cookies));
    return r;
  }));
  http.Handle("GET", p("api/session"), guard(false, [](const http::Request&, const Session& s) {
    return Json({{"keyName", s.key_name},
                 {"expiresAt", absl::FormatTime(absl::RFC3339_sec, s.expires, absl::UTCTimeZone())},
                 {"csrfToken", s.csrf_token}});
  }));

  // Monitoring.
  http.Handle("GET", p("api/overview"), guard(false, [this](const http::Request& request, const Session&) {
    std::shared_ptr<const Tick> tick = monitor_ != nullptr ? monitor_->Latest() : nullptr;
    if (tick == nullptr) return Error(absl::UnavailableError("no scrape finished yet"), request);
    return Json(tick->ToJson());
  }));
  http.Handle("GET", p("api/history"), guard(false, [this](const http::Request&, const Session&) {
    return Json(monitor_->HistoryJson());
  }));
  http.Handle("GET", p("api/services/{id}/metrics"),
              guard(false, [this](const http::Request& request, const Session&) {
                absl::StatusOr<std::string> text = monitor_->LatestMetricsText(request.path_params.at("id"));
                if (!text.ok()) return Error(text.status(), request);
                http::Response r{.content_type = "text/plain; version=0.0.4; charset=utf-8",
                                 .body = *std::move(text), .headers = {{"Cache-Control", "no-store"}}};
                return r;
              }));
  http::WebSocketHandler live;
  live.authorize = [this](const http::Request& request) { return Authenticate(request, false).status(); };
  live.on_open = [this](std::shared_ptr<http::WebSocketConnection> socket) {
    json history = monitor_->HistoryJson();
    history["type"] = "history";
    socket->Send(history.dump(-1, ' ', false, json::error_handler_t::replace));
    absl::MutexLock lock(&sockets_mu_);
    sockets_.insert(std::move(socket));
  };
  live.on_close = [this](http::WebSocketConnection* closed) {
    absl::MutexLock lock(&sockets_mu_);
    for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
      if (it->get() == closed) {
        sockets_.erase(it);
        break;
      }
    }
  };
  http.HandleWebSocket(p("api/live"), std::move(live));

  // Namespaces.
  http.Handle("GET", p("api/namespaces"), guard(false, [this](const http::Request& request, const Session&) {
    return Answer(admin_->ListNamespaces(), request);
  }));
  http.Handle("POST", p("api/namespaces"), guard(true, [this](const http::Request& request, const Session& s) {
    absl::StatusOr<json> body = Body(request);
    if (!body.ok()) return Error(body.status(), request);
    absl::StatusOr<json> created = admin_->CreateNamespace(*body);
    const std::string name = body->is_object() && body->contains("name") && (*body)["name"].is_string()
                                 ? (*body)["name"].get<std::string>() : "";
    Audit(&s, "", "namespace_create", name, created.status(), request);
    return Answer(created, request);
  }));
  http.Handle("DELETE", p("api/namespaces/{ns}"), guard(true, [this](const http::Request& request, const Session& s) {
    absl::StatusOr<json> body = Body(request);
    if (!body.ok()) return Error(body.status(), request);
    const std::string& ns = request.path_params.at("ns");
    absl::Status deleted = admin_->DeleteNamespace(ns, *body);
    Audit(&s, "", "namespace_delete", ns, deleted, request);
    return deleted.ok() ? NoContent() : Error(deleted, request);
  }));

  // Compaction is queued and runs in storage; GET api/namespaces shows its progress and result.
  http.Handle("POST", p("api/namespaces/{ns}:compact"), guard(true, [this](const http::Request& request, const Session& s) {
    absl::StatusOr<json> body = Body(request);
    const std::string& ns = request.path_params.at("ns");
    absl::StatusOr<json> queued = body.ok() ? admin_->CompactNamespace(ns, *body) : body.status();
    Audit(&s, "", "namespace_compact", ns, queued.status(), request);
    return Answer(queued, request);
  }));

  // Concepts and the graph.
  http.Handle("GET", p("api/namespaces/{ns}/concepts"), guard(false, [this](const http::Request& request, const Session&) {
    return Answer(admin_->ListConcepts(request.path_params.at("ns"), request.query), request);
  }));
  http.Handle("GET", p("api/namespaces/{ns}/concepts/{id}"), guard(false, [this](const http::Request& request, const Session&) {
    return Answer(admin_->GetConcept(request.path_params.at("ns"), request.path_params.at("id")), request);
  }));
  http.Handle("DELETE", p("api/namespaces/{ns}/concepts/{id}"), guard(true, [this](const http::Request& request, const Session& s) {
    const std::string& ns = request.path_params.at("ns");
    const std::string& id = request.path_params.at("id");
    absl::Status deleted = admin_->DeleteConcept(ns, id);
    Audit(&s, "", "concept_delete", absl::StrCat(ns, "/", id), deleted, request);
    return deleted.ok() ? NoContent() : Error(deleted, request);
  }));
  http.Handle("GET", p("api/namespaces/{ns}/concepts/{id}/neighbors"), guard(false, [this](const http::Request& request, const Session&) {
    return Answer(admin_->Neighbors(request.path_params.at("ns"), request.path_params.at("id"), request.query), request);
  }));
  // Reads with a JSON body: POST, but not state-changing, so no CSRF token needed... except that
  // a cross-site form cannot send JSON with our cookie anyway (SameSite=Strict). Require it all the same.
  const auto post_read = [&](std::string_view suffix, absl::StatusOr<json> (AdminApi::*call)(const std::string&, const json&)) {
    http.Handle("POST", p(suffix), guard(true, [this, call](const http::Request& request, const Session&) {
      absl::StatusOr<json> body = Body(request);
      if (!body.ok()) return Error(body.status(), request);
      return Answer(((*admin_).*call)(request.path_params.at("ns"), *body), request);
    }));
  };
  post_read("api/namespaces/{ns}/search", &AdminApi::Search);
  post_read("api/namespaces/{ns}/paths", &AdminApi::Paths);
  post_read("api/namespaces/{ns}/reason", &AdminApi::Reason);

  // Snapshots.
  http.Handle("GET", p("api/snapshots"), guard(false, [this](const http::Request& request, const Session&) {
    return Answer(admin_->ListSnapshots(), request);
  }));
  http.Handle("POST", p("api/snapshots"), guard(true, [this](const http::Request& request, const Session& s) {
    absl::StatusOr<json> created = admin_->CreateSnapshot();
    Audit(&s, "", "snapshot_create",
          created.ok() ? (*created).value("name", "") : "", created.status(), request);
    return Answer(created, request);
  }));
  http.Handle("DELETE", p("api/snapshots/{name}"), guard(true, [this](const http::Request& request, const Session& s) {
    const std::string& name = request.path_params.at("name");
    absl::Status deleted = admin_->DeleteSnapshot(name);
    Audit(&s, "", "snapshot_delete", name, deleted, request);
    return deleted.ok() ? NoContent() : Error(deleted, request);
  }));
  http.HandleStream(
      "GET", p("api/snapshots/{name}/download"),
      [this](http::StreamContext& ctx) -> http::Response {
        const http::Request& request = ctx.request();
        absl::StatusOr<Session> session = Authenticate(request, false);
        if (!session.ok()) return Error(session.status(), request);
        const std::string& name = request.path_params.at("name");
        absl::StatusOr<storage::v1::SnapshotInfo> info = admin_->FindSnapshot(name);
        if (!info.ok()) return Error(info.status(), request);
        absl::Status s = ctx.StartResponse(
            200, "application/octet-stream",
            {{"Content-Disposition", absl::StrCat("attachment; filename=\"", name, ".tar\"")},
             {"X-Checksum-SHA256", info->sha256()},
             {"X-Archive-Bytes", absl::StrCat(info->size_bytes())},
             {"Cache-Control", "no-store"}});
        if (s.ok()) {
          s = admin_->DownloadSnapshot(*info, [&](std::string_view piece) { return ctx.Write(piece); });
        }
        if (s.ok()) s = ctx.Finish();
        if (!s.ok()) {
          spdlog::error("snapshot {} download cut off: {}", name, s.ToString());
          ctx.Abort();
        }
        Audit(&*session, "", "snapshot_download", name, s, request);
        return http::Response{};
      },
      /*max_body_bytes=*/0);
  http.HandleStream(
      "POST", p("api/snapshots:restore"),
      [this](http::StreamContext& ctx) -> http::Response {
        const http::Request& request = ctx.request();
        absl::StatusOr<Session> session = Authenticate(request, true);
        if (!session.ok()) return Error(session.status(), request);
        // Storage restores only into an empty server, and this server's own audit entries (the
        // login that is doing the restore) would make it non-empty: set them aside, restore, and
        // append them to the restored log, so the trail is kept.
        absl::StatusOr<std::vector<AuditEntry>> kept = audit_->SetAsideForRestore();
        if (!kept.ok()) {
          Audit(&*session, "", "snapshot_restore", "upload", kept.status(), request);
          if (kept.status().code() == absl::StatusCode::kFailedPrecondition) {
            // The server holds data: a conflict with its state, as the admin API documents.
            http::Response r = http::JsonErrorResponse(409, "FAILED_PRECONDITION",
                                                       std::string(kept.status().message()),
                                                       request.correlation_id);
            return r;
          }
          return Error(kept.status(), request);
        }
        std::string buffer;
        absl::StatusOr<json> restored = admin_->RestoreSnapshot([&]() -> absl::StatusOr<std::string> {
          buffer.resize(1 << 20);
          size_t filled = 0;
          while (filled < buffer.size()) {
            absl::StatusOr<size_t> n = ctx.ReadBody(buffer.data() + filled, buffer.size() - filled);
            if (!n.ok()) return n.status();
            if (*n == 0) break;
            filled += *n;
          }
          buffer.resize(filled);
          return buffer;
        });
        for (const AuditEntry& entry : *kept) {
          if (absl::Status s = audit_->Record(entry); !s.ok()) {
            spdlog::error("audit entry set aside for the restore not written back ({} {} {}): {}",
                          entry.action, entry.target, entry.result, s.ToString());
          }
        }
        Audit(&*session, "", "snapshot_restore",
              restored.ok() ? (*restored)["snapshot"].value("name", "") : "upload", restored.status(),
              request);
        return Answer(restored, request);
      },
      config_.max_upload_bytes);

  // Audit.
  http.Handle("GET", p("api/audit"), guard(false, [this](const http::Request& request, const Session&) {
    AuditQuery query;
    if (auto it = request.query.find("limit"); it != request.query.end()) {
      if (!absl::SimpleAtoi(it->second, &query.limit) || query.limit == 0 || query.limit > 1000) {
        return Error(absl::InvalidArgumentError("limit: a number from 1 to 1000"), request);
      }
    }
    if (auto it = request.query.find("action"); it != request.query.end()) query.action = it->second;
    if (auto it = request.query.find("q"); it != request.query.end()) query.text = it->second;
    absl::StatusOr<std::vector<AuditEntry>> entries = audit_->List(query);
    if (!entries.ok()) return Error(entries.status(), request);
    json list = json::array();
    for (const AuditEntry& e : *entries) list.push_back(e.ToJson());
    return Json({{"entries", std::move(list)}});
  }));
}

absl::Status ControlServer::Start() {
  if (started_) return absl::FailedPreconditionError("ControlServer already started");
  started_ = true;
  RETURN_IF_ERROR(config_.Validate());
  RETURN_IF_ERROR(ReloadKeys());
  if (config_.ui_dir.empty()) {
    assets_ = AssetSet::Embedded();
  } else {
    ASSIGN_OR_RETURN(assets_, AssetSet::FromDirectory(config_.ui_dir));
    spdlog::info("serving the UI from {} ({} files)", config_.ui_dir, assets_.all().size());
  }
  if (assets_.Find("index.html") == nullptr) {
    return absl::FailedPreconditionError("the UI assets have no index.html");
  }
  for (const auto& [path, asset] : assets_.all()) {
    if (path == "index.html") continue;
    for (const char* method : {"GET", "HEAD"}) {
      host_.http().Handle(method, Route(path), [this, path = path](const http::Request& request) {
        return ServeAsset(*assets_.Find(path), request);
      });
    }
  }
  MonitorOptions monitor_options;
  monitor_options.targets = {
      {"storage", config_.storage_http_address},
      {"hybrid", absl::StrCat(HostOf(config_.hybrid_address), ":", config_.hybrid_http_port)},
      {"api", config_.api_http_address},
  };
  monitor_options.interval = config_.scrape_interval;
  monitor_options.history = config_.history;
  ASSIGN_OR_RETURN(monitor_, Monitor::Create(std::move(monitor_options),
                                             NewBeastHttpFetcher(config_.downstream_tls)));
  subscription_ = monitor_->Subscribe([this](std::shared_ptr<const Tick> tick) {
    json message = tick->ToJson();
    message["type"] = "tick";
    const std::string text = message.dump(-1, ' ', false, json::error_handler_t::replace);
    absl::MutexLock lock(&sockets_mu_);
    for (const auto& socket : sockets_) socket->Send(text);
  });
  RETURN_IF_ERROR(monitor_->Start());
  RETURN_IF_ERROR(host_.Start());
  keys_thread_ = std::thread([this] { KeysLoop(); });
  spdlog::info("engram-control: UI at {}://{}:{}{}", config_.host.tls.enabled() ? "https" : "http",
               config_.host.listen_address, host_.http_port(), config_.base_path);
  return absl::OkStatus();
}

void ControlServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (keys_thread_.joinable()) keys_thread_.join();
  if (monitor_ != nullptr) {
    monitor_->Unsubscribe(subscription_);
    monitor_->Stop();
  }
  host_.Shutdown();
}

}  // namespace engram::control
