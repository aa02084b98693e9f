/* hookset — decides which loaded libraries get the allocation hooks and
 * asks gothook to patch them: the library holding each bound native of a
 * rule plus its libssl/libcrypto dependencies (hook=rule-libs), or every
 * loaded object but the agent, libc and the dynamic linker (hook=all).
 *
 * Owns: the set of libraries already patched and the failures to report.
 * Must not: call JVMTI/JNI.
 */
#ifndef NRA_HOOKSET_H
#define NRA_HOOKSET_H

#include <stddef.h>

#include "options.h"

/* Patches the library containing addr (and, by mode, its dependencies).
 * Safe to call again for the same library. Returns 0 or -errno. */
int nra_hookset_for_address(const void *addr, enum nra_hook_mode mode);

/* Patches every loaded object (hook=all). */
int nra_hookset_all(void);

/* hook=all: rescans when addr lies in a library not seen yet. */
void nra_hookset_notice_code(const void *addr);

/* Base names of the libraries hooked without error. */
unsigned nra_hookset_hooked(char names[][128], unsigned max);

/* Describes patched libraries and failures, one line each, for reports. */
unsigned nra_hookset_describe(char lines[][256], unsigned max, unsigned *n_failed);

#endif
