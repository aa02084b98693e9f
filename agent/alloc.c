/* alloc.c — see include/alloc.h.
 *
 * Hot paths and their costs:
 *  - allocation outside any scope: the real call plus one TLS load;
 *  - free/realloc when the pointer's stripe holds nothing: the real call
 *    plus one relaxed load of that stripe's count;
 *  - free when something is attributed: one stripe spinlock and a short
 *    bucket chain walk;
 *  - allocation inside a scope: a signature lookup (lock-free) and an
 *    insert under a stripe spinlock. A full libunwind stack is taken only
 *    the first time a signature is seen (see signature()).
 *
 * Table invariants: an entry index is on exactly one of a bucket chain or
 * its stripe's free list; index 0 means "none". Entries are carved from an
 * MAP_NORESERVE mapping with a bump pointer so pages are touched only when
 * used. A pointer is removed from the table before the real free runs, so
 * the allocator cannot hand the same address to another thread while a
 * stale entry still names it.
 */
#include "alloc.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "stacks.h"

#define STRIPES 64
#define SITE_FRAMES 48
#define SIG_PROBES 32        /* longest probe run, lookup and insert alike */
#define THIN_BUCKETS 16      /* buckets thinned per insert while a pass is due */
#define MAX_SHIFT 30
#define MAX_SLOTS 512        /* wrapper slots (natives.c) */

struct entry {
    uintptr_t ptr;
    uint64_t record_id;
    uint32_t size;        /* clamped; sizes >= 4 GiB read as UINT32_MAX */
    uint32_t native_stack;
    uint32_t java_site : 24;   /* stack ids stay below max_stacks <= 2^24 */
    uint32_t shift : 8;        /* the entry stands for 2^shift allocations */
    uint32_t next;
};

struct stripe {
    int lock;
    uint32_t live;               /* entries in this stripe (written under lock) */
    uint64_t attributed, dropped, thinned;
    uint64_t unnamed[NRA_UNNAMED_REASONS];
    uint32_t free_head;
    uint32_t bump, bump_end;     /* next unused index, end of this stripe's range */
    uint32_t capacity;           /* entries this stripe may hold */
    uint32_t *buckets;
    uint32_t bucket_mask;
    uint32_t thin_cursor;        /* next bucket of a thinning pass */
    uint8_t thinned_to;          /* every entry has shift >= this */
    uint8_t pass_target;         /* the shift the current pass thins to */
} __attribute__((aligned(64)));

struct thread_state {
    struct nra_scope *scope;
    int busy;
};

/* A signature and the native stack it names; 16 bytes, one probe each. */
struct sig_slot {
    uint64_t key;                /* 0 = empty; published with release */
    uint32_t stack;
    uint32_t unused;
};

static __thread struct thread_state tls __attribute__((tls_model("initial-exec")));

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
} real;

static struct {
    struct entry *entries;
    struct stripe stripes[STRIPES];
    uint64_t capacity;
    uint8_t shift;               /* sample shift for new entries (monotonic) */
    uint64_t captures;
    uintptr_t self_lo, self_hi;
    /* Signature cache: open addressing, kept at most half full so that a
     * probe run stays short; inserts (bounded in number by sig_limit) take
     * sig_lock, lookups take nothing. */
    pthread_mutex_t sig_lock;
    struct sig_slot *sigs;
    uint32_t sig_mask, sig_used, sig_limit;
    uint32_t unnamed_stack[MAX_SLOTS];   /* per slot, interned on first use */
} tab = {.sig_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- table ---------------------------------------------------------------- */

/* Stripe by 64 KiB region, bucket by 16-byte slot within it: allocations
 * made close together (one scope, one arena) land in the same stripe and in
 * neighbouring buckets, so the bucket array stays in cache. */
static inline struct stripe *stripe_of(uintptr_t p)
{
    return &tab.stripes[((uint64_t)(p >> 16) * 0x9e3779b97f4a7c15ull) >> 58];
}

static inline uint32_t *bucket_of(struct stripe *s, uintptr_t p)
{
    return &s->buckets[(uint32_t)(p >> 4) & s->bucket_mask];
}

static inline void stripe_lock(struct stripe *s)
{
    /* Held for a few dozen instructions; after a while, let the holder run
     * (it may have been preempted on this core). */
    for (unsigned spins = 0; __atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE); spins++) {
        while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED)) {
            if (++spins > 256) {
                sched_yield();
                spins = 0;
            } else {
                __builtin_ia32_pause();
            }
        }
    }
}

static inline void stripe_unlock(struct stripe *s)
{
    __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

static uint32_t take_entry(struct stripe *s)
{
    uint32_t i = s->free_head;
    if (i) {
        s->free_head = tab.entries[i].next;
        return i;
    }
    if (s->bump < s->bump_end)
        return s->bump++;
    return 0;
}

/* ---- sampling past the table ------------------------------------------------- */

/* The address hash that decides sampling: independent of the stripe and
 * bucket hashes (which use the address bits directly). */
static inline uint64_t sample_hash(uintptr_t p)
{
    uint64_t h = (uint64_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* Whether an entry kept at shift `from` is still kept at shift `to`: bits
 * [from, to) of its hash are zero. A new allocation is kept at shift s when
 * bits [0, s) are, so an entry passes each level with probability 1/2. */
static inline bool kept_between(uintptr_t p, unsigned from, unsigned to)
{
    if (to <= from)
        return true;
    return ((sample_hash(p) >> from) & ((1ull << (to - from)) - 1)) == 0;
}

static void raise_shift(unsigned seen)
{
    uint8_t expected = (uint8_t)seen;
    if (seen < MAX_SHIFT)
        __atomic_compare_exchange_n(&tab.shift, &expected, (uint8_t)(seen + 1), false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
}

/* One step of a thinning pass (stripe locked): THIN_BUCKETS buckets lose
 * the entries that the pass's shift no longer keeps. Bounded work per
 * insert; a pass over the stripe ends before the stripe can fill, because
 * a pass starts at 3/4 and covers its buckets in capacity/THIN_BUCKETS
 * inserts at most. */
static void thin_step(struct stripe *s, unsigned target)
{
    if (s->thin_cursor == 0)
        s->pass_target = (uint8_t)target;
    for (unsigned n = 0; n < THIN_BUCKETS && s->thin_cursor <= s->bucket_mask; n++, s->thin_cursor++) {
        uint32_t *link = &s->buckets[s->thin_cursor];
        for (uint32_t i = *link; i; i = *link) {
            struct entry *e = &tab.entries[i];
            if (e->shift >= s->pass_target) {
                link = &e->next;
            } else if (kept_between(e->ptr, e->shift, s->pass_target)) {
                e->shift = s->pass_target;
                link = &e->next;
            } else {
                __atomic_store_n(link, e->next, __ATOMIC_RELAXED);
                e->next = s->free_head;
                s->free_head = i;
                __atomic_store_n(&s->live, s->live - 1, __ATOMIC_RELAXED);
                s->thinned++;
            }
        }
    }
    if (s->thin_cursor > s->bucket_mask) {
        s->thin_cursor = 0;
        s->thinned_to = s->pass_target;
    }
}

/* Whether the sample rate should halve, asked when stripe s is past 3/4:
 * when the whole table is, or s is nearly full (its drops would be
 * undercounts). Stripes fill unevenly (addresses cluster), so one crowded
 * stripe alone does not halve the rate. The sum reads 64 counters: done
 * once in 64 inserts of a crowded stripe only. */
static bool table_crowded(const struct stripe *s)
{
    if (s->live >= s->capacity - s->capacity / 16)
        return true;
    if ((s->attributed & 63) != 0)
        return false;
    uint64_t live = 0;
    for (unsigned i = 0; i < STRIPES; i++)
        live += __atomic_load_n(&tab.stripes[i].live, __ATOMIC_RELAXED);
    return live > tab.capacity / 4 * 3;
}

/* Counters live in the stripes, changed under the stripe lock: no shared
 * cache line bounces between threads on the hot path. `shift` is the
 * entry's sample shift (a realloc keeps the one its pointer had). */
static void table_insert(uintptr_t p, size_t size, uint64_t rec, uint32_t nstack, uint32_t jsite, unsigned shift,
                         int unnamed_reason)
{
    struct stripe *s = stripe_of(p);
    unsigned global = __atomic_load_n(&tab.shift, __ATOMIC_RELAXED);
    stripe_lock(s);
    if (unnamed_reason >= 0)
        s->unnamed[unnamed_reason]++;
    if (s->thinned_to < global)
        thin_step(s, global);
    uint32_t i = take_entry(s);
    if (i) {
        struct entry *e = &tab.entries[i];
        e->ptr = p;
        e->record_id = rec;
        e->size = size >= UINT32_MAX ? UINT32_MAX : (uint32_t)size;
        e->native_stack = nstack;
        e->java_site = jsite;
        e->shift = shift;
        uint32_t *b = bucket_of(s, p);
        e->next = *b;
        __atomic_store_n(b, i, __ATOMIC_RELAXED);   /* read unlocked by table_maybe_has */
        __atomic_store_n(&s->live, s->live + 1, __ATOMIC_RELAXED);
        s->attributed++;
        if (s->live > s->capacity / 4 * 3 && s->thinned_to == global && table_crowded(s))
            raise_shift(global);
    } else {
        s->dropped++;
        if (s->thinned_to == global)
            raise_shift(global);
    }
    stripe_unlock(s);
}

/* The shift a new allocation at p is kept at, or -1 when the sample leaves
 * it out (no entry: its free finds nothing, which costs nothing). */
static inline int sample_shift_for(uintptr_t p)
{
    unsigned global = __atomic_load_n(&tab.shift, __ATOMIC_RELAXED);
    return global == 0 || kept_between(p, 0, global) ? (int)global : -1;
}

/* Removes p; copies its entry to *out when found. */
static bool table_remove(uintptr_t p, struct entry *out)
{
    struct stripe *s = stripe_of(p);
    bool found = false;
    stripe_lock(s);
    uint32_t *link = bucket_of(s, p);
    for (uint32_t i = *link; i; link = &tab.entries[i].next, i = *link) {
        struct entry *e = &tab.entries[i];
        if (e->ptr == p) {
            __atomic_store_n(link, e->next, __ATOMIC_RELAXED);
            *out = *e;
            e->next = s->free_head;
            s->free_head = i;
            __atomic_store_n(&s->live, s->live - 1, __ATOMIC_RELAXED);
            found = true;
            break;
        }
    }
    stripe_unlock(s);
    return found;
}

/* Whether p's stripe and bucket hold anything. Read without the lock: an entry for p
 * was inserted before p was handed to anyone who could free it, and that
 * hand-over orders the insert before this read. */
static inline bool table_maybe_has(uintptr_t p)
{
    if (!tab.entries)
        return false;
    struct stripe *s = stripe_of(p);
    /* The same ordering argument holds for p's bucket: an empty bucket
     * cannot hold p. Most frees in hooked libraries are of pointers never
     * attributed, and this spares them the stripe lock. */
    return __atomic_load_n(&s->live, __ATOMIC_RELAXED) != 0 && __atomic_load_n(bucket_of(s, p), __ATOMIC_RELAXED) != 0;
}

/* ---- sites ---------------------------------------------------------------- */

/* A signature names an allocation cheaply: which native is running (slot),
 * the how-many-th allocation of the scope it is (below NRA_SCOPE_NAMED, so
 * the number of signatures does not grow with what one scope does), its
 * size and the PC that called the allocator. Two allocations with the same
 * signature are taken to come from the same native stack; the stack is
 * unwound once per signature. The rare case of one signature reached by two
 * paths is attributed to the first path seen (docs/design.md). */
static uint64_t signature(uint16_t slot, uint32_t order, size_t size, uintptr_t caller)
{
    uint64_t h = ((uint64_t)slot << 48) ^ ((uint64_t)order << 32) ^ (uint64_t)size;
    h *= 0xff51afd7ed558ccdull;
    h ^= caller + (h >> 31);
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ? h : 1;
}

/* The stack of key, or 0. At most SIG_PROBES slots are read. */
static uint32_t sig_lookup(uint64_t key)
{
    for (unsigned n = 0, i = (unsigned)key & tab.sig_mask; n < SIG_PROBES; n++, i = (i + 1) & tab.sig_mask) {
        uint64_t k = __atomic_load_n(&tab.sigs[i].key, __ATOMIC_ACQUIRE);
        if (k == key)
            return tab.sigs[i].stack;
        if (k == 0)
            return 0;
    }
    return 0;
}

static bool sigs_full(void)
{
    return __atomic_load_n(&tab.sig_used, __ATOMIC_RELAXED) >= tab.sig_limit;
}

/* Caches key -> stack unless the cache is at its bound or the key's probe
 * run is full; returns false then (the caller counts it). */
static bool sig_insert(uint64_t key, uint32_t stack)
{
    bool done = false;
    pthread_mutex_lock(&tab.sig_lock);
    for (unsigned n = 0, i = (unsigned)key & tab.sig_mask; n < SIG_PROBES && tab.sig_used < tab.sig_limit;
         n++, i = (i + 1) & tab.sig_mask) {
        uint64_t k = tab.sigs[i].key;
        if (k == key) {
            done = true;
            break;
        }
        if (k == 0) {
            tab.sigs[i].stack = stack;
            __atomic_store_n(&tab.sigs[i].key, key, __ATOMIC_RELEASE);
            __atomic_store_n(&tab.sig_used, tab.sig_used + 1, __ATOMIC_RELAXED);
            done = true;
            break;
        }
    }
    pthread_mutex_unlock(&tab.sig_lock);
    return done;
}

/* The site of a native's allocations whose stack was not unwound: only the
 * slot tag, flagged unnamed. Interned once per slot. */
static uint32_t unnamed_site(uint16_t slot)
{
    if (slot >= MAX_SLOTS)
        return 0;
    uint32_t id = __atomic_load_n(&tab.unnamed_stack[slot], __ATOMIC_RELAXED);
    if (id == 0) {
        uintptr_t tag = NRA_FRAME_SLOT_TAG | NRA_FRAME_UNNAMED | slot;
        id = nra_stack_intern(NRA_STACK_NATIVE, &tag, 1);
        __atomic_store_n(&tab.unnamed_stack[slot], id, __ATOMIC_RELAXED);
    }
    return id;
}

static inline bool in_self(uintptr_t pc)
{
    return pc >= tab.self_lo && pc < tab.self_hi;
}

/* JIT-compiled Java code lies in no loaded object and has no unwind
 * information: never step from it. */
static bool in_some_object(uintptr_t pc)
{
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
    /* Lock-free and constant time, unlike dladdr, which scans symbols. */
    struct dl_find_object found;
    return _dl_find_object((void *)pc, &found) == 0;
#else
    Dl_info info;
    return dladdr((void *)pc, &info) != 0 && info.dli_fname != NULL;
#endif
}

/* Unwinds from the allocator's caller up to (not into) the agent's wrapper,
 * so a site holds only the native library's frames, then appends the slot
 * tag that names the bound native. */
static uint32_t capture_site(uintptr_t caller, uint16_t slot)
{
    uintptr_t pcs[SITE_FRAMES + 1];
    unsigned n = 0;
    bool started = false, reached_wrapper = false;
    unw_context_t ctx;
    unw_cursor_t cur;
    if (unw_getcontext(&ctx) == 0 && unw_init_local(&cur, &ctx) == 0) {
        for (int steps = 0; steps < 96 && n < SITE_FRAMES && unw_step(&cur) > 0; steps++) {
            unw_word_t ip = 0;
            if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0)
                break;
            if (!started) {
                /* Only the agent's own hook frames lie above the caller. */
                started = (uintptr_t)ip == caller;
                if (!started && steps > 6)
                    break;
                if (!started)
                    continue;
            } else if (in_self((uintptr_t)ip)) {
                reached_wrapper = true;
                break;
            } else if (!in_some_object((uintptr_t)ip)) {
                break;
            }
            pcs[n++] = (uintptr_t)ip;
        }
    }
    if (n == 0)
        pcs[n++] = caller;
    pcs[n++] = NRA_FRAME_SLOT_TAG | (reached_wrapper ? NRA_FRAME_COMPLETE : 0) | slot;
    __atomic_add_fetch(&tab.captures, 1, __ATOMIC_RELAXED);
    return nra_stack_intern(NRA_STACK_NATIVE, pcs, n);
}

/* The native stack of an in-scope allocation, or the native's unnamed site
 * with *why set. Cost is bounded: a hash and at most SIG_PROBES reads;
 * an unwind only on a miss, at most NRA_SCOPE_UNWINDS per scope, and none
 * once the cache is full. */
static uint32_t site_of(struct nra_scope *s, uint32_t order, size_t size, uintptr_t caller, int *why)
{
    if (order >= NRA_SCOPE_NAMED) {
        *why = NRA_UNNAMED_PAST_ORDER;
        return unnamed_site(s->slot);
    }
    uint64_t key = signature(s->slot, order, size, caller);
    uint32_t stack = sig_lookup(key);
    if (stack)
        return stack;
    if (sigs_full()) {
        *why = NRA_UNNAMED_SITES_FULL;
        return unnamed_site(s->slot);
    }
    if (s->unwinds >= NRA_SCOPE_UNWINDS) {
        *why = NRA_UNNAMED_UNWIND_BUDGET;
        return unnamed_site(s->slot);
    }
    s->unwinds++;
    stack = capture_site(caller, s->slot);
    if (!stack) {
        *why = NRA_UNNAMED_STACKS_FULL;
        return unnamed_site(s->slot);
    }
    sig_insert(key, stack);   /* when it cannot, the next miss finds the cache full */
    return stack;
}

static __attribute__((noinline)) void attribute(struct thread_state *t, void *p, size_t size, uintptr_t caller)
{
    t->busy = 1;
    struct nra_scope *s = t->scope;
    uint32_t order = s->order++;
    int shift = sample_shift_for((uintptr_t)p);
    if (shift >= 0) {
        int why = -1;
        uint32_t stack = site_of(s, order, size, caller, &why);
        table_insert((uintptr_t)p, size, s->record_id, stack, s->java_site, (unsigned)shift, why);
    }
    t->busy = 0;
}

static inline void after_alloc(void *p, size_t size, void *caller)
{
    struct thread_state *t = &tls;
    if (p && t->scope && !t->busy)
        attribute(t, p, size, (uintptr_t)caller);
}

/* Removes p's entry, if any. busy is set while a stripe lock may be held,
 * so a signal handler on this thread that frees memory passes through
 * instead of spinning on a lock its own thread holds. */
static inline bool forget(void *p, struct entry *gone)
{
    struct thread_state *t = &tls;
    if (!p || !table_maybe_has((uintptr_t)p) || t->busy)
        return false;
    t->busy = 1;
    bool found = table_remove((uintptr_t)p, gone);
    t->busy = 0;
    return found;
}

static inline void before_free(void *p)
{
    struct entry gone;
    forget(p, &gone);
}

/* ---- hooks ---------------------------------------------------------------- */

static void *hook_malloc(size_t n)
{
    void *p = real.malloc(n);
    after_alloc(p, n, __builtin_return_address(0));
    return p;
}

static void *hook_calloc(size_t n, size_t m)
{
    void *p = real.calloc(n, m);
    after_alloc(p, n * m, __builtin_return_address(0));
    return p;
}

static void hook_free(void *p)
{
    before_free(p);
    real.free(p);
}

/* realloc keeps the attribution of the pointer it moves; a realloc(NULL, n)
 * inside a scope is an allocation like malloc. */
static void *resize(void *old, size_t n, void *p_new, bool had, const struct entry *e, void *caller)
{
    if (had) {
        tls.busy = 1;
        if (p_new)
            table_insert((uintptr_t)p_new, n, e->record_id, e->native_stack, e->java_site, e->shift, -1);
        else if (n != 0)
            table_insert((uintptr_t)old, e->size, e->record_id, e->native_stack, e->java_site, e->shift, -1);
        tls.busy = 0;
    } else if (!old) {
        after_alloc(p_new, n, caller);
    }
    return p_new;
}

static void *hook_realloc(void *old, size_t n)
{
    struct entry e;
    bool had = forget(old, &e);
    void *p = real.realloc(old, n);
    return resize(old, n, p, had, &e, __builtin_return_address(0));
}

static void *hook_reallocarray(void *old, size_t n, size_t m)
{
    struct entry e;
    bool had = forget(old, &e);
    void *p = real.reallocarray(old, n, m);
    return resize(old, n * m, p, had, &e, __builtin_return_address(0));
}

static int hook_posix_memalign(void **out, size_t align, size_t n)
{
    int rc = real.posix_memalign(out, align, n);
    if (rc == 0)
        after_alloc(*out, n, __builtin_return_address(0));
    return rc;
}

static void *hook_aligned_alloc(size_t align, size_t n)
{
    void *p = real.aligned_alloc(align, n);
    after_alloc(p, n, __builtin_return_address(0));
    return p;
}

static void *hook_memalign(size_t align, size_t n)
{
    void *p = real.memalign(align, n);
    after_alloc(p, n, __builtin_return_address(0));
    return p;
}

const char *const nra_alloc_symbols[] = {
    "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign",
    "reallocarray", NULL,
};

void *nra_alloc_hook_for(const char *symbol)
{
    static const struct { const char *name; void *fn; } map[] = {
        {"malloc", (void *)hook_malloc},
        {"calloc", (void *)hook_calloc},
        {"realloc", (void *)hook_realloc},
        {"free", (void *)hook_free},
        {"posix_memalign", (void *)hook_posix_memalign},
        {"aligned_alloc", (void *)hook_aligned_alloc},
        {"memalign", (void *)hook_memalign},
        {"reallocarray", (void *)hook_reallocarray},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, symbol) == 0)
            return map[i].fn;
    return NULL;
}

/* ---- set-up and queries ------------------------------------------------------ */

static int resolve_real(void)
{
#define RESOLVE(name) \
    do { \
        *(void **)&real.name = dlsym(RTLD_DEFAULT, #name); \
        if (!real.name) \
            return -ENOENT; \
    } while (0)
    RESOLVE(malloc);
    RESOLVE(free);
    RESOLVE(calloc);
    RESOLVE(realloc);
    RESOLVE(posix_memalign);
    RESOLVE(aligned_alloc);
    RESOLVE(memalign);
    RESOLVE(reallocarray);
#undef RESOLVE
    return 0;
}

static int init_sigs(unsigned max_sites)
{
    uint32_t slots = 1024;
    while (slots / 2 < max_sites && slots < (1u << 30))
        slots <<= 1;
    void *mem = mmap(NULL, (size_t)slots * sizeof(struct sig_slot), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return -ENOMEM;
    tab.sigs = mem;
    tab.sig_mask = slots - 1;
    tab.sig_limit = max_sites < slots / 2 ? max_sites : slots / 2;
    return 0;
}

int nra_alloc_init(unsigned max_allocs, unsigned max_sites)
{
    if (tab.entries)
        return 0;
    int rc = resolve_real();
    if (rc || (rc = init_sigs(max_sites)) != 0)
        return rc;
    /* The bound is max_allocs rounded up to a multiple of the stripes. */
    unsigned per_stripe = (max_allocs + STRIPES - 1) / STRIPES;
    if (per_stripe < 4)
        per_stripe = 4;
    unsigned buckets = 4;
    while (buckets < per_stripe)
        buckets <<= 1;
    size_t n_entries = (size_t)per_stripe * STRIPES + 1;
    size_t bytes = n_entries * sizeof(struct entry) + (size_t)buckets * STRIPES * sizeof(uint32_t);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return -ENOMEM;
    tab.entries = mem;
    tab.capacity = (uint64_t)per_stripe * STRIPES;

    uint32_t *bucket_mem = (uint32_t *)(tab.entries + n_entries);
    for (unsigned s = 0; s < STRIPES; s++) {
        struct stripe *st = &tab.stripes[s];
        st->bump = 1 + s * per_stripe;
        st->bump_end = st->bump + per_stripe;
        st->capacity = per_stripe;
        st->buckets = bucket_mem + (size_t)s * buckets;
        st->bucket_mask = buckets - 1;
    }
    return 0;
}

void nra_alloc_set_self_range(uintptr_t lo, uintptr_t hi)
{
    tab.self_lo = lo;
    tab.self_hi = hi;
}

void nra_alloc_scope_enter(struct nra_scope *s)
{
    s->outer = tls.scope;
    s->order = 0;
    s->unwinds = 0;
    tls.scope = s;
}

void nra_alloc_scope_leave(struct nra_scope *s)
{
    tls.scope = s->outer;
}

void nra_alloc_for_each(void (*fn)(const struct nra_alloc_info *a, void *arg), void *arg)
{
    if (!tab.entries)
        return;
    for (unsigned s = 0; s < STRIPES; s++) {
        struct stripe *st = &tab.stripes[s];
        stripe_lock(st);
        for (uint32_t b = 0; b <= st->bucket_mask; b++) {
            for (uint32_t i = st->buckets[b]; i; i = tab.entries[i].next) {
                const struct entry *e = &tab.entries[i];
                struct nra_alloc_info a = {
                    .ptr = e->ptr, .record_id = e->record_id, .size = e->size,
                    .native_stack = e->native_stack, .java_site = e->java_site,
                    .weight = 1u << e->shift,
                };
                fn(&a, arg);
            }
        }
        stripe_unlock(st);
    }
}

void nra_alloc_get_stats(struct nra_alloc_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; tab.entries && i < STRIPES; i++) {
        struct stripe *st = &tab.stripes[i];
        stripe_lock(st);
        out->attributed += st->attributed;
        out->live += st->live;
        out->dropped += st->dropped;
        out->thinned += st->thinned;
        for (unsigned r = 0; r < NRA_UNNAMED_REASONS; r++)
            out->unnamed[r] += st->unnamed[r];
        stripe_unlock(st);
    }
    out->capacity = tab.capacity;
    out->sample_shift = __atomic_load_n(&tab.shift, __ATOMIC_RELAXED);
    out->stack_captures = __atomic_load_n(&tab.captures, __ATOMIC_RELAXED);
    out->signatures = __atomic_load_n(&tab.sig_used, __ATOMIC_RELAXED);
    out->signatures_max = tab.sig_limit;
}

void *nra_real_malloc(size_t n)
{
    return real.malloc ? real.malloc(n) : malloc(n);
}

void nra_real_free(void *p)
{
    if (real.free)
        real.free(p);
    else
        free(p);
}

int nra_alloc_stack_slot(uint32_t native_stack)
{
    uintptr_t pcs[NRA_STACK_MAX_FRAMES];
    unsigned n = nra_stack_get(native_stack, pcs, NRA_STACK_MAX_FRAMES);
    return n && (pcs[n - 1] & NRA_FRAME_SLOT_TAG) ? (int)NRA_FRAME_SLOT(pcs[n - 1]) : -1;
}
