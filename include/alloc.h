/* alloc — the malloc-family hooks that gothook installs into GOT slots, the
 * per-thread "scope" (which record's native is running on this thread) and
 * the table of allocations attributed to records.
 *
 * Owns: the attributed-allocation table (bounded, striped spinlocks), the
 * allocation-signature cache, the real allocator entry points.
 * Must not: call JVMTI/JNI, take a lock that is held across a call to the
 * real allocator, or allocate through a hooked slot. Hooks are reentrant:
 * while a thread is inside the agent's own bookkeeping (busy), nested
 * allocator calls — from libunwind, or a signal handler — pass straight
 * through unattributed.
 */
#ifndef NRA_ALLOC_H
#define NRA_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One wrapped native call in progress on this thread. Lives on the stack of
 * the wrapper; nested scopes chain through `outer`. */
struct nra_scope {
    uint64_t record_id;     /* record the allocations belong to */
    uint32_t java_site;     /* the record's creating Java stack */
    uint16_t slot;          /* wrapper slot of the running native */
    uint16_t rule;
    uint32_t order;         /* allocations attributed so far in this scope */
    uint32_t unwinds;       /* native stacks unwound in this scope */
    struct nra_scope *outer;
};

/* Per-scope budgets that keep the cost of one allocation bounded whatever a
 * native does: only the first NRA_SCOPE_NAMED allocations of a scope get a
 * named native site (a signature keyed by their order), and at most
 * NRA_SCOPE_UNWINDS stacks are unwound per scope. Past either budget an
 * allocation is still attributed (held or residue are exact), under its
 * native's "unnamed" site, and counted by the reason. */
#define NRA_SCOPE_NAMED 128
#define NRA_SCOPE_UNWINDS 16

/* A frame value in an interned native stack that is not a PC: it ends every
 * site's stack and names the wrapper slot whose native was running. */
#define NRA_FRAME_SLOT_TAG ((uintptr_t)1 << 63)
#define NRA_FRAME_SLOT(v) ((unsigned)((v) & 0xffff))
/* Set in the tag when the unwind reached the wrapper: the stack is whole
 * (else it was cut at its depth bound or at code without unwind data). */
#define NRA_FRAME_COMPLETE ((uintptr_t)1 << 62)
/* Set in the tag of a native's "unnamed" site: allocations past a scope
 * budget or a full signature cache; the stack holds no PC, only the tag. */
#define NRA_FRAME_UNNAMED ((uintptr_t)1 << 61)

/* Why an allocation went to its native's unnamed site. */
enum nra_unnamed_reason {
    NRA_UNNAMED_PAST_ORDER = 0,   /* past the first NRA_SCOPE_NAMED of its scope */
    NRA_UNNAMED_UNWIND_BUDGET,    /* its scope had unwound NRA_SCOPE_UNWINDS stacks */
    NRA_UNNAMED_SITES_FULL,       /* the signature cache (max_sites) was full */
    NRA_UNNAMED_STACKS_FULL,      /* the stack table (max_stacks) was full */
    NRA_UNNAMED_REASONS
};

struct nra_alloc_info {
    uintptr_t ptr;
    uint64_t record_id;
    uint64_t size;
    uint32_t native_stack;  /* interned (stacks.h), ends with a slot tag */
    uint32_t java_site;
    uint32_t weight;        /* allocations this entry stands for (1: exact; see sampling) */
};

struct nra_alloc_stats {
    uint64_t attributed;        /* entries inserted since start */
    uint64_t live;              /* entries in the table now */
    uint64_t capacity;          /* the table's bound (max_allocs, rounded) */
    uint64_t dropped;           /* not attributed: the entry's stripe was full */
    uint64_t thinned;           /* entries removed when the sample rate halved */
    unsigned sample_shift;      /* new allocations are kept 1 in 2^shift */
    uint64_t stack_captures;    /* native stacks unwound (signature misses) */
    uint64_t signatures;        /* signatures cached now */
    uint64_t signatures_max;    /* the cache's bound (max_sites) */
    uint64_t unnamed[NRA_UNNAMED_REASONS];
};

/* Resolves the real allocator (dlsym(RTLD_DEFAULT, ...): an LD_PRELOADed
 * allocator stays in effect) and sizes the table (max_allocs entries) and
 * the signature cache (max_sites signatures, kept at most half full). Call
 * once, before any GOT slot points at the hooks.
 *
 * Sampling past the table: while the table is below 3/4 full every
 * attributed allocation has its entry (weight 1: exact). When a stripe
 * passes 3/4, the sample shift s rises by one: from then on a new
 * allocation gets an entry only when the low s bits of a hash of its
 * address are zero, with weight 2^s, and entries kept at a lower shift are
 * thinned by the same rule, a few buckets per insert, so the table never
 * fills with a leak's entries. Sums of weights are unbiased estimates. */
int nra_alloc_init(unsigned max_allocs, unsigned max_sites);

/* Code range of the agent itself: native stacks are cut at the first frame
 * inside it (the wrapper), so JVM frames never enter a site. */
void nra_alloc_set_self_range(uintptr_t lo, uintptr_t hi);

/* The hook for an allocator symbol ("malloc", "free", ...), or NULL. */
void *nra_alloc_hook_for(const char *symbol);
/* The allocator symbols that have hooks, NULL-terminated. */
extern const char *const nra_alloc_symbols[];

void nra_alloc_scope_enter(struct nra_scope *s);
void nra_alloc_scope_leave(struct nra_scope *s);

/* Calls fn for every live attributed allocation. fn must be quick: it runs
 * with one table stripe locked, and must neither allocate nor free. */
void nra_alloc_for_each(void (*fn)(const struct nra_alloc_info *a, void *arg), void *arg);

void nra_alloc_get_stats(struct nra_alloc_stats *out);

/* The wrapper slot named by the tag that ends an interned site stack, or -1. */
int nra_alloc_stack_slot(uint32_t native_stack);

/* The real allocator, for tests and benchmarks. */
void *nra_real_malloc(size_t n);
void nra_real_free(void *p);

#endif
