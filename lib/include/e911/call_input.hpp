#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "e911/routing.hpp"

namespace e911::routing {

/// The largest PIDF-LO a call may bring, in bytes: the routing runtime's limit for one SIP message
/// body (64 KiB, the most a SIP message over UDP can carry). A dry run takes no more than a live call.
inline constexpr std::size_t kMaxPidfBytes = 64 * 1024;

/// The longest caller URI, dial string, access point, chassis, port or trunk name a call may
/// bring, in bytes.
inline constexpr std::size_t kMaxFactBytes = 1024;

/// Refuses a PIDF-LO (RFC 4119) a call brings unless it is UTF-8 (declaring no other encoding),
/// at most kMaxPidfBytes long, well-formed and namespace-well-formed XML without a DOCTYPE (so no entity is ever declared,
/// expanded or fetched) whose root element is `presence` in `urn:ietf:params:xml:ns:pidf`.
/// `name` says where it came from in messages. Throws Error(invalid) with what failed and where.
void check_pidf(std::string_view pidf, const std::string& name);

/// Why a PIDF-LO a caller sent cannot be passed on as it is.
struct PidfFault {
  std::string why;      ///< what check_pidf finds wrong, naming it "the caller's PIDF-LO"
  bool markup = false;  ///< pidf_declares_markup: never passed on, even when nothing else locates the caller
};

/// check_pidf of the PIDF-LO a call brought, without throwing: nullopt when it passes. decide()
/// asks it of every call that brings one, so a dry run and a live call judge it alike.
std::optional<PidfFault> caller_pidf_fault(std::string_view pidf);

/// True when a PIDF-LO declares markup: "<!" and a letter (a DOCTYPE, an ENTITY), the way in of
/// external entities and entity bombs, which no PIDF-LO needs; or when it may declare some this
/// byte scan cannot see: it holds a NUL byte, starts with a UTF-16 or UTF-32 byte-order mark or
/// EBCDIC's "<?xm", or its XML declaration names an encoding other than UTF-8. Such a PIDF-LO is
/// never passed on: the runtime routes the call on the LIS's location instead.
bool pidf_declares_markup(std::string_view pidf);

/// The encoding the XML declaration at the start of `pidf` names (after a UTF-8 byte-order mark),
/// as written; empty when there is no declaration or it names none.
std::string_view declared_encoding(std::string_view pidf);

/// The source address of a call as subnets match it: an IPv4 address as written, an IPv6 address
/// as written, except that an IPv4-mapped IPv6 address (::ffff:10.1.2.3) becomes its IPv4 address
/// (the caller is on the IPv4 subnet; a dual-stack socket reports it so). Throws Error(usage) when
/// `ip` is not one IPv4 or IPv6 address (no prefix length, port, brackets or zone).
std::string normalize_source_ip(std::string_view ip);

/// Refuses a dial string unless it is digits, `*`, `#` and `+` (at least one), or a URI
/// (`scheme:` then URI characters: tel:, sip:...;user=dialstring, urn:service:sos). Throws
/// Error(usage).
void check_dialled(std::string_view dialled);

/// Checks what a call brings from outside before it is decided, so a dry run refuses what a live
/// call would: the caller is a URI, the dial string as check_dialled, the source address as
/// normalize_source_ip (and normalised in place), the BSSID, chassis, port and trunk names UTF-8
/// without control characters, every one at most kMaxFactBytes.
/// An unknown caller or an address on no subnet is not an error: that is a real call. Nor is a
/// PIDF-LO that fails check_pidf: a live call brings it, and decide() says what becomes of it
/// (caller_pidf_fault). Throws Error(usage).
void check_call_facts(CallFacts& facts);

}  // namespace e911::routing
