/* registry — one record per native handle a rule allocated: who made it,
 * when, and what became of its handle and its owner object.
 *
 * Owns: records (by handle and by id) and the per-rule counters.
 * Must not: call JVMTI/JNI (callers feed it), or call back into other
 * modules while holding its lock.
 *
 * Invariants: record ids are assigned from 1 upward and never reused, so an
 * attributed allocation's record id stays meaningful after its record
 * retires. A record lives while its handle is outstanding; freeing retires
 * it, so a record id that is not found belongs to a freed handle (or to an
 * alloc native that failed). Every outstanding handle has exactly one record
 * in the handle map.
 */
#ifndef NRA_REGISTRY_H
#define NRA_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "rules.h"

enum nra_record_flag {
    NRA_REC_OWNER = 1u << 0,      /* the owner's constructor returned and found it */
    NRA_REC_FINALIZED = 1u << 1,  /* the owner's finalize() started */
    NRA_REC_FREEING = 1u << 2,    /* its free native is running: out of the handle map */
};
/* Bits 8-11 of flags: the owner's runtime class, as its slot in the
 * instrument module's per-rule class cache + 1 (0: not known). */
#define NRA_REC_CLASS_SHIFT 8
#define NRA_REC_CLASS_MASK (0xfu << NRA_REC_CLASS_SHIFT)
#define NRA_REC_CLASS(flags) ((int)(((flags) & NRA_REC_CLASS_MASK) >> NRA_REC_CLASS_SHIFT) - 1)

struct nra_record_info {
    uint64_t id;
    int64_t handle;
    int rule;
    unsigned flags;
    uint32_t alloc_tid;
    uint32_t java_site;           /* interned creating Java stack, 0 = none */
    uint64_t alloc_ns;            /* CLOCK_REALTIME, ns */
    uint64_t finalized_ns;        /* when NRA_REC_FINALIZED was set (CLOCK_REALTIME), else 0 */
};

/* A freed handle's life, kept in a small per-rule ring of the latest frees
 * (records themselves retire at free so memory stays bounded). */
struct nra_freed_info {
    uint64_t id;
    int64_t handle;
    uint32_t alloc_tid, free_tid;
    uint64_t alloc_ns, free_ns;
    uint32_t java_site;
    unsigned flags;
};

#define NRA_RECENT_FREES 8
#define NRA_REG_IN_FLIGHT 256     /* alloc natives running at once that a snapshot can name */

struct nra_rule_counts {
    uint64_t allocated;           /* recorded allocations (dropped ones excluded) */
    uint64_t freed;               /* includes reused_unfreed */
    uint64_t freed_by_finalizer;
    uint64_t unknown_frees;       /* free native called with a handle we never saw */
    uint64_t reused_unfreed;      /* alloc returned a handle still outstanding: freed unseen */
    uint64_t dropped;             /* not recorded: the registry was full */
    uint64_t outstanding;
    uint64_t owners_claimed;      /* owner constructors that found their record */
};

/* Sets the bound on outstanding records and clears everything. */
int nra_reg_init(unsigned max_records);

/* Takes the next record id, and a place in the bounded table, before the
 * alloc native runs, so allocations made inside it can be attributed before
 * the handle is known. Returns 0 when the table is full: then call the
 * native without a scope and nra_reg_count_dropped() if it returned a handle. */
uint64_t nra_reg_reserve_id(void);
void nra_reg_count_dropped(int rule);

/* The alloc native returned `handle`; `id` comes from nra_reg_reserve_id()
 * (0: take a fresh one, if there is room). Returns the record id, or 0 when
 * the registry is full (counted as dropped) or the handle is 0 (the native
 * failed; a reservation is given back). */
uint64_t nra_reg_alloc(int rule, int64_t handle, uint64_t id, uint32_t tid, uint64_t now_ns,
                       uint32_t java_site);

/* The free native was called with `handle`. Returns 0 and the retired
 * record's info, or -ENOENT (counted as unknown_frees). */
int nra_reg_free(int rule, int64_t handle, uint32_t tid, uint64_t now_ns, struct nra_record_info *freed);

/* A free in two steps, around the free native: begin takes the record out
 * of the handle map before the native runs (so an alloc on another thread
 * that gets the same handle back makes a new record and can never be
 * retired by this free) and marks it FREEING; end retires it by id. The
 * record stays outstanding in between (reports see it, counts change at
 * end). begin returns the id (info in *rec), or 0 (counted as
 * unknown_frees). */
uint64_t nra_reg_begin_free(int rule, int64_t handle, struct nra_record_info *rec);
void nra_reg_end_free(uint64_t id, uint32_t tid, uint64_t now_ns);

/* A consistent view for one report: every rule's counts and every
 * outstanding record, copied under one lock hold, so that counts.outstanding
 * equals the records listed. Records are sorted by id. `epoch` is the next
 * id: a record id >= epoch was made after the snapshot. `in_flight` lists
 * the ids reserved by alloc natives still running (their allocations are
 * neither held nor residue yet). */
struct nra_reg_snapshot {
    uint64_t epoch;
    uint64_t taken_ns;            /* CLOCK_REALTIME */
    struct nra_rule_counts counts[NRA_MAX_RULES];
    struct nra_record_info *records;
    size_t n;
    uint64_t in_flight[NRA_REG_IN_FLIGHT];
    unsigned n_in_flight;
    uint64_t in_flight_untracked; /* reservations past the bound: said in a note */
};

/* The id the next record will get: equal to a snapshot's epoch while no
 * record was made since. */
uint64_t nra_reg_next_id(void);

/* Fills *s (records malloc'd: nra_reg_snapshot_free). Returns 0 or -ENOMEM. */
int nra_reg_snapshot(struct nra_reg_snapshot *s);
void nra_reg_snapshot_free(struct nra_reg_snapshot *s);
/* The snapshot's record of id, or NULL (binary search). */
const struct nra_record_info *nra_reg_snapshot_find(const struct nra_reg_snapshot *s, uint64_t id);
/* Whether id was reserved by an alloc native still running at the snapshot. */
bool nra_reg_snapshot_in_flight(const struct nra_reg_snapshot *s, uint64_t id);

/* Id of the outstanding record of `handle` (copied to out), or 0. Answers
 * come from a per-thread cache while no handle or flag changed anywhere. */
uint64_t nra_reg_lookup_handle(int rule, int64_t handle, struct nra_record_info *out);

/* Outstanding record by id; -ENOENT if retired (freed) or unknown. */
int nra_reg_get(uint64_t id, struct nra_record_info *out);

/* The owner of `handle` was constructed: marks its record NRA_REC_OWNER,
 * notes the owner's runtime class slot (-1: unknown) and returns its id, or
 * 0 (one lookup, one lock). */
uint64_t nra_reg_claim_owner(int rule, int64_t handle, int class_slot);

/* Adds flags to the outstanding record of `handle`; returns its id or 0. */
uint64_t nra_reg_flag_handle(int rule, int64_t handle, unsigned flags);


/* Copies the counters of a rule. */
void nra_reg_counts(int rule, struct nra_rule_counts *out);

/* Copies the latest frees of a rule (newest first); returns the count. */
unsigned nra_reg_recent_frees(int rule, struct nra_freed_info *out, unsigned max);

/* Calls fn for every outstanding record, oldest first, under the registry
 * lock: fn must be quick and must not call into the registry. */
void nra_reg_for_each(void (*fn)(const struct nra_record_info *rec, void *arg), void *arg);

#endif
