#pragma once
#include <string>
#include <vector>

#include "e911/json.hpp"
#include "e911/store.hpp"

namespace e911 {

/// How to reach the provider's MSAG validation service. Each setting comes from a flag, else
/// an environment variable (E911_PROVIDER_URL, _CERT, _KEY, _CA, _TIMEOUT_MS, _RETRIES,
/// _CONCURRENCY), else its default.
struct ProviderSettings {
  std::string url;          ///< https://… endpoint that takes one address per POST
  std::string client_cert;  ///< PEM client certificate, when the provider wants mutual TLS
  std::string client_key;   ///< PEM key of the client certificate
  std::string ca_bundle;    ///< PEM CA bundle to verify the provider (default: the system's)
  long timeout_ms = 5000;   ///< per request
  int retries = 2;          ///< after the first try, on a transport error, 429 or 5xx
  int concurrency = 16;     ///< requests in flight
  long backoff_ms = 200;    ///< first retry delay; doubles each time

  /// Fills unset fields from the environment; throws Error(usage) without a URL.
  void from_environment();
};

/// The provider's verdict on one address.
struct AddressResult {
  std::string id;
  std::string status;  ///< valid, invalid, or failed (no verdict after retries)
  Json corrected;      ///< fields the provider corrected, or null
  std::string message; ///< the provider's message, or why it failed
  int attempts = 0;
};

/// Sends each location's address to the provider (JSON over HTTPS, several in flight) and
/// returns a verdict per id, in the order given. Throws Error(remote) when the provider could not
/// be reached at all (every request failed without an HTTP answer).
///
/// Request body: {"schema": "e911ctl.msag-request/v1", "id": ID, "address": {location,
/// company_name, house_number, house_number_suffix, pre_directional, street_name, street_suffix,
/// post_directional, city, state, postal_code, country}}.
/// Response: 200 with {"status": "valid"|"invalid", "corrected": {same fields}, "message": "..."}.
std::vector<AddressResult> validate_addresses(const ProviderSettings& settings, const std::vector<Json>& locations);

/// Records verdicts in one revision: validation_status, validated_at, and corrected fields.
/// Failed verdicts change nothing. Returns the revision (0 when nothing changed).
std::int64_t record_address_results(Store& store, const std::vector<AddressResult>& results, const std::string& command);

}  // namespace e911
