#include "e911/address_validation.hpp"

#include <curl/curl.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <thread>

#include "e911/error.hpp"
#include "e911/schema_check.hpp"
#include "e911/text.hpp"

namespace e911 {

namespace {

const char* const kAddressFields[] = {"location", "company_name", "house_number", "house_number_suffix", "pre_directional", "street_name",
                                      "street_suffix", "post_directional", "city", "state", "postal_code", "country"};

using Clock = std::chrono::steady_clock;

struct Job {
  std::size_t index;  // into the results
  std::string body;
  int attempts = 0;
  Clock::time_point ready;
  CURL* easy = nullptr;
  std::string response;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {0};
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// libcurl and the thirty libraries it pulls in are loaded only by the one command that talks to
// the provider: linked, they cost every other command most of its start-up time.
struct Curl {
  void* lib = nullptr;
  CURLcode (*global_init)(long);
  CURLM* (*multi_init)();
  CURLMcode (*multi_cleanup)(CURLM*);
  CURLMcode (*multi_add_handle)(CURLM*, CURL*);
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
  CURLMcode (*multi_perform)(CURLM*, int*);
  CURLMcode (*multi_poll)(CURLM*, curl_waitfd*, unsigned int, int, int*);
  CURLMsg* (*multi_info_read)(CURLM*, int*);
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);

  template <typename F>
  void bind(F& fn, const char* name) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
    if (!fn) throw Error(ErrorKind::failure, std::string("libcurl lacks '") + name + "'", "install libcurl4 7.68 or later");
  }

  Curl() {
    lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) throw Error(ErrorKind::failure, "cannot load libcurl: " + std::string(dlerror()), "install it: apt-get install libcurl4");
    bind(global_init, "curl_global_init");
    bind(multi_init, "curl_multi_init");
    bind(multi_cleanup, "curl_multi_cleanup");
    bind(multi_add_handle, "curl_multi_add_handle");
    bind(multi_remove_handle, "curl_multi_remove_handle");
    bind(multi_perform, "curl_multi_perform");
    bind(multi_poll, "curl_multi_poll");
    bind(multi_info_read, "curl_multi_info_read");
    bind(easy_init, "curl_easy_init");
    bind(easy_cleanup, "curl_easy_cleanup");
    bind(easy_setopt, "curl_easy_setopt");
    bind(easy_getinfo, "curl_easy_getinfo");
    bind(easy_strerror, "curl_easy_strerror");
    bind(slist_append, "curl_slist_append");
    bind(slist_free_all, "curl_slist_free_all");
    global_init(CURL_GLOBAL_DEFAULT);
  }
};

}  // namespace

void ProviderSettings::from_environment() {
  if (url.empty()) url = env("E911_PROVIDER_URL");
  if (client_cert.empty()) client_cert = env("E911_PROVIDER_CERT");
  if (client_key.empty()) client_key = env("E911_PROVIDER_KEY");
  if (ca_bundle.empty()) ca_bundle = env("E911_PROVIDER_CA");
  if (!env("E911_PROVIDER_TIMEOUT_MS").empty()) timeout_ms = std::atol(env("E911_PROVIDER_TIMEOUT_MS").c_str());
  if (!env("E911_PROVIDER_RETRIES").empty()) retries = std::atoi(env("E911_PROVIDER_RETRIES").c_str());
  if (!env("E911_PROVIDER_CONCURRENCY").empty()) concurrency = std::atoi(env("E911_PROVIDER_CONCURRENCY").c_str());
  if (url.empty()) throw Error(ErrorKind::usage, "no provider endpoint", "give --url or set E911_PROVIDER_URL");
  if (concurrency < 1) concurrency = 1;
  if (retries < 0) retries = 0;
}

std::vector<AddressResult> validate_addresses(const ProviderSettings& s, const std::vector<Json>& locations) {
  static Curl curl;  // loaded on first use, kept for the life of the process
  std::vector<AddressResult> results(locations.size());
  std::deque<Job> jobs;  // deque: a running job's address must not move
  for (std::size_t i = 0; i < locations.size(); ++i) {
    Json address = Json::object();
    for (const char* f : kAddressFields)
      if (locations[i].contains(f)) address[f] = locations[i][f];
    results[i].id = locations[i].value("id", "");
    Job j;
    j.index = i;
    j.body = Json{{"schema", "e911ctl.msag-request/v1"}, {"id", results[i].id}, {"address", address}}.dump();
    j.ready = Clock::now();
    jobs.push_back(std::move(j));
  }
  CURLM* multi = curl.multi_init();
  std::deque<Job*> waiting;
  for (auto& j : jobs) waiting.push_back(&j);
  std::size_t running = 0, answered = 0;
  std::string last_transport_error;

  auto start = [&](Job& j) {
    j.response.clear();
    j.error[0] = 0;
    j.easy = curl.easy_init();
    j.headers = curl.slist_append(nullptr, "Content-Type: application/json");
    j.headers = curl.slist_append(j.headers, "Accept: application/json");
    curl.easy_setopt(j.easy, CURLOPT_URL, s.url.c_str());
    curl.easy_setopt(j.easy, CURLOPT_POSTFIELDS, j.body.c_str());
    curl.easy_setopt(j.easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(j.body.size()));
    curl.easy_setopt(j.easy, CURLOPT_HTTPHEADER, j.headers);
    curl.easy_setopt(j.easy, CURLOPT_TIMEOUT_MS, s.timeout_ms);
    curl.easy_setopt(j.easy, CURLOPT_CONNECTTIMEOUT_MS, s.timeout_ms);
    curl.easy_setopt(j.easy, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(j.easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl.easy_setopt(j.easy, CURLOPT_PROTOCOLS_STR, "https,http");
    curl.easy_setopt(j.easy, CURLOPT_WRITEFUNCTION, collect);
    curl.easy_setopt(j.easy, CURLOPT_WRITEDATA, &j.response);
    curl.easy_setopt(j.easy, CURLOPT_ERRORBUFFER, j.error);
    curl.easy_setopt(j.easy, CURLOPT_PRIVATE, &j);
    if (!s.ca_bundle.empty()) curl.easy_setopt(j.easy, CURLOPT_CAINFO, s.ca_bundle.c_str());
    if (!s.client_cert.empty()) curl.easy_setopt(j.easy, CURLOPT_SSLCERT, s.client_cert.c_str());
    if (!s.client_key.empty()) curl.easy_setopt(j.easy, CURLOPT_SSLKEY, s.client_key.c_str());
    ++j.attempts;
    curl.multi_add_handle(multi, j.easy);
    ++running;
  };
  auto finish = [&](Job& j) {
    curl.multi_remove_handle(multi, j.easy);
    curl.easy_cleanup(j.easy);
    curl.slist_free_all(j.headers);
    j.easy = nullptr;
    j.headers = nullptr;
    --running;
  };
  auto retry_or_fail = [&](Job& j, const std::string& why) {
    AddressResult& r = results[j.index];
    r.attempts = j.attempts;
    if (j.attempts <= s.retries) {
      j.ready = Clock::now() + std::chrono::milliseconds(s.backoff_ms << (j.attempts - 1));
      waiting.push_back(&j);
    } else {
      r.status = "failed";
      r.message = why;
    }
  };

  // Bounded: every job ends after at most 1 + retries attempts, each bounded by the timeout.
  while (!waiting.empty() || running > 0) {
    const auto now = Clock::now();
    for (std::size_t n = waiting.size(); n > 0 && running < static_cast<std::size_t>(s.concurrency); --n) {
      Job* j = waiting.front();
      waiting.pop_front();
      if (j->ready <= now) start(*j);
      else waiting.push_back(j);
    }
    int still = 0;
    curl.multi_perform(multi, &still);
    int left = 0;
    while (CURLMsg* msg = curl.multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Job* j = nullptr;
      curl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &j);
      long code = 0;
      curl.easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      const CURLcode rc = msg->data.result;
      const std::string transport = j->error[0] ? j->error : curl.easy_strerror(rc);
      finish(*j);
      AddressResult& r = results[j->index];
      if (rc != CURLE_OK) {
        last_transport_error = transport;
        retry_or_fail(*j, "no answer: " + transport);
        continue;
      }
      ++answered;
      if (code == 429 || code >= 500) {
        retry_or_fail(*j, "the provider answered HTTP " + std::to_string(code));
        continue;
      }
      r.attempts = j->attempts;
      const Json reply = Json::parse(j->response, nullptr, false);
      const std::string status = reply.is_object() ? reply.value("status", "") : "";
      if (code != 200 || (status != "valid" && status != "invalid")) {
        r.status = "failed";
        r.message = "the provider answered HTTP " + std::to_string(code) + (status.empty() ? " without a verdict" : " with status '" + status + "'");
        continue;
      }
      r.status = status;
      r.message = reply.value("message", "");
      if (reply.contains("corrected") && reply["corrected"].is_object()) r.corrected = reply["corrected"];
    }
    if (running > 0) {
      curl.multi_poll(multi, nullptr, 0, 50, nullptr);
    } else if (!waiting.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // only back-off timers are pending
    }
  }
  curl.multi_cleanup(multi);
  if (!locations.empty() && answered == 0)
    throw Error(ErrorKind::remote, "the provider at '" + s.url + "' could not be reached: " + last_transport_error,
                "check the URL, the network and the certificates; nothing was changed");
  return results;
}

std::int64_t record_address_results(Store& store, const std::vector<AddressResult>& results, const std::string& command) {
  const Kind& location = kind_by_noun("location");
  Writer w(store, command);
  const std::string now = utc_now();
  for (const auto& r : results) {
    if (r.status != "valid" && r.status != "invalid") continue;
    auto obj = w.get(location, r.id);
    if (!obj) continue;
    Json updated = *obj;
    if (r.corrected.is_object())
      for (const char* f : kAddressFields)
        if (r.corrected.contains(f) && r.corrected[f].is_string()) updated[f] = r.corrected[f];
    // A correction that breaks the field limits is not stored; the verdict still is.
    Json doc = updated;
    doc["kind"] = location.name;
    if (check_schema(location.schema, doc).empty()) *obj = std::move(updated);
    (*obj)["validation_status"] = r.status;
    (*obj)["validated_at"] = now;
    w.put(location, *obj);
  }
  return w.commit();
}

}  // namespace e911
