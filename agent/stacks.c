/* stacks.c — see include/stacks.h.
 *
 * An open-addressed table of (hash → stack) with linear probing; stacks are
 * never removed, so an id stays valid for the life of the process and a
 * report can name a site long after the allocations that used it are gone.
 */
#include "stacks.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>


struct stack {
    uint64_t hash;
    uint32_t kind;
    uint32_t n;
    uintptr_t *frames;
};

static struct {
    pthread_mutex_t lock;
    struct stack *stacks;  /* by id - 1 */
    uint32_t *slots;       /* hash table of ids (0 = empty) */
    unsigned cap, count, slot_count;
    uint64_t dropped;
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

int nra_stacks_init(unsigned max_stacks)
{
    pthread_mutex_lock(&st.lock);
    for (unsigned i = 0; i < st.count; i++)
        free(st.stacks[i].frames);
    free(st.stacks);
    free(st.slots);
    st.count = 0;
    st.dropped = 0;
    st.cap = max_stacks;
    st.slot_count = 16;
    while (st.slot_count < max_stacks * 2)
        st.slot_count <<= 1;
    st.stacks = calloc(max_stacks, sizeof(*st.stacks));
    st.slots = calloc(st.slot_count, sizeof(*st.slots));
    int rc = (st.stacks && st.slots) ? 0 : -ENOMEM;
    if (rc) {
        free(st.stacks);
        free(st.slots);
        st.stacks = NULL;
        st.slots = NULL;
        st.cap = 0;
    }
    pthread_mutex_unlock(&st.lock);
    return rc;
}

static uint64_t hash_frames(enum nra_stack_kind kind, const uintptr_t *f, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ kind;
    for (unsigned i = 0; i < n; i++) {
        h ^= (uint64_t)f[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

static bool same(const struct stack *s, uint64_t h, enum nra_stack_kind kind,
                 const uintptr_t *f, unsigned n)
{
    return s->hash == h && s->kind == (uint32_t)kind && s->n == n &&
           memcmp(s->frames, f, n * sizeof(*f)) == 0;
}

uint32_t nra_stack_intern(enum nra_stack_kind kind, const uintptr_t *frames, unsigned n)
{
    if (n == 0)
        return 0;
    if (n > NRA_STACK_MAX_FRAMES)
        n = NRA_STACK_MAX_FRAMES;
    uint64_t h = hash_frames(kind, frames, n);
    pthread_mutex_lock(&st.lock);
    uint32_t id = 0;
    if (st.slot_count == 0) {
        st.dropped++;
        goto out;
    }
    unsigned mask = st.slot_count - 1;
    for (unsigned i = (unsigned)h & mask;; i = (i + 1) & mask) {
        uint32_t cand = st.slots[i];
        if (cand == 0) {
            if (st.count == st.cap) {
                st.dropped++;
                break;
            }
            uintptr_t *copy = malloc(n * sizeof(*copy));
            if (!copy) {
                st.dropped++;
                break;
            }
            memcpy(copy, frames, n * sizeof(*copy));
            st.stacks[st.count] = (struct stack){.hash = h, .kind = kind, .n = n, .frames = copy};
            id = ++st.count;
            st.slots[i] = id;
            break;
        }
        if (same(&st.stacks[cand - 1], h, kind, frames, n)) {
            id = cand;
            break;
        }
    }
out:
    pthread_mutex_unlock(&st.lock);
    return id;
}

unsigned nra_stack_get(uint32_t id, uintptr_t *out, unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&st.lock);
    if (id >= 1 && id <= st.count) {
        const struct stack *s = &st.stacks[id - 1];
        n = s->n < max ? s->n : max;
        memcpy(out, s->frames, n * sizeof(*out));
    }
    pthread_mutex_unlock(&st.lock);
    return n;
}

uint64_t nra_stacks_dropped(void)
{
    pthread_mutex_lock(&st.lock);
    uint64_t d = st.dropped;
    pthread_mutex_unlock(&st.lock);
    return d;
}

unsigned nra_stacks_count(void)
{
    pthread_mutex_lock(&st.lock);
    unsigned c = st.count;
    pthread_mutex_unlock(&st.lock);
    return c;
}
