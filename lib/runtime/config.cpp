#include "e911/runtime_config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <tuple>

#include "e911/catalog.hpp"
#include "e911/diagnostic_error.hpp"
#include "e911/error.hpp"
#include "e911/runtime_auth.hpp"
#include "e911/yaml_load.hpp"

namespace e911::runtime {

namespace {

// Every key of the file, in the schema's order; each has an origin.
constexpr const char* kKeys[] = {"listen",       "domains",      "snapshot",      "bindings",        "admin",
                                 "token_file",   "location_service", "held_trusted_clients", "threads",      "idle_timeout",  "ring_timeout",    "dialog_keepalive", "drain_timeout",
                                 "max_connections", "max_message", "max_headers",
                                 "max_connections_per_source", "max_calls_per_source", "max_calls",
                                 "max_transactions_per_source", "max_transactions", "log_format",
                                 "smtp_url",     "smtp_from",    "smtp_credentials_file", "smtp_starttls", "notify_ca_file", "callback_window",
                                 "admin_certificate", "admin_private_key", "tls_certificate", "tls_private_key", "tls_ca_file",
                                 "tls_verify_clients", "auth", "trusted_networks", "auth_nonce_lifetime"};

const Json& serve_schema() {
  // Static: the schema check compiles a schema once and keeps it by address.
  static const Json schema = Json::parse(embedded_file("schemas/serve.schema.json"));
  return schema;
}

// "ADDR:PORT" with ADDR an IP literal (IPv6 in brackets) into `out`; `label` starts every
// message ("listen address 'udp:x:1'").
void parse_endpoint(const std::string& text, const std::string& label, ListenSpec& out) {
  const auto refuse = [&](const std::string& why, const std::string& hint = {}) {
    throw Error(ErrorKind::usage, label + ": " + why, hint);
  };
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      refuse("an IPv6 address is written [ADDR]:PORT", "for example [::1]:5060");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) refuse("no port; write ADDR:PORT", "for example 127.0.0.1:5060");
    if (text.find(':') != colon) refuse("an IPv6 address is written in brackets, [ADDR]:PORT", "for example [::1]:5060");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) refuse("no address; write ADDR:PORT", "0.0.0.0 or [::] listens on every address");
  unsigned char buf[16];
  char shown[INET6_ADDRSTRLEN];
  const bool v6 = host.find(':') != std::string::npos;
  if (host.find('%') != std::string::npos) refuse("'" + excerpt(host) + "' has a zone; give a global or loopback address");
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) {
    // A name would need a resolver on the hot path and could change under a running server.
    const bool name = host.find_first_not_of("0123456789.") != std::string::npos;
    refuse(name ? "'" + excerpt(host) + "' is a host name, not an IP address; the runtime never resolves names"
                : "'" + excerpt(host) + "' is not an IP address",
           "give an IP address, such as 127.0.0.1 or [::1]");
  }
  if (!inet_ntop(v6 ? AF_INET6 : AF_INET, buf, shown, sizeof shown)) refuse("'" + excerpt(host) + "' is not an IP address");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    refuse("'" + excerpt(port) + "' is not a port (0 to 65535)");
  out.address = shown;
  out.port = static_cast<unsigned short>(std::stoul(port));
}

std::string where(const SourceMark& m) {
  return m.file + ":" + std::to_string(m.line) + ":" + std::to_string(m.col);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::failure, "cannot read '" + path + "'", "give the configuration file with --config FILE");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorKind::failure, "cannot read '" + path + "'");
  return ss.str();
}

}  // namespace

std::string ListenSpec::endpoint() const {
  return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string ListenSpec::text() const { return transport == "both" ? endpoint() : transport + ":" + endpoint(); }

std::string ServeConfig::bindings_path() const {
  if (!bindings.empty()) return bindings;
  return snapshot.empty() ? std::string() : snapshot + ".bindings";
}

ServeConfig default_serve_config() {
  ServeConfig c;
  for (const char* k : kKeys) c.origin[k] = "default";
  return c;
}

ListenSpec parse_listen_spec(const std::string& text) {
  ListenSpec spec;
  std::string rest = text;
  for (const char* t : {"udp", "tcp", "tls"}) {
    const std::string prefix = std::string(t) + ":";
    if (text.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), text.begin(),
                                                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
      spec.transport = t;
      rest = text.substr(prefix.size());
    }
  }
  const std::string label = "listen address '" + excerpt(text) + "'";
  if (spec.transport == "both" && (rest.rfind("sctp:", 0) == 0 || rest.rfind("ws:", 0) == 0 || rest.rfind("wss:", 0) == 0))
    throw Error(ErrorKind::usage, label + ": only udp, tcp and tls are served", "write udp:ADDR:PORT, tcp:ADDR:PORT, tls:ADDR:PORT or ADDR:PORT for both udp and tcp");
  parse_endpoint(rest, label, spec);
  return spec;
}

ListenSpec parse_admin_address(const std::string& text) {
  ListenSpec spec;
  spec.transport = "tcp";
  parse_endpoint(text, "admin address '" + excerpt(text) + "'", spec);
  return spec;
}

ListenSpec parse_location_service_address(const std::string& text) {
  ListenSpec spec;
  spec.transport = "tcp";
  parse_endpoint(text, "location service address '" + excerpt(text) + "'", spec);
  return spec;
}

ServeConfig load_serve_config(const std::string& path) {
  const std::string text = read_file(path);
  auto sources = std::make_shared<SourceSet>();
  SettingsResult r = parse_settings(path, text, serve_schema(), *sources);
  ServeConfig c = default_serve_config();
  const Document& doc = r.document;
  // The schema checks types and ranges; what is left is the meaning of the addresses.
  const auto bad = [&](const std::string& pointer, const Error& e) {
    r.diagnostics.push_back({Severity::error, "E100", "'" + pointer.substr(1) + "': " + e.what(), doc.mark_of(pointer), {}, e.hint, pointer});
  };
  const Json& v = doc.value;
  // The addresses are checked even when other settings are wrong, so one run shows every problem;
  // a value the schema check already refused is not reported twice.
  const auto refused = [&](const std::string& pointer) {
    for (const auto& d : r.diagnostics)
      if (d.severity == Severity::error && !d.pointer.empty() && (pointer == d.pointer || pointer.rfind(d.pointer + "/", 0) == 0)) return true;
    return false;
  };
  if (const auto it = v.find("listen"); it != v.end() && it->is_array() && !refused("/listen")) {
    c.listen.clear();
    for (std::size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string() || refused("/listen/" + std::to_string(i))) continue;
      try {
        const ListenSpec spec = parse_listen_spec((*it)[i].get<std::string>());
        // Two spellings of one place would fail to bind at start; say so at the second.
        for (const auto& earlier : c.listen)
          if (earlier.address == spec.address && earlier.port == spec.port && spec.port != 0 &&
              ((earlier.transport != "udp" && spec.transport != "udp") ||  // both take TCP connections
               (earlier.transport != "tcp" && earlier.transport != "tls" && spec.transport != "tcp" && spec.transport != "tls")))
            throw Error(ErrorKind::usage, "listen address '" + excerpt((*it)[i].get<std::string>()) + "': " + spec.endpoint() + " is listed twice");
        c.listen.push_back(spec);
      } catch (const Error& e) {
        bad("/listen/" + std::to_string(i), e);
      }
    }
  }
  if (const auto it = v.find("admin"); it != v.end() && it->is_string() && !it->get<std::string>().empty() && !refused("/admin")) {
    try {
      parse_admin_address(it->get<std::string>());
    } catch (const Error& e) {
      bad("/admin", e);
    }
  }
  if (const auto it = v.find("location_service"); it != v.end() && it->is_string() && !it->get<std::string>().empty() && !refused("/location_service")) {
    try {
      parse_location_service_address(it->get<std::string>());
    } catch (const Error& e) {
      bad("/location_service", e);
    }
  }
  if (const auto it = v.find("trusted_networks"); it != v.end() && it->is_array() && !refused("/trusted_networks"))
    for (std::size_t i = 0; i < it->size(); ++i)
      if ((*it)[i].is_string() && !refused("/trusted_networks/" + std::to_string(i)) && !parse_cidr((*it)[i].get<std::string>()))
        bad("/trusted_networks/" + std::to_string(i),
            Error(ErrorKind::usage, "trusted network '" + excerpt((*it)[i].get<std::string>()) + "' is not an IP network",
                  "write ADDRESS/LENGTH with no host bits set, such as 10.20.0.0/16, or one address"));
  if (const auto it = v.find("held_trusted_clients"); it != v.end() && it->is_array() && !refused("/held_trusted_clients"))
    for (std::size_t i = 0; i < it->size(); ++i)
      if ((*it)[i].is_string() && !refused("/held_trusted_clients/" + std::to_string(i)) && !parse_cidr((*it)[i].get<std::string>()))
        bad("/held_trusted_clients/" + std::to_string(i),
            Error(ErrorKind::usage, "HELD trusted client '" + excerpt((*it)[i].get<std::string>()) + "' is not an IP network",
                  "write ADDRESS/LENGTH with no host bits set, such as 10.20.0.0/16, or one address"));
  if (has_errors(r.diagnostics)) {
    std::size_t errors = 0;
    for (const auto& d : r.diagnostics) errors += d.severity == Severity::error;
    // In the order of the file, as a reader fixes them.
    std::stable_sort(r.diagnostics.begin(), r.diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.where.line, a.where.col) < std::tie(b.where.line, b.where.col);
    });
    throw DiagnosticError("serve configuration '" + path + "' has " + std::to_string(errors) + (errors == 1 ? " problem" : " problems"),
                          std::move(r.diagnostics), std::move(sources));
  }
  for (const auto& [key, value] : v.items()) c.origin[key] = where(doc.mark_of("/" + key));
  const auto seconds = [&](const char* key, std::chrono::seconds& out) {
    if (v.contains(key)) out = std::chrono::seconds(v[key].get<long long>());
  };
  const auto count = [&](const char* key, std::size_t& out) {
    if (v.contains(key)) out = v[key].get<std::size_t>();
  };
  const auto text_of = [&](const char* key, std::string& out) {
    if (v.contains(key)) out = v[key].get<std::string>();
  };
  if (v.contains("domains")) c.domains = v["domains"].get<std::vector<std::string>>();
  text_of("snapshot", c.snapshot);
  text_of("smtp_url", c.smtp_url);
  text_of("smtp_from", c.smtp_from);
  text_of("smtp_credentials_file", c.smtp_credentials_file);
  text_of("notify_ca_file", c.notify_ca_file);
  if (v.contains("smtp_starttls")) c.smtp_starttls = v["smtp_starttls"].get<bool>();
  text_of("bindings", c.bindings);
  text_of("admin", c.admin);
  text_of("token_file", c.token_file);
  text_of("admin_certificate", c.admin_certificate);
  text_of("admin_private_key", c.admin_private_key);
  text_of("tls_certificate", c.tls_certificate);
  text_of("tls_private_key", c.tls_private_key);
  text_of("tls_ca_file", c.tls_ca_file);
  if (v.contains("tls_verify_clients")) c.tls_verify_clients = v["tls_verify_clients"].get<bool>();
  text_of("location_service", c.location_service);
  text_of("log_format", c.log_format);
  text_of("auth", c.auth);
  if (v.contains("trusted_networks")) c.trusted_networks = v["trusted_networks"].get<std::vector<std::string>>();
  if (v.contains("held_trusted_clients")) c.held_trusted_clients = v["held_trusted_clients"].get<std::vector<std::string>>();
  seconds("auth_nonce_lifetime", c.auth_nonce_lifetime);
  if (v.contains("threads")) c.threads = v["threads"].get<unsigned>();
  seconds("idle_timeout", c.idle_timeout);
  seconds("ring_timeout", c.ring_timeout);
  seconds("dialog_keepalive", c.dialog_keepalive);
  if (v.contains("callback_window")) c.callback_window = std::chrono::minutes(v["callback_window"].get<long long>());
  seconds("drain_timeout", c.drain_timeout);
  count("max_connections", c.max_connections);
  count("max_message", c.max_message);
  count("max_headers", c.max_headers);
  count("max_connections_per_source", c.max_connections_per_source);
  count("max_calls_per_source", c.max_calls_per_source);
  count("max_calls", c.max_calls);
  count("max_transactions_per_source", c.max_transactions_per_source);
  count("max_transactions", c.max_transactions);
  return c;
}

}  // namespace e911::runtime
