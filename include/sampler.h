/* sampler — the agent thread behind interval=SECONDS: every tick it takes a
 * time-series sample (series.h), appends it as one JSON line to the .jsonl
 * file beside the reports, and keeps it for the HTML report's charts.
 *
 * Owns: the sampler thread and the .jsonl file (bounded: it rotates at
 * series_max_kb, keeping one previous file, and says so in the new file).
 * Must not: walk the heap (ticks stay cheap; leak counts come from owner
 * flags) or run after VMDeath.
 */
#ifndef NRA_SAMPLER_H
#define NRA_SAMPLER_H

#include <jni.h>

#include "series.h"

/* Starts the sampler thread when opts.interval > 0 (at VMInit). */
int nra_sampler_start(JNIEnv *env);

/* Takes one sample now (also used to give a report its latest numbers). */
void nra_sampler_take(JNIEnv *env, struct nra_sample *out);

/* Bytes in use in the Java heap (Runtime total - free), or -1. */
int64_t nra_java_heap_used(JNIEnv *env);

#endif
