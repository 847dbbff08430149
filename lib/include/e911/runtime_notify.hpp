#pragma once
// Security-desk notifications beyond SIP (issue 13): webhooks (HTTPS POST of JSON) and e-mail
// (SMTP), delivered through libcurl on a thread of their own so that they can never delay a call.
//
// One worker thread drives every delivery at once on a curl multi handle: a webhook that never
// answers holds only its own transfer, while the others (and their retries) go on beside it.
//
// A webhook gets the call's facts as JSON, "schema": "e911ctl.notification/v1"
// (schemas/output/notification.schema.json), with Content-Type: application/json. An answer 2xx
// is delivered; 429, 5xx and transport failures are tried again after a backoff; any other answer
// (3xx included: redirects are never followed) fails at once. Certificates are always verified
// (peer and host name); plain http:// is taken only to a loopback address.
//
// An e-mail is a text/plain message through the configured SMTP server, one SMTP transaction per
// recipient, with the subject "EMERGENCY CALL: <name> <callback> at <location>" ("TEST CALL: ..."
// for a test call). Transport failures and 4xx replies are tried again; a 5xx reply fails at once.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "e911/json.hpp"
#include "e911/snapshot.hpp"

namespace e911::runtime {

class Metrics;

/// What the desk is told of one emergency call.
struct NotifyFacts {
  std::string call_id;
  std::string time;           ///< when the call began, RFC 3339 UTC
  std::string caller_uri;     ///< the caller's SIP URI
  std::string caller_name;    ///< display name; may be empty
  std::string callback;       ///< the callback number (the caller's line, or an ELIN)
  Civic location;             ///< the civic address sent to the PSAP; empty fields are unknown
  std::string location_text;  ///< the same address as one line, for subjects and lists
  std::string method;         ///< how it was located (PIDF-LO method: LIS, 802.11, Default...)
  std::string policy;         ///< the location policy that applied
  std::string route, trunk;   ///< the route and trunk the call left by
  bool test = false;          ///< a test call (urn:service:test.sos, the policy's test number)
};

enum class NotifyKind { webhook, email };
/// "webhook" or "email".
const char* to_string(NotifyKind k);

/// One place to tell: a webhook URL (https://, or http:// to a loopback address) or an e-mail address.
struct NotifyTarget {
  NotifyKind kind = NotifyKind::webhook;
  std::string address;
};

/// Why `target` cannot be delivered to (a bad URL or scheme, plain http:// to a host that is not
/// loopback, a malformed e-mail address), lowercase with the subject quoted; empty when it can.
/// For checking configuration early: the notifier checks again and fails such a target at once.
std::string target_problem(const NotifyTarget& target);

enum class DeliveryResult { ok, failed, dropped };
/// "ok", "failed" or "dropped".
const char* to_string(DeliveryResult r);

/// How one target's delivery ended.
struct DeliveryOutcome {
  std::string call_id;
  std::size_t index = 0;      ///< the target's position in the list given to submit()
  NotifyKind kind = NotifyKind::webhook;
  std::string target;         ///< the address, a password or query in a URL replaced by "***"
  DeliveryResult result = DeliveryResult::failed;
  int attempts = 0;           ///< tries made; 0 when dropped or refused before trying
  long status = 0;            ///< the last HTTP status or SMTP reply code; 0 when none came
  std::string detail;         ///< unless ok: why (curl's error, the SMTP server's reply, "queue full")
  std::chrono::milliseconds elapsed{0};  ///< from submit() to this outcome, retries included

  /// {"kind", "target", "outcome", "attempts", "status"?, "detail"?, "elapsed_ms"}, for the call record.
  Json to_json() const;
};

/// Settings of the notifier; the defaults suit a desk on the enterprise network.
struct NotifierConfig {
  std::chrono::milliseconds connect_timeout{2000};  ///< per attempt, to connect (TLS included)
  std::chrono::milliseconds total_timeout{5000};    ///< per attempt, the whole exchange
  int attempts = 3;                                 ///< tries per target, at least 1
  std::chrono::milliseconds backoff{500};           ///< wait before the 2nd try, doubled for each next one
  std::string ca_file;  ///< PEM bundle trusted instead of the system's (a private CA); empty: the system's
  std::string smtp_url;       ///< smtp://HOST[:PORT] (STARTTLS) or smtps://HOST[:PORT]; empty: e-mail fails
  std::string smtp_from;      ///< the envelope and header sender, e.g. e911@contoso.example
  std::string smtp_credentials_file;  ///< "user:password" on one line, mode 0600; empty: no AUTH
  /// smtp:// must upgrade with STARTTLS; false allows plain SMTP, only to a loopback server.
  bool smtp_starttls = true;
  std::size_t queue_size = 256;  ///< deliveries accepted and not yet ended; beyond it they are dropped
};

/// Called once per target with its outcome, on the notifier's own thread (never the caller of
/// submit()), one outcome at a time. It must be quick and must not call the notifier: post the
/// outcome to your own loop.
using OutcomeCallback = std::function<void(DeliveryOutcome)>;

/// Delivers notifications on its own thread from construction to stop() or destruction.
class Notifier {
 public:
  /// Checks `config` and starts the worker. Throws Error(invalid) for a setting out of range, an
  /// SMTP URL of another scheme, plain SMTP to a host that is not loopback, or a sender that is
  /// not an e-mail address; Error(failure) when the CA file cannot be read, the credentials file
  /// cannot be read or is open to group or others, or libcurl cannot be loaded. `metrics` (may be
  /// null) counts every outcome.
  Notifier(NotifierConfig config, OutcomeCallback on_outcome, Metrics* metrics = nullptr);
  /// stop() with no grace.
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  /// Queues one delivery per target and returns at once, never blocking on the network or the
  /// worker. Targets beyond the queue's room are dropped: each gets a "dropped" outcome through
  /// the callback. Returns how many were accepted; 0 after stop(), when nothing is reported.
  std::size_t submit(const NotifyFacts& facts, const std::vector<NotifyTarget>& targets);

  /// Takes no more deliveries, lets those under way (and their retries) finish for at most
  /// `grace`, then ends the rest as failed ("notifier stopped", with the last try's failure if
  /// any) and joins the worker. Idempotent; the first call's grace counts.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  /// The JSON body a webhook receives for `facts` (schema e911ctl.notification/v1).
  static Json webhook_body(const NotifyFacts& facts);
  /// The e-mail's subject for `facts`, before any RFC 2047 encoding.
  static std::string email_subject(const NotifyFacts& facts);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace e911::runtime
