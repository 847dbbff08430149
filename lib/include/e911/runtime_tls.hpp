#pragma once
// SIP over TLS for the runtime's transports (RFC 3261 §26.3.1, RFC 5922): the OpenSSL contexts
// made once at start from the serve settings, and the check of a peer's certificate against the
// address or name the runtime meant to reach. TLS 1.2 at least; no name is ever resolved.
#include <asio/ssl.hpp>
#include <string>

namespace e911::runtime {

/// The TLS files of `e911ctl serve` (serve.yaml tls_*, or --tls-* options).
struct TlsSettings {
  std::string certificate;      ///< PEM chain shown on TLS listeners, and to a trunk that asks for one (mutual TLS)
  std::string private_key;      ///< PEM key of `certificate`
  std::string ca_file;          ///< PEM bundle trusted for trunks' and phones' certificates; empty: the system's
  bool verify_clients = false;  ///< TLS listeners require a client certificate signed by `ca_file`
};

/// The two OpenSSL contexts of the runtime: one that accepts (listeners), one that connects
/// (trunks). Made once, then only read by the loop that owns the transports.
class TlsContexts {
 public:
  /// Loads the files of `s`. Throws Error(usage) when only one of certificate and key is given,
  /// or verify_clients without ca_file; Error(failure) naming the file when one cannot be read,
  /// is not PEM, or the key does not match the certificate.
  explicit TlsContexts(const TlsSettings& s);
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  /// True when a certificate and key are loaded: TLS listeners may be opened.
  bool can_serve() const { return can_serve_; }
  asio::ssl::context& server() { return server_; }
  asio::ssl::context& client() { return client_; }

 private:
  asio::ssl::context server_{asio::ssl::context::tls_server};
  asio::ssl::context client_{asio::ssl::context::tls_client};
  bool can_serve_ = false;
};

/// Makes the client handshake on `ssl` check the peer's certificate for `name`: an IP literal
/// must be one of its iPAddress names, a host name one of its dNSName names (RFC 6125; the
/// name also goes out as SNI). Returns false when `name` cannot be set.
bool expect_peer(SSL* ssl, const std::string& name);

/// Why a handshake failed, for a log line or a call record: the verification result when the
/// certificate was refused ("certificate verify failed: self-signed certificate"), else `ec`'s
/// message.
std::string handshake_failure(SSL* ssl, const std::error_code& ec);

}  // namespace e911::runtime
