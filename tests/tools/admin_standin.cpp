// A stand-in runtime for tests/cli/test_runtime_cli.sh: the real AdminServer with canned hooks,
// so `e911ctl runtime` is tested over real HTTP before and beside `e911ctl serve --admin`.
//
//   admin_standin TOKEN_FILE [PORT] [--refuse-reload]
//
// Prints the port it serves on (127.0.0.1) on one line, then serves until SIGTERM or SIGINT.
#include <csignal>
#include <iostream>
#include <string>

#include "e911/error.hpp"
#include "e911/runtime_admin.hpp"
#include "e911/runtime_metrics.hpp"

int main(int argc, char** argv) {
  using namespace e911;
  if (argc < 2) {
    std::cerr << "usage: admin_standin TOKEN_FILE [PORT] [--refuse-reload]\n";
    return 2;
  }
  const std::string token_file = argv[1];
  unsigned short port = 0;
  bool refuse_reload = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--refuse-reload") refuse_reload = true;
    else port = static_cast<unsigned short>(std::stoi(a));
  }
  // Blocked before any thread starts, so every thread inherits the mask and sigwait gets them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  runtime::Metrics metrics;
  runtime::CallLog calls(100);
  metrics.call_started();
  metrics.call_ended("emergency", "answered");
  metrics.observe_decision(std::chrono::microseconds(4));
  metrics.set_registrations(2);
  calls.add(Json{{"time", "2024-05-01T10:00:00Z"}, {"call_id", "a1@10.10.1.20"}, {"kind", "ordinary"}, {"from", "sip:bob@contoso.example"},
                 {"dialled", "+14255550199"}, {"outcome", "busy"}, {"attempts", Json::array()}});
  calls.add(Json{{"time", "2024-05-01T10:01:00Z"}, {"call_id", "b2@10.10.1.20"}, {"kind", "emergency"}, {"from", "sip:alice@contoso.example"},
                 {"dialled", "911"}, {"outcome", "answered"}, {"decision", {{"trace", {"policy global", "route emergency-provider"}}}},
                 {"attempts", {{{"trunk", "provider-primary"}, {"status", 200}}}}});

  runtime::AdminHooks hooks;
  hooks.status = [] {
    return Json{{"version", E911_VERSION},
                {"snapshot", {{"revision", 7}, {"checksum", "sha256:0f1e2d"}, {"created_at", "2024-05-01T09:00:00Z"}}},
                {"uptime_seconds", 93784},
                {"calls_in_progress", 0},
                {"registrations", 2},
                {"listening", {"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}}};
  };
  hooks.reload = [refuse_reload] {
    if (refuse_reload)
      return Json{{"reloaded", false}, {"message", "snapshot 'e911.db.snapshot' refused: bad checksum; revision 7 stays in service"}};
    return Json{{"reloaded", true}, {"message", "snapshot revision 8 in service (was 7)"}};
  };
  hooks.calls = [&calls](std::size_t n) { return calls.recent(n); };
  // One emergency call connected for 95 s and one ordinary call ringing, as B2bua::active_json says them.
  hooks.active_calls = [](std::size_t n) {
    Json items = Json::array();
    items.push_back({{"id", 41}, {"kind", "emergency"}, {"state", "connected"}, {"age_seconds", 95}, {"from", "<sip:alice@contoso.example>"},
                     {"request_uri", "sip:911@contoso.example;user=phone"}, {"source", "10.10.1.20"}, {"call_id", "c3@10.10.1.20"},
                     {"answered_by", "trunk 'provider-primary' (route 'emergency')"},
                     {"legs", Json::array({{{"target", "trunk 'provider-primary' (route 'emergency')"}, {"state", "ended"}, {"status", 200}}})}});
    items.push_back({{"id", 42}, {"kind", "ordinary"}, {"state", "ringing"}, {"age_seconds", 3}, {"from", "<sip:bob@contoso.example>"},
                     {"request_uri", "sip:+14255550123@contoso.example;user=phone"}, {"source", "10.10.1.21"}, {"call_id", "d4@10.10.1.21"},
                     {"answered_by", ""},
                     {"legs", Json::array({{{"target", "trunk 'pstn-gateway' (route 'local')"}, {"state", "ringing"}, {"status", 0}}})}});
    while (items.size() > n) items.erase(items.end() - 1);
    return Json{{"total", 2}, {"emergency", 1}, {"items", items}};
  };
  hooks.registrations = [] {
    return Json::array({{{"aor", "sip:alice@contoso.example"}, {"contact", "sip:alice@10.10.1.20:5060"}, {"source", "10.10.1.20:5060"},
                         {"transport", "udp"}, {"expires_in", 3412}, {"call_id", "r1@10.10.1.20"}},
                        {{"aor", "sip:bob@contoso.example"}, {"contact", "sip:bob@10.10.1.21:5060;transport=tcp"}, {"source", "10.10.1.21:53211"},
                         {"transport", "tcp"}, {"expires_in", 120}, {"call_id", "r2@10.10.1.21"}}});
  };
  hooks.metrics = [&metrics] { return metrics.prometheus(); };
  try {
    runtime::AdminServer server("127.0.0.1", port, runtime::read_token_file(token_file), hooks);
    std::cout << server.port() << std::endl;
    int signal = 0;
    sigwait(&stop, &signal);
  } catch (const Error& e) {
    std::cerr << "admin_standin: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
