#pragma once
// Files that survive a crash (issue 14): written whole or not at all, and on disk before the
// caller goes on. A process killed at any moment, or a machine that loses power, leaves at
// `path` the old file or the new one, never a part of either.
#include <string>
#include <string_view>
#include <vector>

namespace e911 {

/// Writes `parts`, one after the other, to `path`: into a temporary file beside it (its name,
/// ".tmp." and this process's id), flushed to disk (fsync), renamed over `path`, and the folder
/// flushed so the rename itself is kept. Creates the folder when missing. Throws
/// Error(failure) naming `path` and the reason; the temporary file is then removed.
void write_file_durably(const std::string& path, const std::vector<std::string_view>& parts);

/// Flushes the file at `path` to disk (fsync); throws Error(failure) when it cannot.
void sync_file(const std::string& path);

/// Flushes the folder holding `path` (fsync of the directory), so that a rename or link made
/// in it is kept; throws Error(failure) when it cannot.
void sync_parent_dir(const std::string& path);

}  // namespace e911
