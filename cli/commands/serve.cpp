// serve: the routing runtime (ARCHITECTURE.md "The runtime"), so far its transports and the first
// steps of the request chain (issue 12).
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <memory>

#include "context.hpp"
#include "e911/error.hpp"
#include "e911/runtime_chain.hpp"
#include "e911/runtime_transport.hpp"
#include "e911/snapshot.hpp"

namespace e911::cli {

void register_serve_commands(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("serve", "run the SIP routing runtime on the given addresses until SIGINT or SIGTERM");
  auto listen = std::make_shared<std::vector<std::string>>();
  auto snapshot = std::make_shared<std::string>();
  auto idle = std::make_shared<unsigned>(300);
  cmd->add_option("--listen", *listen, "ADDR:PORT to serve SIP on over UDP and TCP, e.g. 127.0.0.1:5060 or [::1]:5060; repeatable")->required();
  cmd->add_option("--snapshot", *snapshot, "published snapshot to load (optional for now)");
  cmd->add_option("--idle-timeout", *idle, "seconds after which a silent TCP connection is closed. Default: 300.");
  (void)ctx;
  cmd->callback([listen, snapshot, idle] {
    std::vector<runtime::ListenAddress> where;
    for (const auto& text : *listen) {
      std::string why;
      auto parsed = runtime::parse_listen(text, why);
      if (!parsed) throw Error(ErrorKind::usage, "--listen '" + text + "': " + why, "see 'e911ctl serve --help'");
      where.push_back(*parsed);
    }
    std::string loaded;
    if (!snapshot->empty()) {
      const auto snap = Snapshot::load(*snapshot);
      loaded = "; snapshot revision " + std::to_string(snap->revision()) + " from '" + *snapshot + "'";
    }
    asio::io_context io;
    runtime::Chain chain(io);
    runtime::TransportOptions options;
    options.idle_timeout = std::chrono::seconds(*idle);
    std::vector<std::unique_ptr<runtime::Transport>> transports;
    std::string described;
    for (const auto& w : where) {
      try {
        transports.push_back(std::make_unique<runtime::Transport>(io, chain, w, options));
      } catch (const std::system_error& e) {
        throw Error(ErrorKind::failure, "cannot listen on '" + w.text() + "': " + e.code().message(), "is another process using the port?");
      }
      described += (described.empty() ? "" : ", ") + transports.back()->describe();
    }
    int stopped_by = 0;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const std::error_code& ec, int signal) {
      if (ec) return;
      stopped_by = signal;
      for (auto& t : transports) t->close();
      io.stop();
    });
    std::cerr << "e911ctl serve: listening on " << described << loaded
              << " (INVITE routing is not in this build yet: INVITEs get 501)" << std::endl;
    io.run();
    std::cerr << "e911ctl serve: stopped by " << (stopped_by == SIGINT ? "SIGINT" : stopped_by == SIGTERM ? "SIGTERM" : "the loop ending")
              << std::endl;
  });
}

}  // namespace e911::cli
