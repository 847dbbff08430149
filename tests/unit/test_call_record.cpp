// The runtime's call record: the JSON text it writes is what readers and the log get.
#include <catch2/catch.hpp>

#include "e911/runtime_call_record.hpp"
#include "e911/runtime_log.hpp"
#include "e911/runtime_metrics.hpp"

#include <sstream>

using e911::Json;
using e911::runtime::CallRecord;

TEST_CASE("call record: fields in the order set, a value set again replaced in place") {
  CallRecord r;
  r.set("id", std::uint64_t{7});
  r.set("from", std::string("sip:alice@contoso.example"));
  r.set("outcome", "failed");
  r.set("outcome", "answered");
  r.set("status", 200);
  r.set("pidf", true);
  r.set_null("would_route");
  r.set_json("location", Json{{"city", "Redmond"}, {"hno", "1"}});
  CHECK(r.str("outcome") == "answered");
  CHECK(r.str("status").empty());  // not a string
  CHECK(r.has("would_route"));
  CHECK_FALSE(r.has("missing"));
  CHECK(r.json_text() ==
        R"({"id":7,"from":"sip:alice@contoso.example","outcome":"answered","status":200,"pidf":true,"would_route":null,)"
        R"("location":{"city":"Redmond","hno":"1"},"attempts":[]})");
}

TEST_CASE("call record: attempts and notifications as JSON readers expect") {
  CallRecord r;
  r.set("id", 1);
  auto& a = r.attempts.emplace_back();
  a.target = "trunk 'primary'";
  a.request_uri = "sip:911@127.0.0.1:5070;user=phone";
  a.destination = "127.0.0.1:5070";
  a.transport = "tcp";
  a.pidf_lo = 1;
  a.status = 503;
  a.has_reason = true;
  a.reason = "Service Unavailable";
  a.ms = 12;
  auto& b = r.attempts.emplace_back();
  b.target = "trunk 'backup'";
  b.transport = "tls";
  b.tls_fallback = 0;
  r.notifications_said = true;
  r.notifications.push_back(Json{{"kind", "sip"}, {"outcome", "ok"}});
  const Json j = r.to_json();
  REQUIRE(j["attempts"].size() == 2);
  CHECK(j["attempts"][0] == Json{{"target", "trunk 'primary'"}, {"request_uri", "sip:911@127.0.0.1:5070;user=phone"},
                                  {"destination", "127.0.0.1:5070"}, {"transport", "tcp"}, {"pidf_lo", true},
                                  {"status", 503}, {"reason", "Service Unavailable"}, {"ms", 12}});
  CHECK(j["attempts"][1] == Json{{"target", "trunk 'backup'"}, {"request_uri", ""}, {"destination", ""}, {"transport", "tls"}, {"tls_fallback", false}});
  CHECK(j["notifications"] == Json::array({Json{{"kind", "sip"}, {"outcome", "ok"}}}));
  CallRecord quiet;
  CHECK_FALSE(quiet.to_json().contains("notifications"));  // only a call whose policy tells someone
}

TEST_CASE("call record: hostile strings stay valid JSON and read back as sent") {
  CallRecord r;
  const std::string nasty = std::string("\"quoted\" back\\slash tab\t nl\n cr\r nul") + '\0' + " bell\x07 end";
  r.set("from", nasty);
  r.set("display", std::string("caf\xc3\xa9 \xe2\x98\x8e"));  // UTF-8 kept
  r.set("broken", std::string("bad \xff\xfe utf8"));             // invalid: replaced, never an invalid line
  const std::string text = r.json_text();
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find('\0') == std::string::npos);
  const Json j = Json::parse(text);
  CHECK(j["from"] == nasty);
  CHECK(j["display"] == "caf\xc3\xa9 \xe2\x98\x8e");
  CHECK(j["broken"] == "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
}

TEST_CASE("call record: the log line and the ring of recent calls carry the same fields") {
  CallRecord r;
  r.set("id", 3);
  r.set("time", "2026-12-02T10:00:00.000Z");  // the call's start: a log line has its own time
  r.set("kind", "emergency");
  r.set("outcome", "failed");
  std::ostringstream out;
  e911::runtime::Log log(e911::runtime::LogFormat::json, out, [] { return std::chrono::system_clock::time_point{}; });
  log.call(r);
  const Json line = Json::parse(out.str());
  CHECK(line["level"] == "warn");  // a failed call
  CHECK(line["msg"] == "call");
  CHECK(line["time"] == "1970-01-01T00:00:00.000Z");
  CHECK(line["kind"] == "emergency");
  CHECK(line["id"] == 3);

  e911::runtime::CallLog ring(2);
  ring.add_text(r.json_text(), [] { return Json{{"trace", "on demand"}}; });
  const Json recent = ring.recent(5);
  REQUIRE(recent.size() == 1);
  CHECK(recent[0]["time"] == "2026-12-02T10:00:00.000Z");
  CHECK(recent[0]["outcome"] == "failed");
  CHECK(recent[0]["decision"] == Json{{"trace", "on demand"}});
}
