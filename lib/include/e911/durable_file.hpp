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
/// Error(failure) naming `path` and the reason; the temporary file is then removed. Without
/// `sync`, nothing is flushed: still whole or absent, but a power cut may lose it.
///
/// The file is private to its owner: created mode 0600 whatever the umask (create_private_file),
/// since what e911ctl writes this way (snapshots, exports, the registrar's bindings) can hold
/// users' digest secrets.
void write_file_durably(const std::string& path, const std::vector<std::string_view>& parts, bool sync = true);

/// Creates `path` anew (a file already there is removed first; a symbolic link is never
/// followed) for writing, mode 0600 whatever the umask: readable by its owner only. When
/// `replacing` names a regular file its group may read, the new file keeps that group (where
/// this process may give it) and its read bit: a snapshot shared with the runtime's group stays
/// shared; nothing is ever open to others. Returns the descriptor, or -1 with errno set.
int create_private_file(const std::string& path, const std::string& replacing = {});

/// Creates the folder `dir` and its missing parents, each mode 0755 less the umask: never
/// writable by group or others, whatever the umask. Errors are left to the write that follows.
void create_folders(const std::string& dir);

/// Flushes the file at `path` to disk (fsync); throws Error(failure) when it cannot.
void sync_file(const std::string& path);

/// Flushes the folder holding `path` (fsync of the directory), so that a rename or link made
/// in it is kept; throws Error(failure) when it cannot.
void sync_parent_dir(const std::string& path);

}  // namespace e911
