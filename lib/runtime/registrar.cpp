// The registrar (RFC 3261 §10.3): bindings of the snapshot's users to their phones.
#include "e911/runtime_registrar.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "e911/durable_file.hpp"
#include "e911/error.hpp"
#include "e911/runtime_auth.hpp"
#include "e911/sip_text.hpp"
#include "e911/sip_uri.hpp"

namespace e911::runtime {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Appends `v` as a JSON string: quotes, backslashes and control characters escaped; bytes
/// that are not UTF-8 (a Call-ID may hold anything) as \u00XX of their value.
void json_string(std::string& out, std::string_view v) {
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x80) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

std::optional<std::int64_t> number(std::string_view text) {
  text = sip::trim(text);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

Registrar::Registrar(std::string path, RegistrarOptions options) : path_(std::move(path)), options_(options) {
  if (path_.empty()) return;
  std::ifstream in(path_);
  if (!in) return;  // no file yet: nobody registered
  try {
    Json doc = Json::parse(in);
    for (const auto& b : doc.at("bindings")) {
      Binding x;
      x.contact = b.at("contact").get<std::string>();
      x.source = sip::Endpoint{b.at("host").get<std::string>(), b.at("port").get<int>(), false};
      x.stream = b.value("transport", "udp") != "udp";
      x.expires = b.at("expires").get<std::int64_t>();
      x.call_id = b.value("call_id", "");
      x.cseq = b.value("cseq", 0U);
      x.q = b.value("q", 1.0F);
      bindings_[b.at("aor").get<std::string>()].push_back(std::move(x));
      ++loaded_;
      ++count_;
    }
  } catch (const std::exception& e) {
    // A damaged file must not keep the runtime from starting (emergency calls do not need
    // bindings): set it aside for a person to look at, and start empty.
    bindings_.clear();
    loaded_ = 0;
    count_ = 0;
    std::error_code ec;
    std::filesystem::rename(path_, path_ + ".bad", ec);
    load_warning_ = "bindings file '" + path_ + "' is damaged (" + e.what() + "); moved to '" + path_ + ".bad', starting with no registrations";
  }
}

std::optional<std::string> Registrar::aor_of(std::string_view uri_text) {
  auto uri = sip::parse_uri(uri_text);
  if (!uri || (uri->scheme != sip::Scheme::sip && uri->scheme != sip::Scheme::sips) || !uri->has_user || uri->user.empty()) return std::nullopt;
  return "sip:" + uri->user + "@" + lower(uri->host);
}

Registrar::Answer Registrar::on_register(const sip::Message& request, const sip::Endpoint& source, bool stream, const Snapshot* snapshot,
                                         const std::vector<std::string>& domains, std::int64_t now, Authenticator* auth) {
  // §10.3 steps 1-5: the domain, the user, and its credentials.
  auto to = sip::parse_name_addr(request.first("To").value_or(""));
  if (!to) return {400, "Bad Request (To)", {}};
  std::optional<std::string> aor = aor_of(to->uri_text);
  if (!aor) return {404, "Not Found (To is not a sip URI with a user)", {}};
  const std::string host = lower(to->uri.host);
  if (std::find(domains.begin(), domains.end(), host) == domains.end()) return {404, "Not Found (domain not served here)", {}};
  if (!snapshot || !snapshot->user(*aor)) return {404, "Not Found (no such user)", {}};
  if (auth)
    if (auto verdict = auth->check(request, source.host, *aor, *snapshot, now); !verdict) return {verdict.status, verdict.reason, verdict.headers};

  const std::string call_id(request.first("Call-ID").value_or(""));
  std::uint32_t cseq = 0;
  {
    std::string_view c = sip::trim(request.first("CSeq").value_or(""));
    c = c.substr(0, c.find_first_of(" \t"));
    std::from_chars(c.data(), c.data() + c.size(), cseq);
  }
  std::optional<std::int64_t> header_expires;
  if (auto e = request.first("Expires")) {
    header_expires = number(*e);
    if (!header_expires) return {400, "Bad Request (Expires)", {}};
  }

  auto& list = bindings_[*aor];
  const std::size_t before = list.size();
  // Every way out below keeps count_ right (the list may have changed before an error).
  struct Recount {
    std::size_t& count;
    const std::vector<Binding>& list;
    std::size_t before;
    ~Recount() { count = count + list.size() - before; }
  };
  std::optional<Recount> recount(Recount{count_, list, before});
  const std::vector<std::string_view> contacts = request.values("Contact");
  bool changed = false;
  if (contacts.size() == 1 && sip::trim(contacts[0]) == "*") {
    // §10.3 step 6: `*` only with Expires: 0, and it removes every binding.
    if (!header_expires || *header_expires != 0) return {400, "Bad Request (Contact: * needs Expires: 0)", {}};
    changed = !list.empty();
    list.clear();
  } else {
    for (std::string_view value : contacts) {
      if (sip::trim(value) == "*") return {400, "Bad Request (Contact: * with other contacts)", {}};
      auto c = sip::parse_name_addr(value);
      if (!c || (c->uri.scheme != sip::Scheme::sip && c->uri.scheme != sip::Scheme::sips)) return {400, "Bad Request (Contact)", {}};
      std::int64_t expires = header_expires.value_or(options_.default_expires);
      float q = 1.0F;
      for (const auto& p : c->params) {
        if (sip::iequals(p.name, "expires")) {
          auto v = number(p.value);
          if (!v) return {400, "Bad Request (Contact expires)", {}};
          expires = *v;
        } else if (sip::iequals(p.name, "q")) {
          try {
            q = std::stof(p.value);
          } catch (...) {
            return {400, "Bad Request (Contact q)", {}};
          }
        }
      }
      if (expires > 0 && expires < options_.min_expires)
        return {423, "Interval Too Brief", {{"Min-Expires", std::to_string(options_.min_expires)}}};
      expires = std::min(expires, options_.max_expires);
      auto same = std::find_if(list.begin(), list.end(), [&](const Binding& b) { return b.contact == c->uri_text; });
      if (same != list.end() && same->call_id == call_id && cseq <= same->cseq)
        return {500, "Server Internal Error (CSeq out of order)", {{"Retry-After", "5"}}};
      if (expires == 0) {
        if (same != list.end()) {
          list.erase(same);
          changed = true;
        }
        continue;
      }
      Binding b{c->uri_text, source, stream, now + expires, call_id, cseq, q};
      if (same != list.end()) {
        *same = std::move(b);
      } else {
        std::erase_if(list, [&](const Binding& x) { return x.expires <= now; });
        if (list.size() >= options_.max_contacts) return {403, "Forbidden (too many contacts for this user)", {}};
        list.push_back(std::move(b));
      }
      changed = true;
    }
  }
  if (changed) dirty_ = true;
  Answer answer;
  std::erase_if(list, [&](const Binding& x) { return x.expires <= now; });
  for (const Binding& b : list)
    answer.headers.emplace_back("Contact", "<" + b.contact + ">;expires=" + std::to_string(b.expires - now));
  recount.reset();  // before the list may go
  if (list.empty()) bindings_.erase(*aor);
  return answer;
}

std::vector<Binding> Registrar::lookup(const std::string& aor, std::int64_t now) const {
  std::vector<Binding> out;
  const std::string key = aor_of(aor).value_or(aor);
  auto it = bindings_.find(key);
  if (it == bindings_.end()) return out;
  for (const Binding& b : it->second)
    if (b.expires > now) out.push_back(b);
  std::stable_sort(out.begin(), out.end(), [](const Binding& a, const Binding& b) { return a.q > b.q; });
  return out;
}



std::size_t Registrar::sweep(std::int64_t now) {
  std::size_t n = 0;
  for (auto it = bindings_.begin(); it != bindings_.end();) {
    n += std::erase_if(it->second, [&](const Binding& b) { return b.expires <= now; });
    it = it->second.empty() ? bindings_.erase(it) : std::next(it);
  }
  if (n) dirty_ = true;
  count_ -= n;
  return n;
}

Json Registrar::to_json(std::int64_t now) const {
  std::vector<const std::string*> aors;
  aors.reserve(bindings_.size());
  for (const auto& [aor, list] : bindings_) aors.push_back(&aor);
  std::sort(aors.begin(), aors.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  Json out = Json::array();
  for (const std::string* aor : aors)
    for (const Binding& b : bindings_.at(*aor)) {
      if (b.expires <= now) continue;
      out.push_back({{"aor", *aor},
                     {"contact", b.contact},
                     {"source", (b.source.host.find(':') != std::string::npos ? "[" + b.source.host + "]" : b.source.host) + ":" +
                                    std::to_string(b.source.port)},
                     {"transport", b.stream ? "tcp" : "udp"},
                     {"expires_in", b.expires - now},
                     {"call_id", b.call_id}});
    }
  return out;
}

void Registrar::save() {
  dirty_ = false;
  if (path_.empty()) return;
  // Written by hand, not through Json: 100,000 bindings every second would otherwise take the
  // loop's time from calls.
  std::string text;
  text.reserve(64 + size() * 160);
  text += "{\"format\":1,\"bindings\":[\n";
  bool first = true;
  for (const auto& [aor, list] : bindings_)
    for (const Binding& b : list) {
      if (!first) text += ",\n";
      first = false;
      text += "{\"aor\":";
      json_string(text, aor);
      text += ",\"contact\":";
      json_string(text, b.contact);
      text += ",\"host\":";
      json_string(text, b.source.host);
      text += ",\"port\":" + std::to_string(b.source.port) + ",\"transport\":\"" + (b.stream ? "tcp" : "udp") + "\",\"expires\":" +
              std::to_string(b.expires) + ",\"call_id\":";
      json_string(text, b.call_id);
      char q[32];
      std::snprintf(q, sizeof q, "%.3f", static_cast<double>(b.q));
      text += ",\"cseq\":" + std::to_string(b.cseq) + ",\"q\":" + q + "}";
    }
  text += "\n]}\n";
  // Private to the runtime's user (contacts, Call-IDs: who is where), mode 0600 whatever the
  // umask; whole or absent, never flushed (saved once a second: a lost second costs a REGISTER).
  try {
    write_file_durably(path_, {text}, false);
  } catch (const Error& e) {
    dirty_ = true;
    throw Error(ErrorKind::failure, std::string("cannot write the bindings: ") + e.what(), "check the folder exists and the runtime may write it");
  }
}

}  // namespace e911::runtime
