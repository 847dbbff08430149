#include "e911/call_input.hpp"

#include <arpa/inet.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "e911/diagnostic.hpp"
#include "e911/error.hpp"

namespace e911::routing {

namespace {

constexpr const char* kPidfNs = "urn:ietf:params:xml:ns:pidf";

// Where `text` stops being UTF-8 or holds a control character (tabs and line ends allowed when
// `lines`), else npos.
std::size_t bad_text_at(std::string_view text, bool lines) {
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_char(text, i, cp);
    if (n == 0) return i;
    const bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
    if (control && !(lines && (cp == '\t' || cp == '\n' || cp == '\r'))) return i;
    i += n;
  }
  return std::string_view::npos;
}

void check_text(std::string_view value, const char* option) {
  if (value.size() > kMaxFactBytes)
    throw Error(ErrorKind::usage, std::string(option) + " is " + std::to_string(value.size()) + " bytes long '" + excerpt(value) + "'",
                "give at most " + std::to_string(kMaxFactBytes) + " bytes");
  if (bad_text_at(value, false) != std::string_view::npos)
    throw Error(ErrorKind::usage, std::string(option) + " is not UTF-8 text without control characters '" + excerpt(value) + "'",
                "give it as UTF-8 text, without tabs, line ends or other control characters");
}

bool uri_char(unsigned char c) {
  return std::isalnum(c) || std::strchr("-._~:/?#[]@!$&'()*+,;=", c) != nullptr;
}

// RFC 3986: scheme ":" then at least one character, each unreserved, reserved or %HH.
bool is_uri(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size() || !std::isalpha(static_cast<unsigned char>(s[0])))
    return false;
  for (std::size_t i = 1; i < colon; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  for (std::size_t i = colon + 1; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) || !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return false;
      i += 2;
    } else if (c >= 0x80 || c == 0 || !uri_char(c)) {
      return false;
    }
  }
  return true;
}

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

std::string trimmed(const char* s) {
  std::string m = s ? s : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// "UTF-8" as an XML declaration may write it (encoding names are case-insensitive).
bool utf8_encoding_name(std::string_view name) {
  if (name.size() != 5 && name.size() != 4) return false;
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "utf-8" || lower == "utf8";
}

}  // namespace

std::string_view declared_encoding(std::string_view pidf) {
  if (pidf.rfind("\xEF\xBB\xBF", 0) == 0) pidf.remove_prefix(3);
  if (pidf.rfind("<?xml", 0) != 0) return {};
  const std::string_view decl = pidf.substr(0, pidf.find("?>"));
  const auto at = decl.find("encoding");
  if (at == std::string_view::npos) return {};
  std::size_t i = at + 8;
  const auto space = [&] {
    while (i < decl.size() && (decl[i] == ' ' || decl[i] == '\t' || decl[i] == '\r' || decl[i] == '\n')) ++i;
  };
  space();
  if (i >= decl.size() || decl[i] != '=') return {};
  ++i;
  space();
  if (i >= decl.size() || (decl[i] != '"' && decl[i] != '\'')) return {};
  const auto close = decl.find(decl[i], i + 1);
  if (close == std::string_view::npos) return {};
  return decl.substr(i + 1, close - i - 1);
}

bool pidf_declares_markup(std::string_view pidf) {
  for (std::size_t at = pidf.find("<!"); at != std::string_view::npos; at = pidf.find("<!", at + 2)) {
    const char next = at + 2 < pidf.size() ? pidf[at + 2] : '\0';
    if ((next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z')) return true;
  }
  // The scan above reads ASCII bytes. A document in UTF-16 or UTF-32 (a NUL byte, a byte-order
  // mark), in EBCDIC, or declaring another encoding (UTF-7 writes "<!" as "+ADwAIQ-") is read by
  // the provider's parser in that encoding, where a DOCTYPE is bytes this scan never sees.
  if (pidf.find('\0') != std::string_view::npos) return true;
  if (pidf.rfind("\xFE\xFF", 0) == 0 || pidf.rfind("\xFF\xFE", 0) == 0 || pidf.rfind("\x4C\x6F\xA7\x94", 0) == 0) return true;
  const std::string_view encoding = declared_encoding(pidf);
  return !encoding.empty() && !utf8_encoding_name(encoding);
}

namespace {

// What check_pidf finds wrong with `pidf`, named `what` in the message ("PIDF-LO 'file.xml'"), or
// nullopt: returned, not thrown, for decide(), which asks it of every call that brings a PIDF-LO.
std::optional<Error> pidf_error(std::string_view pidf, const std::string& what, const std::string& name) {
  if (pidf.size() > kMaxPidfBytes)
    return Error(ErrorKind::invalid, what + " is " + std::to_string(pidf.size()) + " bytes, more than the " + std::to_string(kMaxPidfBytes) + " a SIP message body may hold",
                "a client's PIDF-LO is a few kilobytes; give the location document alone");
  if (const auto at = bad_text_at(pidf, true); at != std::string_view::npos) {
    const bool utf8 = [&] { char32_t cp; return utf8_char(pidf, at, cp) != 0; }();
    return Error(ErrorKind::invalid, what + (utf8 ? " holds a control character" : " is not UTF-8") + " at byte " + std::to_string(at) + " '" +
                                        excerpt(pidf.substr(at > 20 ? at - 20 : 0, 40)) + "'",
                "a PIDF-LO is XML text in UTF-8 (RFC 4119)");
  }
  // The document is read as UTF-8 below, whatever it declares; the provider's parser honours the
  // declaration, so one naming another encoding would be read there as other text than here.
  if (const std::string_view encoding = declared_encoding(pidf); !encoding.empty() && !utf8_encoding_name(encoding))
    return Error(ErrorKind::invalid, what + " declares the encoding '" + excerpt(encoding) + "'",
                "a PIDF-LO is XML text in UTF-8 (RFC 4119); declare encoding=\"UTF-8\" or none");
  // A DOCTYPE is where entities are declared: refusing it keeps entity expansion (billion laughs)
  // and external entities (file or network reads) out before the parser starts.
  if (pidf_declares_markup(pidf))
    return Error(ErrorKind::invalid, what + " has a DOCTYPE", "a PIDF-LO needs none; remove the <!DOCTYPE ...> declaration");
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return Error(ErrorKind::failure, "cannot parse " + what + ": out of memory");
  // NONET: never fetch anything; no NOENT or DTDLOAD: never expand or load an entity. The
  // document is read as UTF-8 whatever its declaration says: that is what was checked above.
  std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadMemory(ctxt.get(), pidf.data(), static_cast<int>(pidf.size()), nullptr, "UTF-8",
                                                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc || !ctxt->wellFormed) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e ? trimmed(e->message) : "";
    if (why.empty()) why = "cannot be parsed";
    if (why.rfind("Excessive depth", 0) == 0) why = "elements are nested more than 256 deep";
    return Error(ErrorKind::invalid, what + " is not well-formed XML" + (e && e->line > 0 ? " at line " + std::to_string(e->line) : "") + ": " + excerpt(why, 200),
                "'xmllint --noout " + excerpt(name) + "' shows every error");
  }
  // Decided on the parsed document too, not on bytes alone: whatever declared a DTD is refused.
  if (doc->intSubset || doc->extSubset) return Error(ErrorKind::invalid, what + " has a DOCTYPE", "a PIDF-LO needs none; remove the <!DOCTYPE ...> declaration");
  if (!ctxt->nsWellFormed) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    return Error(ErrorKind::invalid, what + " is not namespace-well-formed XML" + (e && e->line > 0 ? " at line " + std::to_string(e->line) : "") +
                                        (e ? ": " + excerpt(trimmed(e->message), 200) : std::string()),
                "declare every prefix it uses, as xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\"");
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  const bool presence = root && root->name && std::strcmp(reinterpret_cast<const char*>(root->name), "presence") == 0;
  const bool in_ns = root && root->ns && root->ns->href && std::strcmp(reinterpret_cast<const char*>(root->ns->href), kPidfNs) == 0;
  if (!presence || !in_ns) {
    const std::string got = root && root->name ? reinterpret_cast<const char*>(root->name) : "";
    const std::string ns = root && root->ns && root->ns->href ? reinterpret_cast<const char*>(root->ns->href) : "";
    return Error(ErrorKind::invalid, what + " is not a PIDF document: its root is '" + excerpt(got) + "'" + (ns.empty() ? " in no namespace" : " in namespace '" + excerpt(ns) + "'"),
                std::string("a PIDF-LO's root is <presence xmlns=\"") + kPidfNs + "\"> (RFC 3863, RFC 4119)");
  }
  return std::nullopt;
}

}  // namespace

void check_pidf(std::string_view pidf, const std::string& name) {
  if (auto e = pidf_error(pidf, "PIDF-LO '" + excerpt(name) + "'", name)) throw std::move(*e);
}

std::optional<PidfFault> caller_pidf_fault(std::string_view pidf) {
  auto e = pidf_error(pidf, "the caller's PIDF-LO", "the PIDF-LO");
  if (!e) return std::nullopt;
  return PidfFault{e->what(), pidf_declares_markup(pidf)};
}

std::string normalize_source_ip(std::string_view ip) {
  const std::string hint = "give one address, as 10.10.1.20 or 2001:db8::20";
  if (ip.size() >= INET6_ADDRSTRLEN || ip.find('\0') != std::string_view::npos)
    throw Error(ErrorKind::usage, "--ip '" + excerpt(ip) + "' is not an IPv4 or IPv6 address", hint);
  const std::string text(ip);
  unsigned char a[16];
  if (text.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, text.c_str(), a) != 1) throw Error(ErrorKind::usage, "--ip '" + excerpt(ip) + "' is not an IPv4 or IPv6 address", hint);
    return text;
  }
  if (inet_pton(AF_INET6, text.c_str(), a) != 1) throw Error(ErrorKind::usage, "--ip '" + excerpt(ip) + "' is not an IPv4 or IPv6 address", hint);
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(a, mapped, sizeof mapped) != 0) return text;
  char v4[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, a + 12, v4, sizeof v4);
  return v4;
}

void check_dialled(std::string_view dialled) {
  const auto plain = [](char c) { return (c >= '0' && c <= '9') || c == '+' || c == '*' || c == '#'; };
  if (!dialled.empty() && dialled.size() <= kMaxFactBytes && std::all_of(dialled.begin(), dialled.end(), plain)) return;
  if (dialled.size() <= kMaxFactBytes && is_uri(dialled)) return;
  check_text(dialled, "--dial");
  throw Error(ErrorKind::usage, "--dial '" + excerpt(dialled) + "' is neither digits nor a URI",
              "dial digits, '*', '#' and '+' (911, +14255550100), or a Request-URI such as tel:+911, "
              "sip:911@contoso.example;user=dialstring or urn:service:sos");
}

void check_call_facts(CallFacts& f) {
  check_text(f.caller, "--from");
  if (!is_uri(f.caller))
    throw Error(ErrorKind::usage, "--from '" + excerpt(f.caller) + "' is not a URI", "give the caller's SIP URI, as sip:alice@contoso.example");
  check_dialled(f.dialled);
  if (!f.source_ip.empty()) f.source_ip = normalize_source_ip(f.source_ip);
  check_text(f.bssid, "--bssid");
  check_text(f.chassis_id, "--chassis");
  check_text(f.port_id, "--port");
  for (const auto& t : f.trunks_down) check_text(t, "--trunk-down");
}

}  // namespace e911::routing
