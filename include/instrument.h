/* instrument — ClassFileLoadHook glue: rewrites owner classes so their
 * constructors report `this` (Hooks.constructed<k>) and finalize() methods
 * report entry (Hooks.finalizing); defines nraudit/Hooks in the boot loader
 * and implements its natives.
 *
 * Owns: the per-rule owner classes and handle-field cache (weak refs).
 * Must not: hold global references to owners (they would become GC roots),
 * tag owners on the hot path (SetTag is costly; reports find owners through
 * their class), call GetLocalInstance/GetLocalObject, or let an exception
 * escape into application code.
 */
#ifndef NRA_INSTRUMENT_H
#define NRA_INSTRUMENT_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

void JNICALL nra_instrument_on_class_load(jvmtiEnv *jvmti, JNIEnv *env, jclass redefined, jobject loader,
                                          const char *name, jobject protection_domain, jint len,
                                          const unsigned char *data, jint *new_len, unsigned char **new_data);

/* The handle field's ID for an owner of `rule` whose runtime class is cls
 * (cached per class), or NULL. */
jfieldID nra_instrument_handle_field(JNIEnv *env, jclass cls, int rule);

/* A local reference to the runtime owner class in slot `slot` of the
 * rule's class cache (the slot a record's flags name), or NULL. */
jclass nra_instrument_runtime_class(JNIEnv *env, int rule, int slot);

/* Local references to the rule's owner class(es) seen so far (one per class
 * loader that loaded a copy). Returns the count. */
unsigned nra_instrument_owner_classes(JNIEnv *env, int rule, jclass *out, unsigned max);

/* Defines nraudit/Hooks in the boot loader (VMInit). Returns 0 or -errno. */
int nra_instrument_define_hooks(JNIEnv *env);

/* True once the hooks are defined: owner constructors report to the agent. */
bool nra_instrument_active(void);

/* Counters for reports. */
uint64_t nra_instrument_classes_rewritten(void);

#endif
