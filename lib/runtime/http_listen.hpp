#pragma once
// The runtime's HTTP listeners (admin API, HELD location service) start the same way: bind a
// literal address (never DNS), or any free port when `port` is 0, then run cpp-httplib's loop on
// a thread of their own. Internal to lib/runtime; includes httplib, so only its .cpp files see it.
#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>

#include "e911/error.hpp"

namespace e911::runtime {

/// Binds `svr` to `host`:`port` (`family` AF_INET or AF_INET6 for the brackets of the message),
/// starts its loop on `thread` and waits until it runs (httplib's stop() does nothing before, so
/// a stop right after the start would be lost). Returns the port bound. Throws Error(failure)
/// naming `what` ("the admin API") when the address cannot be bound.
inline unsigned short listen_http(httplib::Server& svr, const std::string& host, int family, unsigned short port, const std::string& what,
                                  std::thread& thread) {
  const int flags = AI_PASSIVE | AI_NUMERICHOST;  // a literal: getaddrinfo must never turn to DNS
  const std::string where = (family == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  unsigned short bound = port;
  if (port == 0) {
    const int picked = svr.bind_to_any_port(host, flags);
    if (picked <= 0) throw Error(ErrorKind::failure, "cannot serve " + what + " on '" + where + "'", "is the address one of this machine's?");
    bound = static_cast<unsigned short>(picked);
  } else if (!svr.bind_to_port(host, port, flags)) {
    throw Error(ErrorKind::failure, "cannot serve " + what + " on '" + where + "'",
                "is another process using the port, or is the address not one of this machine's?");
  }
  thread = std::thread([&svr] { svr.listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!svr.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::microseconds(100));
  return bound;
}

}  // namespace e911::runtime
