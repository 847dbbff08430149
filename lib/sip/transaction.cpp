#include "e911/sip_transaction.hpp"

#include <algorithm>
#include <cctype>

#include "e911/sip_wire.hpp"
#include "e911/sip_text.hpp"

namespace e911::sip {
namespace {

using Kind = Action::Kind;

Action send(std::string bytes) { return Action{Kind::send, std::move(bytes)}; }
Action start_timer(Timer t, Duration d) { return Action{Kind::start_timer, {}, t, d}; }
Action stop_timer(Timer t) { return Action{Kind::stop_timer, {}, t}; }
Action to_tu(const Message& m) { return Action{Kind::to_tu, {}, Timer::A, Duration{0}, m}; }
Action report(Kind k) { return Action{k}; }

/// CSeq `number method` split at the first run of whitespace; nullopt when malformed.
std::optional<std::pair<std::string_view, std::string_view>> cseq(const Message& m) {
  auto v = m.first("CSeq");
  if (!v) return std::nullopt;
  std::size_t sp = v->find_first_of(" \t");
  if (sp == 0 || sp == std::string_view::npos) return std::nullopt;
  std::size_t b = v->find_first_not_of(" \t", sp);
  if (b == std::string_view::npos) return std::nullopt;
  return std::pair{v->substr(0, sp), v->substr(b)};
}

/// The status code at the start of a response's wire text ("SIP/2.0 486 ..."), or 0.
int status_of(std::string_view text) {
  std::size_t sp = text.find(' ');
  if (sp == std::string_view::npos || text.size() < sp + 4) return 0;
  int s = 0;
  for (char c : text.substr(sp + 1, 3)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return 0;
    s = s * 10 + (c - '0');
  }
  return s;
}

/// The request line and the headers that ACK (§17.1.1.3) and CANCEL (§9.1) copy from the INVITE.
std::string derived_request(const Message& invite, std::string_view method, std::string_view to) {
  std::string out;
  out.append(method).append(" ").append(invite.uri()).append(" SIP/2.0\r\n");
  if (auto via = invite.first("Via")) out.append("Via: ").append(first_list_item(*via)).append("\r\n");
  for (auto route : invite.values("Route")) out.append("Route: ").append(route).append("\r\n");
  out.append("Max-Forwards: 70\r\n");
  if (auto from = invite.first("From")) out.append("From: ").append(*from).append("\r\n");
  out.append("To: ").append(to).append("\r\n");
  if (auto id = invite.first("Call-ID")) out.append("Call-ID: ").append(*id).append("\r\n");
  if (auto c = cseq(invite)) out.append("CSeq: ").append(c->first).append(" ").append(method).append("\r\n");
  out.append("Content-Length: 0\r\n\r\n");
  return out;
}

}  // namespace

std::string_view timer_name(Timer t) {
  static constexpr std::string_view names[] = {"A", "B", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "Trying"};
  return names[static_cast<int>(t)];
}

std::string_view state_name(TxState s) {
  static constexpr std::string_view names[] = {"Calling",   "Trying",   "Proceeding", "Completed",
                                               "Confirmed", "Accepted", "Terminated"};
  return names[static_cast<int>(s)];
}

// --- keys (§17.1.3, §17.2.3) ---

std::optional<TransactionKey> client_key(const Message& message) {
  // §17.1.3: the branch of the top Via and the CSeq method (a CANCEL's response must not match
  // the INVITE, which has the same branch).
  auto via = top_via(message);
  auto c = cseq(message);
  if (!via || via->branch.empty() || !c) return std::nullopt;
  return TransactionKey{via->branch, {}, std::string(c->second)};
}

std::optional<TransactionKey> server_key(const Message& request) {
  // §17.2.3: branch with the magic cookie, sent-by, and method — except that an ACK matches the
  // INVITE it acknowledges.
  auto via = top_via(request);
  auto c = cseq(request);
  if (!request.is_request() || !via || !c) return std::nullopt;
  if (!via->branch.starts_with("z9hG4bK")) {
    // §17.2.3 for RFC 2543 clients: Request-URI, From tag, Call-ID, CSeq number and top Via
    // (ACK and CANCEL carry the INVITE's) make the key; the To tag is left out, so an ACK for
    // a 2xx matches its INVITE too (the owner tells it by the transaction's Accepted state).
    auto from = parse_name_addr(request.first("From").value_or(""));
    std::string key = "rfc2543|";
    key.append(request.uri()).append("|").append(request.first("Call-ID").value_or("")).append("|").append(from ? from->tag() : "");
    key.append("|").append(c->first).append("|").append(request.values("Via").front());
    std::string method(request.method());
    if (method == "ACK") method = "INVITE";
    return TransactionKey{std::move(key), {}, method};
  }
  std::string host = via->host;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return ascii_lower(c); });
  std::string sent_by = host + ":" + std::to_string(via->port);
  std::string method(request.method());
  if (method == "ACK") method = "INVITE";
  return TransactionKey{via->branch, sent_by, method};
}

std::optional<TransactionKey> cancelled_key(const Message& cancel) {
  // §9.2: the transaction being cancelled has the CANCEL's branch and sent-by, method INVITE.
  if (cancel.method() != "CANCEL") return std::nullopt;
  auto key = server_key(cancel);
  if (key) key->method = "INVITE";
  return key;
}

std::string make_cancel(const Message& invite) {
  return derived_request(invite, "CANCEL", invite.first("To").value_or(""));
}

std::string make_ack(const Message& invite, const Message& response) {
  return derived_request(invite, "ACK", response.first("To").value_or(""));
}

// --- client transactions ---

ClientTransaction::ClientTransaction(Message request, bool reliable, TimerConfig config)
    : request_(std::move(request)),
      key_(client_key(request_)),
      bytes_(serialise(request_)),
      reliable_(reliable),
      invite_(request_.method() == "INVITE"),
      config_(config),
      state_(invite_ ? TxState::calling : TxState::trying) {
  // A non-INVITE needs its request for nothing but its key and the text it retransmits (no
  // CANCEL, no ACK): a MESSAGE to a desk that is down is retried for 32 s, tens of thousands at
  // once during an outage.
  if (!invite_) request_ = Message{};
}

void ClientTransaction::shed() {
  request_ = Message{};
  std::string().swap(bytes_);
}

Actions ClientTransaction::terminate(Actions actions) {
  state_ = TxState::terminated;
  shed();
  actions.push_back(report(Kind::terminated));
  return actions;
}

Actions ClientTransaction::start() {
  Actions out{send(bytes_)};
  interval_ = config_.t1;
  // §17.1.1.2: Timer A (UDP only) at T1, Timer B at 64*T1. §17.1.2.2: Timer E and F alike.
  if (!reliable_) out.push_back(start_timer(invite_ ? Timer::A : Timer::E, interval_));
  out.push_back(start_timer(invite_ ? Timer::B : Timer::F, 64 * config_.t1));
  return out;
}

Actions ClientTransaction::on_response(const Message& response) {
  int status = response.status();
  if (status < 100 || status > 699 || state_ == TxState::terminated) return {};
  return invite_ ? invite_response(response, status) : non_invite_response(response, status);
}

Actions ClientTransaction::invite_response(const Message& response, int status) {
  switch (state_) {
    case TxState::calling:
    case TxState::proceeding:
      if (status < 200) {
        // §17.1.1.2: a provisional moves to Proceeding, retransmissions stop, passed to the TU.
        Actions out{to_tu(response)};
        if (state_ == TxState::calling) {
          if (!reliable_) out.push_back(stop_timer(Timer::A));
          out.push_back(stop_timer(Timer::B));
        }
        state_ = TxState::proceeding;
        return out;
      }
      if (status < 300) {
        // RFC 6026 §8.4: a 2xx moves to Accepted; Timer M = 64*T1 absorbs further 2xx for the TU.
        Actions out{to_tu(response)};
        if (state_ == TxState::calling) {
          if (!reliable_) out.push_back(stop_timer(Timer::A));
          out.push_back(stop_timer(Timer::B));
        }
        out.push_back(start_timer(Timer::M, 64 * config_.t1));
        state_ = TxState::accepted;
        shed();
        return out;
      }
      {
        // §17.1.1.2: 300-699 → ACK, to the TU, Completed with Timer D (32 s UDP, 0 reliable).
        ack_ = make_ack(request_, response);
        Actions out{to_tu(response), send(ack_)};
        if (state_ == TxState::calling) {
          if (!reliable_) out.push_back(stop_timer(Timer::A));
          out.push_back(stop_timer(Timer::B));
        }
        state_ = TxState::completed;
        if (reliable_) return terminate(std::move(out));
        out.push_back(start_timer(Timer::D, Duration{32000}));
        shed();
        return out;
      }
    case TxState::completed:
      // §17.1.1.2: a retransmitted final response gets the ACK again and is not passed up.
      if (status >= 300) return {send(ack_)};
      return {};
    case TxState::accepted:
      // RFC 6026 §8.4: every 2xx in Accepted goes to the TU (it sends the ACK for it).
      if (status >= 200 && status < 300) return {to_tu(response)};
      return {};
    default:
      return {};
  }
}

Actions ClientTransaction::non_invite_response(const Message& response, int status) {
  switch (state_) {
    case TxState::trying:
    case TxState::proceeding:
      if (status < 200) {
        // §17.1.2.2: a provisional → Proceeding; Timer E keeps running, then at T2.
        state_ = TxState::proceeding;
        return {to_tu(response)};
      } else {
        // §17.1.2.2: a final → Completed, Timer K = T4 (UDP) or 0 (reliable).
        Actions out{to_tu(response)};
        if (!reliable_) out.push_back(stop_timer(Timer::E));
        out.push_back(stop_timer(Timer::F));
        state_ = TxState::completed;
        if (reliable_) return terminate(std::move(out));
        out.push_back(start_timer(Timer::K, config_.t4));
        shed();
        return out;
      }
    default:
      // Completed: retransmitted finals are absorbed (§17.1.2.2).
      return {};
  }
}

Actions ClientTransaction::on_timer(Timer timer) {
  switch (timer) {
    case Timer::A:
      // §17.1.1.2: retransmit, double the interval (no cap for INVITE).
      if (state_ != TxState::calling) return {};
      interval_ *= 2;
      return {send(bytes_), start_timer(Timer::A, interval_)};
    case Timer::B:
      // §17.1.1.2: no answer within 64*T1 → timeout to the TU.
      if (state_ != TxState::calling) return {};
      return terminate({report(Kind::timeout)});
    case Timer::D:
      return state_ == TxState::completed ? terminate({}) : Actions{};
    case Timer::M:
      return state_ == TxState::accepted ? terminate({}) : Actions{};
    case Timer::E:
      // §17.1.2.2: Trying: interval min(2*prev, T2); Proceeding: T2.
      if (state_ == TxState::trying) {
        interval_ = std::min(2 * interval_, config_.t2);
      } else if (state_ == TxState::proceeding) {
        interval_ = config_.t2;
      } else {
        return {};
      }
      return {send(bytes_), start_timer(Timer::E, interval_)};
    case Timer::F:
      if (state_ != TxState::trying && state_ != TxState::proceeding) return {};
      return terminate({report(Kind::timeout)});
    case Timer::K:
      return state_ == TxState::completed ? terminate({}) : Actions{};
    default:
      return {};
  }
}

Actions ClientTransaction::on_transport_error() {
  // §17.1.1.2, §17.1.2.2: the transport failed → inform the TU, Terminated.
  if (state_ == TxState::terminated) return {};
  return terminate({report(Kind::transport_error)});
}

std::optional<std::string> ClientTransaction::cancel() const {
  // §9.1: a CANCEL MUST NOT be sent before a provisional response was received.
  if (!invite_ || state_ != TxState::proceeding) return std::nullopt;
  return make_cancel(request_);
}

// --- server transactions ---

ServerTransaction::ServerTransaction(Message request, bool reliable, TimerConfig config, std::string top_via)
    : request_(std::move(request)),
      key_(server_key(request_)),
      reliable_(reliable),
      invite_(request_.method() == "INVITE"),
      config_(config),
      top_via_(std::move(top_via)),
      state_(invite_ ? TxState::proceeding : TxState::trying) {}

void ServerTransaction::shed() {
  request_ = Message{};
  std::string().swap(top_via_);
  if (state_ == TxState::accepted) std::string().swap(last_response_);
}

Actions ServerTransaction::terminate(Actions actions) {
  state_ = TxState::terminated;
  shed();
  actions.push_back(report(Kind::terminated));
  return actions;
}

Actions ServerTransaction::start() {
  Actions out{to_tu(request_)};
  if (!invite_) return out;  // §17.2.2: Trying, the TU answers
  // §17.2.1: 100 Trying unless the TU answers within 200 ms; we wait trying_delay (0 = at once).
  if (config_.trying_delay.count() == 0) {
    last_response_ = make_trying(request_, top_via_);
    out.push_back(send(last_response_));
  } else {
    out.push_back(start_timer(Timer::trying, config_.trying_delay));
  }
  return out;
}

Actions ServerTransaction::on_request(const Message& request) {
  if (invite_ && request.method() == "ACK") {
    if (state_ == TxState::completed) {
      // §17.2.1: the ACK → Confirmed, G and H stop, Timer I = T4 (UDP) or 0 (reliable).
      Actions out;
      if (!reliable_) out.push_back(stop_timer(Timer::G));
      out.push_back(stop_timer(Timer::H));
      state_ = TxState::confirmed;
      if (reliable_) return terminate(std::move(out));
      out.push_back(start_timer(Timer::I, config_.t4));
      return out;
    }
    // RFC 6026 §8.7: in Accepted an ACK goes to the TU; in Confirmed it is absorbed.
    if (state_ == TxState::accepted) return {to_tu(request)};
    return {};
  }
  // A retransmitted request (§17.2.1, §17.2.2): answered with the last response, if any, in
  // Proceeding and Completed; absorbed in Trying, Confirmed and Accepted (RFC 6026 §8.7).
  if ((state_ == TxState::proceeding || state_ == TxState::completed) && !last_response_.empty())
    return {send(last_response_)};
  return {};
}

Actions ServerTransaction::on_tu_response(std::string response) {
  int status = status_of(response);
  if (status < 100 || status > 699 || state_ == TxState::terminated) return {};
  return invite_ ? invite_tu_response(std::move(response), status)
                 : non_invite_tu_response(std::move(response), status);
}

Actions ServerTransaction::invite_tu_response(std::string response, int status) {
  if (state_ == TxState::accepted) {
    // RFC 6026 §8.7: 2xx retransmissions are the TU's; pass them to the transport.
    if (status >= 200 && status < 300) return {send(std::move(response))};
    return {};
  }
  if (state_ != TxState::proceeding) return {};
  Actions out;
  if (config_.trying_delay.count() != 0) out.push_back(stop_timer(Timer::trying));
  last_response_ = response;
  out.push_back(send(std::move(response)));
  if (status < 200) return out;  // §17.2.1: provisionals sent, stay in Proceeding
  if (status < 300) {
    // RFC 6026 §8.5: 2xx → Accepted, Timer L = 64*T1.
    state_ = TxState::accepted;
    out.push_back(start_timer(Timer::L, 64 * config_.t1));
    shed();
    return out;
  }
  // §17.2.1: 300-699 → Completed, Timer G = T1 (UDP), Timer H = 64*T1.
  state_ = TxState::completed;
  interval_ = config_.t1;
  if (!reliable_) out.push_back(start_timer(Timer::G, interval_));
  out.push_back(start_timer(Timer::H, 64 * config_.t1));
  shed();
  return out;
}

Actions ServerTransaction::non_invite_tu_response(std::string response, int status) {
  if (state_ != TxState::trying && state_ != TxState::proceeding) return {};  // §17.2.2: Completed ignores
  last_response_ = response;
  Actions out{send(std::move(response))};
  if (status < 200) {
    state_ = TxState::proceeding;
    return out;
  }
  // §17.2.2: a final → Completed, Timer J = 64*T1 (UDP) or 0 (reliable).
  state_ = TxState::completed;
  if (reliable_) return terminate(std::move(out));
  out.push_back(start_timer(Timer::J, 64 * config_.t1));
  shed();
  return out;
}

Actions ServerTransaction::on_timer(Timer timer) {
  switch (timer) {
    case Timer::trying:
      // §17.2.1: the TU has not answered within 200 ms → 100 Trying.
      if (state_ != TxState::proceeding || !last_response_.empty()) return {};
      last_response_ = make_trying(request_, top_via_);
      return {send(last_response_)};
    case Timer::G:
      // §17.2.1: retransmit the final response, interval min(2*prev, T2).
      if (state_ != TxState::completed) return {};
      interval_ = std::min(2 * interval_, config_.t2);
      return {send(last_response_), start_timer(Timer::G, interval_)};
    case Timer::H:
      // §17.2.1: no ACK within 64*T1 → Terminated, the TU is told.
      if (state_ != TxState::completed) return {};
      return terminate({report(Kind::timeout)});
    case Timer::I:
      return state_ == TxState::confirmed ? terminate({}) : Actions{};
    case Timer::J:
      return state_ == TxState::completed && !invite_ ? terminate({}) : Actions{};
    case Timer::L:
      return state_ == TxState::accepted ? terminate({}) : Actions{};
    default:
      return {};
  }
}

Actions ServerTransaction::on_transport_error() {
  // §17.2.1, §17.2.2: a failure to send a response → inform the TU, Terminated.
  if (state_ == TxState::terminated) return {};
  return terminate({report(Kind::transport_error)});
}

// --- the table ---

ClientTransaction* TransactionTable::add(ClientTransaction transaction) {
  auto key = transaction.key();
  if (!key) return nullptr;
  auto [it, inserted] = clients_.try_emplace(*key, std::move(transaction));
  return inserted ? &it->second : nullptr;
}

ServerTransaction* TransactionTable::add(ServerTransaction transaction) {
  auto key = transaction.key();
  if (!key) return nullptr;
  auto [it, inserted] = servers_.try_emplace(*key, std::move(transaction));
  return inserted ? &it->second : nullptr;
}

ClientTransaction* TransactionTable::find_client(const TransactionKey& key) {
  auto it = clients_.find(key);
  return it == clients_.end() ? nullptr : &it->second;
}

ServerTransaction* TransactionTable::find_server(const TransactionKey& key) {
  auto it = servers_.find(key);
  return it == servers_.end() ? nullptr : &it->second;
}

TransactionTable::Route TransactionTable::route(const Message& message) {
  using K = Route::Kind;
  if (!message.is_request()) {
    // §17.1.3: a response matches by branch and CSeq method; otherwise it is stray (§18.1.2).
    auto key = client_key(message);
    if (!key) return {K::stray_response};
    if (auto* c = find_client(*key)) return {K::client, c, nullptr, key};
    return {K::stray_response, nullptr, nullptr, key};
  }
  auto key = server_key(message);
  if (!key) return {K::unmatchable};
  if (auto* s = find_server(*key)) return {K::server, nullptr, s, key};
  // §17.2.3: an ACK that matches no INVITE transaction acknowledges a 2xx: for the TU.
  if (message.method() == "ACK") return {K::ack_for_2xx, nullptr, nullptr, key};
  return {K::new_server, nullptr, nullptr, key};
}

ServerTransaction* TransactionTable::cancelled(const Message& cancel) {
  auto key = cancelled_key(cancel);
  return key ? find_server(*key) : nullptr;
}

}  // namespace e911::sip
