/* series — the time series: one sample per tick (interval=SECONDS) of the
 * numbers an on-call person plots — per rule outstanding handles, residue
 * bytes and leak counts; process RSS; Java heap used; Finalizer queue.
 *
 * Owns: a bounded in-memory ring of the latest samples (for the HTML
 * report's charts) and the JSON-lines encoding of a sample.
 * Must not: call JVMTI/JNI (the sampler in report_trigger.c fills samples).
 */
#ifndef NRA_SERIES_H
#define NRA_SERIES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rules.h"

#define NRA_SERIES_CAP 2048   /* samples kept in memory (oldest dropped) */

struct nra_series_rule {
    uint64_t allocated, freed, outstanding;
    uint64_t residue_bytes, residue_allocations;
    uint64_t finalized_not_freed;  /* from owner flags: a tick never walks the heap */
};

struct nra_sample {
    uint64_t timestamp_ms, uptime_ms;
    int64_t rss_bytes;            /* -1 unknown */
    int64_t heap_used_bytes;      /* -1 unknown */
    int64_t finalizer_queue;      /* -1 unknown */
    int n_rules;
    struct nra_series_rule rule[NRA_MAX_RULES];
};

/* Appends a sample to the ring (thread-safe). */
void nra_series_add(const struct nra_sample *s);

/* Copies up to max of the newest samples, oldest first; returns the count. */
size_t nra_series_get(struct nra_sample *out, size_t max);

/* Writes one JSON line (schema nraudit/series-v1) for s. */
int nra_series_write_line(const struct nra_sample *s, const struct nra_ruleset *rules, FILE *out);

/* Resident set size of this process in bytes, or -1. */
int64_t nra_series_rss(void);

#endif
