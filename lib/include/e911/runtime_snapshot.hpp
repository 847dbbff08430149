#pragma once
// The snapshot in service (ARCHITECTURE.md "The runtime"): loaded from the published file,
// checked (format version, checksum) by Snapshot::load, and swapped in whole. A request copies
// the pointer once and keeps that snapshot to its end, whatever is swapped in meanwhile; a file
// that fails to load is refused and the last good snapshot stays in service.
//
// The pointer is a std::shared_ptr<const Snapshot> guarded by a mutex and copied out per
// request, not std::atomic<std::shared_ptr> (GCC 12's libstdc++ has none) nor the
// std::atomic_load/atomic_store overloads (deprecated in C++20). The lock is held only for the
// copy of the pointer (a reference-count increment), never for a load: reload() reads and
// indexes the file first, then takes the lock to swap.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "e911/snapshot.hpp"

namespace e911::runtime {

class SnapshotSlot {
 public:
  SnapshotSlot() = default;
  explicit SnapshotSlot(std::shared_ptr<const Snapshot> first) : current_(std::move(first)) {}
  SnapshotSlot(const SnapshotSlot&) = delete;
  SnapshotSlot& operator=(const SnapshotSlot&) = delete;

  /// The snapshot in service (nullptr: none); the caller's copy stays valid after a swap.
  std::shared_ptr<const Snapshot> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  /// Puts `next` in service; returns the one it replaces.
  std::shared_ptr<const Snapshot> replace(std::shared_ptr<const Snapshot> next) {
    std::lock_guard lock(mutex_);
    current_.swap(next);
    return next;
  }

  /// What a reload did, with the one log line that says so.
  struct Reload {
    bool swapped = false;
    std::string message;  ///< "snapshot revision N in service (was M)" or why the file was refused
  };
  /// Loads `path` (Snapshot::load) and swaps it in when it loads; never throws for a bad file.
  Reload reload(const std::string& path);

  /// The revision in service as text: its number, or "none".
  static std::string revision_text(const std::shared_ptr<const Snapshot>& snap) {
    return snap ? std::to_string(snap->revision()) : std::string("none");
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
};

}  // namespace e911::runtime
