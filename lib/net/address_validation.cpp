#include "e911/address_validation.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <queue>
#include <thread>

#include "e911/error.hpp"
#include "e911/schema_check.hpp"
#include "e911/text.hpp"
#include "curl.hpp"

namespace e911 {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxAnswerBytes = 1 << 20;  // an MSAG verdict is a few hundred bytes
constexpr long kMaxDelayMs = 10000;               // back-off and Retry-After are capped here

using net::Curl;
using net::curl;

// One address on its way: the request body, and the answer of the attempt in flight.
struct Job {
  std::size_t index = 0;  // into the results
  std::string body;
  int attempts = 0;
  std::string answer;
  bool too_big = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* job = static_cast<Job*>(user);
  if (job->answer.size() + size * n > kMaxAnswerBytes) {
    job->too_big = true;
    return 0;  // makes libcurl abort the transfer
  }
  job->answer.append(data, size * n);
  return size * n;
}

// A reused easy handle, with the buffer libcurl writes its error text into.
struct Easy {
  CURL* handle = nullptr;
  Job* job = nullptr;
  char error[CURL_ERROR_SIZE] = {0};
};

// The multi handle and a pool of easy handles, so connections and TLS sessions are reused; frees
// everything however the run ends.
class Transfers {
 public:
  explicit Transfers(const ProviderSettings& s) : s_(s), c_(curl()) {
    multi_ = c_.multi_init();
    if (!multi_) throw Error(ErrorKind::failure, "cannot initialise libcurl");
    // One idle connection per slot, so none is closed and opened again between two requests.
    c_.multi_setopt(multi_, CURLMOPT_MAXCONNECTS, s.concurrency);
    headers_ = c_.slist_append(nullptr, "Content-Type: application/json");
    headers_ = c_.slist_append(headers_, "Accept: application/json");
    user_agent_ = std::string("e911ctl/") + E911_VERSION;
  }
  ~Transfers() {
    for (auto& e : pool_) {
      c_.multi_remove_handle(multi_, e.handle);  // harmless for a handle not in the multi
      c_.easy_cleanup(e.handle);
    }
    c_.multi_cleanup(multi_);
    c_.slist_free_all(headers_);
  }
  Transfers(const Transfers&) = delete;
  Transfers& operator=(const Transfers&) = delete;

  std::size_t running() const { return running_; }

  void start(Job& job) {
    Easy* e = nullptr;
    if (idle_.empty()) {
      e = &make();
    } else {
      e = idle_.back();
      idle_.pop_back();
    }
    e->job = &job;
    e->error[0] = 0;
    job.answer.clear();
    job.too_big = false;
    ++job.attempts;
    c_.easy_setopt(e->handle, CURLOPT_POSTFIELDS, job.body.c_str());
    c_.easy_setopt(e->handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(job.body.size()));
    c_.easy_setopt(e->handle, CURLOPT_WRITEDATA, static_cast<void*>(&job));
    c_.easy_setopt(e->handle, CURLOPT_PRIVATE, static_cast<void*>(e));
    if (c_.multi_add_handle(multi_, e->handle) != CURLM_OK) throw Error(ErrorKind::failure, "libcurl refused a transfer");
    ++running_;
  }

  void perform() {
    int still = 0;
    c_.multi_perform(multi_, &still);
  }

  /// Waits until a transfer can make progress, at most `timeout_ms`.
  void wait(int timeout_ms) { c_.multi_poll(multi_, nullptr, 0, timeout_ms, nullptr); }

  // The outcome of one finished attempt.
  struct Done {
    Job* job = nullptr;
    CURLcode result = CURLE_OK;
    long http_status = 0;
    long retry_after_s = -1;  // from a Retry-After header, -1 without one
    std::string error;
  };

  /// The next finished attempt, if any; its easy handle goes back to the pool.
  bool next(Done& d) {
    int left = 0;
    while (CURLMsg* msg = c_.multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Easy* e = nullptr;
      c_.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&e));
      d.job = e->job;
      d.result = msg->data.result;
      d.http_status = 0;
      c_.easy_getinfo(e->handle, CURLINFO_RESPONSE_CODE, &d.http_status);
      curl_off_t after = -1;
      if (c_.easy_getinfo(e->handle, CURLINFO_RETRY_AFTER, &after) != CURLE_OK || after <= 0) after = -1;
      d.retry_after_s = static_cast<long>(std::min<curl_off_t>(after, kMaxDelayMs / 1000));
      d.error = e->error[0] ? e->error : c_.easy_strerror(d.result);
      c_.multi_remove_handle(multi_, e->handle);
      e->job = nullptr;
      idle_.push_back(e);
      --running_;
      return true;
    }
    return false;
  }

 private:
  Easy& make() {
    Easy& e = pool_.emplace_back();
    e.handle = c_.easy_init();
    if (!e.handle) throw Error(ErrorKind::failure, "cannot initialise libcurl");
    CURL* h = e.handle;
    c_.easy_setopt(h, CURLOPT_URL, s_.url.c_str());
    c_.easy_setopt(h, CURLOPT_POST, 1L);
    c_.easy_setopt(h, CURLOPT_HTTPHEADER, headers_);
    c_.easy_setopt(h, CURLOPT_USERAGENT, user_agent_.c_str());
    c_.easy_setopt(h, CURLOPT_TIMEOUT_MS, s_.timeout_ms);
    c_.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s_.timeout_ms);
    c_.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c_.easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    c_.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    c_.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    // Verification is on by default; set anyway, so nothing can have turned it off.
    c_.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    c_.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    c_.easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    c_.easy_setopt(h, CURLOPT_ERRORBUFFER, e.error);
    if (!s_.ca_bundle.empty()) c_.easy_setopt(h, CURLOPT_CAINFO, s_.ca_bundle.c_str());
    if (!s_.client_cert.empty()) c_.easy_setopt(h, CURLOPT_SSLCERT, s_.client_cert.c_str());
    if (!s_.client_key.empty()) c_.easy_setopt(h, CURLOPT_SSLKEY, s_.client_key.c_str());
    return e;
  }

  const ProviderSettings& s_;
  Curl& c_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string user_agent_;
  std::deque<Easy> pool_;  // deque: libcurl holds pointers into each Easy
  std::vector<Easy*> idle_;
  std::size_t running_ = 0;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A whole number from the environment into an unset field; a malformed one is a usage error.
void number_from_env(long& field, const char* name, long fallback) {
  if (field != ProviderSettings::kUnset) return;
  const std::string text = env(name);
  if (text.empty()) {
    field = fallback;
    return;
  }
  long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    throw Error(ErrorKind::usage, std::string(name) + " is not a whole number: '" + text + "'");
  field = v;
}

void check_range(long v, long lo, long hi, const char* what) {
  if (v < lo || v > hi)
    throw Error(ErrorKind::usage,
                std::string(what) + " must be " + std::to_string(lo) + " to " + std::to_string(hi) + ", not " + std::to_string(v));
}

void check_readable(const std::string& path, const char* what, const char* where) {
  if (!path.empty() && access(path.c_str(), R_OK) != 0)
    throw Error(ErrorKind::usage, std::string("cannot read the ") + what + " '" + path + "'", std::string("check ") + where);
}

// A text member of an answer, "" when absent or not text (the provider's JSON is not trusted).
std::string text_member(const Json& obj, const char* name) {
  const auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// The address fields a location sets: what is sent, and what must still hold when recording.
Json address_of(const Json& location) {
  Json address = Json::object();
  for (const auto& f : address_fields()) {
    const auto it = location.find(f);
    if (it != location.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) address[f] = *it;
  }
  return address;
}

std::string attempts_text(int n) { return std::to_string(n) + (n == 1 ? " attempt" : " attempts"); }

}  // namespace

const std::vector<std::string>& address_fields() {
  static const std::vector<std::string> fields = {"location",        "company_name", "house_number",  "house_number_suffix",
                                                  "pre_directional", "street_name",  "street_suffix", "post_directional",
                                                  "city",            "state",        "postal_code",   "country"};
  return fields;
}

void ProviderSettings::resolve() {
  if (url.empty()) url = env("E911_PROVIDER_URL");
  if (client_cert.empty()) client_cert = env("E911_PROVIDER_CERT");
  if (client_key.empty()) client_key = env("E911_PROVIDER_KEY");
  if (ca_bundle.empty()) ca_bundle = env("E911_PROVIDER_CA");
  number_from_env(timeout_ms, "E911_PROVIDER_TIMEOUT_MS", 5000);
  number_from_env(retries, "E911_PROVIDER_RETRIES", 2);
  number_from_env(concurrency, "E911_PROVIDER_CONCURRENCY", 16);
  if (url.empty()) throw Error(ErrorKind::usage, "no provider endpoint", "give --url or set E911_PROVIDER_URL");
  std::string scheme = url.substr(0, std::min<std::size_t>(url.size(), 8));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "https://")
    throw Error(ErrorKind::usage, "the provider endpoint '" + url_without_userinfo(url) + "' is not https://",
                "addresses go to the provider only over verified TLS; give its https:// URL");
  check_range(timeout_ms, 1, 600000, "the timeout (ms)");
  check_range(retries, 0, 10, "the retries");
  check_range(concurrency, 1, 256, "the concurrency");
  check_range(backoff_ms, 0, kMaxDelayMs, "the back-off (ms)");
  if (!client_key.empty() && client_cert.empty())
    throw Error(ErrorKind::usage, "a client key '" + client_key + "' without a client certificate", "give --cert too");
  check_readable(ca_bundle, "CA bundle", "--ca or E911_PROVIDER_CA");
  check_readable(client_cert, "client certificate", "--cert or E911_PROVIDER_CERT");
  check_readable(client_key, "client key", "--key or E911_PROVIDER_KEY");
}

std::vector<AddressResult> validate_addresses(const ProviderSettings& s, const std::vector<Json>& locations,
                                              const ValidationProgress& progress) {
  const std::size_t total = locations.size();
  std::vector<AddressResult> results(total);
  std::vector<Job> jobs(total);  // sized once: transfers point into it
  for (std::size_t i = 0; i < total; ++i) {
    AddressResult& r = results[i];
    const auto id = locations[i].find("id");
    r.id = id != locations[i].end() && id->is_string() ? id->get<std::string>() : "";
    r.address = address_of(locations[i]);
    jobs[i].index = i;
    jobs[i].body = Json{{"schema", "e911ctl.msag-request/v1"}, {"id", r.id}, {"address", r.address}}.dump();
  }
  if (total == 0) return results;

  Transfers transfers(s);
  std::size_t next_fresh = 0;  // addresses are first sent in the order given
  struct Retry {
    Clock::time_point at;
    Job* job;
    bool operator>(const Retry& o) const { return at > o.at; }
  };
  std::priority_queue<Retry, std::vector<Retry>, std::greater<Retry>> retries;
  std::size_t done = 0, answered = 0, lost_in_a_row = 0;
  std::string last_error;
  bool stopped = false;  // the provider stopped answering: nothing more is sent
  const std::size_t stop_after = std::max<std::size_t>(static_cast<std::size_t>(s.concurrency), 8);

  auto complete = [&] {
    ++done;
    if (progress) progress(done, total);
  };
  auto fail = [&](Job& j, std::string why) {
    AddressResult& r = results[j.index];
    r.status = "failed";
    r.message = std::move(why);
    r.attempts = j.attempts;
    complete();
  };
  auto retry_later = [&](Job& j, long retry_after_s) {
    long delay = s.backoff_ms << std::min(j.attempts - 1, 16);
    if (retry_after_s > 0) delay = std::max(delay, retry_after_s * 1000);
    retries.push({Clock::now() + std::chrono::milliseconds(std::min(delay, kMaxDelayMs)), &j});
  };
  auto may_retry = [&](const Job& j) { return !stopped && j.attempts <= s.retries; };
  auto stop = [&] {
    stopped = true;
    for (; next_fresh < total; ++next_fresh) fail(jobs[next_fresh], "not sent: the provider stopped answering");
    for (; !retries.empty(); retries.pop()) fail(*retries.top().job, "not sent again: the provider stopped answering");
  };

  // Bounded: every address ends after at most 1 + retries attempts, each bounded by the timeout
  // and followed by a back-off of at most kMaxDelayMs.
  while (done < total) {
    // While nothing has been answered and an address has used up its tries, the provider looks
    // unreachable: only what is already under way goes on, and decides it.
    const bool suspect = answered == 0 && lost_in_a_row > 0;
    const auto now = Clock::now();
    while (transfers.running() < static_cast<std::size_t>(s.concurrency)) {
      if (!retries.empty() && retries.top().at <= now) {
        Job* j = retries.top().job;
        retries.pop();
        transfers.start(*j);
      } else if (next_fresh < total && !stopped && !suspect) {
        transfers.start(jobs[next_fresh++]);
      } else {
        break;
      }
    }
    transfers.perform();

    bool finished = false;
    Transfers::Done d;
    while (transfers.next(d)) {
      finished = true;
      Job& j = *d.job;
      AddressResult& r = results[j.index];
      r.attempts = j.attempts;
      if (d.result != CURLE_OK && !j.too_big) {
        // No HTTP answer: refused, reset, TLS failure or timeout.
        if (may_retry(j)) {
          retry_later(j, -1);
          continue;
        }
        fail(j, "no answer after " + attempts_text(j.attempts) + ": " + d.error);
        last_error = d.error;
        if (++lost_in_a_row >= stop_after && answered > 0 && !stopped) stop();
        continue;
      }
      ++answered;
      lost_in_a_row = 0;
      r.http_status = d.http_status;
      if (j.too_big) {
        fail(j, "the provider's answer is larger than 1 MiB");
        continue;
      }
      if (d.http_status == 429 || d.http_status >= 500) {
        if (may_retry(j)) {
          retry_later(j, d.http_status == 429 || d.http_status == 503 ? d.retry_after_s : -1);
          continue;
        }
        fail(j, "the provider answered HTTP " + std::to_string(d.http_status) + " after " + attempts_text(j.attempts));
        continue;
      }
      const Json reply = Json::parse(j.answer, nullptr, false);
      if (d.http_status != 200) {
        const std::string said = reply.is_object() ? text_member(reply, "message") : "";
        fail(j, "the provider answered HTTP " + std::to_string(d.http_status) + (said.empty() ? "" : ": " + said));
        continue;
      }
      if (!reply.is_object()) {
        fail(j, "the provider's answer is not a JSON object");
        continue;
      }
      const std::string status = text_member(reply, "status");
      if (status != "valid" && status != "invalid") {
        fail(j, status.empty() ? "the provider's answer has no verdict"
                               : "the provider's verdict '" + status + "' is neither valid nor invalid");
        continue;
      }
      r.status = status;
      r.message = text_member(reply, "message");
      r.answered_at = utc_now();
      const auto corrected = reply.find("corrected");
      if (corrected != reply.end() && corrected->is_object()) {
        // Only the address fields, as text: anything else in a correction is not ours to store.
        Json fields = Json::object();
        for (const auto& f : address_fields()) {
          const auto it = corrected->find(f);
          if (it != corrected->end() && it->is_string()) fields[f] = *it;
        }
        if (!fields.empty()) r.corrected = std::move(fields);
      }
      complete();
    }
    if (answered == 0 && lost_in_a_row > 0 && transfers.running() == 0 && retries.empty())
      throw Error(ErrorKind::remote, "the provider at '" + url_without_userinfo(s.url) + "' could not be reached: " + last_error,
                  "check the URL, the network and the certificates; nothing was changed");
    if (finished) continue;  // fill the freed slots before waiting

    // Wait for the network, or for the first back-off to end.
    long wait_ms = 100;
    if (!retries.empty()) {
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(retries.top().at - Clock::now()).count();
      wait_ms = std::clamp<long>(static_cast<long>(until), 0, wait_ms);
    }
    if (transfers.running() > 0) {
      transfers.wait(static_cast<int>(wait_ms));
    } else if (wait_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
  }
  return results;
}

std::int64_t record_address_results(Store& store, std::vector<AddressResult>& results, const std::string& command) {
  const Kind& location = kind_by_noun("location");
  Writer w(store, command);
  for (auto& r : results) {
    if (r.status != "valid" && r.status != "invalid") continue;
    const auto current = w.get(location, r.id);
    if (!current) {
      r.status = "failed";
      r.message = "the location was removed while it was being validated; nothing recorded";
      continue;
    }
    // The verdict is about the address that was sent; an address edited meanwhile is not covered.
    if (address_of(*current) != r.address) {
      r.status = "failed";
      r.message = "the address changed while it was being validated; nothing recorded";
      continue;
    }
    Json updated = *current;
    if (r.corrected.is_object()) {
      Json candidate = updated;
      bool differs = false;
      for (const auto& [field, value] : r.corrected.items()) {
        const auto it = candidate.find(field);
        if (value.get_ref<const std::string&>().empty()) {  // "" clears the field
          if (it != candidate.end()) {
            candidate.erase(it);
            differs = true;
          }
        } else if (it == candidate.end() || *it != value) {
          candidate[field] = value;
          differs = true;
        }
      }
      if (differs) {
        Json doc = candidate;
        doc["kind"] = location.name;
        const auto violations = check_schema(location.schema, doc);
        if (violations.empty()) {
          updated = std::move(candidate);
          r.applied = true;
        } else {
          const auto& v = violations.front();
          const std::string why =
              "correction not applied: " + (v.pointer.empty() ? "" : "'" + v.pointer.substr(1) + "' ") + v.message;
          r.message = r.message.empty() ? why : r.message + "; " + why;
        }
      }
    }
    updated["validation_status"] = r.status;
    updated["validated_at"] = r.answered_at.empty() ? utc_now() : r.answered_at;
    w.put(location, updated);
  }
  return w.commit();
}

}  // namespace e911
