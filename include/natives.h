/* natives — NativeMethodBind: redirects the rules' natives to wrappers that
 * record handle life cycles in the registry and open allocation scopes.
 *
 * Owns: the wrapper slot pool (a fixed set of compiled wrapper functions,
 * each forwarding to the original native recorded in its slot) and the list
 * of natives that matched a rule but could not be wrapped.
 * Must not: call GetLocalInstance/GetLocalObject or anything that needs a
 * safepoint on the call path of a wrapped native.
 */
#ifndef NRA_NATIVES_H
#define NRA_NATIVES_H

#include <jvmti.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define NRA_MAX_SLOTS 512

void JNICALL nra_natives_on_bind(jvmtiEnv *jvmti, JNIEnv *env, jthread thread, jmethodID method,
                                 void *address, void **new_address_ptr);

/* Java name of the native in a wrapper slot ("pkg.Class.method"), or NULL. */
const char *nra_natives_slot_name(unsigned slot);
enum nra_role nra_natives_slot_role(unsigned slot);
int nra_natives_slot_rule(unsigned slot);
uintptr_t nra_natives_slot_address(unsigned slot);

/* Natives of a rule that were not wrapped, as "pkg.Class.method(sig): reason". */
unsigned nra_natives_skipped(int rule, const char **names, unsigned max);

/* How many natives of each role were wrapped for a rule. */
unsigned nra_natives_wrapped(int rule, enum nra_role role);

/* A local reference to the class declaring the rule's alloc native, or
 * NULL if it was never bound or has been unloaded. */
jclass nra_natives_rule_class(JNIEnv *env, int rule);

/* Full Java name with signature of a rule's alloc/free native as bound
 * ("io.netty.internal.tcnative.SSL.newSSL(JZ)J"), or NULL if never bound. */
const char *nra_natives_bound_name(int rule, enum nra_role role);

#endif
