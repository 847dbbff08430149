// serve: the routing runtime (ARCHITECTURE.md "The runtime"), so far its transports, the first
// steps of the request chain and the snapshot in service, reloaded on SIGHUP (issue 12).
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>
#include <memory>
#include <thread>

#include "context.hpp"
#include "e911/error.hpp"
#include "e911/runtime_chain.hpp"
#include "e911/runtime_snapshot.hpp"
#include "e911/runtime_transport.hpp"
#include "e911/snapshot.hpp"

namespace e911::cli {

void register_serve_commands(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("serve", "run the SIP routing runtime on the given addresses until SIGINT or SIGTERM");
  auto listen = std::make_shared<std::vector<std::string>>();
  auto snapshot = std::make_shared<std::string>();
  auto idle = std::make_shared<unsigned>(300);
  cmd->add_option("--listen", *listen, "ADDR:PORT to serve SIP on over UDP and TCP, e.g. 127.0.0.1:5060 or [::1]:5060; repeatable")->required();
  cmd->add_option("--snapshot", *snapshot, "published snapshot to serve (optional for now); SIGHUP reloads it, a bad file is refused and the last good one stays");
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
    runtime::SnapshotSlot slot;
    if (!snapshot->empty()) {
      slot.replace(Snapshot::load(*snapshot));  // a bad file at start: the error, exit 3
      loaded = "; snapshot revision " + std::to_string(slot.current()->revision()) + " from '" + *snapshot + "'";
    }
    asio::io_context io;
    runtime::Chain chain(io, {}, {}, &slot);
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
    // SIGHUP reloads the file on a worker thread, so a large snapshot being read and indexed
    // never stalls the loop; the swap itself is SnapshotSlot's. One reload at a time: a SIGHUP
    // during one says so and is dropped (the running one reads the file as it is by then or
    // soon after; send another when it has logged).
    std::atomic<bool> reloading{false};
    std::thread reloader;
    asio::signal_set hangup(io, SIGHUP);
    std::function<void()> wait_hangup = [&] {
      hangup.async_wait([&](const std::error_code& ec, int) {
        if (ec) return;
        if (snapshot->empty()) {
          std::cerr << "e911ctl serve: SIGHUP: no --snapshot to reload; snapshot/none stays" << std::endl;
        } else if (reloading.exchange(true)) {
          std::cerr << "e911ctl serve: SIGHUP: a reload is already running; this one is dropped" << std::endl;
        } else {
          if (reloader.joinable()) reloader.join();
          reloader = std::thread([&slot, &reloading, path = *snapshot] {
            const auto result = slot.reload(path);
            std::cerr << ("e911ctl serve: " + result.message + "\n") << std::flush;
            reloading = false;
          });
        }
        wait_hangup();
      });
    };
    wait_hangup();
    int stopped_by = 0;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const std::error_code& ec, int signal) {
      if (ec) return;
      stopped_by = signal;
      for (auto& t : transports) t->close();
      hangup.cancel();
      io.stop();
    });
    std::cerr << "e911ctl serve: listening on " << described << loaded
              << " (INVITE routing is not in this build yet: INVITEs get 501)" << std::endl;
    io.run();
    if (reloader.joinable()) reloader.join();
    std::cerr << "e911ctl serve: stopped by " << (stopped_by == SIGINT ? "SIGINT" : stopped_by == SIGTERM ? "SIGTERM" : "the loop ending")
              << std::endl;
  });
}

}  // namespace e911::cli
