/* heapwalk — classifies outstanding handles by what became of their owner
 * objects: live (strongly reachable), pending finalization, finalized or
 * collected without a free; counts zombies (freed, owner still in heap).
 *
 * Owns: the reachability walk and its timing. Runs only at report time, on
 * a thread where JNI and JVMTI heap functions are allowed.
 */
#ifndef NRA_HEAPWALK_H
#define NRA_HEAPWALK_H

#include <jni.h>

#include "report.h"

/* Fills the reachability counts of r. Returns 0, or -ENOTSUP when owner
 * objects are not tracked, or -errno. */
int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r);

#endif
