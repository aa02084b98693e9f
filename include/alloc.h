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
    struct nra_scope *outer;
};

/* A frame value in an interned native stack that is not a PC: it ends every
 * site's stack and names the wrapper slot whose native was running. */
#define NRA_FRAME_SLOT_TAG ((uintptr_t)1 << 63)
#define NRA_FRAME_SLOT(v) ((unsigned)((v) & 0xffff))
/* Set in the tag when the unwind reached the wrapper: the stack is whole
 * (else it was cut at its depth bound or at code without unwind data). */
#define NRA_FRAME_COMPLETE ((uintptr_t)1 << 62)

struct nra_alloc_info {
    uintptr_t ptr;
    uint64_t record_id;
    uint64_t size;
    uint32_t native_stack;  /* interned (stacks.h), ends with a slot tag */
    uint32_t java_site;
};

struct nra_alloc_stats {
    uint64_t attributed;        /* allocations attributed since start */
    uint64_t live;              /* attributed and not yet freed */
    uint64_t dropped;           /* not attributed: table full */
    uint64_t stack_captures;    /* full native stacks taken (signature misses) */
    uint64_t signature_dropped; /* signature cache full: stack not named */
};

/* Resolves the real allocator (dlsym(RTLD_DEFAULT, ...): an LD_PRELOADed
 * allocator stays in effect) and sizes the table. Call once, before any
 * GOT slot points at the hooks. */
int nra_alloc_init(unsigned max_allocs);

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
 * with one table stripe locked, and must not free attributed memory. */
void nra_alloc_for_each(void (*fn)(const struct nra_alloc_info *a, void *arg), void *arg);

void nra_alloc_get_stats(struct nra_alloc_stats *out);

/* The wrapper slot named by the tag that ends an interned site stack, or -1. */
int nra_alloc_stack_slot(uint32_t native_stack);

/* How many distinct records ever allocated at this native stack (summed
 * over its signatures): 1 means a one-time initialisation. */
uint64_t nra_alloc_site_owners(uint32_t native_stack);

/* The real allocator, for tests and benchmarks. */
void *nra_real_malloc(size_t n);
void nra_real_free(void *p);

#endif
