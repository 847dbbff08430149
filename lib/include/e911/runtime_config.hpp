#pragma once
// The settings of `e911ctl serve`: a YAML file checked against schemas/serve.schema.json, each
// setting with its default and a note of where its value came from. Free of asio, so the CLI and
// the tests read it without the transports.
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace e911::runtime {

/// One place SIP is served: a transport, an IP address (never a name) and a port.
struct ListenSpec {
  std::string transport = "both";  ///< "udp", "tcp", "both" or "tls"
  std::string address;             ///< an IP literal as inet_ntop writes it: "127.0.0.1", "::1"
  unsigned short port = 5060;      ///< 0 picks a free port

  /// "127.0.0.1:5060", "[::1]:5060": what runtime::parse_listen takes.
  std::string endpoint() const;
  /// As parse_listen_spec takes it back: "udp:127.0.0.1:5060", "[::1]:5060" for both.
  std::string text() const;
  bool operator==(const ListenSpec&) const = default;
};

/// Every setting of `e911ctl serve`, defaults filled in.
struct ServeConfig {
  std::vector<ListenSpec> listen{ListenSpec{"both", "127.0.0.1", 5060}};
  std::vector<std::string> domains;  ///< Request-URI hosts that are "us"; empty: the domains of the snapshot's users
  std::string snapshot;              ///< empty: the CLI's <db>.snapshot
  std::string bindings;              ///< empty: "<snapshot>.bindings" (see bindings_path)
  std::string admin = "127.0.0.1:5080";  ///< ADDR:PORT of the admin API; empty: no admin API
  std::string token_file = "/etc/e911ctl/admin.token";
  std::string admin_certificate, admin_private_key;  ///< PEM files: the admin API over HTTPS; required off loopback
  // SIP over TLS (runtime_tls.hpp): tls: listeners, trunks with transport tls.
  std::string tls_certificate, tls_private_key;  ///< PEM files; both or neither
  std::string tls_ca_file;                       ///< trusted for trunks and client certificates; empty: the system's
  bool tls_verify_clients = false;               ///< tls: listeners require a client certificate
  std::string location_service;  ///< ADDR:PORT of the HELD location service (runtime_held.hpp); empty: off
  /// CIDRs (each checked by parse_cidr) of the HELD clients that may locate devices other than
  /// themselves by identifier (RFC 6155); every other client is located by its own address only.
  std::vector<std::string> held_trusted_clients;
  // Webhook and e-mail deliveries to the security desk (runtime_notify.hpp).
  std::string smtp_url;               ///< smtp://HOST[:PORT] (STARTTLS) or smtps://...; empty: e-mail targets fail
  std::string smtp_from;              ///< the sender of those e-mails
  std::string smtp_credentials_file;  ///< "user:password", mode 0600; empty: no AUTH
  bool smtp_starttls = true;          ///< smtp:// must upgrade with STARTTLS (false: plain, loopback servers only)
  std::string notify_ca_file;         ///< PEM bundle trusted for webhooks and SMTP; empty: the system's
  unsigned threads = 1;
  std::chrono::seconds idle_timeout{300}, ring_timeout{180}, drain_timeout{30};
  std::chrono::seconds dialog_keepalive{60};  ///< OPTIONS in a connected call's dialogs this often; 0: never
  std::chrono::minutes callback_window{30};  ///< ELIN -> last caller, for PSAP callbacks
  std::size_t max_connections = 1024, max_message = 65536, max_headers = 256;
  // What one source may hold (runtime_limits.hpp); 0: no limit. Emergency, test and PSAP callback
  // calls are never refused by a limit.
  std::size_t max_connections_per_source = 64;  ///< TCP and TLS connections open from one address, on each listening address
  std::size_t max_calls_per_source = 100;       ///< ordinary and internal calls in progress from one address (trunks' hosts not limited)
  std::size_t max_calls = 10000;                ///< calls in progress beyond which ordinary and internal calls get 503
  std::size_t max_transactions_per_source = 1000;  ///< server transactions of requests outside calls from one address
  std::size_t max_transactions = 50000;         ///< the same from all addresses together
  std::string log_format = "auto";  ///< auto | json | text
  // Digest authentication (runtime_auth.hpp).
  std::string auth = "optional";               ///< optional | required
  std::vector<std::string> trusted_networks;   ///< CIDRs, each checked by parse_cidr
  std::chrono::seconds auth_nonce_lifetime{300};
  /// For every key above (the YAML names: "listen", "idle_timeout"...), where its value came
  /// from: "default", "serve.yaml:3:9" (the value in the file), or the option that set it, such
  /// as "--listen", when the CLI overrides a value.
  std::map<std::string, std::string> origin;

  /// The bindings file: `bindings`, else the snapshot path with ".bindings" added.
  std::string bindings_path() const;
};

/// The defaults, every origin "default".
ServeConfig default_serve_config();

/// Reads the YAML settings file at `path`. A key missing from the file keeps its default. Throws
/// DiagnosticError (kind invalid, exit 3) with every problem found, each at its file:line:col
/// with the source to quote: YAML syntax E001, not a mapping or more than one document E002,
/// an unknown key E004 (with the closest known one), a key given twice E006, a value of the wrong
/// type or out of range, a listen or admin address that is not an IP address and port, or a
/// trusted network that is not CIDR, E100.
/// Throws Error(failure) when the file cannot be read.
ServeConfig load_serve_config(const std::string& path);

/// Parses a place to listen: "udp:127.0.0.1:5060", "tcp:[::1]:5061", "tls:10.0.0.5:5061", or
/// "127.0.0.1:5060" for UDP and TCP both. The address must be an IP literal (IPv6 in brackets, no zone); a host name is
/// refused, as the runtime never resolves names. The port is 0 to 65535. Throws Error(usage) with
/// a message that quotes `text` and says what is wrong.
ListenSpec parse_listen_spec(const std::string& text);

/// Parses the admin API address: "127.0.0.1:5080" or "[::1]:5080", an IP literal and a port;
/// throws Error(usage) as parse_listen_spec does.
ListenSpec parse_admin_address(const std::string& text);

/// Parses the location service's address ("10.10.0.5:8080", "[::]:8080") as parse_admin_address
/// does, with messages that name the location service.
ListenSpec parse_location_service_address(const std::string& text);

}  // namespace e911::runtime
