#pragma once
#include <stdexcept>
#include <string>

namespace e911 {

/// What kind of failure an Error is; the CLI maps each to a stable exit code.
enum class ErrorKind {
  failure = 1,     ///< the operation could not be done
  usage = 2,       ///< the command line was wrong
  invalid = 3,     ///< the configuration or input is invalid
  remote = 4,      ///< a runtime or provider could not be reached
  store = 5,       ///< the database could not be read or written
  unroutable = 6,  ///< a dry run found an emergency call that would fail
  internal = 70,   ///< a bug
};

/// A failure the user should see: a lowercase message with the subject in quotes, and a hint.
struct Error : std::runtime_error {
  ErrorKind kind;
  std::string hint;
  Error(ErrorKind k, const std::string& message, std::string hint_text = {})
      : std::runtime_error(message), kind(k), hint(std::move(hint_text)) {}
};

}  // namespace e911
