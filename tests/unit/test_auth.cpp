// SIP digest authentication: the hashes and responses against the RFCs' examples, the parsing of
// credentials, and the runtime's Authenticator (challenges, nonces, replays, trust, modes).
#include <catch2/catch.hpp>
#include <algorithm>
#include <fstream>
#include <string>

#include "e911/catalog.hpp"
#include "e911/diagnostic_error.hpp"
#include "e911/runtime_auth.hpp"
#include "e911/runtime_config.hpp"
#include "e911/runtime_registrar.hpp"
#include "e911/sip_digest.hpp"
#include "e911/snapshot.hpp"
#include "helpers.hpp"

using namespace e911;
using sip::DigestAlgorithm;

namespace {

const std::string kPassword = "s3cret phone";

// A snapshot with a trunk at 192.0.2.10, alice with credentials and bob without.
std::shared_ptr<const Snapshot> snapshot_with_users(TempDb& t) {
  auto store = Store::open(t.path, true);
  Writer w(*store, "test");
  const auto K = [](const char* noun) -> const Kind& { return kind_by_noun(noun); };
  w.put(K("trunk"), Json{{"name", "provider"}, {"host", "192.0.2.10"}});
  w.put(K("user"), Json{{"sip_uri", "sip:alice@contoso.example"},
                        {"ha1_sha256", sip::digest_ha1(DigestAlgorithm::sha256, "alice", "contoso.example", kPassword)},
                        {"ha1_md5", sip::digest_ha1(DigestAlgorithm::md5, "alice", "contoso.example", kPassword)}});
  w.put(K("user"), Json{{"sip_uri", "sip:bob@contoso.example"}});
  w.commit();
  return Snapshot::build(*store);
}

sip::Message message(const std::string& text) {
  auto parsed = sip::parse(text, sip::Transport::datagram);
  REQUIRE(parsed);
  return *parsed.message;
}

std::string register_request(const std::string& user, const std::string& authorization = {}) {
  return "REGISTER sip:contoso.example SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKr1\r\nMax-Forwards: 70\r\n"
         "From: <sip:" + user + "@contoso.example>;tag=1\r\nTo: <sip:" + user + "@contoso.example>\r\nCall-ID: r1@x\r\nCSeq: 1 REGISTER\r\n"
         "Contact: <sip:" + user + "@203.0.113.5:5060>\r\n" + (authorization.empty() ? "" : "Authorization: " + authorization + "\r\n") +
         "Content-Length: 0\r\n\r\n";
}

/// The nonce of the first WWW-Authenticate of `v`.
std::string nonce_of(const runtime::Authenticator::Verdict& v) {
  REQUIRE_FALSE(v.headers.empty());
  const std::string& h = v.headers[0].second;
  const auto at = h.find("nonce=\"") + 7;
  return h.substr(at, h.find('"', at) - at);
}

/// An Authorization value answering `nonce` for alice's REGISTER with `password`.
std::string answer(DigestAlgorithm a, const std::string& nonce, const std::string& password, const std::string& nc = "00000001",
                   const std::string& username = "alice") {
  const std::string ha1 = sip::digest_ha1(a, username, "contoso.example", password);
  const std::string response = sip::digest_response(a, ha1, "REGISTER", "sip:contoso.example", nonce, nc, "c0ffee", "auth");
  return "Digest username=\"" + username + "\", realm=\"contoso.example\", nonce=\"" + nonce + "\", uri=\"sip:contoso.example\", response=\"" +
         response + "\", algorithm=" + std::string(sip::algorithm_name(a)) + ", cnonce=\"c0ffee\", qop=auth, nc=" + nc;
}

}  // namespace

TEST_CASE("digest: the MD5 example of RFC 2617 section 3.5") {
  const std::string ha1 = sip::digest_ha1(DigestAlgorithm::md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  CHECK(ha1 == "939e7578ed9e3c518a452acee763bce9");
  CHECK(sip::digest_response(DigestAlgorithm::md5, ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b",
                             "auth") == "6629fae49393a05397450978507c4ef1");
}

TEST_CASE("digest: the SHA-256 and MD5 examples of RFC 7616 section 3.9.1") {
  const std::string nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  const std::string cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  for (auto [a, want] : {std::pair{DigestAlgorithm::sha256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
                         std::pair{DigestAlgorithm::md5, "8ca523f5e9506fed4657c9700eebdbec"}}) {
    const std::string ha1 = sip::digest_ha1(a, "Mufasa", "http-auth@example.org", "Circle of Life");
    CHECK(sip::digest_response(a, ha1, "GET", "/dir/index.html", nonce, "00000001", cnonce, "auth") == want);
  }
  CHECK(sip::digest_hex(DigestAlgorithm::sha256, "").size() == 64);
  CHECK(sip::digest_hex(DigestAlgorithm::md5, "") == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("digest: Authorization values parse, quoted or not, and bad ones are refused") {
  auto c = sip::parse_digest_credentials(
      "Digest username=\"alice\",realm=\"contoso.example\", nonce=\"a.b.c\", uri=\"sip:contoso.example\", "
      "response=\"0123\", algorithm=SHA-256, cnonce=\"x\\\"y\", qop=auth, nc=00000001, opaque=\"\"");
  REQUIRE(c);
  CHECK(c->username == "alice");
  CHECK(c->realm == "contoso.example");
  CHECK(c->nonce == "a.b.c");
  CHECK(c->uri == "sip:contoso.example");
  CHECK(c->algorithm == "SHA-256");
  CHECK(c->cnonce == "x\"y");
  CHECK(c->qop == "auth");
  CHECK(c->nc == "00000001");
  CHECK_FALSE(sip::parse_digest_credentials("Basic YWxpY2U6cw=="));
  CHECK_FALSE(sip::parse_digest_credentials("Digest username=\"alice"));
  CHECK_FALSE(sip::parse_digest_credentials("Digest username=a, username=b"));
  CHECK(sip::parse_algorithm("sha-256") == DigestAlgorithm::sha256);
  CHECK_FALSE(sip::parse_algorithm("SHA-256-sess"));
  CHECK(sip::constant_time_equal("abc", "abc"));
  CHECK_FALSE(sip::constant_time_equal("abc", "abd"));
  CHECK_FALSE(sip::constant_time_equal("abc", "ab"));
}

TEST_CASE("auth: trusted networks are CIDR, host bits refused, IPv4-mapped sources matched") {
  auto net = runtime::parse_cidr("10.20.0.0/16");
  REQUIRE(net);
  CHECK(runtime::cidr_contains(*net, "10.20.3.4"));
  CHECK(runtime::cidr_contains(*net, "::ffff:10.20.3.4"));
  CHECK_FALSE(runtime::cidr_contains(*net, "10.21.0.1"));
  CHECK_FALSE(runtime::cidr_contains(*net, "2001:db8::1"));
  auto v6 = runtime::parse_cidr("2001:db8:5::/48");
  REQUIRE(v6);
  CHECK(runtime::cidr_contains(*v6, "2001:db8:5:1::9"));
  CHECK_FALSE(runtime::cidr_contains(*v6, "2001:db8:6::1"));
  auto host = runtime::parse_cidr("192.0.2.7");
  REQUIRE(host);
  CHECK(host->length == 32);
  CHECK(runtime::cidr_contains(*host, "192.0.2.7"));
  CHECK_FALSE(runtime::cidr_contains(*host, "192.0.2.8"));
  CHECK(runtime::parse_cidr("0.0.0.0/0"));
  CHECK_FALSE(runtime::parse_cidr("10.20.1.0/16"));
  CHECK_FALSE(runtime::parse_cidr("10.20.0.0/33"));
  CHECK_FALSE(runtime::parse_cidr("10.20.0.0/"));
  CHECK_FALSE(runtime::parse_cidr("intranet"));
}

TEST_CASE("auth: a REGISTER is challenged with SHA-256 then MD5, and the right answer passes once") {
  TempDb t;
  auto snap = snapshot_with_users(t);
  runtime::Authenticator auth({});
  const std::int64_t now = 1'700'000'000;
  const auto first = auth.check(message(register_request("alice")), "203.0.113.5", "sip:alice@contoso.example", *snap, now);
  REQUIRE(first.status == 401);
  REQUIRE(first.headers.size() == 2);
  CHECK(first.headers[0].first == "WWW-Authenticate");
  CHECK(first.headers[0].second.find("Digest realm=\"contoso.example\"") == 0);
  CHECK(first.headers[0].second.find("algorithm=SHA-256, qop=\"auth\"") != std::string::npos);
  CHECK(first.headers[1].second.find("algorithm=MD5, qop=\"auth\"") != std::string::npos);
  CHECK(first.headers[0].second.find("stale") == std::string::npos);
  const std::string nonce = nonce_of(first);

  for (auto a : {DigestAlgorithm::sha256, DigestAlgorithm::md5}) {
    const std::string nc = a == DigestAlgorithm::sha256 ? "00000001" : "00000002";
    const auto ok = auth.check(message(register_request("alice", answer(a, nonce, kPassword, nc))), "203.0.113.5", "sip:alice@contoso.example", *snap, now + 1);
    CHECK(ok.status == 0);
  }
  SECTION("the same nonce count again is a replay: a fresh challenge, stale") {
    const auto replay = auth.check(message(register_request("alice", answer(DigestAlgorithm::sha256, nonce, kPassword, "00000001"))), "203.0.113.5",
                                   "sip:alice@contoso.example", *snap, now + 2);
    CHECK(replay.status == 401);
    REQUIRE_FALSE(replay.headers.empty());
    CHECK(replay.headers[0].second.find("stale=true") != std::string::npos);
    CHECK(nonce_of(replay) != nonce);
  }
  SECTION("a wrong password is 403") {
    const auto wrong = auth.check(message(register_request("alice", answer(DigestAlgorithm::sha256, nonce, "guess", "00000003"))), "203.0.113.5",
                                  "sip:alice@contoso.example", *snap, now + 2);
    CHECK(wrong.status == 403);
    CHECK(wrong.headers.empty());
  }
  SECTION("the right password after the nonce's lifetime is a fresh challenge, stale") {
    const auto late = auth.check(message(register_request("alice", answer(DigestAlgorithm::sha256, nonce, kPassword, "00000003"))), "203.0.113.5",
                                 "sip:alice@contoso.example", *snap, now + 301);
    CHECK(late.status == 401);
    CHECK(late.headers[0].second.find("stale=true") != std::string::npos);
  }
  SECTION("a nonce of another process (a restart) with the right password is stale, not refused") {
    runtime::Authenticator other({});
    const auto r = other.check(message(register_request("alice", answer(DigestAlgorithm::sha256, nonce, kPassword, "00000003"))), "203.0.113.5",
                               "sip:alice@contoso.example", *snap, now + 2);
    CHECK(r.status == 401);
    CHECK(r.headers[0].second.find("stale=true") != std::string::npos);
  }
  SECTION("bob's name with alice's AOR is 403") {
    const auto r = auth.check(message(register_request("alice", answer(DigestAlgorithm::sha256, nonce, kPassword, "00000003", "bob"))), "203.0.113.5",
                              "sip:alice@contoso.example", *snap, now + 2);
    CHECK(r.status == 403);
  }
}

TEST_CASE("auth: nonces are this process's, expire, and cannot be forged") {
  runtime::Authenticator auth({{}, {}, std::chrono::seconds(60)});
  const std::string n = auth.make_nonce(1000);
  CHECK(auth.nonce_state(n, 1000) == runtime::Authenticator::NonceState::valid);
  CHECK(auth.nonce_state(n, 1060) == runtime::Authenticator::NonceState::valid);
  CHECK(auth.nonce_state(n, 1061) == runtime::Authenticator::NonceState::expired);
  CHECK(auth.nonce_state(n, 999) == runtime::Authenticator::NonceState::expired);
  CHECK(auth.make_nonce(1000) != n);
  std::string forged = n;
  forged[0] = forged[0] == '3' ? '4' : '3';  // another time under the same MAC
  CHECK(auth.nonce_state(forged, 1000) == runtime::Authenticator::NonceState::foreign);
  CHECK(auth.nonce_state("garbage", 1000) == runtime::Authenticator::NonceState::foreign);
}

TEST_CASE("auth: trusted networks, trunks, users without credentials and non-users are not challenged") {
  TempDb t;
  auto snap = snapshot_with_users(t);
  runtime::AuthOptions o;
  o.trusted_networks.push_back(*runtime::parse_cidr("10.20.0.0/16"));
  runtime::Authenticator auth(o);
  const auto alice = message(register_request("alice"));
  CHECK(auth.check(alice, "10.20.1.1", "sip:alice@contoso.example", *snap, 1000).status == 0);
  CHECK(auth.check(alice, "192.0.2.10", "sip:alice@contoso.example", *snap, 1000).status == 0);  // the trunk's host
  CHECK(auth.check(alice, "10.21.1.1", "sip:alice@contoso.example", *snap, 1000).status == 401);
  CHECK(auth.check(message(register_request("bob")), "10.21.1.1", "sip:bob@contoso.example", *snap, 1000).status == 0);
  CHECK(auth.check(message(register_request("carol")), "10.21.1.1", "sip:carol@contoso.example", *snap, 1000).status == 0);

  SECTION("auth: required refuses a user without credentials, from outside the trusted networks only") {
    runtime::AuthOptions r = o;
    r.required = true;
    runtime::Authenticator strict(r);
    CHECK(strict.check(message(register_request("bob")), "10.21.1.1", "sip:bob@contoso.example", *snap, 1000).status == 403);
    CHECK(strict.check(message(register_request("bob")), "10.20.1.1", "sip:bob@contoso.example", *snap, 1000).status == 0);
  }
}

TEST_CASE("catalog: a user's digest secrets are redacted for show, kept for export") {
  const Kind& user = kind_by_noun("user");
  Json obj = {{"sip_uri", "sip:alice@contoso.example"}, {"ha1_md5", std::string(32, 'a')}, {"display_name", "Alice"}};
  const Json shown = user.redacted(obj);
  CHECK(shown["ha1_md5"] == "(hidden)");
  CHECK(shown["display_name"] == "Alice");
  CHECK_FALSE(shown.contains("ha1_sha256"));
  CHECK(obj["ha1_md5"] == std::string(32, 'a'));
}

TEST_CASE("serve.yaml: auth, trusted_networks and auth_nonce_lifetime, a bad network refused at its line") {
  TempDb dir;
  const std::string path = dir.file("serve.yaml");
  {
    std::ofstream(path) << "auth: required\ntrusted_networks: [10.30.0.0/16, '2001:db8:5::/48']\nauth_nonce_lifetime: 60\n";
  }
  const runtime::ServeConfig c = runtime::load_serve_config(path);
  CHECK(c.auth == "required");
  CHECK(c.trusted_networks == std::vector<std::string>{"10.30.0.0/16", "2001:db8:5::/48"});
  CHECK(c.auth_nonce_lifetime == std::chrono::seconds(60));
  CHECK(runtime::default_serve_config().auth == "optional");
  {
    std::ofstream(path) << "trusted_networks:\n  - 10.30.0.0/16\n  - 10.30.1.0/16\n";
  }
  try {
    runtime::load_serve_config(path);
    FAIL("a network with host bits was taken");
  } catch (const DiagnosticError& e) {
    REQUIRE(e.diagnostics.size() == 1);
    CHECK(e.diagnostics[0].code == "E100");
    CHECK(e.diagnostics[0].where.line == 3);
    CHECK(e.diagnostics[0].message.find("trusted network '10.30.1.0/16' is not an IP network") != std::string::npos);
  }
  {
    std::ofstream(path) << "auth: sometimes\n";
  }
  CHECK_THROWS_AS(runtime::load_serve_config(path), DiagnosticError);
}

namespace {

// A snapshot with a trunk at 192.0.2.10, bob and the desk without credentials and, with
// `desk_named`, the global policy notifying the desk (Desk, as a policy may write its host).
std::shared_ptr<const Snapshot> snapshot_with_desk(TempDb& t, bool desk_named) {
  auto store = Store::open(t.path, true);
  Writer w(*store, "test");
  const auto K = [](const char* noun) -> const Kind& { return kind_by_noun(noun); };
  w.put(K("trunk"), Json{{"name", "provider"}, {"host", "192.0.2.10"}});
  w.put(K("user"), Json{{"sip_uri", "sip:desk@contoso.example"}});
  w.put(K("user"), Json{{"sip_uri", "sip:bob@contoso.example"}});
  Json policy{{"identity", "global"}, {"enhanced_emergency_services", true}, {"emergency_dial_string", "911"}};
  if (desk_named) policy["notification_uris"] = Json::array({"sip:desk@Contoso.Example", "sip:10.0.0.9"});
  w.put(K("policy"), policy);
  w.commit();
  return Snapshot::build(*store);
}

runtime::AuthOptions trusting(const char* network) {
  runtime::AuthOptions o;
  o.trusted_networks.push_back(*runtime::parse_cidr(network));
  return o;
}

}  // namespace

TEST_CASE("auth: a security desk registers only with credentials or from a trusted network, whatever auth says") {
  TempDb t;
  auto snap = snapshot_with_desk(t, true);
  CHECK(snap->notification_targets() == std::vector<std::string>{"sip:desk@contoso.example"});
  runtime::Authenticator auth(trusting("10.30.0.0/16"));
  const std::int64_t now = 1'700'000'000;
  const auto stranger = auth.check(message(register_request("desk")), "203.0.113.5", "sip:desk@contoso.example", *snap, now);
  CHECK(stranger.status == 403);
  CHECK(stranger.reason == "Forbidden (a security desk registers only with credentials or from a trusted network)");
  CHECK(auth.check(message(register_request("desk")), "192.0.2.10", "sip:desk@contoso.example", *snap, now).status == 403);  // a trunk's host
  const auto trusted = auth.check(message(register_request("desk")), "10.30.4.5", "sip:desk@contoso.example", *snap, now);
  CHECK(trusted);
  CHECK(trusted.authenticated);
  // Anyone else without credentials is served as before, not authenticated.
  const auto bob = auth.check(message(register_request("bob")), "203.0.113.5", "sip:bob@contoso.example", *snap, now);
  CHECK(bob);
  CHECK_FALSE(bob.authenticated);
  CHECK(auth.check(message(register_request("bob")), "192.0.2.10", "sip:bob@contoso.example", *snap, now));
  // The warning: the desk has no credentials, and what may register it.
  CHECK(runtime::unguarded_desks(*snap, auth.options()) ==
        std::vector<std::string>{"security desk 'sip:desk@contoso.example' has no credentials: only a phone in trusted_networks may register it; "
                                 "give it a password with 'e911ctl user set sip:desk@contoso.example --password-file FILE'"});
  CHECK(runtime::unguarded_desks(*snap, {}).at(0).find("no phone may register it (no trusted_networks are set)") != std::string::npos);
  TempDb other;
  CHECK(runtime::unguarded_desks(*snapshot_with_users(other), {}).empty());
}

TEST_CASE("auth: a security desk with credentials is challenged from anywhere, a trunk's host included") {
  TempDb t;
  auto store = Store::open(t.path, true);
  Writer w(*store, "test");
  w.put(kind_by_noun("trunk"), Json{{"name", "provider"}, {"host", "192.0.2.10"}});
  w.put(kind_by_noun("user"), Json{{"sip_uri", "sip:alice@contoso.example"},
                                   {"ha1_md5", sip::digest_ha1(DigestAlgorithm::md5, "alice", "contoso.example", kPassword)}});
  w.put(kind_by_noun("policy"), Json{{"identity", "global"}, {"notification_uris", {"sip:alice@contoso.example"}}});
  w.commit();
  auto snap = Snapshot::build(*store);
  runtime::Authenticator auth({});
  const std::int64_t now = 1'700'000'000;
  const auto first = auth.check(message(register_request("alice")), "192.0.2.10", "sip:alice@contoso.example", *snap, now);
  REQUIRE(first.status == 401);
  const auto second = auth.check(message(register_request("alice", answer(DigestAlgorithm::md5, nonce_of(first), kPassword))), "192.0.2.10",
                                 "sip:alice@contoso.example", *snap, now);
  CHECK(second);
  CHECK(second.authenticated);
  CHECK(runtime::unguarded_desks(*snap, {}).empty());
}

TEST_CASE("registrar: contacts nobody authenticated never lock out a phone that proved who it is") {
  TempDb t;
  runtime::RegistrarOptions options;
  options.max_contacts = 3;
  runtime::Registrar registrar({}, options);
  runtime::Authenticator auth(trusting("10.30.0.0/16"));
  const std::vector<std::string> domains{"contoso.example"};
  const std::int64_t now = 1'700'000'000;
  int n = 0;
  auto reg = [&](const std::string& user, const std::string& ip, const Snapshot& snap) {
    ++n;
    const std::string text = "REGISTER sip:contoso.example SIP/2.0\r\nVia: SIP/2.0/UDP " + ip + ":5060;branch=z9hG4bKc" + std::to_string(n) +
                             "\r\nMax-Forwards: 70\r\nFrom: <sip:" + user + "@contoso.example>;tag=1\r\nTo: <sip:" + user +
                             "@contoso.example>\r\nCall-ID: c" + std::to_string(n) + "@x\r\nCSeq: 1 REGISTER\r\nContact: <sip:" + user + "@" + ip +
                             ":" + std::to_string(6000 + n) + ">\r\nContent-Length: 0\r\n\r\n";
    return registrar.on_register(message(text), sip::Endpoint{ip, 5060, false}, false, &snap, domains, now, &auth).status;
  };
  // Strangers fill bob's contacts and the desk's, while no policy names the desk.
  auto before = snapshot_with_desk(t, false);
  for (int i = 0; i < 3; ++i) {
    CHECK(reg("bob", "203.0.113.5", *before) == 200);
    CHECK(reg("desk", "203.0.113.5", *before) == 200);
  }
  CHECK(reg("bob", "203.0.113.5", *before) == 403);
  // bob's phone in the trusted network takes the oldest stranger's place.
  CHECK(reg("bob", "10.30.1.1", *before) == 200);
  auto bob = registrar.lookup("sip:bob@contoso.example", now);
  REQUIRE(bob.size() == 3);
  CHECK(std::count_if(bob.begin(), bob.end(), [](const runtime::Binding& b) { return b.authenticated; }) == 1);
  CHECK(std::none_of(bob.begin(), bob.end(), [](const runtime::Binding& b) { return b.contact == "sip:bob@203.0.113.5:6001"; }));
  // A policy names the desk: strangers are refused, and the desk proving itself ends their bindings.
  TempDb t2;
  auto after = snapshot_with_desk(t2, true);
  CHECK(reg("desk", "203.0.113.5", *after) == 403);
  CHECK(registrar.lookup("sip:desk@contoso.example", now).size() == 3);
  CHECK(reg("desk", "10.30.1.2", *after) == 200);
  auto desk = registrar.lookup("sip:desk@contoso.example", now);
  REQUIRE(desk.size() == 1);
  CHECK(desk[0].authenticated);
  CHECK(desk[0].source.host == "10.30.1.2");
  CHECK(registrar.size() == 4);
}
