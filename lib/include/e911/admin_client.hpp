#pragma once
// A client of a runtime's admin HTTP API (runtime_admin.hpp), for `e911ctl runtime`.
#include <string>

#include "e911/json.hpp"

namespace e911 {

struct AdminClient {
  std::string url;         ///< the API's base, such as http://127.0.0.1:5080 (a trailing / is ignored)
  std::string token;       ///< sent as Authorization: Bearer
  std::string token_file;  ///< where the token came from, named when the runtime refuses it
  long timeout_ms = 5000;

  /// Sends `method` `path` (with its query, such as "/v1/calls?limit=5") and returns the JSON
  /// answer. Throws Error(usage) when `url` is not http:// or https://; Error(remote) when no
  /// answer came (refused, timed out), the hint naming --runtime; Error(failure) when the runtime
  /// refuses the token (401), does not know the route (404: an older runtime) or answers another
  /// error (with the runtime's message and hint), or when a success is not JSON.
  Json call(const std::string& method, const std::string& path) const;
};

}  // namespace e911
