// The registrar: what a REGISTER may bind, and what a restart restores from the bindings file.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "e911/catalog.hpp"
#include "e911/runtime_registrar.hpp"
#include "e911/snapshot.hpp"
#include "helpers.hpp"

using namespace e911;

namespace {

std::shared_ptr<const Snapshot> snapshot_with_bob(TempDb& t) {
  auto store = Store::open(t.path, true);
  Writer w(*store, "test");
  w.put(kind_by_noun("user"), Json{{"sip_uri", "sip:bob@contoso.example"}});
  w.commit();
  return Snapshot::build(*store);
}

sip::Message register_with(const std::string& contact, int cseq) {
  auto parsed = sip::parse("REGISTER sip:contoso.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKq\r\nMax-Forwards: 70\r\n"
                           "From: <sip:bob@contoso.example>;tag=1\r\nTo: <sip:bob@contoso.example>\r\nCall-ID: q@x\r\nCSeq: " + std::to_string(cseq) + " REGISTER\r\n"
                           "Contact: " + contact + "\r\nContent-Length: 0\r\n\r\n",
                           sip::Transport::datagram);
  REQUIRE(parsed);
  return *parsed.message;
}

}  // namespace

TEST_CASE("registrar: q is RFC 3261's qvalue, 0 to 1 with at most three decimals, else 400") {
  TempDb t;
  auto snap = snapshot_with_bob(t);
  runtime::Registrar registrar;
  const std::vector<std::string> domains{"contoso.example"};
  const sip::Endpoint from{"192.0.2.5", 5060, false};
  int cseq = 0;
  for (const char* q : {"nan", "inf", "-inf", "NaN", "2", "-1", "1.5", "1.001", "0.1234", "1e-1", "0x1", ".5", "", "0.5x"}) {
    INFO("q=" << q);
    CHECK(registrar.on_register(register_with(std::string("<sip:bob@192.0.2.5>;q=") + q, ++cseq), from, false, snap.get(), domains, 1000).status == 400);
  }
  CHECK(registrar.size() == 0);
  for (auto [q, want] : {std::pair{"0", 0.0F}, {"0.", 0.0F}, {"0.125", 0.125F}, {"0.7", 0.7F}, {"1", 1.0F}, {"1.000", 1.0F}}) {
    INFO("q=" << q);
    CHECK(registrar.on_register(register_with(std::string("<sip:bob@192.0.2.5>;q=") + q, ++cseq), from, false, snap.get(), domains, 1000).status == 200);
    auto bound = registrar.lookup("sip:bob@contoso.example", 1000);
    REQUIRE(bound.size() == 1);
    CHECK(bound[0].q == want);
  }
}

TEST_CASE("registrar: a damaged entry of the bindings file costs only itself at start") {
  TempDb t;
  const std::string path = t.file("bindings.json");
  auto entry = [](const std::string& user, const std::string& q) {
    return "{\"aor\":\"sip:" + user + "@contoso.example\",\"contact\":\"sip:" + user + "@192.0.2.5\",\"host\":\"192.0.2.5\",\"port\":5060," +
           "\"transport\":\"udp\",\"expires\":2000,\"call_id\":\"c\",\"cseq\":1,\"q\":" + q + "}";
  };
  SECTION("valid JSON: an entry with q 2, one with no contact, one with a port out of range") {
    std::ofstream(path) << "{\"format\":1,\"bindings\":[\n" << entry("alice", "1.000") << ",\n" << entry("bob", "2") << ",\n"
                        << "{\"aor\":\"sip:carol@contoso.example\",\"host\":\"192.0.2.5\",\"port\":5060,\"expires\":2000},\n"
                        << entry("erin", "0.5").replace(entry("erin", "0.5").find("5060"), 4, "70000") << ",\n"
                        << entry("dave", "0.500") << "\n]}\n";
    runtime::Registrar registrar(path);
    CHECK(registrar.loaded() == 2);
    CHECK(registrar.lookup("sip:alice@contoso.example", 1000).size() == 1);
    CHECK(registrar.lookup("sip:dave@contoso.example", 1000).size() == 1);
    CHECK(registrar.lookup("sip:bob@contoso.example", 1000).empty());
    CHECK(registrar.load_warning() == "bindings file '" + path + "' is damaged (entry 2: q 2 is not between 0 and 1): 3 damaged entries dropped, " +
                                          "2 bindings restored; copied to '" + path + ".bad'");
    CHECK(std::filesystem::exists(path + ".bad"));
    CHECK(registrar.dirty());
  }
  SECTION("not JSON as a whole (a bare nan): restored line by line") {
    std::ofstream(path) << "{\"format\":1,\"bindings\":[\n" << entry("alice", "1.000") << ",\n" << entry("bob", "nan") << ",\n"
                        << entry("dave", "0.500") << "\n]}\n";
    runtime::Registrar registrar(path);
    CHECK(registrar.loaded() == 2);
    CHECK(registrar.lookup("sip:dave@contoso.example", 1000).at(0).q == 0.5F);
    CHECK(registrar.load_warning().find("(line 3: not JSON): 1 damaged entry dropped, 2 bindings restored") != std::string::npos);
    registrar.save();
    runtime::Registrar again(path);
    CHECK(again.loaded() == 2);
    CHECK(again.load_warning().empty());
  }
  SECTION("an intact file: no warning, no copy") {
    std::ofstream(path) << "{\"format\":1,\"bindings\":[\n" << entry("alice", "1.000") << "\n]}\n";
    runtime::Registrar registrar(path);
    CHECK(registrar.loaded() == 1);
    CHECK(registrar.load_warning().empty());
    CHECK_FALSE(std::filesystem::exists(path + ".bad"));
    CHECK_FALSE(registrar.dirty());
  }
}
