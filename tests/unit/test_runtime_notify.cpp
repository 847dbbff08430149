// The notifier against real peers on 127.0.0.1: webhook servers (cpp-httplib, plain and TLS with a
// CA made here by the openssl CLI), a socket that never answers, and an SMTP server written here.
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "e911/error.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/runtime_notify.hpp"
#include "e911/schema_check.hpp"
#include "helpers.hpp"

using namespace e911;
using namespace e911::runtime;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

NotifyFacts sample_facts() {
  NotifyFacts f;
  f.call_id = "a84b4c76e66710@pc33.contoso.example";
  f.time = "2024-05-01T14:03:27Z";
  f.caller_uri = "sip:alice@contoso.example";
  f.caller_name = "Alice Example";
  f.callback = "+14255550100";
  f.location.id = "redmond-b1-f2";
  f.location.location = "Floor 2 Room 210";
  f.location.house_number = "1";
  f.location.street_name = "Main";
  f.location.street_suffix = "St";
  f.location.city = "Redmond";
  f.location.state = "WA";
  f.location.postal_code = "98052";
  f.location.country = "US";
  f.location_text = "1 Main St, Floor 2 Room 210, Redmond, WA 98052, US";
  f.method = "LIS";
  f.policy = "tag:Redmond";
  f.route = "emergency-us";
  f.trunk = "provider-a";
  return f;
}

// Outcomes as the owner sees them, in the order they came, with a bounded wait.
struct Outcomes {
  std::mutex m;
  std::condition_variable cv;
  std::vector<DeliveryOutcome> got;
  std::vector<std::thread::id> threads;

  OutcomeCallback callback() {
    return [this](DeliveryOutcome o) {
      std::lock_guard lock(m);
      got.push_back(std::move(o));
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    };
  }
  bool wait(std::size_t n, std::chrono::milliseconds bound = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, bound, [&] { return got.size() >= n; });
  }
  std::vector<DeliveryOutcome> all() {
    std::lock_guard lock(m);
    return got;
  }
  DeliveryOutcome by_index(std::size_t i) {
    std::lock_guard lock(m);
    for (const auto& o : got)
      if (o.index == i) return o;
    FAIL("no outcome for target " << i);
    return {};
  }
};

struct Received {
  std::string path, content_type, body;
};

// A webhook server on 127.0.0.1 that answers the n-th POST (from 1) with status(n).
struct HookServer {
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;
  std::mutex m;
  std::vector<Received> got;

  explicit HookServer(std::function<int(int)> status, std::unique_ptr<httplib::Server> s = std::make_unique<httplib::Server>())
      : server(std::move(s)) {
    REQUIRE(server->is_valid());
    server->Post(".*", [this, status](const httplib::Request& req, httplib::Response& res) {
      int n = 0;
      {
        std::lock_guard lock(m);
        got.push_back({req.path, req.get_header_value("Content-Type"), req.body});
        n = static_cast<int>(got.size());
      }
      res.status = status(n);
      if (res.status >= 300 && res.status < 400) res.set_header("Location", "http://127.0.0.1:1/elsewhere");
      res.set_content("{}", "application/json");
    });
    port = server->bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server->listen_after_bind(); });
  }
  ~HookServer() {
    server->stop();
    thread.join();
  }
  std::vector<Received> requests() {
    std::lock_guard lock(m);
    return got;
  }
  std::string url(const std::string& scheme = "http") const { return scheme + "://127.0.0.1:" + std::to_string(port) + "/hook"; }
};

// A socket that takes connections (the kernel completes them) and never answers.
struct SilentServer {
  int fd = -1;
  int port = 0;
  SilentServer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~SilentServer() { ::close(fd); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/hook"; }
};

// An SMTP server (RFC 5321's EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, QUIT) on 127.0.0.1 that
// keeps each message it accepts; with reject_rcpt it refuses every recipient with 550.
struct SmtpServer {
  struct Mail {
    std::string from;
    std::vector<std::string> rcpts;
    std::string data;
    std::string auth;  // the AUTH PLAIN response, base64
  };
  int fd = -1;
  int port = 0;
  bool reject_rcpt = false;
  std::atomic<bool> stopping{false};
  std::mutex m;
  std::condition_variable cv;
  std::vector<Mail> mails;
  std::thread thread;

  explicit SmtpServer(bool reject = false) : reject_rcpt(reject) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
    thread = std::thread([this] { run(); });
  }
  ~SmtpServer() {
    stopping = true;
    thread.join();
    ::close(fd);
  }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port); }
  bool wait(std::size_t n, std::chrono::milliseconds bound = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, bound, [&] { return mails.size() >= n; });
  }
  std::vector<Mail> received() {
    std::lock_guard lock(m);
    return mails;
  }

 private:
  static bool readable(int s) {
    pollfd p{s, POLLIN, 0};
    return ::poll(&p, 1, 100) > 0;
  }
  void run() {
    while (!stopping) {
      if (!readable(fd)) continue;
      const int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) continue;
      session(c);
      ::close(c);
    }
  }
  void session(int c) {
    auto say = [&](const std::string& line) {
      const std::string out = line + "\r\n";
      return ::send(c, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
    };
    say("220 127.0.0.1 ESMTP test");
    std::string buffer;
    Mail mail;
    bool in_data = false, want_auth = false;
    while (!stopping) {
      const auto eol = buffer.find("\r\n");
      if (eol == std::string::npos) {
        if (!readable(c)) continue;
        char chunk[4096];
        const ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 2);
      if (in_data) {
        if (line == ".") {
          in_data = false;
          {
            std::lock_guard lock(m);
            mails.push_back(mail);
          }
          cv.notify_all();
          mail.rcpts.clear();
          mail.data.clear();
          say("250 2.0.0 queued");
        } else {
          if (line.rfind("..", 0) == 0) line.erase(0, 1);
          mail.data += line + "\r\n";
        }
        continue;
      }
      if (want_auth) {
        mail.auth = line;
        want_auth = false;
        say("235 2.7.0 authenticated");
        continue;
      }
      std::string verb = line.substr(0, line.find(' '));
      for (char& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (verb == "EHLO") {
        say("250-127.0.0.1 hello");
        say("250-AUTH PLAIN");
        say("250 8BITMIME");
      } else if (verb == "HELO" || verb == "NOOP") {
        say("250 ok");
      } else if (verb == "AUTH") {
        const auto sp = line.find(' ', 5);
        if (sp == std::string::npos) {
          want_auth = true;
          say("334 ");
        } else {
          mail.auth = line.substr(sp + 1);
          say("235 2.7.0 authenticated");
        }
      } else if (verb == "MAIL") {
        mail.from = line.substr(line.find(':') + 1);
        say("250 2.1.0 ok");
      } else if (verb == "RCPT") {
        const std::string to = line.substr(line.find(':') + 1);
        if (reject_rcpt) {
          say("550 5.1.1 " + to + ": no such user here");
        } else {
          mail.rcpts.push_back(to);
          say("250 2.1.5 ok");
        }
      } else if (verb == "DATA") {
        in_data = true;
        say("354 end with <CRLF>.<CRLF>");
      } else if (verb == "RSET") {
        mail = Mail{};
        say("250 ok");
      } else if (verb == "QUIT") {
        say("221 bye");
        return;
      } else {
        say("502 5.5.2 unknown command");
      }
    }
  }
};

// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI.
struct TestPki {
  TempDb dir;
  std::string ca, cert, key;
  TestPki() {
    ca = dir.file("ca.crt");
    cert = dir.file("server.crt");
    key = dir.file("server.key");
    std::ofstream(dir.file("ext.cnf")) << "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    const std::string d = "'" + dir.dir.string() + "/";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string cmd = "openssl req -x509" + ec + "-keyout " + d + "ca.key' -out " + d + "ca.crt' -subj /CN=e911-test-ca -days 2" +
                            " && openssl req" + ec + "-keyout " + d + "server.key' -out " + d + "server.csr' -subj /CN=127.0.0.1" +
                            " && openssl x509 -req -in " + d + "server.csr' -CA " + d + "ca.crt' -CAkey " + d + "ca.key' -CAcreateserial -out " + d +
                            "server.crt' -days 2 -extfile " + d + "ext.cnf'";
    REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
  }
};

NotifierConfig quick_config() {
  NotifierConfig c;
  c.connect_timeout = 1000ms;
  c.total_timeout = 2000ms;
  c.backoff = 50ms;
  return c;
}

std::string metric(const Metrics& m, const std::string& kind, const std::string& outcome) {
  const std::string key = "e911_runtime_notifications_total{kind=\"" + kind + "\",outcome=\"" + outcome + "\"} ";
  const std::string text = m.prometheus();
  const auto at = text.find(key);
  if (at == std::string::npos) return "absent";
  return text.substr(at + key.size(), text.find('\n', at) - at - key.size());
}

std::string header_of(const std::string& message, const std::string& name) {
  const auto at = message.find("\r\n" + name + ": ");
  if (at == std::string::npos) return message.rfind(name + ": ", 0) == 0 ? message.substr(name.size() + 2, message.find("\r\n") - name.size() - 2) : "";
  const auto start = at + name.size() + 4;
  return message.substr(start, message.find("\r\n", start) - start);
}

}  // namespace

TEST_CASE("a webhook gets the call's facts as JSON of its schema, once", "[notify]") {
  HookServer hook([](int) { return 200; });
  Outcomes outcomes;
  Metrics metrics;
  Notifier notifier(quick_config(), outcomes.callback(), &metrics);
  const NotifyFacts facts = sample_facts();
  CHECK(notifier.submit(facts, {{NotifyKind::webhook, hook.url()}}) == 1);
  REQUIRE(outcomes.wait(1));
  const DeliveryOutcome o = outcomes.all().at(0);
  CHECK(o.result == DeliveryResult::ok);
  CHECK(o.kind == NotifyKind::webhook);
  CHECK(o.call_id == facts.call_id);
  CHECK(o.index == 0);
  CHECK(o.attempts == 1);
  CHECK(o.status == 200);
  CHECK(o.detail.empty());
  CHECK(o.target == hook.url());
  CHECK(outcomes.threads.at(0) != std::this_thread::get_id());

  const auto got = hook.requests();
  REQUIRE(got.size() == 1);
  CHECK(got[0].path == "/hook");
  CHECK(got[0].content_type == "application/json");
  const Json body = Json::parse(got[0].body);
  CHECK(body["schema"] == "e911ctl.notification/v1");
  CHECK(body["call_id"] == facts.call_id);
  CHECK(body["time"] == "2024-05-01T14:03:27Z");
  CHECK(body["test"] == false);
  CHECK(body["caller"]["uri"] == "sip:alice@contoso.example");
  CHECK(body["caller"]["name"] == "Alice Example");
  CHECK(body["caller"]["callback"] == "+14255550100");
  CHECK(body["location"]["text"] == facts.location_text);
  CHECK(body["location"]["method"] == "LIS");
  CHECK(body["location"]["civic"]["id"] == "redmond-b1-f2");
  CHECK(body["location"]["civic"]["location"] == "Floor 2 Room 210");
  CHECK(body["location"]["civic"]["house_number"] == "1");
  CHECK(body["location"]["civic"]["street_name"] == "Main");
  CHECK(body["location"]["civic"]["street_suffix"] == "St");
  CHECK(body["location"]["civic"]["city"] == "Redmond");
  CHECK(body["location"]["civic"]["state"] == "WA");
  CHECK(body["location"]["civic"]["postal_code"] == "98052");
  CHECK(body["location"]["civic"]["country"] == "US");
  CHECK(body["policy"] == "tag:Redmond");
  CHECK(body["route"]["name"] == "emergency-us");
  CHECK(body["route"]["trunk"] == "provider-a");

  std::ifstream in(std::string(E911_SOURCE_DIR) + "/schemas/output/notification.schema.json");
  const Json schema = Json::parse(in);
  for (const auto& v : check_schema(schema, body)) FAIL_CHECK(v.pointer << ": " << v.message);
  CHECK(metric(metrics, "webhook", "ok") == "1");
  CHECK(metric(metrics, "webhook", "failed") == "0");
}

TEST_CASE("a webhook that answers 500 is tried again after the backoff", "[notify]") {
  HookServer hook([](int n) { return n == 1 ? 500 : 200; });
  Outcomes outcomes;
  Notifier notifier(quick_config(), outcomes.callback());
  notifier.submit(sample_facts(), {{NotifyKind::webhook, hook.url()}});
  REQUIRE(outcomes.wait(1));
  const DeliveryOutcome o = outcomes.all().at(0);
  CHECK(o.result == DeliveryResult::ok);
  CHECK(o.attempts == 2);
  CHECK(o.status == 200);
  CHECK(o.elapsed >= 50ms);
  CHECK(hook.requests().size() == 2);
}

TEST_CASE("a webhook's 4xx and redirects fail at once; 429 and 503 use every attempt", "[notify]") {
  HookServer refusing([](int) { return 403; });
  HookServer moving([](int) { return 302; });
  HookServer busy([](int) { return 429; });
  Outcomes outcomes;
  Metrics metrics;
  Notifier notifier(quick_config(), outcomes.callback(), &metrics);
  CHECK(notifier.submit(sample_facts(), {{NotifyKind::webhook, refusing.url()}, {NotifyKind::webhook, moving.url()}, {NotifyKind::webhook, busy.url()}}) == 3);
  REQUIRE(outcomes.wait(3));
  CHECK(outcomes.by_index(0).result == DeliveryResult::failed);
  CHECK(outcomes.by_index(0).attempts == 1);
  CHECK(outcomes.by_index(0).status == 403);
  CHECK(outcomes.by_index(0).detail == "HTTP 403");
  CHECK(outcomes.by_index(1).attempts == 1);
  CHECK(outcomes.by_index(1).status == 302);
  CHECK(outcomes.by_index(1).detail == "HTTP 302: redirects are not followed");
  CHECK(outcomes.by_index(2).result == DeliveryResult::failed);
  CHECK(outcomes.by_index(2).attempts == 3);
  CHECK(busy.requests().size() == 3);
  CHECK(moving.requests().size() == 1);
  CHECK(metric(metrics, "webhook", "failed") == "3");
}

TEST_CASE("a webhook that never answers fails on its timeout while the others are delivered", "[notify]") {
  SilentServer dead;
  HookServer hook([](int) { return 200; });
  SmtpServer smtp;
  NotifierConfig config = quick_config();
  config.total_timeout = 800ms;
  config.attempts = 2;
  config.backoff = 100ms;
  config.smtp_url = smtp.url();
  config.smtp_from = "e911@contoso.example";
  config.smtp_starttls = false;
  Outcomes outcomes;
  Notifier notifier(config, outcomes.callback());
  const auto before = Clock::now();
  CHECK(notifier.submit(sample_facts(), {{NotifyKind::webhook, dead.url()}, {NotifyKind::webhook, hook.url()}, {NotifyKind::email, "desk@contoso.example"}}) == 3);
  CHECK(Clock::now() - before < 100ms);
  REQUIRE(outcomes.wait(2));
  // The live webhook and the e-mail came first, long before the dead webhook's first timeout.
  for (const auto& o : outcomes.all()) {
    CHECK(o.index != 0);
    CHECK(o.result == DeliveryResult::ok);
    CHECK(o.elapsed < 700ms);
  }
  REQUIRE(outcomes.wait(3));
  const DeliveryOutcome o = outcomes.by_index(0);
  CHECK(o.result == DeliveryResult::failed);
  CHECK(o.attempts == 2);
  CHECK(o.status == 0);
  CHECK_THAT(o.detail, Catch::Contains("timed out"));
  CHECK(o.elapsed >= 1700ms);
  CHECK(o.elapsed < 5s);
}

TEST_CASE("a webhook over https is delivered only to a certificate the CA file vouches for", "[notify]") {
  TestPki pki;
  HookServer hook([](int) { return 204; }, std::make_unique<httplib::SSLServer>(pki.cert.c_str(), pki.key.c_str()));
  const std::string url = hook.url("https");

  Outcomes trusted;
  NotifierConfig config = quick_config();
  config.ca_file = pki.ca;
  {
    Notifier notifier(config, trusted.callback());
    notifier.submit(sample_facts(), {{NotifyKind::webhook, url}});
    REQUIRE(trusted.wait(1));
  }
  CHECK(trusted.all().at(0).result == DeliveryResult::ok);
  CHECK(trusted.all().at(0).status == 204);
  CHECK(hook.requests().size() == 1);

  // Without the CA the system's store is used, which does not know this CA: refused, not retried.
  Outcomes untrusted;
  {
    Notifier notifier(quick_config(), untrusted.callback());
    notifier.submit(sample_facts(), {{NotifyKind::webhook, url}});
    REQUIRE(untrusted.wait(1));
  }
  const DeliveryOutcome o = untrusted.all().at(0);
  CHECK(o.result == DeliveryResult::failed);
  CHECK(o.attempts == 1);
  CHECK(o.status == 0);
  CHECK_THAT(o.detail, Catch::Contains("certificate"));
  CHECK(hook.requests().size() == 1);
}

TEST_CASE("plain http is taken only to loopback, and a URL's secrets are not shown", "[notify]") {
  CHECK(target_problem({NotifyKind::webhook, "https://desk.contoso.example/hook"}).empty());
  CHECK(target_problem({NotifyKind::webhook, "http://127.0.0.1:8080/hook"}).empty());
  CHECK(target_problem({NotifyKind::webhook, "http://[::1]:8080/hook"}).empty());
  CHECK(target_problem({NotifyKind::webhook, "http://localhost/hook"}).empty());
  CHECK(target_problem({NotifyKind::webhook, "http://desk.contoso.example/hook?key=s3cret"}) ==
        "webhook 'http://desk.contoso.example/hook?***' is plain http to a host that is not loopback; use https://");
  CHECK(target_problem({NotifyKind::webhook, "ftp://127.0.0.1/hook"}) == "webhook 'ftp://127.0.0.1/hook' is not an https:// URL");
  CHECK(target_problem({NotifyKind::webhook, "https://"}) == "webhook 'https://' is not an https:// URL");
  CHECK(target_problem({NotifyKind::email, "desk@contoso.example"}).empty());
  CHECK(target_problem({NotifyKind::email, "desk"}) == "e-mail address 'desk' is not of the form name@domain");
  CHECK(target_problem({NotifyKind::email, "desk@x>\r\nRCPT TO:<evil@x"}) ==
        "e-mail address 'desk@x>  RCPT TO:<evil@x' is not of the form name@domain");

  Outcomes outcomes;
  Notifier notifier(quick_config(), outcomes.callback());
  notifier.submit(sample_facts(), {{NotifyKind::webhook, "http://user:pa55@192.0.2.1/hook?token=abc"}, {NotifyKind::email, "desk@contoso.example"}});
  REQUIRE(outcomes.wait(2));
  const DeliveryOutcome web = outcomes.by_index(0);
  CHECK(web.result == DeliveryResult::failed);
  CHECK(web.attempts == 0);
  CHECK(web.target == "http://***@192.0.2.1/hook?***");  // the user name too: it may be a token
  CHECK(web.detail.find("pa55") == std::string::npos);
  CHECK(web.detail.find("abc") == std::string::npos);
  CHECK(web.to_json().dump().find("pa55") == std::string::npos);
  const DeliveryOutcome mail = outcomes.by_index(1);
  CHECK(mail.result == DeliveryResult::failed);
  CHECK(mail.attempts == 0);
  CHECK(mail.detail == "no SMTP server is configured for e-mail notifications");
}

TEST_CASE("an e-mail reaches each recipient with the subject and the facts", "[notify]") {
  SmtpServer smtp;
  TempDb dir;
  const std::string credentials = dir.file("smtp.credentials");
  std::ofstream(credentials) << "desk-bot:pa ss\n";
  ::chmod(credentials.c_str(), 0600);
  NotifierConfig config = quick_config();
  config.smtp_url = smtp.url();
  config.smtp_from = "e911@contoso.example";
  config.smtp_starttls = false;
  config.smtp_credentials_file = credentials;
  Outcomes outcomes;
  Metrics metrics;
  Notifier notifier(config, outcomes.callback(), &metrics);
  const NotifyFacts facts = sample_facts();
  CHECK(notifier.submit(facts, {{NotifyKind::email, "desk@contoso.example"}, {NotifyKind::email, "guard@contoso.example"}}) == 2);
  REQUIRE(outcomes.wait(2));
  for (const auto& o : outcomes.all()) {
    CHECK(o.result == DeliveryResult::ok);
    CHECK(o.kind == NotifyKind::email);
    CHECK(o.attempts == 1);
    CHECK(o.status == 250);
  }
  CHECK(outcomes.by_index(1).target == "guard@contoso.example");
  REQUIRE(smtp.wait(2));
  auto mails = smtp.received();
  std::sort(mails.begin(), mails.end(), [](const auto& a, const auto& b) { return a.rcpts < b.rcpts; });
  REQUIRE(mails.size() == 2);
  CHECK(mails[0].rcpts == std::vector<std::string>{"<desk@contoso.example>"});
  CHECK(mails[1].rcpts == std::vector<std::string>{"<guard@contoso.example>"});
  // AUTH PLAIN: base64 of "\0desk-bot\0pa ss".
  CHECK(mails[0].auth == "AGRlc2stYm90AHBhIHNz");
  for (const auto& mail : mails) {
    CHECK(mail.from == "<e911@contoso.example>");
    CHECK(header_of(mail.data, "Subject") == "EMERGENCY CALL: Alice Example +14255550100 at 1 Main St, Floor 2 Room 210, Redmond, WA 98052, US");
    CHECK(header_of(mail.data, "From") == "e911@contoso.example");
    CHECK(header_of(mail.data, "Content-Type") == "text/plain; charset=utf-8");
    CHECK_THAT(mail.data, Catch::Contains("\r\nCaller: Alice Example <sip:alice@contoso.example>\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\nCallback: +14255550100\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\nTime: 2024-05-01T14:03:27Z\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\n  Street: Main\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\n  City: Redmond\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\n  Location: Floor 2 Room 210\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\nLocation policy: tag:Redmond\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\nRoute: emergency-us via trunk provider-a\r\n"));
    CHECK_THAT(mail.data, Catch::Contains("\r\nCall-ID: a84b4c76e66710@pc33.contoso.example\r\n"));
  }
  CHECK(header_of(mails[1].data, "To") == "guard@contoso.example");
  CHECK(metric(metrics, "email", "ok") == "2");
}

TEST_CASE("an e-mail subject that is not ASCII is encoded, and a name cannot add a header", "[notify]") {
  SmtpServer smtp;
  NotifierConfig config = quick_config();
  config.smtp_url = smtp.url();
  config.smtp_from = "e911@contoso.example";
  config.smtp_starttls = false;
  Outcomes outcomes;
  Notifier notifier(config, outcomes.callback());
  NotifyFacts facts = sample_facts();
  facts.caller_name = "Zoë\r\nBcc: evil@example.invalid";
  facts.test = true;
  notifier.submit(facts, {{NotifyKind::email, "desk@contoso.example"}});
  REQUIRE(outcomes.wait(1));
  REQUIRE(smtp.wait(1));
  const std::string data = smtp.received().at(0).data;
  CHECK(header_of(data, "Subject").rfind("=?UTF-8?B?", 0) == 0);
  CHECK(header_of(data, "Bcc").empty());
  CHECK(Notifier::email_subject(facts).rfind("TEST CALL: Zoë", 0) == 0);
  CHECK_THAT(data, Catch::Contains("no emergency service was called"));
}

TEST_CASE("an SMTP server that refuses the recipient fails the e-mail with its reply", "[notify]") {
  SmtpServer smtp(true);
  NotifierConfig config = quick_config();
  config.smtp_url = smtp.url();
  config.smtp_from = "e911@contoso.example";
  config.smtp_starttls = false;
  Outcomes outcomes;
  Metrics metrics;
  Notifier notifier(config, outcomes.callback(), &metrics);
  notifier.submit(sample_facts(), {{NotifyKind::email, "nobody@contoso.example"}});
  REQUIRE(outcomes.wait(1));
  const DeliveryOutcome o = outcomes.all().at(0);
  CHECK(o.result == DeliveryResult::failed);
  CHECK(o.attempts == 1);  // 5xx: permanent
  CHECK(o.status == 550);
  CHECK_THAT(o.detail, Catch::Contains("550 5.1.1 <nobody@contoso.example>: no such user here"));
  CHECK(smtp.received().empty());
  CHECK(metric(metrics, "email", "failed") == "1");
}

TEST_CASE("a full queue drops deliveries at once, and stop() ends the rest within its bound", "[notify]") {
  SilentServer dead;
  NotifierConfig config = quick_config();
  config.queue_size = 2;
  config.total_timeout = 5000ms;
  Outcomes outcomes;
  Metrics metrics;
  Notifier notifier(config, outcomes.callback(), &metrics);
  std::vector<NotifyTarget> targets(5, NotifyTarget{NotifyKind::webhook, dead.url()});
  const auto before = Clock::now();
  CHECK(notifier.submit(sample_facts(), targets) == 2);
  CHECK(Clock::now() - before < 50ms);
  REQUIRE(outcomes.wait(3, 2s));
  for (const auto& o : outcomes.all()) {
    CHECK(o.index >= 2);
    CHECK(o.result == DeliveryResult::dropped);
    CHECK(o.attempts == 0);
    CHECK(o.detail == "queue full (2 deliveries under way)");
  }
  CHECK(metric(metrics, "webhook", "dropped") == "3");

  const auto stopping = Clock::now();
  notifier.stop(200ms);
  CHECK(Clock::now() - stopping < 1s);
  REQUIRE(outcomes.all().size() == 5);
  for (std::size_t i : {0u, 1u}) {
    CHECK(outcomes.by_index(i).result == DeliveryResult::failed);
    CHECK(outcomes.by_index(i).detail == "notifier stopped");
  }
  CHECK(metric(metrics, "webhook", "failed") == "2");
  CHECK(notifier.submit(sample_facts(), targets) == 0);
  notifier.stop(200ms);
  CHECK(outcomes.all().size() == 5);
}

TEST_CASE("the notifier refuses settings it cannot honour", "[notify]") {
  auto make = [](NotifierConfig c) { Notifier n(std::move(c), [](DeliveryOutcome) {}); };
  auto kind_of = [&](NotifierConfig c) {
    try {
      make(std::move(c));
    } catch (const Error& e) {
      return e.kind;
    }
    return ErrorKind::internal;
  };
  NotifierConfig c;
  c.attempts = 0;
  CHECK(kind_of(c) == ErrorKind::invalid);
  c = {};
  c.queue_size = 0;
  CHECK(kind_of(c) == ErrorKind::invalid);
  c = {};
  c.smtp_url = "http://127.0.0.1:25";
  c.smtp_from = "e911@contoso.example";
  CHECK(kind_of(c) == ErrorKind::invalid);
  c.smtp_url = "smtp://mail.contoso.example";
  c.smtp_starttls = false;
  CHECK_THROWS_WITH(make(c), "plain SMTP to 'mail.contoso.example' would send the call's facts unencrypted");
  c.smtp_starttls = true;
  c.smtp_from = "";
  CHECK(kind_of(c) == ErrorKind::invalid);
  c.smtp_from = "e911@contoso.example";
  CHECK_NOTHROW(make(c));
  // Credentials in the URL are refused, and the refusal does not repeat them.
  c.smtp_url = "smtps://desk:s3cr3t-pw@mail.contoso.example";
  CHECK_THROWS_WITH(make(c), "the SMTP server 'smtps://***@mail.contoso.example' holds a user name or password");
  c.smtp_url = "smtps://apikey-t0k3n@mail.contoso.example:465/";
  CHECK_THROWS_WITH(make(c), "the SMTP server 'smtps://***@mail.contoso.example:465/' holds a user name or password");
  c.smtp_url = "smtp://mail.contoso.example";

  TempDb dir;
  c.smtp_credentials_file = dir.file("open.credentials");
  std::ofstream(c.smtp_credentials_file) << "user:password\n";
  ::chmod(c.smtp_credentials_file.c_str(), 0644);
  CHECK_THROWS_WITH(make(c), "the SMTP credentials file '" + c.smtp_credentials_file + "' is open to group or others");
  c = {};
  c.ca_file = dir.file("missing.pem");
  CHECK(kind_of(c) == ErrorKind::failure);
}
