// The snapshot in service and its reload (see runtime_snapshot.hpp).
#include "e911/runtime_snapshot.hpp"

#include <exception>

#include "e911/error.hpp"

namespace e911::runtime {

SnapshotSlot::Reload SnapshotSlot::reload(const std::string& path) {
  std::shared_ptr<const Snapshot> next;
  std::string why;
  try {
    next = Snapshot::load(path);
  } catch (const Error& e) {
    why = e.what();
  } catch (const std::exception& e) {  // e.g. std::bad_alloc on a corrupt size: still refused
    why = e.what();
  }
  if (!next) {
    return {false, "snapshot '" + path + "' refused: " + why + "; revision " + revision_text(current()) + " stays in service"};
  }
  const auto was = replace(next);
  return {true, "snapshot revision " + revision_text(next) + " in service (was " + revision_text(was) + ")"};
}

}  // namespace e911::runtime
