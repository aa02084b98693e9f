/* registry.c — see include/registry.h.
 *
 * One mutex guards everything: an engine's lifecycle touches the registry
 * twice (alloc, free) plus once per wrapped "use" call, each a hash lookup
 * of a few tens of nanoseconds, far below what contention would matter at.
 * Records are kept in id order on a doubly linked list so reports list the
 * oldest first without sorting.
 */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keys are a (handle, rule) pair or a record id: 8 or 16 bytes of
 * well-spread bits, so a multiply-xorshift hash does as well as uthash's
 * default Jenkins hash at a fraction of the cost (this lookup runs on every
 * wrapped native call). */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = nra_reg_key_hash((keyptr), (keylen)))
static inline unsigned nra_reg_key_hash(const void *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    const unsigned char *p = key;
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (unsigned)h;
}
#include <uthash.h>

struct handle_key {
    int64_t handle;
    int rule;
    int pad;
};

struct record {
    struct nra_record_info info;
    struct handle_key key;
    UT_hash_handle by_handle;
    UT_hash_handle by_id;
    struct record *prev, *next;   /* id order */
};

static struct {
    pthread_mutex_t lock;
    struct record *handles;       /* uthash by key */
    struct record *ids;           /* uthash by info.id */
    struct record *oldest, *newest;
    uint64_t next_id;
    unsigned count, max;
    unsigned reserved;            /* ids handed out for alloc natives still running */
    uint64_t in_flight[NRA_REG_IN_FLIGHT];   /* those ids (0 = free slot), by id % size */
    uint64_t in_flight_untracked;            /* reservations that found no slot */
    uint64_t handles_gen;         /* changes whenever the handle map does (read unlocked) */
    struct nra_rule_counts counts[NRA_MAX_RULES];
    struct nra_freed_info recent[NRA_MAX_RULES][NRA_RECENT_FREES];
    unsigned recent_next[NRA_MAX_RULES];
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

/* The lookup cache below is valid while handles_gen is unchanged: bumped
 * under the lock by every change of the handle map or of a record's flags. */
static void handles_changed(void)
{
    __atomic_store_n(&reg.handles_gen, reg.handles_gen + 1, __ATOMIC_RELEASE);
}

/* A FREEING record already left the handle map. */
static void unlink_record(struct record *r)
{
    if (!(r->info.flags & NRA_REC_FREEING)) {
        HASH_DELETE(by_handle, reg.handles, r);
        handles_changed();
    }
    HASH_DELETE(by_id, reg.ids, r);
    if (r->prev)
        r->prev->next = r->next;
    else
        reg.oldest = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        reg.newest = r->prev;
    reg.count--;
}

static void clear_all(void)
{
    struct record *r = reg.oldest;
    while (r) {
        struct record *next = r->next;
        unlink_record(r);
        free(r);
        r = next;
    }
}

int nra_reg_init(unsigned max_records)
{
    pthread_mutex_lock(&reg.lock);
    clear_all();
    reg.max = max_records;
    reg.next_id = 1;
    reg.reserved = 0;
    memset(reg.in_flight, 0, sizeof(reg.in_flight));
    reg.in_flight_untracked = 0;
    memset(reg.counts, 0, sizeof(reg.counts));
    memset(reg.recent, 0, sizeof(reg.recent));
    memset(reg.recent_next, 0, sizeof(reg.recent_next));
    pthread_mutex_unlock(&reg.lock);
    return 0;
}

static struct record *find_handle(int rule, int64_t handle)
{
    struct handle_key key = {.handle = handle, .rule = rule};
    struct record *r = NULL;
    HASH_FIND(by_handle, reg.handles, &key, sizeof(key), r);
    return r;
}

static struct record *find_id(uint64_t id)
{
    struct record *r = NULL;
    HASH_FIND(by_id, reg.ids, &id, sizeof(id), r);
    return r;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool valid_rule(int rule)
{
    return rule >= 0 && rule < NRA_MAX_RULES;
}

/* A reservation holds a place in the bounded table while the alloc native
 * runs: allocations attributed to the id then always find their record (a
 * record dropped after the fact would leave them looking like residue of a
 * freed handle). */
static void in_flight_add(uint64_t id)
{
    for (unsigned n = 0, i = id % NRA_REG_IN_FLIGHT; n < NRA_REG_IN_FLIGHT; n++, i = (i + 1) % NRA_REG_IN_FLIGHT) {
        if (reg.in_flight[i] == 0) {
            reg.in_flight[i] = id;
            return;
        }
    }
    reg.in_flight_untracked++;
}

static void in_flight_remove(uint64_t id)
{
    for (unsigned n = 0, i = id % NRA_REG_IN_FLIGHT; n < NRA_REG_IN_FLIGHT; n++, i = (i + 1) % NRA_REG_IN_FLIGHT) {
        if (reg.in_flight[i] == id) {
            reg.in_flight[i] = 0;
            return;
        }
    }
    if (reg.in_flight_untracked)
        reg.in_flight_untracked--;
}

uint64_t nra_reg_reserve_id(void)
{
    pthread_mutex_lock(&reg.lock);
    uint64_t id = 0;
    if (reg.count + reg.reserved < reg.max) {
        reg.reserved++;
        id = reg.next_id++;
        in_flight_add(id);
    }
    pthread_mutex_unlock(&reg.lock);
    return id;
}

void nra_reg_count_dropped(int rule)
{
    if (!valid_rule(rule))
        return;
    pthread_mutex_lock(&reg.lock);
    reg.counts[rule].dropped++;
    pthread_mutex_unlock(&reg.lock);
}

uint64_t nra_reg_alloc(int rule, int64_t handle, uint64_t id, uint32_t tid, uint64_t now_ns,
                       uint32_t java_site)
{
    if (!valid_rule(rule) || handle == 0) {
        if (id) {  /* the alloc native failed: give the place back */
            pthread_mutex_lock(&reg.lock);
            reg.reserved--;
            in_flight_remove(id);
            pthread_mutex_unlock(&reg.lock);
        }
        return 0;
    }
    /* Allocate before locking: the lock is never held across malloc. */
    struct record *fresh = calloc(1, sizeof(*fresh));
    pthread_mutex_lock(&reg.lock);
    if (id) {
        reg.reserved--;
        in_flight_remove(id);
    }
    struct nra_rule_counts *c = &reg.counts[rule];
    struct record *old = find_handle(rule, handle);
    if (old) {
        /* The native library reused a handle we never saw freed: it was
         * freed by a path we do not wrap. Count it freed, so that
         * outstanding == allocated - freed holds, and say how. */
        c->reused_unfreed++;
        c->freed++;
        c->outstanding--;
        unlink_record(old);
    }
    /* A dropped allocation is not counted as allocated: its free will be an
     * unknown free, and allocated - freed stays the outstanding count. */
    if (!fresh || (!id && reg.count + reg.reserved >= reg.max)) {
        c->dropped++;
        pthread_mutex_unlock(&reg.lock);
        free(fresh);
        free(old);
        return 0;
    }
    c->allocated++;
    struct record *r = fresh;
    r->info.id = id ? id : reg.next_id++;
    r->info.handle = handle;
    r->info.rule = rule;
    r->info.alloc_tid = tid;
    r->info.alloc_ns = now_ns;
    r->info.java_site = java_site;
    r->key.handle = handle;
    r->key.rule = rule;
    HASH_ADD(by_handle, reg.handles, key, sizeof(r->key), r);
    handles_changed();
    HASH_ADD(by_id, reg.ids, info.id, sizeof(r->info.id), r);
    r->prev = reg.newest;
    if (reg.newest)
        reg.newest->next = r;
    else
        reg.oldest = r;
    reg.newest = r;
    reg.count++;
    c->outstanding++;
    uint64_t new_id = r->info.id;
    pthread_mutex_unlock(&reg.lock);
    free(old);
    return new_id;
}

static void remember_free(int rule, const struct record *r, uint32_t tid, uint64_t now_ns)
{
    unsigned at = reg.recent_next[rule]++ % NRA_RECENT_FREES;
    reg.recent[rule][at] = (struct nra_freed_info){
        .id = r->info.id, .handle = r->info.handle, .alloc_tid = r->info.alloc_tid, .free_tid = tid,
        .alloc_ns = r->info.alloc_ns, .free_ns = now_ns, .java_site = r->info.java_site, .flags = r->info.flags,
    };
}

int nra_reg_free(int rule, int64_t handle, uint32_t tid, uint64_t now_ns, struct nra_record_info *freed)
{
    if (!valid_rule(rule))
        return -EINVAL;
    struct nra_record_info rec;
    uint64_t id = nra_reg_begin_free(rule, handle, &rec);
    if (id == 0)
        return -ENOENT;
    nra_reg_end_free(id, tid, now_ns);
    if (freed) {
        *freed = rec;
        freed->flags &= ~(unsigned)NRA_REC_FREEING;
    }
    return 0;
}

uint64_t nra_reg_begin_free(int rule, int64_t handle, struct nra_record_info *rec)
{
    if (!valid_rule(rule))
        return 0;
    pthread_mutex_lock(&reg.lock);
    struct record *r = find_handle(rule, handle);
    uint64_t id = 0;
    if (r) {
        HASH_DELETE(by_handle, reg.handles, r);
        handles_changed();
        r->info.flags |= NRA_REC_FREEING;
        if (rec)
            *rec = r->info;
        id = r->info.id;
    } else {
        reg.counts[rule].unknown_frees++;
    }
    pthread_mutex_unlock(&reg.lock);
    return id;
}

void nra_reg_end_free(uint64_t id, uint32_t tid, uint64_t now_ns)
{
    pthread_mutex_lock(&reg.lock);
    struct record *r = find_id(id);
    if (!r || !(r->info.flags & NRA_REC_FREEING)) {
        pthread_mutex_unlock(&reg.lock);
        return;
    }
    int rule = r->info.rule;
    struct nra_rule_counts *c = &reg.counts[rule];
    c->freed++;
    c->outstanding--;
    if (r->info.flags & NRA_REC_FINALIZED)
        c->freed_by_finalizer++;
    remember_free(rule, r, tid, now_ns);
    unlink_record(r);
    pthread_mutex_unlock(&reg.lock);
    free(r);
}

static int by_record_id(const void *pa, const void *pb)
{
    const struct nra_record_info *a = pa, *b = pb;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Sized outside the lock (the lock is never held across malloc), then
 * copied under one hold; retried when records were added meanwhile. */
int nra_reg_snapshot(struct nra_reg_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    for (;;) {
        pthread_mutex_lock(&reg.lock);
        size_t want = reg.count;
        pthread_mutex_unlock(&reg.lock);
        size_t cap = want + want / 8 + 64;
        struct nra_record_info *v = malloc(cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        pthread_mutex_lock(&reg.lock);
        if (reg.count > cap) {
            pthread_mutex_unlock(&reg.lock);
            free(v);
            continue;
        }
        size_t n = 0;
        for (struct record *r = reg.oldest; r; r = r->next)
            v[n++] = r->info;
        memcpy(s->counts, reg.counts, sizeof(s->counts));
        s->epoch = reg.next_id;
        s->taken_ns = realtime_ns();
        for (unsigned i = 0; i < NRA_REG_IN_FLIGHT; i++)
            if (reg.in_flight[i])
                s->in_flight[s->n_in_flight++] = reg.in_flight[i];
        s->in_flight_untracked = reg.in_flight_untracked;
        pthread_mutex_unlock(&reg.lock);
        qsort(v, n, sizeof(*v), by_record_id);
        s->records = v;
        s->n = n;
        return 0;
    }
}

uint64_t nra_reg_next_id(void)
{
    pthread_mutex_lock(&reg.lock);
    uint64_t id = reg.next_id;
    pthread_mutex_unlock(&reg.lock);
    return id;
}

void nra_reg_snapshot_free(struct nra_reg_snapshot *s)
{
    free(s->records);
    s->records = NULL;
    s->n = 0;
}

const struct nra_record_info *nra_reg_snapshot_find(const struct nra_reg_snapshot *s, uint64_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->records[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->records[lo].id == id ? &s->records[lo] : NULL;
}

bool nra_reg_snapshot_in_flight(const struct nra_reg_snapshot *s, uint64_t id)
{
    for (unsigned i = 0; i < s->n_in_flight; i++)
        if (s->in_flight[i] == id)
            return true;
    return false;
}

/* The one locked lookup by handle behind the calls below: returns
 * the id, copies the record when out is given, and adds flags. */
static uint64_t with_handle(int rule, int64_t handle, struct nra_record_info *out, unsigned add_flags)
{
    if (!valid_rule(rule))
        return 0;
    pthread_mutex_lock(&reg.lock);
    struct record *r = find_handle(rule, handle);
    uint64_t id = 0;
    if (r) {
        if ((add_flags & NRA_REC_OWNER) && !(r->info.flags & NRA_REC_OWNER))
            reg.counts[rule].owners_claimed++;
        if ((add_flags & NRA_REC_FINALIZED) && !(r->info.flags & NRA_REC_FINALIZED))
            r->info.finalized_ns = realtime_ns();
        if ((r->info.flags | add_flags) != r->info.flags)
            handles_changed();   /* cached lookups hold flags too */
        r->info.flags |= add_flags;
        if (out)
            *out = r->info;
        id = r->info.id;
    }
    pthread_mutex_unlock(&reg.lock);
    return id;
}

/* Use natives are called many times per handle (netty sets a dozen
 * options on a new engine), each a lookup: a per-thread cache of the last
 * few answers, good while no handle was added or removed anywhere, spares
 * them the lock. Flag changes invalidate it too, so it answers exactly
 * what a locked lookup would; misses are cached as well (BIO handles). */
#define LOOKUP_CACHE 4

struct lookup_entry {
    uint64_t gen;            /* handles_gen + 1 when stored (0 = empty) */
    int64_t handle;
    int rule;
    struct nra_record_info rec;   /* id 0: no record */
};

static __thread struct {
    struct lookup_entry e[LOOKUP_CACHE];
    unsigned next;
} lookups __attribute__((tls_model("initial-exec")));

uint64_t nra_reg_lookup_handle(int rule, int64_t handle, struct nra_record_info *out)
{
    uint64_t gen = __atomic_load_n(&reg.handles_gen, __ATOMIC_ACQUIRE) + 1;
    for (unsigned i = 0; i < LOOKUP_CACHE; i++) {
        const struct lookup_entry *c = &lookups.e[i];
        if (c->gen == gen && c->handle == handle && c->rule == rule) {
            if (out)
                *out = c->rec;
            return c->rec.id;
        }
    }
    if (!valid_rule(rule))
        return 0;
    struct nra_record_info rec = {0};
    pthread_mutex_lock(&reg.lock);
    gen = reg.handles_gen + 1;
    struct record *r = find_handle(rule, handle);
    if (r)
        rec = r->info;
    pthread_mutex_unlock(&reg.lock);
    lookups.e[lookups.next++ % LOOKUP_CACHE] =
        (struct lookup_entry){.gen = gen, .handle = handle, .rule = rule, .rec = rec};
    if (out)
        *out = rec;
    return rec.id;
}

uint64_t nra_reg_claim_owner(int rule, int64_t handle, int class_slot)
{
    unsigned cls = class_slot >= 0 && class_slot < 15 ? (unsigned)(class_slot + 1) << NRA_REC_CLASS_SHIFT : 0;
    return with_handle(rule, handle, NULL, NRA_REC_OWNER | cls);
}

uint64_t nra_reg_flag_handle(int rule, int64_t handle, unsigned flags)
{
    return with_handle(rule, handle, NULL, flags);
}

int nra_reg_get(uint64_t id, struct nra_record_info *out)
{
    pthread_mutex_lock(&reg.lock);
    struct record *r = find_id(id);
    if (r)
        *out = r->info;
    pthread_mutex_unlock(&reg.lock);
    return r ? 0 : -ENOENT;
}

void nra_reg_counts(int rule, struct nra_rule_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (!valid_rule(rule))
        return;
    pthread_mutex_lock(&reg.lock);
    *out = reg.counts[rule];
    pthread_mutex_unlock(&reg.lock);
}

unsigned nra_reg_recent_frees(int rule, struct nra_freed_info *out, unsigned max)
{
    if (!valid_rule(rule))
        return 0;
    pthread_mutex_lock(&reg.lock);
    unsigned total = reg.recent_next[rule] < NRA_RECENT_FREES ? reg.recent_next[rule] : NRA_RECENT_FREES;
    unsigned n = 0;
    for (unsigned k = 0; k < total && n < max; k++)
        out[n++] = reg.recent[rule][(reg.recent_next[rule] - 1 - k) % NRA_RECENT_FREES];
    pthread_mutex_unlock(&reg.lock);
    return n;
}

void nra_reg_for_each(void (*fn)(const struct nra_record_info *rec, void *arg), void *arg)
{
    pthread_mutex_lock(&reg.lock);
    for (struct record *r = reg.oldest; r; r = r->next)
        fn(&r->info, arg);
    pthread_mutex_unlock(&reg.lock);
}
