/* finalizer_state — reads the Finalizer's state for reports: whether
 * finalization is enabled, the queue length, and the "Finalizer" thread's
 * state and top frames, with a one-line diagnosis of a stuck finalizer.
 *
 * Owns: nothing persistent. Must not: change any Java state; it reads
 * private fields through JNI and clears any exception it causes.
 */
#ifndef NRA_FINALIZER_STATE_H
#define NRA_FINALIZER_STATE_H

#include <jni.h>

#include "report.h"

void nra_finalizer_state(JNIEnv *env, struct nra_report_finalizer *out);

/* Just the Finalizer queue length (cheap: two field reads), or -1. */
int64_t nra_finalizer_queue_length(JNIEnv *env);

#endif
