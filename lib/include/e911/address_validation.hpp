#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "e911/json.hpp"
#include "e911/store.hpp"

namespace e911 {

/// How to reach the provider's MSAG validation service. A numeric field left at kUnset and an
/// empty text field are filled by resolve() from the environment, else from the default.
struct ProviderSettings {
  static constexpr long kUnset = -1;

  std::string url;          ///< https://… endpoint that takes one address per POST (E911_PROVIDER_URL)
  std::string client_cert;  ///< PEM client certificate for mutual TLS (E911_PROVIDER_CERT)
  std::string client_key;   ///< PEM key of the client certificate (E911_PROVIDER_KEY)
  std::string ca_bundle;    ///< PEM CA bundle that verifies the provider (E911_PROVIDER_CA; default: the system's)
  long timeout_ms = kUnset;   ///< whole request, connection included (E911_PROVIDER_TIMEOUT_MS; 5000)
  long retries = kUnset;      ///< tries after the first, on no answer, 429 or 5xx (E911_PROVIDER_RETRIES; 2)
  long concurrency = kUnset;  ///< requests in flight (E911_PROVIDER_CONCURRENCY; 16)
  long backoff_ms = 200;      ///< delay before the first retry; doubles with each further retry

  /// Fills unset fields from the environment, then the defaults, and checks the result. Throws
  /// Error(usage) without a URL, for a URL that is not https:// (TLS is always verified), a number
  /// out of range (timeout 1..600000 ms, retries 0..10, concurrency 1..256), a key without a
  /// certificate, or a certificate, key or CA file that cannot be read.
  void resolve();
};

/// The 12 Lync civic address fields, in the order of the location schema and the request.
const std::vector<std::string>& address_fields();

/// The provider's verdict on one address.
struct AddressResult {
  std::string id;
  Json address;              ///< the address fields sent (only those set)
  std::string status;        ///< valid, invalid, or failed (no usable verdict)
  Json corrected;            ///< the provider's corrected address fields, or null
  bool applied = false;      ///< set by record_address_results: the correction was written
  std::string message;       ///< the provider's message, or why there is no verdict / no correction
  std::string answered_at;   ///< RFC 3339 UTC time of the verdict
  int attempts = 0;          ///< requests sent for this address
  long http_status = 0;      ///< of the last answer, 0 when none came
};

/// Called as verdicts come in: addresses done so far, and the total.
using ValidationProgress = std::function<void(std::size_t done, std::size_t total)>;

/// Sends each location's address to the provider over HTTPS (libcurl multi, `concurrency`
/// requests in flight on reused connections) and returns one result per location, in the order
/// given. Nothing is written. `settings` must have been resolve()d.
///
/// Request: POST, Content-Type application/json,
///   {"schema": "e911ctl.msag-request/v1", "id": ID, "address": {FIELD: TEXT, …}}
/// with the address_fields() that the location sets. Answer: HTTP 200,
///   {"status": "valid"|"invalid", "corrected": {FIELD: TEXT, …}, "message": TEXT}
/// where "corrected" and "message" are optional. No answer (connection, TLS or timeout), HTTP 429
/// and 5xx are retried after the back-off (or a 429/503 Retry-After, at most 10 s); any other
/// answer is final: a non-200 status or a body without a verdict makes the address failed.
///
/// Throws Error(remote) when the provider cannot be reached: no request had an HTTP answer and
/// an address used up its retries (no new address is sent meanwhile, so an unreachable provider
/// is found after one address's tries). When answers came but the provider then stops answering
/// (as many addresses in a row as are in flight, at least 8, used up their retries with no
/// answer), the addresses not yet done are failed without being sent.
std::vector<AddressResult> validate_addresses(const ProviderSettings& settings, const std::vector<Json>& locations,
                                              const ValidationProgress& progress = {});

/// Records the verdicts in one revision: for every valid or invalid result, validation_status,
/// validated_at, and the corrected fields when they keep to the location schema (then `applied`
/// is set; else `message` says why not; "" in a correction clears the field). A result whose
/// location was removed, or whose address changed since it was sent, is not recorded and becomes
/// failed. Failed results change nothing. Returns the revision, 0 when nothing changed. Throws
/// Error(store) when the database fails.
std::int64_t record_address_results(Store& store, std::vector<AddressResult>& results, const std::string& command);

}  // namespace e911
