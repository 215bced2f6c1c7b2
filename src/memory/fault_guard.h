// The SIGBUS guard over file mappings (internal to the memory module): a fixed table of mapped ranges that a
// signal handler reads without locks. A bus error inside a registered range (its file was truncated in place) is
// answered by mapping zero pages over the rest of the range and marking the slot; anything else gets the handler
// that was there before (or the default action: a crash with a core, as without the guard).
#pragma once

#include <cstddef>

namespace berth {

// Registers [begin, begin + bytes) (page-aligned begin); the slot, or -1 when the table is full (the range is
// then unguarded: a truncation faults as before). Installs the handler on first use.
int fault_guard_register(void* begin, size_t bytes);
// Forgets a slot before its range is unmapped.
void fault_guard_unregister(int slot);
// The handler replaced part of the slot's range with zero pages.
bool fault_guard_faulted(int slot);

}  // namespace berth
