// One HTTP exchange on a libcurl easy handle (see http_client.hpp).
#include "e911/http_client.hpp"

#include <memory>

#include "curl.hpp"
#include "e911/error.hpp"

namespace e911 {

namespace {

struct Sink {
  std::string* body;
  std::size_t limit;
  bool too_big = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  if (sink->body->size() + size * n > sink->limit) {
    sink->too_big = true;
    return 0;  // makes libcurl abort the transfer
  }
  sink->body->append(data, size * n);
  return size * n;
}

}  // namespace

HttpAnswer http_exchange(const HttpRequest& request) {
  net::Curl& c = net::curl();
  const std::unique_ptr<CURL, void (*)(CURL*)> easy(c.easy_init(), c.easy_cleanup);
  if (!easy) throw Error(ErrorKind::failure, "cannot initialise libcurl");
  curl_slist* raw_headers = nullptr;
  for (const auto& h : request.headers) raw_headers = c.slist_append(raw_headers, h.c_str());
  const std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(raw_headers, c.slist_free_all);

  HttpAnswer answer;
  Sink sink{&answer.body, request.max_answer_bytes};
  char error[CURL_ERROR_SIZE] = {0};
  const std::string user_agent = std::string("e911ctl/") + E911_VERSION;
  CURL* h = easy.get();
  c.easy_setopt(h, CURLOPT_URL, request.url.c_str());
  c.easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (!request.body.empty() || request.method == "POST") {
    c.easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
    c.easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  if (headers) c.easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  c.easy_setopt(h, CURLOPT_USERAGENT, user_agent.c_str());
  c.easy_setopt(h, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, request.timeout_ms);
  c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  c.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  c.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  c.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!request.ca_file.empty()) c.easy_setopt(h, CURLOPT_CAINFO, request.ca_file.c_str());
  c.easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  c.easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(&sink));
  c.easy_setopt(h, CURLOPT_ERRORBUFFER, error);

  const CURLcode result = c.easy_perform(h);
  if (sink.too_big) {
    answer.body.clear();
    answer.error = "the answer is larger than " + std::to_string(request.max_answer_bytes >> 20) + " MiB";
    return answer;
  }
  if (result != CURLE_OK) {
    answer.body.clear();
    answer.error = error[0] ? error : c.easy_strerror(result);
    return answer;
  }
  c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer.status);
  const char* type = nullptr;
  if (c.easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) answer.content_type = type;
  return answer;
}

}  // namespace e911
