// The admin HTTP API (see runtime_admin.hpp): one table of routes, one dispatcher that checks
// path, method and token in that order, and the token file's checks.
#include "e911/runtime_admin.hpp"
#include "http_server.hpp"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string_view>

#include "e911/error.hpp"

namespace e911::runtime {

namespace {

constexpr std::size_t kMaxTokenFileBytes = 4096;
constexpr std::size_t kMaxBodyBytes = 4096;  // no route takes a body; a reload's is empty
constexpr std::size_t kDefaultCalls = 50, kMaxCalls = 10000;
constexpr const char* kJson = "application/json";
constexpr const char* kPrometheus = "text/plain; version=0.0.4; charset=utf-8";


// Every JSON answer as UTF-8, whatever the runtime holds: a Call-ID, a Contact or a display name
// may carry any byte a phone sent (0xff), and each byte that is not UTF-8 is written U+FFFD, as
// the call log writes its records, rather than failing the whole answer.
std::string json_text(const Json& doc) { return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"; }

void json_error(http::Response& res, int status, const std::string& message, const std::string& hint) {
  Json body = {{"error", {{"message", message}}}};
  if (!hint.empty()) body["error"]["hint"] = hint;
  res.status = status;
  res.set_content(json_text(body), kJson);
}

// What the server shares with its handler threads.
struct State {
  std::string token;
  AdminHooks hooks;
  std::mutex hooks_mutex;  // one hook at a time, as AdminHooks promises
};

struct Route {
  const char* path;
  const char* method;
  bool needs_token;
  bool asks_hook;  // answered on a worker thread: a hook may wait (for the SIP loop, for a file)
  void (*answer)(State&, const http::Request&, http::Response&);
};

// Calls a hook under the hooks' lock: 501 when it is not set, 500 when it throws.
template <typename Hook, typename Respond>
void call_hook(State& s, const Hook& hook, const char* name, http::Response& res, Respond respond) {
  if (!hook) {
    json_error(res, 501, std::string("this runtime does not provide '") + name + "'", "upgrade e911ctl serve");
    return;
  }
  try {
    std::lock_guard lock(s.hooks_mutex);
    respond(hook);
  } catch (const std::exception& e) {
    json_error(res, 500, std::string("the runtime failed to answer '") + name + "': " + e.what(), "see the runtime's log");
  }
}

void answer_json(State& s, const std::function<Json()>& hook, const char* name, http::Response& res) {
  call_hook(s, hook, name, res, [&](const auto& h) { res.set_content(json_text(h()), kJson); });
}

// ?limit=N: 1..kMaxCalls, digits only; nullopt when malformed.
std::optional<std::size_t> limit_of(const http::Request& req) {
  if (!req.has_param("limit")) return kDefaultCalls;
  const std::string text = req.param("limit");
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const std::size_t n = std::stoul(text);
  if (n < 1 || n > kMaxCalls) return std::nullopt;
  return n;
}

// A list route with ?limit=N (1 to kMaxCalls): a bad limit is a 400 that shows a good request.
template <typename Hook>
void answer_limited(State& s, const Hook& hook, const char* what, const std::string& path, const http::Request& req, http::Response& res) {
  const auto limit = limit_of(req);
  if (!limit) {
    json_error(res, 400, "limit '" + req.param("limit") + "' is not a whole number from 1 to " + std::to_string(kMaxCalls),
               "ask for " + path + "?limit=50");
    return;
  }
  call_hook(s, hook, what, res, [&](const auto& h) { res.set_content(json_text(h(*limit)), kJson); });
}

const std::array<Route, 7> kRoutes = {{
    {"/healthz", "GET", false, false, [](State&, const http::Request&, http::Response& res) { res.set_content("ok\n", "text/plain"); }},
    {"/v1/status", "GET", true, true, [](State& s, const http::Request&, http::Response& res) { answer_json(s, s.hooks.status, "status", res); }},
    {"/v1/reload", "POST", true, true, [](State& s, const http::Request&, http::Response& res) { answer_json(s, s.hooks.reload, "reload", res); }},
    {"/v1/calls", "GET", true, true,
     [](State& s, const http::Request& req, http::Response& res) { answer_limited(s, s.hooks.calls, "calls", "/v1/calls", req, res); }},
    {"/v1/calls/active", "GET", true, true,
     [](State& s, const http::Request& req, http::Response& res) {
       answer_limited(s, s.hooks.active_calls, "active calls", "/v1/calls/active", req, res);
     }},
    {"/v1/registrations", "GET", true, true,
     [](State& s, const http::Request&, http::Response& res) { answer_json(s, s.hooks.registrations, "registrations", res); }},
    {"/metrics", "GET", true, true,
     [](State& s, const http::Request&, http::Response& res) {
       call_hook(s, s.hooks.metrics, "metrics", res, [&](const auto& h) { res.set_content(h(), kPrometheus); });
     }},
}};

}  // namespace

bool same_token(std::string_view given, std::string_view expected) {
  // Digests of equal length, compared by OpenSSL's constant-time memcmp: neither where the
  // first difference is nor the token's length shows in the time taken.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

namespace {

bool authorized(const State& s, const http::Request& req) {
  const std::string header = req.header("Authorization");
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)  // the scheme is case-insensitive (RFC 7235)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return false;
  std::string_view given(header);
  given.remove_prefix(scheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
  return same_token(given, s.token);
}

// The route that answers `req`, or nullptr with `res` answered (no such route, another method,
// no token).
const Route* route(const State& s, const http::Request& req, http::Response& res) {
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  std::string allow;
  for (const Route& r : kRoutes) {
    if (req.path != r.path) continue;
    if (method != r.method) {
      allow += (allow.empty() ? "" : ", ") + std::string(r.method);
      continue;
    }
    if (r.needs_token && !authorized(s, req)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"e911ctl\"");
      json_error(res, 401,
                 req.has_header("Authorization") ? "the bearer token is not this runtime's" : "a bearer token is required",
                 "send 'Authorization: Bearer TOKEN' with the token in the runtime's --token-file");
      return nullptr;
    }
    return &r;
  }
  if (!allow.empty()) {
    res.set_header("Allow", allow);
    json_error(res, 405, "'" + req.path + "' does not take " + req.method, "use " + allow);
    return nullptr;
  }
  json_error(res, 404, "no route '" + req.path + "'",
             "the routes are /healthz, /v1/status, /v1/reload, /v1/calls, /v1/calls/active, /v1/registrations and /metrics");
  return nullptr;
}

// What the server answers by itself: a request it cannot read, too slow or too large.
void refusal(http::Response& res) {
  std::string message;
  switch (res.status) {
    case 408: message = "the request did not arrive whole in time"; break;
    case 413: message = "the request is larger than 4 KiB"; break;
    case 431: message = "the request's headers are larger than 8 KiB"; break;
    case 501: message = "the request's Transfer-Encoding is not chunked"; break;
    case 505: message = "the request is not HTTP/1.1 or HTTP/1.0"; break;
    default: message = "the request was refused (HTTP " + std::to_string(res.status) + ")";
  }
  json_error(res, res.status, message, "see 'man e911ctl-runtime' for the routes");
}

std::string without_brackets(const std::string& address) {
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') return address.substr(1, address.size() - 2);
  return address;
}

bool bad_token_char(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }

}  // namespace

std::string read_token_file(const std::string& path) {
  const std::string make_one = "create it: (umask 077; head -c 32 /dev/urandom | base64 > '" + path + "')";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorKind::failure, "cannot read the token file '" + path + "': " + std::strerror(errno),
                errno == ENOENT ? make_one + ", or name another with --token-file" : "check its path and permissions");
  if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::failure, "the token file '" + path + "' is not a regular file", "give the file that holds the token");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw Error(ErrorKind::failure, "the token file '" + path + "' is open to group or others (mode " + mode + ")",
                "the token guards the admin API; make it private: chmod 600 '" + path + "'");
  }
  if (st.st_size > static_cast<off_t>(kMaxTokenFileBytes))
    throw Error(ErrorKind::failure, "the token file '" + path + "' is larger than 4 KiB", "it holds one token on one line");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::failure, "cannot read the token file '" + path + "': " + std::strerror(errno), "check its permissions");
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
  if (token.empty()) throw Error(ErrorKind::failure, "the token file '" + path + "' is empty", make_one);
  for (char c : token)
    if (bad_token_char(c))
      throw Error(ErrorKind::failure, "the token in '" + path + "' holds white space or a control character",
                  "a token is one word on one line; " + make_one);
  return token;
}

AdminServer::AdminServer(const std::string& address, unsigned short port, std::string token, AdminHooks hooks, AdminTls tls) {
  const std::string host = without_brackets(address);
  unsigned char buf[sizeof(in6_addr)];
  int family = AF_UNSPEC;
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) family = AF_INET;
  else if (inet_pton(AF_INET6, host.c_str(), buf) == 1) family = AF_INET6;
  else
    throw Error(ErrorKind::usage, "the admin address '" + address + "' is not an IP address",
                "give an IPv4 or IPv6 address such as 127.0.0.1 or [::1]; names are never resolved");
  if (token.empty()) throw Error(ErrorKind::usage, "the admin API needs a token", "give --token-file");
  if (tls.certificate.empty() != tls.private_key.empty())
    throw Error(ErrorKind::usage, "the admin API's certificate and private key go together",
                "give both admin_certificate and admin_private_key (--admin-certificate, --admin-private-key)");
  const bool loopback = family == AF_INET ? buf[0] == 127 : IN6_IS_ADDR_LOOPBACK(reinterpret_cast<const in6_addr*>(buf));
  if (!loopback && tls.certificate.empty())
    throw Error(ErrorKind::usage, "the admin API on '" + address + "' would carry its token in the clear: off loopback it needs a certificate",
                "give admin_certificate and admin_private_key (--admin-certificate, --admin-private-key), or bind it to 127.0.0.1");

  auto state = std::make_shared<State>();
  state->token = std::move(token);
  state->hooks = std::move(hooks);
  std::shared_ptr<asio::ssl::context> secure;
  if (!tls.certificate.empty()) {
    for (const std::string& file : {tls.certificate, tls.private_key})
      if (::access(file.c_str(), R_OK) != 0)
        throw Error(ErrorKind::failure, "cannot read the admin API's '" + file + "': " + std::strerror(errno), "check the path and its permissions");
    secure = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* ctx = secure->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.certificate.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, tls.private_key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
      throw Error(ErrorKind::failure, "the admin API's certificate '" + tls.certificate + "' or key '" + tls.private_key + "' cannot be used",
                  "give a PEM certificate and its unencrypted PEM key, which must match");
  }
  // Hooks run on two workers of their own, so the listener's thread never waits for one (for
  // the SIP loop, for a snapshot file): /healthz and every refusal are answered meanwhile.
  // Unauthenticated requests never reach them.
  workers_ = std::make_unique<asio::thread_pool>(2);
  http::Settings settings;
  settings.what = "the admin API";
  settings.max_body_bytes = kMaxBodyBytes;
  // Headers, deadlines and timeouts: http::Settings' defaults (8 KiB, 10 s, 5 s, 5 s).
  asio::thread_pool* workers = workers_.get();
  const auto handler = [state, workers](http::Request& req, http::Respond respond) {
    http::Response res;
    const Route* r = route(*state, req, res);
    if (r && r->asks_hook) {
      asio::post(*workers, [state, r, req = std::move(req), respond = std::move(respond)] {
        http::Response answer;
        try {
          r->answer(*state, req, answer);
        } catch (const std::exception&) {  // never out of the worker, which would end the process
          answer = {};
          answer.status = 500;
          answer.set_content(std::string("{\"error\": {\"message\": \"the runtime failed to answer\"}}\n"), kJson);
        }
        respond(std::move(answer));
      });
      return;
    }
    if (r) r->answer(*state, req, res);
    respond(std::move(res));
  };
  try {
    server_ = std::make_unique<http::Server>(host, port, settings, handler, refusal, secure);
  } catch (...) {
    workers_->join();
    throw;
  }
  port_ = server_->port();
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  if (!server_) return;
  server_->stop();
  workers_->join();  // a hook under way ends (each has its deadline); its answer is discarded
  server_.reset();
}

}  // namespace e911::runtime
