#pragma once
#include <memory>
#include <string>
#include <vector>

#include "e911/diagnostic.hpp"
#include "e911/error.hpp"

namespace e911 {

/// Input refused whole, such as a settings file: every problem found in it and the text the
/// problems quote, for the CLI to print as it prints any diagnostics (file:line:col, the line
/// and a caret). `kind` is ErrorKind::invalid (exit 3); what() says which input failed and how
/// many problems it has.
struct DiagnosticError : Error {
  std::vector<Diagnostic> diagnostics;
  std::shared_ptr<const SourceSet> sources;
  DiagnosticError(const std::string& message, std::vector<Diagnostic> diags, std::shared_ptr<const SourceSet> source_text)
      : Error(ErrorKind::invalid, message), diagnostics(std::move(diags)), sources(std::move(source_text)) {}
};

}  // namespace e911
