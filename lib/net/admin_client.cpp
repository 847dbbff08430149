// The admin API's client (see admin_client.hpp): one request, its failures said in the terms of
// the command line that made it.
#include "e911/admin_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "e911/error.hpp"
#include "e911/http_client.hpp"
#include "e911/schema_check.hpp"

namespace e911 {

namespace {

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The message and hint of the API's {"error": {...}} body, when it has one.
std::pair<std::string, std::string> error_of(const Json& body) {
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return {};
  const Json& e = body["error"];
  const auto text = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string(); };
  return {text("message"), text("hint")};
}

// True for the loopback literals and localhost in a URL's authority ("127.0.0.1:5080/x", "[::1]:80").
bool loopback_host(std::string_view authority) {
  authority = authority.substr(0, authority.find_first_of("/?#"));
  std::string host;
  if (!authority.empty() && authority.front() == '[') host = std::string(authority.substr(1, authority.find(']') - 1));
  else host = std::string(authority.substr(0, authority.find(':')));
  host = lowercase(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) return IN6_IS_ADDR_LOOPBACK(reinterpret_cast<const in6_addr*>(buf));
  return host == "localhost";
}

}  // namespace

Json AdminClient::call(const std::string& method, const std::string& path) const {
  // The token is the only credential, and a URL is shown in every error: none in it.
  if (url_has_userinfo(url))
    throw Error(ErrorKind::usage, "the runtime address '" + url_without_userinfo(url) + "' holds a user name or password",
                "the admin API takes its bearer token from --token-file: give the URL without the part before @");
  const std::string scheme = lowercase(url.substr(0, url.find("://") == std::string::npos ? 0 : url.find("://") + 3));
  if (scheme != "http://" && scheme != "https://")
    throw Error(ErrorKind::usage, "the runtime address '" + url + "' is not an http:// URL",
                "give the admin API's URL, such as --runtime http://127.0.0.1:5080");
  std::string base = url;
  while (base.size() > scheme.size() && base.back() == '/') base.pop_back();
  if (scheme == "http://" && !loopback_host(base.substr(scheme.size())))
    throw Error(ErrorKind::usage, "the runtime address '" + url + "' is plain http:// off loopback: the token would cross the network in the clear",
                "give its https:// URL (a runtime whose admin API is not on loopback serves HTTPS only), with --ca-file for a private CA");

  HttpRequest request;
  request.method = method;
  request.url = base + path;
  request.headers = {"Authorization: Bearer " + token, "Accept: application/json"};
  request.timeout_ms = timeout_ms;
  request.ca_file = ca_file;
  const HttpAnswer answer = http_exchange(request);
  if (answer.status == 0 && scheme == "https://" && answer.error.find("certificate") != std::string::npos)
    throw Error(ErrorKind::remote, "the runtime at '" + base + "' could not be reached: " + answer.error,
                "give the CA bundle that signed its certificate with --ca-file (E911_RUNTIME_CA_FILE), or the runtime's ca_file");
  if (answer.status == 0)
    throw Error(ErrorKind::remote, "the runtime at '" + base + "' could not be reached: " + answer.error,
                "is 'e911ctl serve' running with its admin API there? give its address with --runtime URL or E911_RUNTIME");

  const Json body = Json::parse(answer.body, nullptr, false);
  if (answer.status >= 200 && answer.status < 300) {
    if (body.is_discarded())
      throw Error(ErrorKind::failure, "the answer of '" + request.url + "' is not JSON", "is '" + base + "' the admin API of an e911ctl runtime?");
    return body;
  }
  const auto [said, said_hint] = error_of(body);
  if (answer.status == 401)
    throw Error(ErrorKind::failure, "the runtime at '" + base + "' refused the token from '" + token_file + "'",
                "give the token file the runtime was started with (--token-file or E911_RUNTIME_TOKEN_FILE)");
  if (answer.status == 404 && said.empty())
    throw Error(ErrorKind::failure, "'" + request.url + "' is not found", "is '" + base + "' the admin API of an e911ctl runtime?");
  if (answer.status == 404)
    throw Error(ErrorKind::failure, "the runtime at '" + base + "' has no '" + path.substr(0, path.find('?')) + "': " + said,
                "it may be older than this e911ctl; compare 'e911ctl --version' with 'e911ctl runtime status'");
  throw Error(ErrorKind::failure,
              "the runtime at '" + base + "' answered HTTP " + std::to_string(answer.status) + (said.empty() ? "" : ": " + said),
              said_hint.empty() ? "see the runtime's log" : said_hint);
}

RuntimeReload reload_runtime(const AdminClient& client, std::int64_t revision, const std::string& checksum, const std::string& path,
                             long reload_timeout_ms) {
  RuntimeReload r;
  const auto text = [](const Json& obj, const char* key) {
    return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>() : std::string();
  };
  Json answer;
  try {
    AdminClient slow = client;
    slow.timeout_ms = reload_timeout_ms;
    answer = slow.call("POST", "/v1/reload");
  } catch (const Error& e) {
    r.message = e.what();
    return r;
  }
  r.reached = true;
  const bool reloaded = answer.is_object() && answer.value("reloaded", false);
  // The runtime's own sentence first: "snapshot revision 12 in service (was 11)" or why it refused.
  r.message = text(answer, "message");
  if (answer.is_object() && answer.contains("revision") && answer["revision"].is_number_integer()) r.revision = answer["revision"];
  Json status;
  try {
    status = client.call("GET", "/v1/status");
  } catch (const Error& e) {
    r.message += std::string(r.message.empty() ? "" : "; ") + "its status could not be read: " + e.what();
    return r;
  }
  const Json snap = status.is_object() && status.contains("snapshot") ? status["snapshot"] : Json();
  if (snap.is_object()) {
    if (snap.contains("revision") && snap["revision"].is_number_integer()) r.revision = snap["revision"];
    r.checksum = text(snap, "checksum");
    r.path = text(snap, "path");
  } else {
    r.revision = nullptr;
  }
  r.took = reloaded && r.revision.is_number_integer() && r.revision.get<std::int64_t>() == revision && r.checksum == checksum;
  if (r.took || !reloaded) return r;
  // It loaded a file, but not the one just written: most often it reads another path.
  r.message = "it serves " + (r.revision.is_null() ? std::string("no snapshot") : "revision " + r.revision.dump() + " (checksum " + r.checksum + ")") +
              ", not revision " + std::to_string(revision) + " (checksum " + checksum + ")";
  if (!r.path.empty() && r.path != path) r.message += ": it reads '" + r.path + "', publish wrote '" + path + "'";
  return r;
}

}  // namespace e911
