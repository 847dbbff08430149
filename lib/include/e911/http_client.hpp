#pragma once
// One HTTP request at a time over libcurl (loaded at first use): the admin client's transport.
#include <cstddef>
#include <string>
#include <vector>

namespace e911 {

struct HttpRequest {
  std::string method = "GET";
  std::string url;                   ///< http:// or https://; no other scheme is followed
  std::vector<std::string> headers;  ///< "Name: value"
  std::string body;                  ///< sent when not empty, or when the method is POST
  long timeout_ms = 5000;            ///< the whole exchange, connection included
  std::string ca_file;               ///< PEM bundle trusted for an https:// server; empty: the system's
  std::size_t max_answer_bytes = 16u << 20;
};

struct HttpAnswer {
  long status = 0;           ///< the HTTP status; 0 when no answer came
  std::string content_type;
  std::string body;
  std::string error;         ///< why no answer came (refused, timeout, TLS...), when status is 0
};

/// Sends `request` and waits for its answer. Redirects are not followed; TLS is verified. A
/// transport failure is an answer with status 0 and `error`; an answer larger than
/// max_answer_bytes is status 0 too. Throws Error(failure) only when libcurl cannot be loaded.
HttpAnswer http_exchange(const HttpRequest& request);

}  // namespace e911
