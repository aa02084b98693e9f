/* java_stacks — captures the current thread's Java stack with JVMTI
 * GetStackTrace (direct on the current thread: no safepoint), interns it,
 * and names frames at report time.
 *
 * Owns: the sampling policy (docs/usage.md, java_sample=).
 * Must not: call GetLocalInstance/GetLocalObject or suspend threads.
 */
#ifndef NRA_JAVA_STACKS_H
#define NRA_JAVA_STACKS_H

#include <stddef.h>
#include <stdint.h>

/* The creating Java stack for a new record of `rule` on this thread:
 * an interned Java stack id, or 0 when not sampled, disabled or
 * unavailable. Never another record's stack. */
uint32_t nra_java_site_for_record(int rule);

/* "pkg.Class.method(File.java:123)" for an interned Java frame pair.
 * Returns 0, or -errno when the method is gone (its class unloaded). */
int nra_java_frame_name(uintptr_t method, uintptr_t location, char *out, size_t out_len);

uint64_t nra_java_stacks_captured(void);
uint64_t nra_java_stacks_not_sampled(void);  /* records left without a stack by sampling */

#endif
