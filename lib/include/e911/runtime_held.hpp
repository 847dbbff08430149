#pragma once
// The runtime's location service for clients: HELD (RFC 5985) over plain HTTP, on a listener of
// its own beside the admin API (`e911ctl serve --location-service ADDR:PORT`). A client POSTs a
// `locationRequest` (application/held+xml) to / or /held and gets a `locationResponse` holding
// the PIDF-LO of where the LIS places it, built by sip::build_pidf as for an emergency call.
//
// Where the client is: the TCP peer address of the request (never a header, which a client could
// forge); for a client in `held_trusted_clients` only, the device identity the request carries
// (RFC 6155 `device`) instead, matched by
// routing::locate_element in DOMAIN.md §2's precedence: access point, switch port, switch,
// subnet. Identifiers beyond RFC 6155's are defined in the namespace kHeldLyncIdNamespace:
//
//   <device xmlns="urn:ietf:params:xml:ns:geopriv:held:id" xmlns:e="urn:e911ctl:params:xml:ns:held:id">
//     <ip v="4">10.10.1.20</ip>           RFC 6155: the address the subnet is looked up by
//     <mac>00-1A-2B-3C-4D-99</mac>       RFC 6155: read and checked; this LIS locates by no MAC
//     <e:bssid>00-1A-2B-3C-4D-01</e:bssid>   the Wi-Fi access point the client is associated with
//     <e:chassis>00-1A-2B-3C-00-01</e:chassis> <e:port>Gi1/0/1</e:port>   LLDP switch and port
//   </device>
//
// Answers (HELD errors are HELD documents in a 200, as RFC 5985 §9 and its examples do; HTTP
// statuses only for what is not HELD):
//   located                        200 locationResponse (civic; locationType any or civic)
//   no element and no subnet       200 error notLocatable
//   a device named (an <ip> other than the peer's, a BSSID, a chassis or port) by a client not
//   in held_trusted_clients        200 error notLocatable (RFC 5985 §4: the requester is the Target)
//   only geodetic / locationURI    200 error cannotProvideLiType when exact="true"; else civic
//   no snapshot in service         200 error generalLisError
//   not well-formed XML, a DOCTYPE or an entity declaration (refused before parsing)
//                                  200 error xmlError
//   not a locationRequest          200 error unsupportedMessage
//   an identifier badly written    200 error badIdentifier (RFC 6155)
//   method other than POST         405 (Allow: POST); another path 404; a body over 64 KiB 413;
//   a Content-Type other than application/held+xml or application/xml 415
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "e911/runtime_auth.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/snapshot.hpp"

namespace e911::runtime::http {
class Server;
}

namespace e911::runtime {

class SnapshotSlot;

inline constexpr const char* kHeldNamespace = "urn:ietf:params:xml:ns:geopriv:held";
inline constexpr const char* kHeldIdNamespace = "urn:ietf:params:xml:ns:geopriv:held:id";
/// e911ctl's device identifiers (bssid, chassis, port), an extension RFC 6155 §3 allows.
inline constexpr const char* kHeldLyncIdNamespace = "urn:e911ctl:params:xml:ns:held:id";
/// The largest request body read.
inline constexpr std::size_t kHeldMaxRequestBytes = 64 * 1024;

/// A locationRequest, read.
struct HeldRequest {
  std::vector<std::string> location_types;  ///< as sent; empty means "any"
  bool exact = false;
  std::string ip;       ///< RFC 6155 <ip>, normalised (an IPv4-mapped IPv6 address as IPv4)
  std::string mac;      ///< RFC 6155 <mac>
  std::string bssid;    ///< e911ctl <bssid>
  std::string chassis;  ///< e911ctl <chassis>
  std::string port;     ///< e911ctl <port>, with <chassis>
};

/// A request read, or the HELD error code and message that answer it.
struct HeldParse {
  HeldRequest request;
  std::string error;    ///< empty: read; else xmlError, unsupportedMessage or badIdentifier
  std::string message;  ///< why, for the error's <message>
};

/// Reads a HELD locationRequest. Never throws for bad input: a body over kHeldMaxRequestBytes,
/// not UTF-8, with a DOCTYPE or an entity declaration (refused before any parsing, so no entity
/// is ever expanded or fetched), or not well-formed is xmlError; another document element or one
/// outside the HELD namespace is unsupportedMessage; an identifier badly written (an IP address
/// that is not one, a MAC or BSSID that is not six hex pairs, a port without a chassis) is
/// badIdentifier. Unknown elements elsewhere are ignored, as RFC 5985 §6 asks.
HeldParse parse_held_request(std::string_view body);

/// A HELD answer: the application/held+xml body (a locationResponse or an error) and its outcome.
struct HeldAnswer {
  std::string body;
  LocationOutcome outcome = LocationOutcome::bad_request;
};

/// Answers the locationRequest `body` from `peer_ip` (the TCP peer address) on `snap` (nullptr:
/// no snapshot in service). `timestamp` (RFC 3339) goes into the PIDF-LO. Only when
/// `may_name_devices` (the client is trusted to locate others) do the request's identifiers
/// count; otherwise a request naming a device by an <ip> other than `peer_ip`, a BSSID, a chassis
/// or a port is answered notLocatable, outcome identifier_refused, whatever that device is: the
/// answer says nothing of other devices. Pure: no I/O.
HeldAnswer answer_held(const Snapshot* snap, std::string_view body, const std::string& peer_ip, const std::string& timestamp, bool may_name_devices);

/// Who may ask the location service for what.
struct HeldAccess {
  /// Clients that may locate devices other than themselves by identifier (held_trusted_clients).
  std::vector<Cidr> trusted_clients;
  /// Told of requests refused for naming a device: at most once per 10 s, with the client of the
  /// latest and how many were refused since the last call. Called on the server's thread.
  std::function<void(const std::string& client, std::uint64_t refused)> on_refused;
};

/// The location service, serving from construction to stop() or destruction on threads of its
/// own: it reads the snapshot through `slot` (a pointer copy per request) and never waits for the
/// SIP loop.
class HeldServer {
 public:
  /// Binds `address` (an IP literal, never a name) and `port` (0 picks a free one). `metrics`
  /// may be null. Throws Error(usage) for an address that is not an IP literal, Error(failure)
  /// when it cannot bind.
  HeldServer(const std::string& address, unsigned short port, const SnapshotSlot& slot, Metrics* metrics, HeldAccess access = {});
  ~HeldServer();
  HeldServer(const HeldServer&) = delete;
  HeldServer& operator=(const HeldServer&) = delete;

  unsigned short port() const { return port_; }
  /// Stops serving and joins; requests under way are cut. Idempotent.
  void stop();

 private:
  std::unique_ptr<http::Server> server_;
  unsigned short port_ = 0;
};

}  // namespace e911::runtime
