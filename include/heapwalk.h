/* heapwalk — classifies outstanding handles by what became of their owner
 * objects: live (strongly reachable), pending finalization, finalized or
 * collected without a free; counts zombies (freed, owner still in heap).
 *
 * Owns: the reachability walk and its timing. Runs only at report time, on
 * a thread where JNI and JVMTI heap functions are allowed. Its two
 * stop-the-world steps do work proportional to the owners the application
 * holds and to the heap's objects, never a tag per freed owner.
 */
#ifndef NRA_HEAPWALK_H
#define NRA_HEAPWALK_H

#include <jni.h>

#include "registry.h"
#include "report.h"

/* Fills the reachability counts of r by classifying each outstanding record
 * of snap (the snapshot r was built from), so the classes always sum to
 * counts.outstanding. Uses r->finalizer (whether finalization is enabled):
 * fill it first. Returns 0, or -ENOTSUP when owner objects are not tracked,
 * -EPROTO when a handle field could not be read, -ENOBUFS when more owners
 * held handles than the walk could keep, or -errno. */
int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r, const struct nra_reg_snapshot *snap);

#endif
