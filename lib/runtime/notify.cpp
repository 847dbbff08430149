// Webhook and e-mail notifications on a curl multi handle driven by one worker thread (see
// runtime_notify.hpp).
#include "e911/runtime_notify.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <list>
#include <mutex>
#include <thread>

#include "../net/curl.hpp"
#include "e911/error.hpp"
#include "e911/runtime_metrics.hpp"

namespace e911::runtime {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxCredentialsBytes = 4096;

// The civic fields of an e-mail, in the order a reader looks for them.
struct CivicLine {
  const char* label;
  std::string Civic::*member;
};
const CivicLine kCivicLines[] = {
    {"Location", &Civic::location},          {"Company", &Civic::company_name},
    {"House number", &Civic::house_number},  {"House number suffix", &Civic::house_number_suffix},
    {"Pre-directional", &Civic::pre_directional}, {"Street", &Civic::street_name},
    {"Street suffix", &Civic::street_suffix}, {"Post-directional", &Civic::post_directional},
    {"City", &Civic::city},                  {"State", &Civic::state},
    {"Postal code", &Civic::postal_code},    {"Country", &Civic::country},
    {"Building", &Civic::building},          {"Floor", &Civic::floor},
    {"Unit", &Civic::unit},                  {"Room", &Civic::room},
    {"Seat", &Civic::seat},                  {"Landmark", &Civic::landmark},
};

// Control characters become spaces: a display name must not start a header or a line of its own.
std::string one_line(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool has_control_or_space(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

// A URL's parts, as far as the notifier needs them.
struct UrlParts {
  std::string scheme;  // lowercase
  std::string host;    // without brackets
  bool ok = false;
};

UrlParts split_url(const std::string& url) {
  UrlParts u;
  const auto sep = url.find("://");
  if (sep == std::string::npos || sep == 0) return u;
  u.scheme = lower(url.substr(0, sep));
  std::string authority = url.substr(sep + 3, url.find_first_of("/?#", sep + 3) - (sep + 3));
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return u;
    u.host = authority.substr(1, close - 1);
  } else {
    u.host = authority.substr(0, authority.find(':'));
  }
  u.ok = !u.host.empty();
  return u;
}

bool is_loopback(const std::string& host) {
  if (lower(host) == "localhost") return true;
  unsigned char a[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), a) == 1) return std::memcmp(a, &in6addr_loopback, sizeof(in6_addr)) == 0;
  return false;
}

// A URL as it may be shown: its user part (user:password@, or a token as the user name) and
// its query replaced by "***".
std::string redact_url(const std::string& url) {
  std::string out = url;
  const auto sep = out.find("://");
  if (sep != std::string::npos) {
    const auto end = out.find_first_of("/?#", sep + 3);
    const std::string authority = out.substr(sep + 3, end == std::string::npos ? std::string::npos : end - (sep + 3));
    const auto at = authority.rfind('@');
    if (at != std::string::npos) out.replace(sep + 3, at, "***");
  }
  if (const auto q = out.find('?'); q != std::string::npos) {
    const auto hash = out.find('#', q);
    out.replace(q + 1, (hash == std::string::npos ? out.size() : hash) - q - 1, "***");
  }
  return out;
}

std::string email_problem(const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == address.size() || has_control_or_space(address) ||
      address.find_first_of("<>,;\"()[]\\") != std::string::npos)
    return "e-mail address '" + one_line(address) + "' is not of the form name@domain";
  return {};
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

// A header value as RFC 2047 encoded words when it is not plain ASCII, folded between words;
// each word carries whole UTF-8 characters.
std::string header_text(const std::string& text) {
  if (std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) return text;
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = std::min(text.size(), i + 45);
    while (end < text.size() && end > i + 1 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string rfc5322_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// The e-mail's text, CRLF line ends, headers first.
std::string email_message(const NotifyFacts& f, const std::string& from, const std::string& to) {
  std::string h;
  h += "Date: " + rfc5322_now() + "\r\n";
  h += "From: " + from + "\r\n";
  h += "To: " + to + "\r\n";
  h += "Subject: " + header_text(one_line(Notifier::email_subject(f))) + "\r\n";
  h += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
  if (!f.test) h += "Importance: high\r\nX-Priority: 1\r\n";
  h += "Auto-Submitted: auto-generated\r\n\r\n";
  auto line = [&](const std::string& label, const std::string& value) { h += label + ": " + (value.empty() ? "unknown" : one_line(value)) + "\r\n"; };
  h += f.test ? "A test emergency call was made; no emergency service was called.\r\n\r\n" : "An emergency call was made.\r\n\r\n";
  line("Caller", f.caller_name.empty() ? f.caller_uri : f.caller_name + " <" + f.caller_uri + ">");
  line("Callback", f.callback);
  line("Time", f.time);
  line("Location", f.location_text);
  for (const auto& c : kCivicLines)
    if (!(f.location.*c.member).empty()) h += "  " + std::string(c.label) + ": " + one_line(f.location.*c.member) + "\r\n";
  line("Method", f.method);
  line("Location policy", f.policy);
  line("Route", f.route.empty() ? std::string() : f.route + (f.trunk.empty() ? "" : " via trunk " + f.trunk));
  line("Call-ID", f.call_id);
  return h;
}

// Failures that another try cannot mend: a bad URL, a certificate refused, credentials refused.
bool permanent(CURLcode rc) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_LOGIN_DENIED:
    case CURLE_AUTH_ERROR:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

struct Credentials {
  std::string user, password;
};

Credentials read_credentials(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorKind::failure, "cannot read the SMTP credentials file '" + path + "': " + std::strerror(errno), "check its path and permissions");
  if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::failure, "the SMTP credentials file '" + path + "' is not a regular file");
  if ((st.st_mode & 077) != 0)
    throw Error(ErrorKind::failure, "the SMTP credentials file '" + path + "' is open to group or others",
                "it holds a password; make it private: chmod 600 '" + path + "'");
  if (st.st_size > static_cast<off_t>(kMaxCredentialsBytes))
    throw Error(ErrorKind::failure, "the SMTP credentials file '" + path + "' is larger than 4 KiB", "it holds user:password on one line");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw Error(ErrorKind::failure, "cannot read the SMTP credentials file '" + path + "'");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || text.find_first_of("\r\n") != std::string::npos)
    throw Error(ErrorKind::failure, "the SMTP credentials file '" + path + "' does not hold user:password on one line");
  return {text.substr(0, colon), text.substr(colon + 1)};
}

}  // namespace

const char* to_string(NotifyKind k) { return k == NotifyKind::webhook ? "webhook" : "email"; }

const char* to_string(DeliveryResult r) {
  switch (r) {
    case DeliveryResult::ok: return "ok";
    case DeliveryResult::failed: return "failed";
    case DeliveryResult::dropped: return "dropped";
  }
  return "failed";
}

std::string target_problem(const NotifyTarget& target) {
  if (target.kind == NotifyKind::email) return email_problem(target.address);
  const std::string shown = one_line(redact_url(target.address));
  const UrlParts u = split_url(target.address);
  if (!u.ok || has_control_or_space(target.address) || (u.scheme != "https" && u.scheme != "http"))
    return "webhook '" + shown + "' is not an https:// URL";
  if (u.scheme == "http" && !is_loopback(u.host)) return "webhook '" + shown + "' is plain http to a host that is not loopback; use https://";
  return {};
}

Json DeliveryOutcome::to_json() const {
  Json j = {{"kind", runtime::to_string(kind)}, {"target", target}, {"outcome", runtime::to_string(result)}, {"attempts", attempts}};
  if (status != 0) j["status"] = status;
  if (!detail.empty()) j["detail"] = detail;
  j["elapsed_ms"] = elapsed.count();
  return j;
}

Json Notifier::webhook_body(const NotifyFacts& f) {
  return Json{{"schema", "e911ctl.notification/v1"},
              {"call_id", f.call_id},
              {"time", f.time},
              {"test", f.test},
              {"caller", {{"uri", f.caller_uri}, {"name", f.caller_name}, {"callback", f.callback}}},
              {"location", {{"text", f.location_text}, {"method", f.method}, {"civic", f.location.to_json()}}},
              {"policy", f.policy},
              {"route", {{"name", f.route}, {"trunk", f.trunk}}}};
}

std::string Notifier::email_subject(const NotifyFacts& f) {
  const std::string who = !f.caller_name.empty() ? f.caller_name : !f.caller_uri.empty() ? f.caller_uri : "unknown caller";
  return std::string(f.test ? "TEST CALL: " : "EMERGENCY CALL: ") + who + " " + (f.callback.empty() ? "no callback number" : f.callback) +
         " at " + (f.location_text.empty() ? "unknown location" : f.location_text);
}

// One delivery: a target and its tries. Lives in the worker's list from acceptance to outcome.
struct Job {
  std::shared_ptr<const NotifyFacts> facts;
  std::shared_ptr<const std::string> json;  // the webhook body, shared by the call's webhooks
  std::size_t index = 0;
  NotifyTarget target;
  Clock::time_point accepted, next_at;
  int attempts = 0;
  long status = 0;
  std::string detail;
  // The try under way.
  CURL* easy = nullptr;
  curl_slist* recipients = nullptr;
  std::string message;  // the e-mail, built on its first try
  std::size_t sent = 0;
  std::string last_reply;
  char error[CURL_ERROR_SIZE] = {0};
};

struct Notifier::State {
  NotifierConfig config;
  OutcomeCallback on_outcome;
  Metrics* metrics = nullptr;
  Credentials credentials;
  net::Curl* curl = nullptr;
  CURLM* multi = nullptr;
  curl_slist* json_headers = nullptr;
  std::string user_agent = std::string("e911ctl/") + E911_VERSION;

  std::mutex mutex;  // guards the four below
  std::vector<std::unique_ptr<Job>> incoming;
  std::vector<DeliveryOutcome> reports;  // dropped at submit(), reported by the worker
  std::size_t outstanding = 0;           // accepted and not yet ended
  bool stopping = false;
  Clock::time_point deadline;

  std::thread worker;

  void run();
  bool start(Job& job);
  void finished(std::list<std::unique_ptr<Job>>& jobs, Job& job, CURLcode rc, Clock::time_point now);
  void end(Job& job, DeliveryResult result, Clock::time_point now);
  void report(DeliveryOutcome outcome);
  void release(Job& job);
};

namespace {

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

std::size_t read_message(char* buffer, std::size_t size, std::size_t n, void* user) {
  auto* job = static_cast<Job*>(user);
  const std::size_t len = std::min(size * n, job->message.size() - job->sent);
  std::memcpy(buffer, job->message.data() + job->sent, len);
  job->sent += len;
  return len;
}

// Keeps the server's last refusal (a 4xx or 5xx reply line), so that a refused RCPT is shown as
// the server worded it, not as the QUIT's goodbye that follows it.
int keep_reply(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  if (type != CURLINFO_HEADER_IN) return 0;
  std::string text(data, size);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (const auto nl = text.rfind('\n'); nl != std::string::npos) text = text.substr(nl + 1);
  if (!text.empty() && (text[0] == '4' || text[0] == '5')) static_cast<Job*>(user)->last_reply = one_line(text);
  return 0;
}

}  // namespace

void Notifier::State::report(DeliveryOutcome outcome) {
  if (metrics) metrics->notification(to_string(outcome.kind), to_string(outcome.result));
  // An owner's callback that throws must not take the deliveries of other calls down with it.
  try {
    on_outcome(std::move(outcome));
  } catch (...) {
  }
}

void Notifier::State::release(Job& job) {
  if (job.easy) {
    curl->multi_remove_handle(multi, job.easy);
    curl->easy_cleanup(job.easy);
    job.easy = nullptr;
  }
  if (job.recipients) curl->slist_free_all(job.recipients);
  job.recipients = nullptr;
}

void Notifier::State::end(Job& job, DeliveryResult result, Clock::time_point now) {
  release(job);
  DeliveryOutcome o;
  o.call_id = job.facts->call_id;
  o.index = job.index;
  o.kind = job.target.kind;
  o.target = job.target.kind == NotifyKind::webhook ? redact_url(job.target.address) : job.target.address;
  o.result = result;
  o.attempts = job.attempts;
  o.status = job.status;
  if (result != DeliveryResult::ok) o.detail = job.detail;
  o.elapsed = std::chrono::duration_cast<milliseconds>(now - job.accepted);
  report(std::move(o));
  std::lock_guard lock(mutex);
  --outstanding;
}

// Starts one try of `job` on the multi handle. False when the target cannot be tried at all
// (its detail says why).
bool Notifier::State::start(Job& job) {
  if (const std::string problem = target_problem(job.target); !problem.empty()) {
    job.detail = problem;
    return false;
  }
  if (job.target.kind == NotifyKind::email && config.smtp_url.empty()) {
    job.detail = "no SMTP server is configured for e-mail notifications";
    return false;
  }
  job.easy = curl->easy_init();
  if (!job.easy) {
    job.detail = "cannot initialise libcurl";
    return false;
  }
  ++job.attempts;
  job.error[0] = 0;
  job.last_reply.clear();
  job.status = 0;
  CURL* h = job.easy;
  curl->easy_setopt(h, CURLOPT_PRIVATE, static_cast<void*>(&job));
  curl->easy_setopt(h, CURLOPT_ERRORBUFFER, job.error);
  curl->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.connect_timeout.count()));
  curl->easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config.total_timeout.count()));
  curl->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config.ca_file.empty()) curl->easy_setopt(h, CURLOPT_CAINFO, config.ca_file.c_str());
  if (job.target.kind == NotifyKind::webhook) {
    const bool plain = split_url(job.target.address).scheme == "http";  // loopback only, checked above
    curl->easy_setopt(h, CURLOPT_URL, job.target.address.c_str());
    curl->easy_setopt(h, CURLOPT_PROTOCOLS_STR, plain ? "http,https" : "https");
    curl->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl->easy_setopt(h, CURLOPT_POST, 1L);
    curl->easy_setopt(h, CURLOPT_POSTFIELDS, job.json->data());
    curl->easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(job.json->size()));
    curl->easy_setopt(h, CURLOPT_HTTPHEADER, json_headers);
    curl->easy_setopt(h, CURLOPT_USERAGENT, user_agent.c_str());
    curl->easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  } else {
    if (job.message.empty()) job.message = email_message(*job.facts, config.smtp_from, job.target.address);
    job.sent = 0;
    job.recipients = curl->slist_append(nullptr, ("<" + job.target.address + ">").c_str());
    const bool implicit_tls = split_url(config.smtp_url).scheme == "smtps";
    curl->easy_setopt(h, CURLOPT_URL, config.smtp_url.c_str());
    curl->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl->easy_setopt(h, CURLOPT_USE_SSL, implicit_tls || config.smtp_starttls ? static_cast<long>(CURLUSESSL_ALL) : static_cast<long>(CURLUSESSL_NONE));
    curl->easy_setopt(h, CURLOPT_MAIL_FROM, ("<" + config.smtp_from + ">").c_str());
    curl->easy_setopt(h, CURLOPT_MAIL_RCPT, job.recipients);
    if (!credentials.user.empty()) {
      curl->easy_setopt(h, CURLOPT_USERNAME, credentials.user.c_str());
      curl->easy_setopt(h, CURLOPT_PASSWORD, credentials.password.c_str());
    }
    curl->easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl->easy_setopt(h, CURLOPT_READFUNCTION, read_message);
    curl->easy_setopt(h, CURLOPT_READDATA, static_cast<void*>(&job));
    curl->easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(job.message.size()));
    // One session per message, ended with QUIT: no idle connection for a server to drop.
    curl->easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    // The debug hook sees what the server said; VERBOSE only turns it on (nothing is printed).
    curl->easy_setopt(h, CURLOPT_DEBUGFUNCTION, keep_reply);
    curl->easy_setopt(h, CURLOPT_DEBUGDATA, static_cast<void*>(&job));
    curl->easy_setopt(h, CURLOPT_VERBOSE, 1L);
  }
  if (curl->multi_add_handle(multi, h) != CURLM_OK) {
    release(job);
    job.detail = "cannot start the transfer";
    return false;
  }
  return true;
}

// A try ended with `rc`: the outcome, or the next try after a backoff.
void Notifier::State::finished(std::list<std::unique_ptr<Job>>& jobs, Job& job, CURLcode rc, Clock::time_point now) {
  long code = 0;
  curl->easy_getinfo(job.easy, CURLINFO_RESPONSE_CODE, &code);
  const std::string error = job.error[0] ? job.error : curl->easy_strerror(rc);
  bool ok = false, again = false;
  if (job.target.kind == NotifyKind::webhook) {
    job.status = code;
    if (rc != CURLE_OK) {
      job.detail = error;
      again = !permanent(rc);
    } else if (code >= 200 && code < 300) {
      ok = true;
    } else if (code >= 300 && code < 400) {
      job.detail = "HTTP " + std::to_string(code) + ": redirects are not followed";
    } else {
      job.detail = "HTTP " + std::to_string(code);
      again = code == 429 || code >= 500;
    }
  } else {
    if (rc != CURLE_OK && job.last_reply.size() >= 3 && std::all_of(job.last_reply.begin(), job.last_reply.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }))
      code = std::stol(job.last_reply.substr(0, 3));
    job.status = code;
    if (rc == CURLE_OK) {
      ok = true;
    } else {
      job.detail = error + (job.last_reply.empty() ? "" : " (server: " + job.last_reply + ")");
      again = !permanent(rc) && !(code >= 500 && code < 600);
    }
  }
  release(job);
  const auto it = std::find_if(jobs.begin(), jobs.end(), [&](const auto& j) { return j.get() == &job; });
  if (ok || !again || job.attempts >= config.attempts) {
    end(job, ok ? DeliveryResult::ok : DeliveryResult::failed, now);
    jobs.erase(it);
    return;
  }
  job.next_at = now + config.backoff * (1 << std::min(job.attempts - 1, 16));
}

void Notifier::State::run() {
  std::list<std::unique_ptr<Job>> jobs;  // accepted and not ended; easy set while a try is under way
  for (;;) {
    std::vector<DeliveryOutcome> dropped;
    bool stop = false;
    Clock::time_point stop_at;
    {
      std::lock_guard lock(mutex);
      for (auto& j : incoming) jobs.push_back(std::move(j));
      incoming.clear();
      dropped.swap(reports);
      stop = stopping;
      stop_at = deadline;
    }
    for (auto& o : dropped) report(std::move(o));
    auto now = Clock::now();
    if (stop && (jobs.empty() || now >= stop_at)) {
      for (auto& j : jobs) {
        j->detail = "notifier stopped" + (j->detail.empty() ? std::string() : " after: " + j->detail);
        end(*j, DeliveryResult::failed, now);
      }
      break;
    }
    for (auto it = jobs.begin(); it != jobs.end();) {
      Job& j = **it;
      if (j.easy || j.next_at > now || start(j)) {
        ++it;
        continue;
      }
      end(j, DeliveryResult::failed, now);
      it = jobs.erase(it);
    }
    int running = 0;
    curl->multi_perform(multi, &running);
    int left = 0;
    now = Clock::now();
    while (CURLMsg* msg = curl->multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      void* job = nullptr;
      curl->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &job);
      finished(jobs, *static_cast<Job*>(job), msg->data.result, now);
    }
    // Sleep until a transfer moves, a retry is due, submit() or stop() wakes us, or the stop's bound.
    auto wake = now + milliseconds(1000);
    for (const auto& j : jobs)
      if (!j->easy) wake = std::min(wake, j->next_at);
    if (stop) wake = std::min(wake, stop_at);
    const auto wait = std::chrono::duration_cast<milliseconds>(wake - now).count();
    curl->multi_poll(multi, nullptr, 0, static_cast<int>(std::clamp<long long>(wait, 0, 1000)), nullptr);
  }
}

Notifier::Notifier(NotifierConfig config, OutcomeCallback on_outcome, Metrics* metrics) {
  auto invalid = [](const std::string& what, const std::string& hint = {}) { throw Error(ErrorKind::invalid, what, hint); };
  if (config.attempts < 1 || config.attempts > 10) invalid("notification attempts must be 1 to 10, not '" + std::to_string(config.attempts) + "'");
  if (config.connect_timeout.count() <= 0 || config.total_timeout.count() <= 0) invalid("notification timeouts must be above 0 ms");
  if (config.backoff.count() < 0 || config.backoff.count() > 60'000) invalid("the notification backoff must be 0 to 60000 ms");
  if (config.queue_size == 0) invalid("the notification queue must hold at least 1 delivery");
  if (!config.ca_file.empty() && ::access(config.ca_file.c_str(), R_OK) != 0)
    throw Error(ErrorKind::failure, "cannot read the CA file '" + config.ca_file + "': " + std::strerror(errno), "give a PEM bundle of the CAs to trust");
  auto state = std::make_shared<State>();
  if (!config.smtp_url.empty()) {
    const UrlParts u = split_url(config.smtp_url);
    if (!u.ok || (u.scheme != "smtp" && u.scheme != "smtps") || has_control_or_space(config.smtp_url))
      invalid("the SMTP server '" + one_line(redact_url(config.smtp_url)) + "' is not an smtp:// or smtps:// URL");
    // Credentials live in smtp_credentials_file (mode 0600), never in a URL that a setting,
    // an error or a process listing may show.
    if (const auto sep = config.smtp_url.find("://");
        config.smtp_url.substr(sep + 3, config.smtp_url.find_first_of("/?#", sep + 3) - (sep + 3)).find('@') != std::string::npos)
      invalid("the SMTP server '" + one_line(redact_url(config.smtp_url)) + "' holds a user name or password",
              "put user:password on one line of a file of mode 0600 and name it in smtp_credentials_file");
    if (u.scheme == "smtp" && !config.smtp_starttls && !is_loopback(u.host))
      invalid("plain SMTP to '" + one_line(u.host) + "' would send the call's facts unencrypted", "use STARTTLS or smtps://; plain SMTP is taken only to a loopback server");
    if (const std::string problem = email_problem(config.smtp_from); !problem.empty())
      invalid("the notification sender: " + problem, "set the from address of e-mail notifications");
    if (!config.smtp_credentials_file.empty()) state->credentials = read_credentials(config.smtp_credentials_file);
  }
  state->curl = &net::curl();
  state->multi = state->curl->multi_init();
  if (!state->multi) throw Error(ErrorKind::failure, "cannot initialise libcurl");
  state->json_headers = state->curl->slist_append(nullptr, "Content-Type: application/json");
  state->json_headers = state->curl->slist_append(state->json_headers, "Expect:");  // no 100-continue pause
  state->config = std::move(config);
  state->on_outcome = std::move(on_outcome);
  state->metrics = metrics;
  state->worker = std::thread([s = state.get()] {
    s->run();
    s->curl->multi_cleanup(s->multi);
    s->curl->slist_free_all(s->json_headers);
  });
  state_ = std::move(state);
}

Notifier::~Notifier() { stop(); }

std::size_t Notifier::submit(const NotifyFacts& facts, const std::vector<NotifyTarget>& targets) {
  const auto now = Clock::now();
  auto shared = std::make_shared<const NotifyFacts>(facts);
  std::shared_ptr<const std::string> json;
  if (std::any_of(targets.begin(), targets.end(), [](const auto& t) { return t.kind == NotifyKind::webhook; }))
    json = std::make_shared<const std::string>(webhook_body(facts).dump(-1, ' ', false, Json::error_handler_t::replace));
  std::size_t accepted = 0;
  std::lock_guard lock(state_->mutex);
  if (state_->stopping) return 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (state_->outstanding >= state_->config.queue_size) {
      DeliveryOutcome o;
      o.call_id = facts.call_id;
      o.index = i;
      o.kind = targets[i].kind;
      o.target = targets[i].kind == NotifyKind::webhook ? redact_url(targets[i].address) : targets[i].address;
      o.result = DeliveryResult::dropped;
      o.detail = "queue full (" + std::to_string(state_->config.queue_size) + " deliveries under way)";
      state_->reports.push_back(std::move(o));
      continue;
    }
    auto job = std::make_unique<Job>();
    job->facts = shared;
    job->json = json;
    job->index = i;
    job->target = targets[i];
    job->accepted = job->next_at = now;
    state_->incoming.push_back(std::move(job));
    ++state_->outstanding;
    ++accepted;
  }
  state_->curl->multi_wakeup(state_->multi);  // under the lock: the worker cannot have ended
  return accepted;
}

void Notifier::stop(std::chrono::milliseconds grace) {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->stopping) {
      state_->stopping = true;
      state_->deadline = Clock::now() + grace;
      state_->curl->multi_wakeup(state_->multi);
    }
  }
  if (state_->worker.joinable() && state_->worker.get_id() != std::this_thread::get_id()) state_->worker.join();
}

}  // namespace e911::runtime
