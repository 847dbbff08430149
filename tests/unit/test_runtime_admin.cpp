// The runtime's metrics, recent calls and admin HTTP API: a real AdminServer on 127.0.0.1 with
// fake hooks, asked over real connections by httplib's client.
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "e911/error.hpp"
#include "e911/runtime_admin.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/text.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::runtime;

namespace {

const std::string kToken = "s3cret-token";

// The samples of a Prometheus text: name{labels} -> value; HELP and TYPE lines by name.
struct Exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types, helps;
  std::vector<std::string> order;  // sample names in the order written
};

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE(!line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      const auto sp = line.find(' ', 7);
      REQUIRE(sp != std::string::npos);
      e.helps[line.substr(7, sp - 7)] = line.substr(sp + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto sp = line.find(' ', 7);
      REQUIRE(sp != std::string::npos);
      const std::string type = line.substr(sp + 1);
      CHECK((type == "counter" || type == "gauge" || type == "histogram"));
      e.types[line.substr(7, sp - 7)] = type;
      continue;
    }
    REQUIRE(line[0] != '#');
    const auto sp = line.rfind(' ');
    REQUIRE(sp != std::string::npos);
    const std::string key = line.substr(0, sp);
    const std::string name = key.substr(0, key.find('{'));
    // Every sample belongs to a metric declared above it (a histogram's by its base name).
    std::string base = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!e.types.count(base) && base.size() > std::strlen(suffix) && base.compare(base.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
        base = base.substr(0, base.size() - std::strlen(suffix));
    INFO(line);
    CHECK(e.types.count(base) == 1);
    CHECK(e.helps.count(base) == 1);
    std::size_t used = 0;
    e.samples[key] = std::stod(line.substr(sp + 1), &used);
    CHECK(used == line.size() - sp - 1);
    e.order.push_back(key);
  }
  return e;
}

// Checks the decision_seconds histogram: buckets ascending and cumulative, +Inf last and equal
// to _count. Returns _count.
double check_histogram(const Exposition& e) {
  double last_le = -1, last = 0;
  bool inf = false;
  for (const auto& key : e.order) {
    if (key.rfind("e911_runtime_decision_seconds_bucket{le=\"", 0) != 0) continue;
    REQUIRE(!inf);
    const std::string le = key.substr(41, key.size() - 43);
    const double value = e.samples.at(key);
    CHECK(value >= last);
    last = value;
    if (le == "+Inf") {
      inf = true;
    } else {
      const double bound = std::stod(le);
      CHECK(bound > last_le);
      last_le = bound;
    }
  }
  REQUIRE(inf);
  CHECK(last_le == Approx(0.1));
  CHECK(e.samples.at("e911_runtime_decision_seconds_count") == last);
  return last;
}

AdminHooks fake_hooks(std::atomic<int>& reloads, CallLog& log, Metrics& metrics) {
  AdminHooks h;
  h.status = [] {
    return Json{{"version", "0.1.0"},
                {"snapshot", {{"revision", 7}, {"checksum", "abc"}, {"created_at", "2024-01-01T00:00:00Z"}}},
                {"uptime_seconds", 12},
                {"calls_in_progress", 0},
                {"registrations", 2},
                {"listening", {"udp:127.0.0.1:5060"}}};
  };
  h.reload = [&reloads] {
    ++reloads;
    return Json{{"reloaded", true}, {"message", "snapshot revision 8 in service (was 7)"}};
  };
  h.calls = [&log](std::size_t n) { return log.recent(n); };
  h.registrations = [] { return Json::array({{{"aor", "sip:alice@contoso.example"}, {"contact", "sip:alice@127.0.0.1:5070"}}}); };
  h.metrics = [&metrics] { return metrics.prometheus(); };
  return h;
}

httplib::Headers bearer(const std::string& token = kToken) { return {{"Authorization", "Bearer " + token}}; }

Json body_json(const httplib::Result& r) {
  REQUIRE(r);
  const Json j = Json::parse(r->body, nullptr, false);
  REQUIRE(!j.is_discarded());
  return j;
}

// The answer is a JSON error as the API promises.
void check_error(const httplib::Result& r, int status) {
  REQUIRE(r);
  CHECK(r->status == status);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  const Json j = body_json(r);
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["message"].is_string());
  CHECK(!j["error"]["message"].get<std::string>().empty());
  CHECK(j["error"]["hint"].is_string());
}

}  // namespace

TEST_CASE("metrics: counters, gauges and the histogram in the exposition format") {
  Metrics m;
  m.call_started();
  m.call_started();
  m.call_ended("emergency", "answered");
  m.call_ended("ordinary", "busy");
  m.call_ended("ordinary", "busy");  // one end too many: the gauge stays at 0
  m.call_ended("odd\"kind", "new-outcome");
  m.transaction_started(true);
  m.transaction_started(false);
  m.transaction_started(false);
  m.retransmission();
  m.parse_error();
  m.set_registrations(42);
  m.observe_decision(std::chrono::nanoseconds(500));        // 1 us bucket
  m.observe_decision(std::chrono::microseconds(1));         // exactly on a bound: in it (le)
  m.observe_decision(std::chrono::microseconds(30));        // 50 us
  m.observe_decision(std::chrono::milliseconds(200));       // +Inf only
  m.observe_decision(std::chrono::nanoseconds(-5));         // as 0
  CHECK(m.calls_in_progress() == 0);

  const Exposition e = parse_exposition(m.prometheus());
  CHECK(e.types.at("e911_runtime_calls_total") == "counter");
  CHECK(e.types.at("e911_runtime_calls_in_progress") == "gauge");
  CHECK(e.types.at("e911_runtime_decision_seconds") == "histogram");
  CHECK(e.samples.at("e911_runtime_calls_total{kind=\"emergency\",outcome=\"answered\"}") == 1);
  CHECK(e.samples.at("e911_runtime_calls_total{kind=\"ordinary\",outcome=\"busy\"}") == 2);
  CHECK(e.samples.at("e911_runtime_calls_total{kind=\"test\",outcome=\"unroutable\"}") == 0);
  CHECK(e.samples.at("e911_runtime_calls_total{kind=\"odd\\\"kind\",outcome=\"new-outcome\"}") == 1);
  CHECK(e.samples.at("e911_runtime_calls_in_progress") == 0);
  CHECK(e.samples.at("e911_runtime_transactions_total{side=\"client\"}") == 1);
  CHECK(e.samples.at("e911_runtime_transactions_total{side=\"server\"}") == 2);
  CHECK(e.samples.at("e911_runtime_retransmissions_total") == 1);
  CHECK(e.samples.at("e911_runtime_parse_errors_total") == 1);
  // The process's own memory and descriptors, read at the scrape.
  CHECK(e.types.at("process_resident_memory_bytes") == "gauge");
  CHECK(e.samples.at("process_resident_memory_bytes") > 1e6);
  CHECK(e.samples.at("process_open_fds") >= 3);
  CHECK(e.types.at("e911_runtime_heap_bytes") == "gauge");
  CHECK(e.samples.count("e911_runtime_heap_bytes{state=\"in_use\"}") == 1);
  CHECK(e.samples.count("e911_runtime_heap_bytes{state=\"free\"}") == 1);
  CHECK(e.samples.at("e911_runtime_heap_trims_total") == 0);
  CHECK(e.samples.at("e911_runtime_registrations") == 42);
  CHECK(e.samples.at("e911_runtime_decision_seconds_bucket{le=\"0.000001\"}") == 3);
  CHECK(e.samples.at("e911_runtime_decision_seconds_bucket{le=\"0.00005\"}") == 4);
  CHECK(e.samples.at("e911_runtime_decision_seconds_bucket{le=\"0.1\"}") == 4);
  CHECK(check_histogram(e) == 5);
  CHECK(e.samples.at("e911_runtime_decision_seconds_sum") == Approx(0.2000315));
}

TEST_CASE("metrics: concurrent writers lose nothing and a reader sees a consistent histogram") {
  Metrics m;
  constexpr int kThreads = 4, kCalls = 20000;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) check_histogram(parse_exposition(m.prometheus()));
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&m, t] {
      for (int i = 0; i < kCalls; ++i) {
        m.call_started();
        m.transaction_started(i % 2 == 0);
        m.observe_decision(std::chrono::nanoseconds((i * 7919 + t) % 200'000'000));
        m.call_ended(Metrics::kKinds[i % 4], Metrics::kOutcomes[i % 7]);
      }
    });
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  const Exposition e = parse_exposition(m.prometheus());
  double calls = 0;
  for (const auto& [key, value] : e.samples)
    if (key.rfind("e911_runtime_calls_total{", 0) == 0) calls += value;
  CHECK(calls == kThreads * kCalls);
  CHECK(m.calls_in_progress() == 0);
  CHECK(e.samples.at("e911_runtime_transactions_total{side=\"client\"}") + e.samples.at("e911_runtime_transactions_total{side=\"server\"}") ==
        kThreads * kCalls);
  CHECK(check_histogram(e) == kThreads * kCalls);
}

TEST_CASE("call log: a bounded ring, newest first") {
  CallLog log(3);
  CHECK(log.recent(10).empty());
  for (int i = 1; i <= 5; ++i) log.add(Json{{"call_id", i}});
  const Json all = log.recent(10);
  REQUIRE(all.size() == 3);
  CHECK(all[0]["call_id"] == 5);
  CHECK(all[1]["call_id"] == 4);
  CHECK(all[2]["call_id"] == 3);
  CHECK(log.recent(1).size() == 1);
  CHECK(log.recent(0).empty());
  CHECK(CallLog(0).capacity() == 1);

  CallLog shared(100);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&shared, t] {
      for (int i = 0; i < 1000; ++i) shared.add(Json{{"t", t}, {"i", i}});
    });
  for (int i = 0; i < 200; ++i) CHECK(shared.recent(100).size() <= 100);
  for (auto& w : writers) w.join();
  CHECK(shared.recent(1000).size() == 100);
}

TEST_CASE("admin token file: private, one word, trailing newline trimmed") {
  TempDb tmp;
  const auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = tmp.file(name);
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  };
  CHECK(read_token_file(write("good", kToken + "\n", 0600)) == kToken);
  CHECK(read_token_file(write("crlf", kToken + "\r\n", 0400)) == kToken);
  const auto refused = [](const std::string& path, const std::string& says) {
    try {
      read_token_file(path);
      FAIL("accepted " << path);
    } catch (const Error& e) {
      CHECK(e.kind == ErrorKind::failure);
      CHECK_THAT(e.what(), Catch::Contains(says));
      CHECK(!e.hint.empty());
    }
  };
  refused(tmp.file("missing"), "cannot read the token file");
  refused(write("open", kToken, 0644), "open to group or others (mode 0644)");
  refused(write("group", kToken, 0640), "mode 0640");
  refused(write("empty", "\n", 0600), "is empty");
  refused(write("spaces", "two words\n", 0600), "white space");
  refused(write("big", std::string(5000, 'x'), 0600), "larger than 4 KiB");
  refused(tmp.dir.string(), "not a regular file");
}

TEST_CASE("admin server: every route, the token, and the errors") {
  std::atomic<int> reloads{0};
  CallLog log(100);
  for (int i = 1; i <= 60; ++i) log.add(Json{{"call_id", "c" + std::to_string(i)}, {"kind", "emergency"}});
  Metrics metrics;
  metrics.observe_decision(std::chrono::microseconds(3));
  AdminServer server("127.0.0.1", 0, kToken, fake_hooks(reloads, log, metrics));
  REQUIRE(server.port() != 0);
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(5, 0);

  SECTION("/healthz needs no token") {
    const auto r = client.Get("/healthz");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok\n");
  }
  SECTION("every other route needs the token") {
    for (const char* path : {"/v1/status", "/v1/calls", "/v1/registrations", "/metrics"}) {
      INFO(path);
      const auto none = client.Get(path);
      check_error(none, 401);
      CHECK(none->get_header_value("WWW-Authenticate").rfind("Bearer", 0) == 0);
      check_error(client.Get(path, bearer("s3cret-tokeN")), 401);
      check_error(client.Get(path, bearer("s3cret-token-and-more")), 401);
      check_error(client.Get(path, {{"Authorization", "Basic " + kToken}}), 401);
    }
    check_error(client.Post("/v1/reload"), 401);
    CHECK(reloads == 0);
  }
  SECTION("status, registrations and reload answer the hooks' JSON") {
    const auto status = client.Get("/v1/status", bearer());
    REQUIRE(status);
    CHECK(status->status == 200);
    CHECK(body_json(status)["snapshot"]["revision"] == 7);
    // The scheme is case-insensitive.
    const auto lower = client.Get("/v1/registrations", {{"Authorization", "bearer " + kToken}});
    REQUIRE(lower);
    CHECK(lower->status == 200);
    CHECK(body_json(lower)[0]["aor"] == "sip:alice@contoso.example");
    const auto reload = client.Post("/v1/reload", bearer(), "", "application/json");
    REQUIRE(reload);
    CHECK(reload->status == 200);
    CHECK(body_json(reload)["reloaded"] == true);
    CHECK(reloads == 1);
  }
  SECTION("calls: limit defaults to 50, bad limits are 400") {
    const auto dflt = client.Get("/v1/calls", bearer());
    REQUIRE(dflt);
    CHECK(dflt->status == 200);
    const Json calls = body_json(dflt);
    REQUIRE(calls.size() == 50);
    CHECK(calls[0]["call_id"] == "c60");
    CHECK(body_json(client.Get("/v1/calls?limit=2", bearer())).size() == 2);
    CHECK(body_json(client.Get("/v1/calls?limit=10000", bearer())).size() == 60);
    for (const char* bad : {"0", "-1", "x", "1e3", "10001", "99999999999999999999", ""}) {
      INFO(bad);
      check_error(client.Get((std::string("/v1/calls?limit=") + bad).c_str(), bearer()), 400);
    }
  }
  SECTION("/metrics is the Prometheus text format") {
    const auto r = client.Get("/metrics", bearer());
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(check_histogram(parse_exposition(r->body)) == 1);
  }
  SECTION("unknown paths are 404, wrong methods 405, large bodies 413") {
    check_error(client.Get("/v1/nothing", bearer()), 404);
    check_error(client.Get("/", bearer()), 404);
    const auto get_reload = client.Get("/v1/reload", bearer());
    check_error(get_reload, 405);
    CHECK(get_reload->get_header_value("Allow") == "POST");
    check_error(client.Post("/v1/status", bearer(), "", "application/json"), 405);
    check_error(client.Delete("/metrics", bearer()), 405);
    check_error(client.Post("/v1/reload", bearer(), std::string(8192, 'x'), "text/plain"), 413);
    CHECK(reloads == 0);
  }
  SECTION("stop is idempotent, and nothing answers after it") {
    server.stop();
    server.stop();
    CHECK(!client.Get("/healthz"));
  }
}

TEST_CASE("admin server: hooks not set, hooks that throw, bad addresses, a port in use") {
  AdminHooks hooks;
  hooks.status = []() -> Json { throw std::runtime_error("snapshot slot gone"); };
  AdminServer server("[::1]", 0, kToken, hooks);
  httplib::Client client("::1", server.port());
  const auto status = client.Get("/v1/status", bearer());
  check_error(status, 500);
  CHECK_THAT(status->body, Catch::Contains("snapshot slot gone"));
  check_error(client.Get("/v1/registrations", bearer()), 501);

  const auto refused = [](const std::string& address, unsigned short port, ErrorKind kind) {
    try {
      AdminServer s(address, port, kToken, {});
      FAIL("bound " << address);
    } catch (const Error& e) {
      CHECK(e.kind == kind);
      CHECK(!e.hint.empty());
    }
  };
  refused("localhost", 0, ErrorKind::usage);  // a name is never resolved
  refused("example.com", 0, ErrorKind::usage);
  refused("127.0.0.1:80", 0, ErrorKind::usage);
  refused("::1", server.port(), ErrorKind::failure);
  refused("192.0.2.1", 0, ErrorKind::usage);  // off loopback without a certificate: the token would travel in the clear
  refused("0.0.0.0", 0, ErrorKind::usage);
  refused("[::]", 0, ErrorKind::usage);
  CHECK_THROWS_AS(AdminServer("127.0.0.1", 0, "", {}), Error);
}

TEST_CASE("admin server: bytes that are not UTF-8 in what the hooks hold are answered as U+FFFD, never a 500") {
  AdminHooks hooks;
  hooks.registrations = [] { return Json::array({{{"aor", "sip:alice@contoso.example"}, {"call_id", std::string("reg\xff@1")}}}); };
  hooks.active_calls = [](std::size_t) {
    Json call = {{"from", std::string("\"Al\xffice\" <sip:alice@x>")}};
    return Json{{"items", Json::array({call})}};
  };
  hooks.status = []() -> Json { throw std::runtime_error(std::string("bad byte \xff")); };
  AdminServer server("127.0.0.1", 0, kToken, hooks);
  httplib::Client client("127.0.0.1", server.port());
  for (const char* path : {"/v1/registrations", "/v1/calls/active"}) {
    INFO(path);
    const auto r = client.Get(path, bearer());
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(invalid_utf8_at(r->body) == std::string::npos);
    CHECK_THAT(r->body, Catch::Contains("\xef\xbf\xbd"));  // U+FFFD
  }
  const auto status = client.Get("/v1/status", bearer());
  REQUIRE(status);
  CHECK(status->status == 500);
  CHECK(invalid_utf8_at(status->body) == std::string::npos);
}

TEST_CASE("admin server over HTTPS: refused off loopback without a certificate, files checked before binding") {
  const auto error = [](const std::string& address, AdminTls tls) {
    try {
      AdminServer s(address, 0, kToken, {}, tls);
    } catch (const Error& e) {
      return std::to_string(static_cast<int>(e.kind)) + " " + e.what();
    }
    return std::string("bound");
  };
  CHECK(error("10.1.2.3", {}) == "2 the admin API on '10.1.2.3' would carry its token in the clear: off loopback it needs a certificate");
  CHECK(error("127.0.0.1", {"/nonexistent/admin.crt", ""}) == "2 the admin API's certificate and private key go together");
  CHECK_THAT(error("127.0.0.1", {"/nonexistent/admin.crt", "/nonexistent/admin.key"}),
             Catch::StartsWith("1 cannot read the admin API's '/nonexistent/admin.crt'"));
}

TEST_CASE("the bearer token is compared whole, whatever its length") {
  CHECK(same_token("s3cret-token", "s3cret-token"));
  CHECK_FALSE(same_token("s3cret-tokeN", "s3cret-token"));
  CHECK_FALSE(same_token("s3cret-token-and-more", "s3cret-token"));
  CHECK_FALSE(same_token("s3cret", "s3cret-token"));
  CHECK_FALSE(same_token("", "s3cret-token"));
  CHECK_FALSE(same_token("s3cret-token", ""));
}
