#pragma once
// Which running runtime a command asks through its admin API, and the token that opens it: shared
// by `runtime status|reload|calls|registrations` (runtime.cpp) and `call test` (call_test.cpp).
#include <string>

#include "context.hpp"
#include "e911/admin_client.hpp"

namespace e911::cli {

/// Where the runtime is and how to prove who we are: --runtime (a URL or the name of a stored
/// runtime), else E911_RUNTIME, else http://127.0.0.1:5080; --token-file, else the stored
/// runtime's token_file, else E911_RUNTIME_TOKEN_FILE, else /etc/e911ctl/admin.token. The token
/// file's variable is read by client_for rather than by the parser, so that a stored runtime's own
/// file comes before it. An https:// runtime's certificate is checked against --ca-file, else the
/// stored runtime's ca_file, else E911_RUNTIME_CA_FILE, else the system's CAs.
struct RuntimeTarget {
  std::string runtime;
  std::string token_file;
  std::string ca_file;
  CLI::Option* runtime_option = nullptr;  ///< whoever adds --runtime sets these
  CLI::Option* token_option = nullptr;
};

/// Adds --runtime URL|NAME (E911_RUNTIME), --token-file FILE and --ca-file FILE to `cmd`.
void add_target_options(CLI::App& cmd, RuntimeTarget& t);
/// Adds --token-file FILE and --ca-file FILE alone, for a command with a --runtime of its own.
void add_token_file_option(CLI::App& cmd, RuntimeTarget& t);

/// The client of the runtime `t` names, its token read. Throws Error(usage) for an empty option or
/// variable, or a --runtime that is neither an http(s):// URL nor the name of a stored runtime (with
/// the closest name as a hint); Error(failure) when the token file cannot be read or is refused
/// (runtime::read_token_file).
AdminClient client_for(const Context& ctx, const RuntimeTarget& t);

/// The CA bundle for the runtimes publish reaches when the stored runtime names none:
/// E911_RUNTIME_CA_FILE, else empty (the system's CAs).
std::string default_runtime_ca_file();

}  // namespace e911::cli
