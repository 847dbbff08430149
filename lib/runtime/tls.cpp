// The runtime's TLS contexts and peer checks (see runtime_tls.hpp), on OpenSSL through asio.
#include "e911/runtime_tls.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <fstream>

#include "e911/error.hpp"

namespace e911::runtime {

namespace {

// The first OpenSSL error of the queue as text, and the queue emptied.
std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return ERR_reason_error_string(e) ? ERR_reason_error_string(e) : text;
}

void readable(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::failure, "cannot read the " + what + " '" + path + "'", "check the path and that the runtime's user may read it");
}

void load_identity(SSL_CTX* ctx, const TlsSettings& s) {
  if (SSL_CTX_use_certificate_chain_file(ctx, s.certificate.c_str()) != 1)
    throw Error(ErrorKind::failure, "the TLS certificate '" + s.certificate + "' cannot be used: " + openssl_error(),
                "give a PEM file: the certificate first, then its intermediates");
  if (SSL_CTX_use_PrivateKey_file(ctx, s.private_key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw Error(ErrorKind::failure, "the TLS private key '" + s.private_key + "' cannot be used: " + openssl_error(),
                "give the PEM key of the certificate, unencrypted, mode 0600");
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw Error(ErrorKind::failure, "the TLS private key '" + s.private_key + "' does not match the certificate '" + s.certificate + "'",
                "give the key the certificate was issued for");
}

void load_trust(SSL_CTX* ctx, const std::string& ca_file) {
  if (ca_file.empty()) {
    SSL_CTX_set_default_verify_paths(ctx);
    return;
  }
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1)
    throw Error(ErrorKind::failure, "the TLS CA file '" + ca_file + "' cannot be used: " + openssl_error(),
                "give a PEM bundle of the certificates of the authorities trusted");
}

}  // namespace

TlsContexts::TlsContexts(const TlsSettings& s) {
  if (s.certificate.empty() != s.private_key.empty())
    throw Error(ErrorKind::usage, s.certificate.empty() ? "a TLS private key is given without its certificate" : "a TLS certificate is given without its private key",
                "give both tls_certificate and tls_private_key (--tls-certificate, --tls-private-key)");
  if (s.verify_clients && s.ca_file.empty())
    throw Error(ErrorKind::usage, "tls_verify_clients needs tls_ca_file", "give the CA bundle that signs the phones' certificates");
  for (const auto& [path, what] : {std::pair{s.certificate, "TLS certificate"}, {s.private_key, "TLS private key"}, {s.ca_file, "TLS CA file"}})
    if (!path.empty()) readable(path, what);
  for (auto* c : {&server_, &client_}) {
    SSL_CTX* ctx = c->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Compression is an oracle for secrets (CRIME); renegotiation is not needed by SIP.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  }
  // A trunk is always verified; a certificate of ours is shown to one that asks (mutual TLS).
  load_trust(client_.native_handle(), s.ca_file);
  client_.set_verify_mode(asio::ssl::verify_peer);
  if (!s.certificate.empty()) {
    load_identity(server_.native_handle(), s);
    load_identity(client_.native_handle(), s);
    can_serve_ = true;
  }
  if (s.verify_clients) {
    load_trust(server_.native_handle(), s.ca_file);
    server_.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    SSL_CTX_set_client_CA_list(server_.native_handle(), SSL_load_client_CA_file(s.ca_file.c_str()));
  } else {
    server_.set_verify_mode(asio::ssl::verify_none);
  }
}

bool expect_peer(SSL* ssl, const std::string& name) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  std::string host = name;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  // An IP literal is matched against the certificate's addresses only, never sent as SNI (RFC 6066 §3).
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1) return true;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1 && SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
}

std::string handshake_failure(SSL* ssl, const std::error_code& ec) {
  const long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  std::string text = ec.message();
  return text.empty() ? "handshake failed" : text;
}

}  // namespace e911::runtime
