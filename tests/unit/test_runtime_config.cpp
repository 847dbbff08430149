// The settings of e911ctl serve (runtime_config.hpp) and the runtime's log (runtime_log.hpp).
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "e911/diagnostic_error.hpp"
#include "e911/runtime_config.hpp"
#include "e911/runtime_log.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::runtime;
using namespace std::chrono_literals;

namespace {

// Writes `text` as serve.yaml in `dir` and loads it.
ServeConfig load(const TempDb& dir, const std::string& text) {
  const std::string path = dir.file("serve.yaml");
  std::ofstream(path, std::ios::binary) << text;
  return load_serve_config(path);
}

// The diagnostics of a file that must be refused.
std::vector<Diagnostic> refused(const TempDb& dir, const std::string& text) {
  try {
    load(dir, text);
  } catch (const DiagnosticError& e) {
    CHECK(e.kind == ErrorKind::invalid);
    CHECK(e.sources);
    return e.diagnostics;
  }
  FAIL("the file was taken: " << text);
  return {};
}

// "CODE line:col" of a file's one problem.
std::string one(const TempDb& dir, const std::string& text) {
  const auto diags = refused(dir, text);
  REQUIRE(diags.size() == 1);
  return diags[0].code + " " + std::to_string(diags[0].where.line) + ":" + std::to_string(diags[0].where.col);
}

std::string usage_error(const std::string& text) {
  try {
    parse_listen_spec(text);
  } catch (const Error& e) {
    CHECK(e.kind == ErrorKind::usage);
    return e.what();
  }
  FAIL("taken: " << text);
  return {};
}

const auto kFixedTime = [] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(1796173323456LL)); };

}  // namespace

TEST_CASE("a serve configuration file overrides the defaults it names, and says where") {
  TempDb dir;
  const ServeConfig c = load(dir,
                             "# serve.yaml\n"
                             "listen:\n"
                             "  - udp:127.0.0.1:5070\n"
                             "  - tcp:[::1]:5071\n"
                             "domains: [contoso.example]\n"
                             "threads: 2\n"
                             "ring_timeout: 60\n"
                             "admin: ''\n"
                             "log_format: json\n"
                             "dialog_keepalive: 0\n");
  REQUIRE(c.listen.size() == 2);
  CHECK(c.listen[0] == ListenSpec{"udp", "127.0.0.1", 5070});
  CHECK(c.listen[1] == ListenSpec{"tcp", "::1", 5071});
  CHECK(c.domains == std::vector<std::string>{"contoso.example"});
  CHECK(c.threads == 2);
  CHECK(c.ring_timeout == 60s);
  CHECK(c.admin.empty());
  CHECK(c.log_format == "json");
  CHECK(c.dialog_keepalive == 0s);  // 0: connected calls are never probed
  // What the file does not name keeps its default.
  CHECK(c.idle_timeout == 300s);
  CHECK(c.drain_timeout == 30s);
  CHECK(c.max_connections == 1024);
  CHECK(c.max_message == 65536);
  CHECK(c.max_headers == 256);
  CHECK(c.token_file == "/etc/e911ctl/admin.token");
  const std::string f = dir.file("serve.yaml");
  CHECK(c.origin.at("listen") == f + ":3:3");
  CHECK(c.origin.at("threads") == f + ":6:10");
  CHECK(c.origin.at("admin") == f + ":8:8");
  CHECK(c.origin.at("idle_timeout") == "default");
  CHECK(c.origin.at("snapshot") == "default");
  CHECK(c.max_connections_per_source == 64);
  CHECK(c.max_calls_per_source == 100);
  CHECK(c.max_calls == 10000);
  CHECK(c.origin.at("dialog_keepalive") == f + ":10:19");
  CHECK(c.max_transactions_per_source == 1000);
  CHECK(c.max_transactions == 50000);
  CHECK(c.origin.size() == 37);
}

TEST_CASE("TLS settings: the listener's certificate and key, the CA, mutual TLS, the admin API's certificate") {
  TempDb dir;
  const ServeConfig c = load(dir,
                             "listen: [tls:127.0.0.1:5061, udp:127.0.0.1:5061, tcp:127.0.0.1:5060]\n"
                             "tls_certificate: /etc/e911ctl/sip.crt\n"
                             "tls_private_key: /etc/e911ctl/sip.key\n"
                             "tls_ca_file: /etc/e911ctl/ca.pem\n"
                             "tls_verify_clients: true\n"
                             "admin: 10.0.0.5:5080\n"
                             "admin_certificate: /etc/e911ctl/admin.crt\n"
                             "admin_private_key: /etc/e911ctl/admin.key\n");
  REQUIRE(c.listen.size() == 3);
  CHECK(c.listen[0] == ListenSpec{"tls", "127.0.0.1", 5061});
  CHECK(c.tls_certificate == "/etc/e911ctl/sip.crt");
  CHECK(c.tls_private_key == "/etc/e911ctl/sip.key");
  CHECK(c.tls_ca_file == "/etc/e911ctl/ca.pem");
  CHECK(c.tls_verify_clients);
  CHECK(c.admin_certificate == "/etc/e911ctl/admin.crt");
  CHECK(c.admin_private_key == "/etc/e911ctl/admin.key");
  CHECK(c.origin.at("tls_verify_clients") == dir.file("serve.yaml") + ":5:21");
  // TLS and TCP on one port both take connections: the second is refused.
  CHECK(one(dir, "listen: [tls:127.0.0.1:5061, 127.0.0.1:5061]\n") == "E100 1:30");
  CHECK(one(dir, "tls_verify_clients: 'yes'\n").rfind("E", 0) == 0);
}

TEST_CASE("the defaults: UDP and TCP on loopback port 5060, the admin API on 5080") {
  const ServeConfig c = default_serve_config();
  REQUIRE(c.listen.size() == 1);
  CHECK(c.listen[0].text() == "127.0.0.1:5060");
  CHECK(c.listen[0].transport == "both");
  CHECK(c.admin == "127.0.0.1:5080");
  CHECK(c.threads == 1);
  CHECK(c.log_format == "auto");
  for (const auto& [key, where] : c.origin) CHECK(where == "default");
  CHECK(c.origin.count("max_headers") == 1);
  // The bindings file follows the snapshot unless it is named.
  ServeConfig d = c;
  d.snapshot = "/var/lib/e911ctl/e911.db.snapshot";
  CHECK(d.bindings_path() == "/var/lib/e911ctl/e911.db.snapshot.bindings");
  d.bindings = "/var/lib/e911ctl/bindings";
  CHECK(d.bindings_path() == "/var/lib/e911ctl/bindings");
}

TEST_CASE("an empty or comment-only file is all defaults") {
  TempDb dir;
  CHECK(load(dir, "").listen.size() == 1);
  CHECK(load(dir, "# nothing yet\n").origin.at("listen") == "default");
}

TEST_CASE("the shipped samples/serve.yaml loads, every peer on loopback") {
  const ServeConfig c = load_serve_config(std::string(E911_SOURCE_DIR) + "/samples/serve.yaml");
  REQUIRE(!c.listen.empty());
  for (const auto& l : c.listen) CHECK((l.address == "127.0.0.1" || l.address == "::1"));
  CHECK((c.admin.rfind("127.0.0.1:", 0) == 0 || c.admin.rfind("[::1]:", 0) == 0));
}

TEST_CASE("each bad setting is refused with its code at its line and column") {
  TempDb dir;
  CHECK(one(dir, "threads: 2\nthreds: 3\n") == "E004 2:1");
  CHECK(refused(dir, "threds: 3\n")[0].hint == "did you mean 'threads'?");
  CHECK(one(dir, "threads: 0\n") == "E100 1:10");
  CHECK(one(dir, "threads: two\n") == "E100 1:10");
  CHECK(one(dir, "idle_timeout: 1.5\n") == "E100 1:15");
  CHECK(one(dir, "log_format: xml\n") == "E100 1:13");
  CHECK(one(dir, "listen: 127.0.0.1:5060\n") == "E100 1:9");
  CHECK(one(dir, "listen:\n  - 127.0.0.1:5060\n  - udp:sip.contoso.example:5060\n") == "E100 3:5");
  CHECK(one(dir, "listen: ['127.0.0.1:70000']\n") == "E100 1:10");
  CHECK(one(dir, "admin: localhost:5080\n") == "E100 1:8");
  CHECK(one(dir, "threads: 1\nthreads: 2\n") == "E006 2:1");
  CHECK(one(dir, "- threads: 1\n") == "E002 1:1");
  CHECK(one(dir, "threads: 1\n---\nthreads: 2\n") == "E002 3:1");
  CHECK(one(dir, "threads: 1\nadmin: '127.0.0.1:5080\n") == "E001 2:8");
  CHECK(one(dir, "threads: [1\n") == "E001 2:1");
  CHECK(one(dir, "max_connections: 99999999999999999999999\n") == "E100 1:18");
  // Every problem at once, as apply reports them.
  CHECK(refused(dir, "threads: 0\nlisten: [udp:example.com:5060]\nbogus: 1\n").size() == 3);
  // The message names the field and says what is wrong.
  const auto d = refused(dir, "listen:\n  - tcp:sip.contoso.example:5060\n");
  CHECK(d[0].message == "'listen/0': listen address 'tcp:sip.contoso.example:5060': 'sip.contoso.example' is a host name, "
                        "not an IP address; the runtime never resolves names");
  // Two spellings of one place would fail to bind.
  CHECK(one(dir, "listen: ['127.0.0.1:5060', 'udp:127.0.0.1:5060']\n") == "E100 1:28");
}

TEST_CASE("a refused file's diagnostics print with the line and a caret") {
  TempDb dir;
  try {
    load(dir, "threads: 2\nring_timeout: -5\n");
    FAIL("taken");
  } catch (const DiagnosticError& e) {
    REQUIRE(e.diagnostics.size() == 1);
    const std::string text = format_diagnostic(e.diagnostics[0], e.sources.get());
    CHECK(text.find(dir.file("serve.yaml") + ":2:15: error[E100]: 'ring_timeout': -5 is less than the minimum 1") != std::string::npos);
    CHECK(text.find("ring_timeout: -5") != std::string::npos);
    CHECK(text.find("^") != std::string::npos);
    CHECK(std::string(e.what()) == "serve configuration '" + dir.file("serve.yaml") + "' has 1 problem");
  }
}

TEST_CASE("a file that cannot be read is a failure, not invalid input") {
  try {
    load_serve_config("/nonexistent/serve.yaml");
    FAIL("taken");
  } catch (const DiagnosticError&) {
    FAIL("not a diagnostic");
  } catch (const Error& e) {
    CHECK(e.kind == ErrorKind::failure);
    CHECK(std::string(e.what()) == "cannot read '/nonexistent/serve.yaml'");
  }
}

TEST_CASE("listen specs: transport, IPv4, IPv6 in brackets, ports") {
  CHECK(parse_listen_spec("udp:127.0.0.1:5060") == ListenSpec{"udp", "127.0.0.1", 5060});
  CHECK(parse_listen_spec("tcp:[::1]:5061") == ListenSpec{"tcp", "::1", 5061});
  CHECK(parse_listen_spec("127.0.0.1:5060") == ListenSpec{"both", "127.0.0.1", 5060});
  CHECK(parse_listen_spec("[2001:DB8:0::1]:0") == ListenSpec{"both", "2001:db8::1", 0});
  CHECK(parse_listen_spec("0.0.0.0:65535").port == 65535);
  CHECK(parse_listen_spec("[::]:5060").address == "::");
  CHECK(parse_listen_spec("tcp:[::1]:5061").text() == "tcp:[::1]:5061");
  CHECK(parse_listen_spec("tcp:[::1]:5061").endpoint() == "[::1]:5061");
  CHECK(parse_listen_spec("10.0.0.1:5060").text() == "10.0.0.1:5060");
  CHECK(parse_listen_spec("tls:10.0.0.1:5061").transport == "tls");
  CHECK(parse_listen_spec("TLS:[::1]:5061").text() == "tls:[::1]:5061");
}

TEST_CASE("listen specs refuse names, bad ports and bad forms with a clear message") {
  CHECK(usage_error("udp:localhost:5060") ==
        "listen address 'udp:localhost:5060': 'localhost' is a host name, not an IP address; the runtime never resolves names");
  CHECK(usage_error("127.0.0.1:65536") == "listen address '127.0.0.1:65536': '65536' is not a port (0 to 65535)");
  CHECK(usage_error("127.0.0.1:") == "listen address '127.0.0.1:': '' is not a port (0 to 65535)");
  CHECK(usage_error("127.0.0.1:50a") == "listen address '127.0.0.1:50a': '50a' is not a port (0 to 65535)");
  CHECK(usage_error("127.0.0.1") == "listen address '127.0.0.1': no port; write ADDR:PORT");
  CHECK(usage_error("::1:5060") == "listen address '::1:5060': an IPv6 address is written in brackets, [ADDR]:PORT");
  CHECK(usage_error("[::1]5060") == "listen address '[::1]5060': an IPv6 address is written [ADDR]:PORT");
  CHECK(usage_error("[fe80::1%eth0]:5060") == "listen address '[fe80::1%eth0]:5060': 'fe80::1%eth0' has a zone; give a global or loopback address");
  CHECK(usage_error("256.1.1.1:5060") == "listen address '256.1.1.1:5060': '256.1.1.1' is not an IP address");
  CHECK(usage_error("ws:127.0.0.1:5062") == "listen address 'ws:127.0.0.1:5062': only udp, tcp and tls are served");
  CHECK(usage_error(":5060") == "listen address ':5060': no address; write ADDR:PORT");
  CHECK_THROWS_AS(parse_admin_address("localhost:5080"), Error);
  CHECK(parse_admin_address("[::1]:5080").endpoint() == "[::1]:5080");
}

TEST_CASE("the log format: auto is json unless standard error is a terminal") {
  CHECK(pick_log_format("json") == LogFormat::json);
  CHECK(pick_log_format("text") == LogFormat::text);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  CHECK(pick_log_format("auto", fds[1]) == LogFormat::json);
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK_THROWS_AS(pick_log_format("xml"), Error);
}

TEST_CASE("JSON log lines: time with milliseconds in UTC, level, msg, then the fields") {
  CHECK(rfc3339_ms(kFixedTime()) == "2026-12-02T01:02:03.456Z");
  std::ostringstream out;
  Log log(LogFormat::json, out, kFixedTime);
  log.event("info", "snapshot revision 7 in service", {{"revision", 7}, {"msg", "dropped"}, {"path", "/var/lib/e911ctl/e911.db.snapshot"}});
  log.event("warn", "bad\nbyte \xff");
  CHECK(out.str() ==
        "{\"time\":\"2026-12-02T01:02:03.456Z\",\"level\":\"info\",\"msg\":\"snapshot revision 7 in service\",\"revision\":7,"
        "\"path\":\"/var/lib/e911ctl/e911.db.snapshot\"}\n"
        "{\"time\":\"2026-12-02T01:02:03.456Z\",\"level\":\"warn\",\"msg\":\"bad\\nbyte \xEF\xBF\xBD\"}\n");
}

TEST_CASE("text log lines: readable, quoted where needed, control characters escaped") {
  std::ostringstream out;
  Log log(LogFormat::text, out, kFixedTime);
  log.event("info", "listening", {{"on", "udp 127.0.0.1:5060"}, {"threads", 1}, {"ok", true}});
  log.event("error", "a\x1b[31mred\x1b[0m", {{"from", "sip:\"x\"@y"}, {"trace", Json::array({1, 2})}, {"empty", ""}});
  CHECK(out.str() ==
        "2026-12-02T01:02:03.456Z info  listening on=\"udp 127.0.0.1:5060\" threads=1 ok=true\n"
        "2026-12-02T01:02:03.456Z error a\\x1B[31mred\\x1B[0m from=\"sip:\\\"x\\\"@y\" trace=[1,2] empty=\"\"\n");
}

TEST_CASE("a call is one line with its outcome; a failed call is a warning") {
  std::ostringstream out;
  Log log(LogFormat::json, out, kFixedTime);
  log.call({{"call_id", "a84b4c76e66710"}, {"kind", "ordinary"}, {"outcome", "answered"}, {"status", 200}});
  log.call({{"call_id", "b1"}, {"kind", "emergency"}, {"outcome", "failed"}, {"status", 503}});
  std::istringstream lines(out.str());
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  const Json a = Json::parse(first), b = Json::parse(second);
  CHECK(a["level"] == "info");
  CHECK(a["msg"] == "call");
  CHECK(a["outcome"] == "answered");
  CHECK(a["status"] == 200);
  CHECK(b["level"] == "warn");
  CHECK(b["kind"] == "emergency");
}

TEST_CASE("several threads writing at once produce whole lines") {
  std::ostringstream out;
  Log log(LogFormat::json, out);
  constexpr int kThreads = 8, kLines = 500;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&log, t] {
      for (int i = 0; i < kLines; ++i) log.event("info", "event", {{"thread", t}, {"i", i}, {"pad", std::string(200, 'x')}});
    });
  for (auto& w : writers) w.join();
  std::istringstream lines(out.str());
  std::set<std::pair<int, int>> seen;
  std::string line;
  while (std::getline(lines, line)) {
    const Json j = Json::parse(line);  // a torn line would not parse
    seen.insert({j["thread"].get<int>(), j["i"].get<int>()});
  }
  CHECK(seen.size() == static_cast<std::size_t>(kThreads * kLines));
}
