/* report_trigger — writes reports from the JVM side: builds the snapshot
 * (report_build), adds what only the JVM knows (reachability classes,
 * Finalizer state, notes), renders each asked format and saves it.
 *
 * Owns: the report lock and queue (one report at a time; data dumps coalesce). Must run on a thread where
 * JNI and JVMTI heap functions are allowed (DataDumpRequest, VMDeath,
 * Agent_OnAttach), never from a hooked allocator or a wrapped native.
 */
#ifndef NRA_REPORT_TRIGGER_H
#define NRA_REPORT_TRIGGER_H

#include <jni.h>

#include "options.h"

/* Writes a report for `trigger` ("exit", "datadump", "command") with the
 * file template and formats of opts. A "datadump" asked for while another
 * with the same opts runs waits for that one and returns its result.
 * Returns 0 or -errno. */
int nra_report_now(JNIEnv *env, const char *trigger, const struct nra_options *opts);

/* Data dumps answered by a report already running. */
uint64_t nra_report_coalesced(void);

#endif
