/* report — the snapshot a report is made of, how it is built from the
 * registry, the allocation table and the interned stacks, and its writers.
 *
 * Owns: struct nra_report (a self-contained copy: writers need nothing else).
 * Must not: call JVMTI/JNI. What only the JVM knows (Java frame names,
 * reachability classes, Finalizer state) comes in through nra_report_sources
 * or is filled in by the caller before writing.
 */
#ifndef NRA_REPORT_H
#define NRA_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "registry.h"
#include "rules.h"

#define NRA_REPORT_NATIVE_FRAMES 49
#define NRA_REPORT_JAVA_FRAMES 16
#define NRA_REPORT_FRAME_LEN 256
#define NRA_REPORT_MAX_SITES 32
#define NRA_REPORT_MAX_GROUPS 16
#define NRA_REPORT_MAX_FINDINGS 8
#define NRA_REPORT_MAX_SKIPPED 16
#define NRA_REPORT_MAX_NOTES 32
#define NRA_REPORT_MAX_NATIVE_SITES 16
#define NRA_REPORT_MAX_PATHS 8

struct nra_report_frame {
    uintptr_t address;
    uintptr_t offset;            /* from the library's load base */
    char library[128];           /* base name, " (deleted)" when the file is gone */
    char symbol[NRA_REPORT_FRAME_LEN];  /* "" when unknown */
};

struct nra_report_stack {
    unsigned n;
    char frames[NRA_REPORT_JAVA_FRAMES][NRA_REPORT_FRAME_LEN];
};

/* Residue of one native stack and one creating Java stack (residue.sites[]
 * of the contract). Counts are estimates when `estimated` (the allocation
 * table sampled: each kept entry stands for `sample_rate` allocations). */
struct nra_report_site {
    uint64_t bytes, allocations, owners;
    uint64_t size_each;          /* 0 when sizes differ */
    uint64_t owners_met;         /* owners with allocations at this native stack now (held or residue) */
    bool repeating;              /* more than one owner met: a finding; else one-time */
    bool estimated;
    bool unnamed;                /* the native stack was not unwound (a scope budget) */
    bool java_sampled;           /* the owners here had their Java stack captured */
    bool retained;               /* its native site is retained state (set with the findings) */
    uint32_t native_stack;       /* interned id: the native site it belongs to has the same */
    uint32_t sample_rate;        /* largest entry weight: 1 when exact */
    char scope[8];               /* "alloc", "use", "free" */
    bool truncated;              /* the native stack did not reach the wrapper */
    char scope_native[192];
    unsigned n_native;
    struct nra_report_frame native[NRA_REPORT_NATIVE_FRAMES];
    struct nra_report_stack java;
};

/* One Java path under a native site: the owners created there. */
struct nra_report_path {
    uint64_t owners, allocations, bytes;
    bool sampled;                /* false: the owners whose Java stack was not captured */
    struct nra_report_stack java;
};

/* Residue grouped by native stack alone, over every Java path: one finding
 * per repeating native site states these totals. */
struct nra_report_native_site {
    uint64_t bytes, allocations, owners, size_each, owners_met;
    bool retained;               /* bounded state that outlives owners on purpose, not a leak */
    char retained_reason[224];
    uint32_t native_stack;       /* interned id, shared with its sites[] */
    uint64_t owners_sampled;     /* owners whose Java stack was captured */
    bool repeating, estimated, unnamed, truncated;
    uint32_t sample_rate;
    char scope[8];
    char scope_native[192];
    unsigned n_native;
    struct nra_report_frame native[NRA_REPORT_NATIVE_FRAMES];
    unsigned n_paths;
    uint64_t paths_omitted;      /* owners on paths not listed */
    struct nra_report_path paths[NRA_REPORT_MAX_PATHS];
};

struct nra_report_group {        /* outstanding handles with one creating stack */
    uint64_t count;
    uint64_t oldest_ms;          /* wall clock, ms */
    struct nra_report_stack java;
};

struct nra_report_counts {
    uint64_t allocated, freed, outstanding, freed_by_finalizer;
    uint64_t live, pending_finalization, finalized_not_freed, collected_not_freed;
    uint64_t freed_with_residue, zombies, orphans;
    uint64_t unknown_frees, reused_unfreed, dropped;
};

struct nra_report_finding {
    char kind[32];
    uint64_t owners, bytes;
    int native_site;             /* residue: index in native_sites[], else -1 */
    bool estimated;
    uint64_t bytes_per_owner;    /* 0 when owners is 0 */
    /* The finding as a person reads it, lines of the verdict block: */
    char what[128];              /* the kind of leak, in plain words */
    char where_native[200];      /* the native frame that allocated (residue) */
    char where_java[200];        /* the first application Java frame, "" if none */
    char todo[200];              /* the known fix, or the next step */
    char rate[128];              /* the rate line: per hour and per day, or why it is not projected */
    double owners_per_hour, bytes_per_hour;   /* over the audited time (uptime) */
    char summary[640];
    char known_leak[64];         /* id in data/known-leaks.tsv, "" if none */
    char known_version[64];      /* artifact version that matched */
    char known_fix[192];
};

struct nra_report_rule {
    char rule[NRA_RULE_STR];
    char owner_class[NRA_RULE_STR];
    char alloc_native[384];
    char free_native[384];
    struct nra_report_counts counts;
    bool residue_estimated;                  /* freed_with_residue and residue sums are estimates */
    bool zombies_exact;                      /* counts.zombies is exact (else an upper bound) */
    uint64_t held_bytes, held_allocations;   /* attributed to outstanding handles */
    uint64_t residue_bytes, residue_allocations;
    uint64_t repeating_bytes, repeating_allocations;  /* residue at repeating sites only */
    uint64_t leak_bytes, retained_bytes;     /* of those: in findings / in retained_findings */
    unsigned n_sites;
    uint64_t sites_omitted;
    struct nra_report_site sites[NRA_REPORT_MAX_SITES];
    unsigned n_native_sites;
    uint64_t native_sites_omitted;
    struct nra_report_native_site native_sites[NRA_REPORT_MAX_NATIVE_SITES];
    unsigned n_groups;
    uint64_t groups_omitted;
    struct nra_report_group groups[NRA_REPORT_MAX_GROUPS];
    bool audited;                            /* its alloc native was bound and wrapped */
    char unaudited_reason[192];              /* why not, "" when audited */
    unsigned n_findings;
    struct nra_report_finding findings[NRA_REPORT_MAX_FINDINGS];
    /* Repeating native sites whose evidence says bounded state (kind
     * "retained"): apart from findings, whose every entry is a leak. */
    unsigned n_retained;
    struct nra_report_finding retained[NRA_REPORT_MAX_FINDINGS];
    unsigned n_recent;
    struct {
        int64_t handle;
        uint32_t alloc_tid, free_tid;
        uint64_t alloc_ms, free_ms;
    } recent[8];                             /* latest frees, newest first */
    unsigned n_skipped;
    char skipped[NRA_REPORT_MAX_SKIPPED][256];
    unsigned wrapped_use;
};

struct nra_report_finalizer {
    bool known;
    bool enabled;
    bool idle;                   /* waiting for work: no finalize() is running */
    int64_t queue_length;        /* -1 unknown */
    char thread_state[32];
    struct nra_report_stack stack;
    char diagnosis[256];
};

struct nra_report {
    char trigger[16];            /* exit | datadump | interval | command */
    long pid;
    uint64_t seq;                /* this report's number in the process, from 1 (%n) */
    uint64_t timestamp_ms, uptime_ms;
    char version[16];
    char options[1024];
    uint64_t dropped;            /* everything any table dropped (sum of bounds[].dropped) */
    unsigned n_bounds;
    struct nra_report_bound {
        char table[24];          /* records, allocations, sites, stacks, scope budgets */
        char option[24];         /* the option that sizes it, "" when fixed */
        uint64_t size, used;
        uint64_t dropped;        /* lost: not counted anywhere (records, allocations, stacks) */
        uint64_t degraded;       /* kept, but less precise (unnamed sites, sampled entries) */
        char effect[160];        /* what a drop or degradation means for the numbers */
    } bounds[8];
    unsigned sample_shift;       /* allocation table sampling: 1 in 2^shift (0: exact) */
    unsigned n_notes;
    char notes[NRA_REPORT_MAX_NOTES][256];
    struct {
        uint64_t attributed, attributed_live, stack_captures, stacks_interned;
        uint64_t java_stacks_captured, java_stacks_not_sampled, owners_claimed, classes_instrumented;
    } stats;
    unsigned n_hooked;
    char hooked[16][128];        /* libraries whose allocator slots are hooked */
    bool reachability_done;
    double reachability_ms;          /* the whole walk, pauses and matching */
    double reachability_pause_ms;    /* its stop-the-world part: follow + iterate */
    double reachability_follow_ms, reachability_iterate_ms;
    uint64_t owners_in_heap;         /* owner objects the heap iteration met */
    bool zombies_counted;            /* false: the iteration was skipped to keep the pause short */
    int n_rules;
    struct nra_report_rule *rules;   /* n_rules entries, malloc'd */
    bool audited;                    /* some rule was audited: a verdict means something */
    char verdict[256];               /* the verdict's sentence, computed once (nra_report_findings) */
    struct nra_report_finalizer finalizer;
};

/* What the builder needs from the JVM side. */
struct nra_report_sources {
    const struct nra_ruleset *rules;
    /* Names a Java frame; returns 0 or -errno. */
    int (*java_frame)(uintptr_t method, uintptr_t location, char *out, size_t len);
    const char *(*slot_name)(unsigned slot);
    enum nra_role (*slot_role)(unsigned slot);
    int (*slot_rule)(unsigned slot);
    uintptr_t (*slot_address)(unsigned slot);   /* the native's entry point */
    const char *(*bound_name)(int rule, enum nra_role role);
    unsigned (*skipped)(int rule, const char **names, unsigned max);
    unsigned (*wrapped)(int rule, enum nra_role role);
    uint64_t max_records, max_stacks;   /* bounds the builder cannot ask the tables for */
    /* artifactId and version of the jar holding the rule's natives; 0 or -errno. */
    int (*artifact)(int rule, char *artifact, size_t alen, char *version, size_t vlen);
};

/* Builds the rule sections (counts, residue sites, outstanding groups,
 * findings) into r, whose header fields the caller fills, from one
 * registry snapshot: counts, groups and the held/residue split all describe
 * the moment it was taken. Outstanding handles are all put in `live`
 * (unclassified) until the caller's reachability walk classifies the
 * snapshot's records. Returns 0 or -ENOMEM. */
int nra_report_build(struct nra_report *r, const struct nra_report_sources *src, const struct nra_reg_snapshot *snap);

/* Recomputes findings after the caller changed counts (reachability). */
void nra_report_findings(struct nra_report *r, const struct nra_report_sources *src);

void nra_report_add_note(struct nra_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nra_report_free(struct nra_report *r);

int nra_report_write_text(const struct nra_report *r, FILE *out);
int nra_report_write_json(const struct nra_report *r, FILE *out);
/* Folded stacks of leak and retained residue (report_collapsed.c). */
int nra_report_write_collapsed(const struct nra_report *r, FILE *out);

/* Writes data to path atomically: a 0600 temp file beside it, then rename.
 * Never follows a symlink at path (rename replaces the link itself). */
int nra_report_save(const char *path, const char *data, size_t len);

#endif
