/* Unit tests: allocation hooks, scopes and the attributed-allocation table
 * (the hooks are called directly, as a patched GOT slot would). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "stacks.h"

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef int (*memalign_fn)(void **, size_t, size_t);

static malloc_fn h_malloc;
static calloc_fn h_calloc;
static realloc_fn h_realloc;
static free_fn h_free;
static memalign_fn h_posix_memalign;

#define TABLE 65536  /* 64 stripes x 1024 */

static int setup_once(void **state)
{
    (void)state;
    assert_int_equal(nra_stacks_init(1024), 0);
    assert_int_equal(nra_alloc_init(TABLE, 4096), 0);
    h_malloc = (malloc_fn)nra_alloc_hook_for("malloc");
    h_calloc = (calloc_fn)nra_alloc_hook_for("calloc");
    h_realloc = (realloc_fn)nra_alloc_hook_for("realloc");
    h_free = (free_fn)nra_alloc_hook_for("free");
    h_posix_memalign = (memalign_fn)nra_alloc_hook_for("posix_memalign");
    return 0;
}

struct tally {
    uint64_t count, bytes, record, weighted;
    uint32_t stack;
};

static void tally_one(const struct nra_alloc_info *a, void *arg)
{
    struct tally *t = arg;
    t->count++;
    t->weighted += a->weight;
    t->bytes += a->size;
    t->record = a->record_id;
    t->stack = a->native_stack;
}

static struct tally live(void)
{
    struct tally t = {0};
    nra_alloc_for_each(tally_one, &t);
    return t;
}

static void outside_scope_not_attributed(void **state)
{
    (void)state;
    void *p = h_malloc(40);
    assert_non_null(p);
    assert_int_equal(live().count, 0);
    h_free(p);
}

static void scope_attributes_and_free_forgets(void **state)
{
    (void)state;
    struct nra_scope s = {.record_id = 42, .slot = 3};
    nra_alloc_scope_enter(&s);
    void *a = h_malloc(32);
    void *b = h_calloc(2, 8);
    nra_alloc_scope_leave(&s);
    void *c = h_malloc(8);  /* after the scope: not attributed */
    struct tally t = live();
    assert_int_equal(t.count, 2);
    assert_int_equal(t.bytes, 48);
    assert_int_equal(t.record, 42);
    h_free(a);
    t = live();
    assert_int_equal(t.count, 1);
    assert_int_equal(t.bytes, 16);
    h_free(b);
    h_free(c);
    assert_int_equal(live().count, 0);
}

static void site_ends_with_slot_tag(void **state)
{
    (void)state;
    struct nra_scope s = {.record_id = 7, .slot = 5};
    nra_alloc_scope_enter(&s);
    void *a = h_malloc(24);
    nra_alloc_scope_leave(&s);
    struct tally t = live();
    assert_int_equal(t.count, 1);
    uintptr_t pcs[NRA_STACK_MAX_FRAMES];
    unsigned n = nra_stack_get(t.stack, pcs, NRA_STACK_MAX_FRAMES);
    assert_true(n >= 2);
    assert_int_equal(pcs[n - 1] & ~NRA_FRAME_COMPLETE, NRA_FRAME_SLOT_TAG | 5);
    assert_int_equal(nra_alloc_stack_slot(t.stack), 5);
    assert_int_equal(nra_alloc_stack_slot(0), -1);
    h_free(a);
}

static void realloc_moves_attribution(void **state)
{
    (void)state;
    struct nra_scope s = {.record_id = 9, .slot = 1};
    nra_alloc_scope_enter(&s);
    void *a = h_malloc(16);
    nra_alloc_scope_leave(&s);
    void *b = h_realloc(a, 4096);  /* outside the scope: keeps record 9 */
    struct tally t = live();
    assert_int_equal(t.count, 1);
    assert_int_equal(t.bytes, 4096);
    assert_int_equal(t.record, 9);
    b = h_realloc(b, 0);           /* glibc: frees */
    assert_int_equal(live().count, 0);
    h_free(b);
}

static void realloc_null_in_scope_is_malloc(void **state)
{
    (void)state;
    struct nra_scope s = {.record_id = 11, .slot = 1};
    nra_alloc_scope_enter(&s);
    void *a = h_realloc(NULL, 100);
    void *p = NULL;
    assert_int_equal(h_posix_memalign(&p, 64, 128), 0);
    nra_alloc_scope_leave(&s);
    assert_int_equal(live().count, 2);
    h_free(a);
    h_free(p);
    assert_int_equal(live().count, 0);
}

static void nested_scopes_restore_outer(void **state)
{
    (void)state;
    struct nra_scope outer = {.record_id = 1, .slot = 1};
    struct nra_scope inner = {.record_id = 2, .slot = 2};
    nra_alloc_scope_enter(&outer);
    nra_alloc_scope_enter(&inner);
    void *a = h_malloc(8);
    nra_alloc_scope_leave(&inner);
    void *b = h_malloc(8);
    nra_alloc_scope_leave(&outer);
    struct tally t = live();
    assert_int_equal(t.count, 2);
    h_free(a);
    t = live();
    assert_int_equal(t.record, 1);
    h_free(b);
}

/* Scopes with far more allocations than NRA_SCOPE_NAMED: each unwinds at
 * most NRA_SCOPE_UNWINDS stacks, the shape never caches more than
 * NRA_SCOPE_NAMED signatures, allocations past the budget are attributed
 * (exactly) under the native's unnamed site, and once the shape's
 * signatures are cached a scope unwinds nothing. */
static void big_scopes_stay_within_budgets(void **state)
{
    (void)state;
    enum { N = 600, ROUNDS = NRA_SCOPE_NAMED / NRA_SCOPE_UNWINDS + 2 };
    struct nra_alloc_stats before, prev, now;
    nra_alloc_get_stats(&before);
    prev = before;
    void *p[N];
    for (int round = 0; round < ROUNDS; round++) {
        struct nra_scope s = {.record_id = 20 + (uint64_t)round, .slot = 7};
        nra_alloc_scope_enter(&s);
        for (int i = 0; i < N; i++)
            p[i] = h_malloc(8);
        nra_alloc_scope_leave(&s);
        assert_int_equal(live().count, N);
        for (int i = 0; i < N; i++)
            h_free(p[i]);
        nra_alloc_get_stats(&now);
        assert_true(now.stack_captures - prev.stack_captures <= NRA_SCOPE_UNWINDS);
        if (round == ROUNDS - 1)
            assert_int_equal(now.stack_captures, prev.stack_captures);
        prev = now;
    }
    assert_int_equal(now.unnamed[NRA_UNNAMED_PAST_ORDER] - before.unnamed[NRA_UNNAMED_PAST_ORDER],
                     (uint64_t)ROUNDS * (N - NRA_SCOPE_NAMED));
    assert_true(now.signatures - before.signatures <= NRA_SCOPE_NAMED);
    assert_int_equal(live().count, 0);
}

/* Past the table: the table never fills with a leak's entries; entries
 * carry weights whose sum estimates the allocations made. Runs last: it
 * leaves the table sampling. */
static void past_the_table_samples_and_estimates(void **state)
{
    (void)state;
    enum { N = 400000 };
    void **p = calloc(N, sizeof(*p));
    assert_non_null(p);
    for (int i = 0; i < N; i++) {
        struct nra_scope s = {.record_id = 1000 + (uint64_t)i, .slot = 1};
        nra_alloc_scope_enter(&s);
        p[i] = h_malloc(32);
        nra_alloc_scope_leave(&s);
    }
    struct nra_alloc_stats st;
    nra_alloc_get_stats(&st);
    struct tally t = live();
    assert_true(st.sample_shift > 0);
    assert_true(t.count <= st.capacity);
    /* few drops: thinning keeps room for new samples */
    assert_true(st.dropped < N / 100);
    /* the estimate: within 5% (tens of thousands of samples) */
    assert_true(t.weighted > N / 100 * 95 && t.weighted < N / 100 * 105);
    for (int i = 0; i < N; i++)
        h_free(p[i]);
    free(p);
    assert_int_equal(live().count, 0);
}

#define THREADS 8
#define ROUNDS 20000

static void *worker(void *arg)
{
    struct nra_scope s = {.record_id = (uint64_t)(uintptr_t)arg, .slot = 2};
    for (int i = 0; i < ROUNDS; i++) {
        nra_alloc_scope_enter(&s);
        void *a = h_malloc((size_t)(i % 7) * 8 + 8);
        nra_alloc_scope_leave(&s);
        void *b = h_malloc(16);    /* outside: not attributed, freed through the hook */
        h_free(a);
        h_free(b);
    }
    return NULL;
}

static void concurrent_threads_leave_nothing(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 100));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(live().count, 0);
    struct nra_alloc_stats st;
    nra_alloc_get_stats(&st);
    assert_int_equal(st.live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outside_scope_not_attributed),
        cmocka_unit_test(scope_attributes_and_free_forgets),
        cmocka_unit_test(site_ends_with_slot_tag),
        cmocka_unit_test(realloc_moves_attribution),
        cmocka_unit_test(realloc_null_in_scope_is_malloc),
        cmocka_unit_test(nested_scopes_restore_outer),
        cmocka_unit_test(big_scopes_stay_within_budgets),
        cmocka_unit_test(concurrent_threads_leave_nothing),
        cmocka_unit_test(past_the_table_samples_and_estimates),
    };
    return cmocka_run_group_tests(tests, setup_once, NULL);
}
