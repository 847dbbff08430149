// serve: the routing runtime (ARCHITECTURE.md "The runtime"): transports, the request chain with
// its registrar and B2BUA on one loop, the snapshot in service (SIGHUP reloads it), the admin
// API on its own thread, and a drain on SIGTERM.
#include <CLI/CLI.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <malloc.h>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "context.hpp"
#include "e911/error.hpp"
#include "e911/runtime_admin.hpp"
#include "e911/runtime_call_record.hpp"
#include "e911/runtime_chain.hpp"
#include "e911/runtime_config.hpp"
#include "e911/runtime_held.hpp"
#include "e911/runtime_log.hpp"
#include "e911/runtime_memory.hpp"
#include "e911/runtime_metrics.hpp"
#include "e911/runtime_notify.hpp"
#include "e911/runtime_registrar.hpp"
#include "e911/runtime_snapshot.hpp"
#include "e911/runtime_tls.hpp"
#include "e911/runtime_transport.hpp"
#include "e911/snapshot.hpp"

namespace e911::cli {

std::string default_snapshot_path(const Context& ctx);

namespace {

struct ServeFlags {
  std::string config;
  std::vector<std::string> listen, domains;
  std::string snapshot, bindings, admin, token_file, location_service, log_format;
  std::string admin_certificate, admin_private_key, tls_certificate, tls_private_key, tls_ca_file;
  std::string auth;
  std::vector<std::string> trusted_networks, held_trusted_clients;
  bool tls_verify_clients = false;
  std::optional<unsigned> idle, ring, drain, threads;
};

/// Runs `work` on the loop and waits for its answer (the admin thread asking the SIP loop).
template <typename T>
T on_loop(asio::io_context& io, std::function<T()> work) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  asio::post(io, [promise, work = std::move(work)] {
    try {
      promise->set_value(work());
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
    throw Error(ErrorKind::failure, "the SIP loop did not answer within 5 s", "the runtime is overloaded or stuck; see its log");
  return future.get();
}

/// Snapshot reloads, one at a time, on a thread of their own. Whoever asks (SIGHUP, /v1/reload)
/// waits for one a bounded time, and nothing waits for it past that, SIGTERM included: a file on
/// a hung network mount blocks its read in the kernel, where no deadline reaches.
class Reloads {
 public:
  using Result = runtime::SnapshotSlot::Reload;
  explicit Reloads(std::function<Result()> work) : work_(std::move(work)) {}
  ~Reloads() {
    if (thread_.joinable()) thread_.join();  // finished: the caller checks busy() first
  }
  Reloads(const Reloads&) = delete;
  Reloads& operator=(const Reloads&) = delete;

  /// Starts a reload unless one is running (`started` says which), then waits for the one
  /// running up to `wait`. Its result, or nullopt while it is still running (or after stop()).
  std::optional<Result> run(std::chrono::milliseconds wait, bool& started) {
    std::unique_lock lock(state_->mutex);
    started = false;
    if (state_->stopping) return std::nullopt;
    if (!state_->running) {
      if (thread_.joinable()) thread_.join();  // the last one, which has finished
      state_->running = true;
      state_->result.reset();
      started = true;
      thread_ = std::thread([state = state_, work = work_] {
        Result r = work();
        std::lock_guard done(state->mutex);
        state->result = std::move(r);
        state->running = false;
        state->changed.notify_all();
      });
    }
    state_->changed.wait_for(lock, wait, [&] { return !state_->running || state_->stopping; });
    if (state_->running || state_->stopping) return std::nullopt;
    return state_->result;
  }
  /// Wakes every waiter and starts no more reloads.
  void stop() {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->changed.notify_all();
  }
  bool busy() const {
    std::lock_guard lock(state_->mutex);
    return state_->running;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    bool running = false, stopping = false;
    std::optional<Result> result;
  };
  std::function<Result()> work_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread thread_;
};

/// How long /v1/reload waits for the file to be read and checked before it answers that the
/// reload is still under way.
constexpr std::chrono::seconds kReloadWait{5};

std::int64_t unix_now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

}  // namespace

void register_serve_commands(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("serve", "run the SIP routing runtime: registrar and B2BUA for the published snapshot, until SIGTERM");
  auto f = std::make_shared<ServeFlags>();
  cmd->add_option("--config", f->config, "YAML settings (schemas/serve.schema.json); the options below override it");
  cmd->add_option("--listen", f->listen,
                  "where to serve SIP: udp:ADDR:PORT, tcp:ADDR:PORT, ADDR:PORT for both, or tls:ADDR:PORT; IPv6 as [ADDR]:PORT; repeatable. "
                  "Default: 127.0.0.1:5060");
  cmd->add_option("--snapshot", f->snapshot, "published snapshot to serve. Default: $E911_SNAPSHOT, else the database path + .snapshot");
  cmd->add_option("--bindings", f->bindings, "file the registrations are kept in across restarts. Default: the snapshot path + .bindings");
  cmd->add_option("--domain", f->domains, "SIP domain served (Request-URI host of our users); repeatable. Default: the domains of the snapshot's users");
  cmd->add_option("--admin", f->admin, "ADDR:PORT of the admin HTTP API, or 'off'. Default: 127.0.0.1:5080 (only when its token file exists)");
  cmd->add_option("--token-file", f->token_file, "file holding the admin API's bearer token (mode 0600). Default: /etc/e911ctl/admin.token");
  cmd->add_option("--admin-certificate", f->admin_certificate, "PEM certificate of the admin API, which then speaks HTTPS only; required off loopback");
  cmd->add_option("--admin-private-key", f->admin_private_key, "PEM private key of --admin-certificate");
  cmd->add_option("--tls-certificate", f->tls_certificate, "PEM certificate chain of tls: listeners, also shown to trunks that ask for one");
  cmd->add_option("--tls-private-key", f->tls_private_key, "PEM private key of --tls-certificate");
  cmd->add_option("--tls-ca-file", f->tls_ca_file, "PEM CA bundle trusted for TLS trunks and phones' certificates. Default: the system's");
  cmd->add_flag("--tls-verify-clients", f->tls_verify_clients, "tls: listeners require a client certificate signed by --tls-ca-file");
  cmd->add_option("--auth", f->auth, "digest authentication of users without credentials: optional (served unchallenged) or required (refused). Default: optional")
      ->check(CLI::IsMember({"optional", "required"}));
  cmd->add_option("--trusted-network", f->trusted_networks, "CIDR whose REGISTERs and calls are never challenged; repeatable. Default: none (trunks' hosts always are)")
      ->type_name("CIDR");
  cmd->add_option("--location-service", f->location_service,
                  "ADDR:PORT of the location service for clients (HELD, RFC 5985, plain HTTP), or 'off'. Default: off");
  cmd->add_option("--held-trusted-client", f->held_trusted_clients,
                  "CIDR of HELD clients that may locate other devices by naming them (RFC 6155); repeatable. Default: none (a client is located by "
                  "its own address only)")
      ->type_name("CIDR");
  cmd->add_option("--ring-timeout", f->ring, "seconds a call to a user may ring before the caller gets 408. Default: 180");
  cmd->add_option("--idle-timeout", f->idle, "seconds after which a silent TCP connection is closed. Default: 300");
  cmd->add_option("--drain-timeout", f->drain, "seconds SIGTERM waits for calls in progress to end. Default: 30");
  cmd->add_option("--threads", f->threads, "SIP worker threads (this build runs one). Default: 1");
  cmd->add_option("--log-format", f->log_format, "auto (JSON lines unless stderr is a terminal), json or text")->check(CLI::IsMember({"auto", "json", "text"}));
  cmd->callback([f, &ctx] {
    // Settings: defaults, then the file, then the options.
    runtime::ServeConfig c = f->config.empty() ? runtime::default_serve_config() : runtime::load_serve_config(f->config);
    const bool admin_default = f->config.empty() || c.origin["admin"] == "default";
    if (!f->listen.empty()) {
      c.listen.clear();
      for (const auto& text : f->listen) c.listen.push_back(runtime::parse_listen_spec(text));
    }
    if (!f->domains.empty()) c.domains = f->domains;
    if (!f->snapshot.empty()) c.snapshot = f->snapshot;
    if (c.snapshot.empty()) c.snapshot = default_snapshot_path(ctx);
    if (!f->bindings.empty()) c.bindings = f->bindings;
    bool admin_explicit = !admin_default;
    if (!f->admin.empty()) {
      c.admin = f->admin == "off" ? "" : f->admin;
      admin_explicit = true;
    }
    if (!f->token_file.empty()) c.token_file = f->token_file;
    if (!f->admin_certificate.empty()) c.admin_certificate = f->admin_certificate;
    if (!f->admin_private_key.empty()) c.admin_private_key = f->admin_private_key;
    if (!f->tls_certificate.empty()) c.tls_certificate = f->tls_certificate;
    if (!f->tls_private_key.empty()) c.tls_private_key = f->tls_private_key;
    if (!f->tls_ca_file.empty()) c.tls_ca_file = f->tls_ca_file;
    if (f->tls_verify_clients) c.tls_verify_clients = true;
    if (!f->location_service.empty()) c.location_service = f->location_service == "off" ? "" : f->location_service;
    if (f->ring) c.ring_timeout = std::chrono::seconds(*f->ring);
    if (f->idle) c.idle_timeout = std::chrono::seconds(*f->idle);
    if (f->drain) c.drain_timeout = std::chrono::seconds(*f->drain);
    if (f->threads) c.threads = *f->threads;
    if (!f->log_format.empty()) c.log_format = f->log_format;
    if (!f->auth.empty()) c.auth = f->auth;
    if (!f->trusted_networks.empty()) c.trusted_networks = f->trusted_networks;
    if (!f->held_trusted_clients.empty()) c.held_trusted_clients = f->held_trusted_clients;
    runtime::HeldAccess held_access;
    for (const auto& text : c.held_trusted_clients) {
      auto net = runtime::parse_cidr(text);
      if (!net)
        throw Error(ErrorKind::usage, "HELD trusted client '" + text + "' is not an IP network",
                    "write ADDRESS/LENGTH with no host bits set, such as 10.20.0.0/16, or one address");
      held_access.trusted_clients.push_back(*net);
    }
    runtime::AuthOptions auth{c.auth == "required", {}, c.auth_nonce_lifetime};
    for (const auto& text : c.trusted_networks) {
      auto net = runtime::parse_cidr(text);
      if (!net)
        throw Error(ErrorKind::usage, "trusted network '" + text + "' is not an IP network",
                    "write ADDRESS/LENGTH with no host bits set, such as 10.20.0.0/16, or one address");
      auth.trusted_networks.push_back(*net);
    }
    if (c.threads != 1)
      throw Error(ErrorKind::usage, "--threads " + std::to_string(c.threads) + ": this build runs one SIP worker thread",
                  "leave --threads at 1; run one runtime per core behind DNS SRV to use more (ARCHITECTURE.md)");

    // Calls allocate and free in waves: keep freed memory in the process rather than giving it
    // back to the kernel and faulting fresh zeroed pages in for the next wave (measured: a
    // sixth of the CPU of a loaded runtime went to clearing pages).
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    runtime::Log log(runtime::pick_log_format(c.log_format));
    runtime::Metrics metrics;
    runtime::CallLog call_log(1000);
    const auto started = std::chrono::steady_clock::now();

    // The snapshot: the file, else the last-good copy of the last one put in service (a file
    // corrupted or cut short while the runtime was down must not leave an emergency runtime
    // routing nothing), else, when there is a file but no good one, exit 3. A bad file later
    // (SIGHUP, /v1/reload) is refused and the one in service stays.
    runtime::SnapshotSlot slot;
    const runtime::SnapshotSlot::Start first = slot.start(c.snapshot);
    const bool have_snapshot = first.serving;
    if (have_snapshot)
      log.event(first.from_last_good ? "error" : "info", first.message,
                {{"snapshot", c.snapshot}, {"last_good", runtime::SnapshotSlot::last_good_path(c.snapshot)}});
    // A security desk without credentials is registered only from a trusted network: said at
    // start and at each reload, since with none its emergency MESSAGEs reach nobody.
    const auto warn_unguarded_desks = [&slot, &auth, &log] {
      if (const auto snap = slot.current())
        for (const std::string& warning : runtime::unguarded_desks(*snap, auth)) log.event("warn", warning);
    };
    warn_unguarded_desks();

    asio::io_context io;
    runtime::CoreOptions core;
    core.domains = c.domains;
    core.ring_timeout = c.ring_timeout;
    core.dialog_keepalive = c.dialog_keepalive;
    core.callback_window = c.callback_window;
    core.auth = auth;
    core.max_calls_per_source = c.max_calls_per_source;
    core.max_calls = c.max_calls;
    core.max_transactions_per_source = c.max_transactions_per_source;
    core.max_transactions = c.max_transactions;
    core.bindings_path = c.bindings_path().empty() ? c.snapshot + ".bindings" : c.bindings_path();
    core.metrics = &metrics;
    core.call_log = &call_log;
    core.on_call = [&log](const runtime::CallRecord& record) { log.call(record); };
    core.on_event = [&log](const std::string& level, const std::string& message) { log.event(level, message); };
    sip::Limits limits;
    limits.max_message = c.max_message;
    limits.max_headers = c.max_headers;
    // Webhooks and e-mail to the security desk, on the notifier's thread; each outcome comes back
    // to the loop for the call's record. A bad setting is a usage error at start, not a lost
    // notification during an emergency.
    runtime::NotifierConfig nc;
    nc.smtp_url = c.smtp_url;
    nc.smtp_from = c.smtp_from;
    nc.smtp_credentials_file = c.smtp_credentials_file;
    nc.smtp_starttls = c.smtp_starttls;
    nc.ca_file = c.notify_ca_file;
    runtime::Chain* chain_for_outcomes = nullptr;
    runtime::Notifier notifier(
        nc,
        [&io, &chain_for_outcomes](runtime::DeliveryOutcome o) {
          asio::post(io, [&chain_for_outcomes, o = std::move(o)] {
            if (chain_for_outcomes) chain_for_outcomes->notification_outcome(o);
          });
        },
        &metrics);
    core.notify = [&notifier](const runtime::NotifyFacts& facts, const std::vector<runtime::NotifyTarget>& targets) {
      return notifier.submit(facts, targets);
    };
    runtime::Chain chain(io, limits, {}, &slot, core);
    chain_for_outcomes = &chain;

    // TLS: the files are read once, here; a bad one stops the start rather than a call later.
    runtime::TlsSettings tls_settings{c.tls_certificate, c.tls_private_key, c.tls_ca_file, c.tls_verify_clients};
    runtime::TransportOptions options;
    options.tls = std::make_shared<runtime::TlsContexts>(tls_settings);
    options.limits = limits;
    options.idle_timeout = c.idle_timeout;
    options.max_connections = c.max_connections;
    options.max_connections_per_source = c.max_connections_per_source;
    // Descriptors: every listener may hold max_connections, and the trunks, HTTP and files need
    // their own. Too few and a flood takes the one the provider's TCP trunk needs (issue 24).
    {
      const runtime::DescriptorCheck d = runtime::ensure_descriptors(c.max_connections * c.listen.size());
      if (d.raised_from != 0)
        log.event("info", "descriptor limit raised for the connections allowed",
                  {{"rlimit_nofile", d.limit}, {"was", d.raised_from}, {"wanted", d.wanted}});
      if (d.limit < d.wanted)
        log.event("warn",
                  "RLIMIT_NOFILE " + std::to_string(d.limit) + " is below the " + std::to_string(d.wanted) + " descriptors " +
                      std::to_string(c.listen.size()) + " listener(s) of max_connections " + std::to_string(c.max_connections) +
                      " need: accepted connections are capped at " + std::to_string(d.connections) + " in all, 128 descriptors kept for trunks",
                  {{"rlimit_nofile", d.limit}, {"hint", "raise LimitNOFILE= in the systemd unit (or ulimit -n), or lower max_connections"}});
    }
    std::vector<std::unique_ptr<runtime::Transport>> transports;
    Json listening = Json::array();
    for (const auto& spec : c.listen) {
      std::string why;
      auto where = runtime::parse_listen(spec.endpoint(), why);
      if (!where) throw Error(ErrorKind::usage, "listen '" + spec.text() + "': " + why, "see 'e911ctl serve --help'");
      runtime::TransportOptions o = options;
      o.udp = spec.transport == "udp" || spec.transport == "both";
      o.tcp = spec.transport == "tcp" || spec.transport == "both";
      o.tls_listen = spec.transport == "tls";
      try {
        transports.push_back(std::make_unique<runtime::Transport>(io, chain, *where, o));
      } catch (const std::system_error& e) {
        throw Error(ErrorKind::failure, "cannot listen on '" + spec.text() + "': " + e.code().message(), "is another process using the port?");
      }
      chain.add_transport(transports.back().get());
      listening.push_back(transports.back()->describe());
    }

    Reloads reloads([&slot, &c, &log, &warn_unguarded_desks] {
      const auto result = slot.reload(c.snapshot);
      log.event(result.swapped ? "info" : "error", result.message, {{"snapshot", c.snapshot}});
      if (result.swapped) warn_unguarded_desks();
      if (!result.warning.empty())
        log.event("warn", "last-good copy of the snapshot not kept: " + result.warning,
                  {{"last_good", runtime::SnapshotSlot::last_good_path(c.snapshot)}});
      return result;
    });

    // The admin API on its own thread; its hooks ask the loop for what only the loop may read.
    std::unique_ptr<runtime::AdminServer> admin;
    if (!c.admin.empty()) {
      std::string token;
      bool have_token = true;
      try {
        token = runtime::read_token_file(c.token_file);
      } catch (const Error&) {
        if (admin_explicit) throw;
        have_token = false;
        log.event("warn", "admin API off: no token file", {{"token_file", c.token_file}, {"hint", "create it (mode 0600) or pass --admin off"}});
      }
      if (have_token) {
        const runtime::ListenSpec at = runtime::parse_admin_address(c.admin);
        runtime::AdminHooks hooks;
        hooks.status = [&] {
          auto snap = slot.current();
          Json s = {{"version", E911_VERSION},
                    {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count()},
                    {"calls_in_progress", metrics.calls_in_progress()},
                    {"listening", listening},
                    {"snapshot", snap ? Json{{"revision", snap->revision()}, {"checksum", snap->checksum()}, {"created_at", snap->created_at()},
                                             {"path", slot.source().empty() ? c.snapshot : slot.source()}}
                                      : Json(nullptr)}};
          s["registrations"] = on_loop<std::size_t>(io, [&] { return chain.registrar().size(); });
          s["draining"] = chain.draining();
          return s;
        };
        hooks.reload = [&] {
          bool started = false;
          const auto r = reloads.run(kReloadWait, started);
          auto snap = slot.current();
          const Json revision = snap ? Json(snap->revision()) : Json(nullptr);
          if (!r)
            return Json{{"reloaded", false},
                        {"in_progress", true},
                        {"message", "snapshot '" + c.snapshot + "' is still being read after " + std::to_string(kReloadWait.count()) +
                                        " s; revision " + runtime::SnapshotSlot::revision_text(snap) +
                                        " stays in service until it loads (the log says when it does, or why it was refused)"},
                        {"revision", revision}};
          return Json{{"reloaded", r->swapped}, {"message", r->message}, {"revision", revision}};
        };
        hooks.calls = [&](std::size_t limit) { return call_log.recent(limit); };
        hooks.active_calls = [&](std::size_t limit) { return on_loop<Json>(io, [&, limit] { return chain.active_calls(limit); }); };
        hooks.registrations = [&] { return on_loop<Json>(io, [&] { return chain.registrar().to_json(unix_now()); }); };
        hooks.metrics = [&] { return metrics.prometheus(); };
        admin = std::make_unique<runtime::AdminServer>(at.address, at.port, token, hooks,
                                                       runtime::AdminTls{c.admin_certificate, c.admin_private_key});
        log.event("info", "admin API listening",
                  {{"admin", at.text().empty() ? c.admin : at.text()}, {"port", admin->port()}, {"https", !c.admin_certificate.empty()}});
      }
    }

    // The location service on threads of its own: it reads the snapshot slot, never the loop.
    std::unique_ptr<runtime::HeldServer> held;
    if (!c.location_service.empty()) {
      const runtime::ListenSpec at = runtime::parse_location_service_address(c.location_service);
      held_access.on_refused = [&log](const std::string& client, std::uint64_t refused) {
        log.event("warn", "location service: a client not in held_trusted_clients named a device; refused (notLocatable)",
                  {{"client", client}, {"refused", refused}});
      };
      held = std::make_unique<runtime::HeldServer>(at.address, at.port, slot, &metrics, std::move(held_access));
      log.event("info", "location service (HELD) listening",
                {{"location_service", at.endpoint()}, {"port", held->port()}, {"held_trusted_clients", c.held_trusted_clients}});
    }

    // SIGHUP reloads the file on the reloads' thread, so a large snapshot being read and indexed
    // never stalls the loop; the swap itself is SnapshotSlot's. One reload at a time.
    asio::signal_set hangup(io, SIGHUP);
    std::function<void()> wait_hangup = [&] {
      hangup.async_wait([&](const std::error_code& ec, int) {
        if (ec) return;
        bool started = false;
        reloads.run(std::chrono::milliseconds(0), started);
        if (!started) log.event("warn", "SIGHUP: a reload is already running; this one is dropped");
        wait_hangup();
      });
    };
    wait_hangup();

    // Free heap over 64 MB (a burst that has passed: a desk outage's retries, a flood of calls)
    // goes back to the system once a minute; less is kept for the next calls (mallopt above).
    // Measured in the 800 calls/s soak: 15 to 42 ms on the loop, only in the minutes after a burst.
    asio::steady_timer trim_timer(io);
    runtime::HeapTrimmer trimmer(std::uint64_t{64} << 20);
    std::function<void()> trim_later = [&] {
      trim_timer.expires_after(std::chrono::seconds(60));
      trim_timer.async_wait([&](const std::error_code& ec) {
        if (ec) return;
        const runtime::Trim t = trimmer.run();
        if (t.trimmed) {
          const std::uint64_t released = t.resident_before > t.resident_after ? t.resident_before - t.resident_after : 0;
          metrics.heap_trimmed(released);
          log.event("info", "free heap given back to the system",
                    {{"heap_free_mb", t.heap_free >> 20}, {"released_mb", released >> 20}, {"resident_mb", t.resident_after >> 20},
                     {"took_ms", static_cast<double>(t.took.count()) / 1000.0}});
        }
        trim_later();
      });
    };
    trim_later();

    // SIGTERM/SIGINT: stop taking calls (503 to new INVITEs), let those in progress end within
    // the drain timeout, then stop. A second signal stops at once.
    int stopped_by = 0;
    bool waited_for_emergency = false;
    asio::steady_timer drain_poll(io);
    const auto stop_now = [&] {
      drain_poll.cancel();
      trim_timer.cancel();
      for (auto& t : transports) t->close();
      hangup.cancel();
      chain.save_bindings();
      io.stop();
    };
    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void()> wait_stop = [&] {
      signals.async_wait([&](const std::error_code& ec, int signal) {
        if (ec) return;
        if (stopped_by) return stop_now();
        stopped_by = signal;
        chain.drain();
        const auto deadline = std::chrono::steady_clock::now() + c.drain_timeout;
        log.event("info", "draining: no new calls", {{"calls_in_progress", chain.calls()}, {"drain_timeout_s", c.drain_timeout.count()}});
        std::function<void()> poll;
        auto loop = std::make_shared<std::function<void()>>();
        *loop = [&, deadline, weak = std::weak_ptr<std::function<void()>>(loop)] {
          // An emergency call in progress is never cut by the drain timeout: the drain waits for
          // it (a second SIGTERM still stops at once).
          const bool over = std::chrono::steady_clock::now() >= deadline;
          if (chain.calls() == 0 || (over && chain.emergency_calls() == 0)) {
            if (chain.calls() > 0) log.event("warn", "drain timeout: calls still in progress are dropped", {{"calls_in_progress", chain.calls()}});
            return stop_now();
          }
          if (over && !waited_for_emergency) {
            waited_for_emergency = true;
            log.event("warn", "drain timeout: waiting for emergency calls in progress to end", {{"emergency_calls", chain.emergency_calls()}});
          }
          drain_poll.expires_after(std::chrono::milliseconds(100));
          drain_poll.async_wait([weak](const std::error_code& e) {
            if (auto next = weak.lock(); next && !e) (*next)();
          });
        };
        static std::shared_ptr<std::function<void()>> keep;
        keep = loop;
        (*loop)();
        wait_stop();
      });
    };
    wait_stop();

    if (!have_snapshot)
      log.event("warn", "no snapshot: every call gets 503 until one is published and loaded (SIGHUP or /v1/reload)",
                {{"snapshot", c.snapshot}, {"hint", "run 'e911ctl publish -o " + c.snapshot + "', then 'kill -HUP <pid>'"}});
    auto snap = slot.current();
    log.event("info", "listening",
              {{"listen", listening},
               {"snapshot", c.snapshot},
               {"revision", snap ? Json(snap->revision()) : Json(nullptr)},
               {"domains", chain.domains(snap.get())},
               {"server", std::string("e911ctl/") + E911_VERSION},
               {"bindings", core.bindings_path},
               {"registrations_restored", chain.registrar().size()},
               {"auth", c.auth},
               {"trusted_networks", c.trusted_networks}});
    io.run();
    chain_for_outcomes = nullptr;
    notifier.stop(std::chrono::seconds(2));
    reloads.stop();  // a /v1/reload waiting for it answers now
    if (admin) admin->stop();
    if (held) held->stop();
    const std::string stopped = std::string("stopped by ") + (stopped_by == SIGINT ? "SIGINT" : stopped_by == SIGTERM ? "SIGTERM" : "the loop ending");
    if (reloads.busy()) {
      // Its read may never return (a FIFO, a hung mount): the process ends without waiting for
      // it, and without the destructors of what it reads into. The bindings were saved above.
      log.event("warn", stopped + "; a snapshot reload still reading is abandoned", {{"snapshot", c.snapshot}});
      std::fflush(nullptr);
      std::_Exit(0);
    }
    log.event("info", stopped);
  });
}

}  // namespace e911::cli
