// The registrar (RFC 3261 §10.3): bindings of the snapshot's users to their phones.
#include "e911/runtime_registrar.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
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

/// RFC 3261 §20.10: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
std::optional<float> qvalue(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  if (text.size() == 1) return text[0] == '1' ? 1.0F : 0.0F;
  if (text[1] != '.') return std::nullopt;
  int thousandths = 0;
  for (std::size_t i = 2, scale = 100; i < text.size(); ++i, scale /= 10) {
    if (text[i] < '0' || text[i] > '9' || (text[0] == '1' && text[i] != '0')) return std::nullopt;
    thousandths += (text[i] - '0') * static_cast<int>(scale);
  }
  return text[0] == '1' ? 1.0F : static_cast<float>(thousandths) / 1000.0F;
}

}  // namespace

Registrar::Registrar(std::string path, RegistrarOptions options) : path_(std::move(path)), options_(options) {
  if (path_.empty()) return;
  std::ifstream in(path_);
  if (!in) return;  // no file yet: nobody registered
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // A damaged file must not keep the runtime from starting (emergency calls do not need
  // bindings), and one damaged entry must not cost the others (the security desk's among them):
  // each entry is restored on its own, and a bad one is dropped and told.
  std::size_t dropped = 0;
  std::string first_problem;
  auto restore = [&](const Json& entry, const std::string& where) {
    try {
      auto [aor, binding] = restored_binding(entry);
      bindings_[aor].push_back(std::move(binding));
      ++loaded_;
      ++count_;
    } catch (const std::exception& e) {
      if (dropped++ == 0) first_problem = where + ": " + e.what();
    }
  };
  Json doc = Json::parse(text, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("bindings") && doc["bindings"].is_array()) {
    std::size_t i = 0;
    for (const Json& entry : doc["bindings"]) restore(entry, "entry " + std::to_string(++i));
  } else if (doc.is_discarded()) {
    // Not JSON as a whole (a bare nan that an older runtime wrote for a q, a write cut short):
    // save() writes one entry a line, so each line that holds one is restored alone.
    std::istringstream lines(text);
    std::string line;
    for (std::size_t n = 1; std::getline(lines, line); ++n) {
      std::string_view v = sip::trim(line);
      if (v.empty() || v.starts_with("{\"format\"") || v == "]}") continue;
      if (v.back() == ',') v.remove_suffix(1);
      Json entry = Json::parse(v, nullptr, false);
      if (entry.is_discarded()) {
        if (dropped++ == 0) first_problem = "line " + std::to_string(n) + ": not JSON";
        continue;
      }
      restore(entry, "line " + std::to_string(n));
    }
  } else {
    ++dropped;
    first_problem = "no \"bindings\" list";
  }
  if (dropped == 0) return;
  // Set the file aside for a person to look at; the next save() rewrites it without the bad entries.
  dirty_ = true;
  std::error_code ec;
  std::filesystem::copy_file(path_, path_ + ".bad", std::filesystem::copy_options::overwrite_existing, ec);
  load_warning_ = "bindings file '" + path_ + "' is damaged (" + first_problem + "): " + std::to_string(dropped) + " damaged entr" +
                  (dropped == 1 ? "y" : "ies") + " dropped, " + std::to_string(loaded_) + " binding" + (loaded_ == 1 ? "" : "s") +
                  " restored; copied to '" + path_ + ".bad'";
}

std::pair<std::string, Binding> Registrar::restored_binding(const Json& entry) {
  Binding x;
  x.contact = entry.at("contact").get<std::string>();
  x.source = sip::Endpoint{entry.at("host").get<std::string>(), entry.at("port").get<int>(), false};
  x.stream = entry.value("transport", "udp") != "udp";
  x.expires = entry.at("expires").get<std::int64_t>();
  x.call_id = entry.value("call_id", "");
  x.cseq = entry.value("cseq", 0U);
  x.authenticated = entry.value("authenticated", false);
  const double q = entry.value("q", 1.0);
  if (!(q >= 0 && q <= 1)) throw Error(ErrorKind::invalid, "q " + entry.at("q").dump() + " is not between 0 and 1");
  x.q = static_cast<float>(q);
  if (!sip::parse_uri(x.contact)) throw Error(ErrorKind::invalid, "contact is not a URI");
  if (x.source.port < 1 || x.source.port > 65535) throw Error(ErrorKind::invalid, "port " + std::to_string(x.source.port) + " is out of range");
  const std::string aor = entry.at("aor").get<std::string>();
  if (!aor_of(aor)) throw Error(ErrorKind::invalid, "aor is not a sip URI with a user");
  return {aor, std::move(x)};
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
  bool authenticated = false;
  if (auth) {
    const Authenticator::Verdict verdict = auth->check(request, source.host, *aor, *snapshot, now);
    if (!verdict) return {verdict.status, verdict.reason, verdict.headers};
    authenticated = verdict.authenticated;
  }

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
  // A security desk's bindings that nobody authenticated (made before a policy named the user,
  // or before it had credentials) would take its emergency MESSAGEs: the desk proving itself
  // ends them.
  if (authenticated && snapshot->notification_target(*aor))
    changed = std::erase_if(list, [](const Binding& b) { return !b.authenticated; }) > 0;
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
          // A q outside the grammar (nan, inf, 2, -1) would be written to the bindings file.
          auto v = qvalue(p.value);
          if (!v) return {400, "Bad Request (Contact q)", {}};
          q = *v;
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
      Binding b{c->uri_text, source, stream, now + expires, call_id, cseq, q, authenticated};
      if (same != list.end()) {
        *same = std::move(b);
      } else {
        std::erase_if(list, [&](const Binding& x) { return x.expires <= now; });
        if (list.size() >= options_.max_contacts) {
          // Contacts anyone could register never lock out a phone that proved who it is.
          auto oldest = authenticated ? std::find_if(list.begin(), list.end(), [](const Binding& x) { return !x.authenticated; }) : list.end();
          if (oldest == list.end()) return {403, "Forbidden (too many contacts for this user)", {}};
          list.erase(oldest);
        }
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
                     {"call_id", b.call_id},
                     {"authenticated", b.authenticated}});
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
      text += ",\"cseq\":" + std::to_string(b.cseq) + ",\"q\":" + q + ",\"authenticated\":" + (b.authenticated ? "true" : "false") + "}";
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
