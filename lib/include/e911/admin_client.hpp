#pragma once
// A client of a runtime's admin HTTP API (runtime_admin.hpp), for `e911ctl runtime`.
#include <cstdint>
#include <string>

#include "e911/json.hpp"

namespace e911 {

struct AdminClient {
  std::string url;         ///< the API's base, such as http://127.0.0.1:5080 (a trailing / is ignored)
  std::string token;       ///< sent as Authorization: Bearer
  std::string token_file;  ///< where the token came from, named when the runtime refuses it
  long timeout_ms = 5000;
  std::string ca_file;     ///< PEM bundle trusted for an https:// runtime's certificate; empty: the system's

  /// Sends `method` `path` (with its query, such as "/v1/calls?limit=5") and returns the JSON
  /// answer. Throws Error(usage) when `url` is not http:// or https://, or is http:// to an
  /// address other than loopback (the token would cross the network in the clear); Error(remote) when no
  /// answer came (refused, timed out), the hint naming --runtime; Error(failure) when the runtime
  /// refuses the token (401), does not know the route (404: an older runtime) or answers another
  /// error (with the runtime's message and hint), or when a success is not JSON.
  Json call(const std::string& method, const std::string& path) const;
};

/// What a runtime did when asked to load a published snapshot.
struct RuntimeReload {
  bool reached = false;   ///< the runtime answered the reload
  bool took = false;      ///< it now serves exactly the published snapshot (revision and checksum)
  Json revision;          ///< the revision it serves afterwards; null when none or unknown
  std::string checksum;   ///< the checksum of the snapshot it serves, when it said
  std::string path;       ///< the snapshot file it reads, when it said
  std::string message;    ///< what happened, as a sentence for people
};

/// Makes the runtime behind `client` load its snapshot file again (POST /v1/reload, waiting up to
/// `reload_timeout_ms` for a large file to load), then reads what it serves (GET /v1/status) and
/// compares it with the snapshot just published (`revision`, `checksum`, written to `path`). A
/// runtime that cannot be reached, refuses the token, refuses the file or serves another one
/// (e.g. it reads another path) did not take it; every such case is in the answer, never thrown.
RuntimeReload reload_runtime(const AdminClient& client, std::int64_t revision, const std::string& checksum, const std::string& path,
                             long reload_timeout_ms = 30000);

}  // namespace e911
