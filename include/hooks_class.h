/* hooks_class — builds the bytes of the helper class nraudit/Hooks that
 * instrumented owner classes call: one static native method
 * `constructed<k>(Object)` per rule k and `finalizing(Object)`.
 *
 * Owns: the class's name and method names. Must not: call JVMTI/JNI (the
 * agent defines the class in the boot loader and registers the natives).
 */
#ifndef NRA_HOOKS_CLASS_H
#define NRA_HOOKS_CLASS_H

#include <stddef.h>
#include <stdint.h>

#define NRA_HOOKS_CLASS "nraudit/Hooks"
#define NRA_HOOKS_FINALIZING "finalizing"

/* "constructed<k>" into out. */
void nra_hooks_constructed_name(int rule, char *out, size_t len);

/* Writes the class file for n_rules rules. Returns its length, or -ENOSPC
 * when cap is too small, -EINVAL for a bad n_rules. */
int nra_hooks_class_bytes(int n_rules, uint8_t *out, size_t cap);

#endif
