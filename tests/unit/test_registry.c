/* Unit tests: the registry — life cycle, handle reuse, unknown frees,
 * bounds, and concurrent alloc/free from 8 threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

static int setup(void **state)
{
    (void)state;
    return nra_reg_init(1000);
}

static void alloc_then_free(void **state)
{
    (void)state;
    uint64_t id = nra_reg_alloc(0, 0x1000, 0, 7, 100, 3);
    assert_true(id > 0);
    struct nra_record_info looked;
    assert_int_equal(nra_reg_lookup_handle(0, 0x1000, &looked), id);
    assert_int_equal(nra_reg_lookup_handle(1, 0x1000, &looked), 0);  /* rules are separate */
    assert_int_equal(nra_reg_lookup_handle(0, 0x1000, &looked), id);
    assert_int_equal(looked.java_site, 3);
    assert_int_equal(nra_reg_lookup_handle(0, 0x1001, &looked), 0);
    assert_int_equal(nra_reg_claim_owner(0, 0x1000, -1), id);
    assert_int_equal(nra_reg_lookup_handle(0, 0x1000, &looked), id);
    assert_true(looked.flags & NRA_REC_OWNER);
    assert_int_equal(nra_reg_claim_owner(0, 0x1001, -1), 0);
    struct nra_record_info info;
    assert_int_equal(nra_reg_get(id, &info), 0);
    assert_int_equal(info.alloc_tid, 7);
    assert_int_equal(info.java_site, 3);
    struct nra_record_info freed;
    assert_int_equal(nra_reg_free(0, 0x1000, 8, 200, &freed), 0);
    assert_int_equal(freed.id, id);
    assert_int_equal(nra_reg_get(id, &info), -ENOENT);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.allocated, 1);
    assert_int_equal(c.freed, 1);
    assert_int_equal(c.outstanding, 0);
}

static void recent_frees_keep_free_time_and_thread(void **state)
{
    (void)state;
    for (int i = 1; i <= 10; i++) {
        nra_reg_alloc(0, 0x500 + i, 0, 7, 100 + (uint64_t)i, 0);
        assert_int_equal(nra_reg_free(0, 0x500 + i, 9, 1000 + (uint64_t)i, NULL), 0);
    }
    struct nra_freed_info f[NRA_RECENT_FREES + 2];
    unsigned n = nra_reg_recent_frees(0, f, NRA_RECENT_FREES + 2);
    assert_int_equal(n, NRA_RECENT_FREES);
    assert_int_equal(f[0].handle, 0x500 + 10);  /* newest first */
    assert_int_equal(f[0].free_tid, 9);
    assert_int_equal(f[0].alloc_tid, 7);
    assert_int_equal(f[0].free_ns, 1010);
    assert_int_equal(f[0].alloc_ns, 110);
    assert_int_equal(f[NRA_RECENT_FREES - 1].handle, 0x500 + 10 - NRA_RECENT_FREES + 1);
    assert_int_equal(nra_reg_recent_frees(1, f, 4), 0);
}

static void failed_alloc_is_not_recorded(void **state)
{
    (void)state;
    assert_int_equal(nra_reg_alloc(0, 0, 0, 1, 1, 0), 0);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.allocated, 0);
}

static void reserved_id_is_used(void **state)
{
    (void)state;
    uint64_t id = nra_reg_reserve_id();
    assert_int_equal(nra_reg_alloc(0, 0x55, id, 1, 1, 0), id);
    assert_true(nra_reg_reserve_id() > id);
}

static void handle_reuse_after_free_is_a_new_record(void **state)
{
    (void)state;
    uint64_t a = nra_reg_alloc(0, 0x2000, 0, 1, 1, 0);
    assert_int_equal(nra_reg_free(0, 0x2000, 1, 2, NULL), 0);
    uint64_t b = nra_reg_alloc(0, 0x2000, 0, 1, 3, 0);
    assert_true(b > a);
    struct nra_record_info looked;
    assert_int_equal(nra_reg_lookup_handle(0, 0x2000, &looked), b);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.reused_unfreed, 0);
    assert_int_equal(c.outstanding, 1);
}

static void reuse_without_free_is_counted(void **state)
{
    (void)state;
    uint64_t a = nra_reg_alloc(0, 0x3000, 0, 1, 1, 0);
    uint64_t b = nra_reg_alloc(0, 0x3000, 0, 1, 2, 0);
    assert_true(b > a);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.reused_unfreed, 1);
    assert_int_equal(c.outstanding, 1);
    assert_int_equal(c.allocated, 2);
    assert_int_equal(c.freed, 1);  /* the reused handle was freed unseen */
}

static void unknown_free_is_counted(void **state)
{
    (void)state;
    assert_int_equal(nra_reg_free(0, 0xdead, 1, 1, NULL), -ENOENT);
    assert_int_equal(nra_reg_free(0, 0xdead, 1, 1, NULL), -ENOENT);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.unknown_frees, 2);
    assert_int_equal(c.freed, 0);
}

static void double_free_is_unknown_the_second_time(void **state)
{
    (void)state;
    nra_reg_alloc(0, 0x4000, 0, 1, 1, 0);
    assert_int_equal(nra_reg_free(0, 0x4000, 1, 1, NULL), 0);
    assert_int_equal(nra_reg_free(0, 0x4000, 1, 1, NULL), -ENOENT);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.freed, 1);
    assert_int_equal(c.unknown_frees, 1);
}

static void reservations_hold_places(void **state)
{
    (void)state;
    nra_reg_init(16);
    uint64_t ids[16];
    for (int i = 0; i < 16; i++)
        assert_true((ids[i] = nra_reg_reserve_id()) > 0);
    assert_int_equal(nra_reg_reserve_id(), 0);       /* full while natives run */
    assert_int_equal(nra_reg_alloc(0, 0, ids[0], 1, 1, 0), 0);  /* failed: place back */
    uint64_t again = nra_reg_reserve_id();
    assert_true(again > 0);
    for (int i = 1; i < 16; i++)
        assert_int_equal(nra_reg_alloc(0, 0x100 + i, ids[i], 1, 1, 0), ids[i]);
    assert_int_equal(nra_reg_alloc(0, 0x200, again, 1, 1, 0), again);
    assert_int_equal(nra_reg_reserve_id(), 0);
    nra_reg_count_dropped(0);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.allocated, 16);
    assert_int_equal(c.outstanding, 16);
    assert_int_equal(c.dropped, 1);
}

static void bound_drops_and_counts(void **state)
{
    (void)state;
    nra_reg_init(16);
    for (int i = 1; i <= 20; i++)
        nra_reg_alloc(0, i, 0, 1, 1, 0);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.allocated, 16);   /* dropped ones are not counted */
    assert_int_equal(c.outstanding, 16);
    assert_int_equal(c.dropped, 4);
}

static void finalized_free_counts_as_by_finalizer(void **state)
{
    (void)state;
    uint64_t id = nra_reg_alloc(1, 0x77, 0, 1, 1, 0);
    assert_int_equal(nra_reg_claim_owner(1, 0x77, -1), id);
    assert_int_equal(nra_reg_flag_handle(1, 0x77, NRA_REC_FINALIZED), id);
    assert_int_equal(nra_reg_free(1, 0x77, 1, 1, NULL), 0);
    struct nra_rule_counts c;
    nra_reg_counts(1, &c);
    assert_int_equal(c.freed_by_finalizer, 1);
    assert_int_equal(nra_reg_flag_handle(1, 0x77, NRA_REC_FINALIZED), 0);
}

/* The native frees handle H, and before the free wrapper retires the record
 * another thread's alloc native gets H back: the new record must survive
 * the old free, and nothing counts as reused or unknown. */
static void handle_reused_during_free_keeps_the_new_record(void **state)
{
    (void)state;
    uint64_t old_id = nra_reg_alloc(0, 0x9000, 0, 1, 1, 0);
    struct nra_record_info rec;
    uint64_t freeing = nra_reg_begin_free(0, 0x9000, &rec);
    assert_int_equal(freeing, old_id);
    uint64_t new_id = nra_reg_alloc(0, 0x9000, 0, 2, 2, 0);   /* the other thread */
    assert_true(new_id != old_id);
    nra_reg_end_free(freeing, 1, 3);
    assert_int_equal(nra_reg_lookup_handle(0, 0x9000, &rec), new_id);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.reused_unfreed, 0);
    assert_int_equal(c.unknown_frees, 0);
    assert_int_equal(c.freed, 1);
    assert_int_equal(c.outstanding, 1);
    assert_int_equal(nra_reg_free(0, 0x9000, 2, 4, NULL), 0);
}

/* The lookup cache of use wrappers never answers with a freed or a
 * replaced record: any change of the handle map invalidates it. */
static void cached_lookups_follow_frees_and_reuse(void **state)
{
    (void)state;
    struct nra_record_info rec;
    uint64_t a = nra_reg_alloc(0, 0xb1, 0, 1, 1, 7);
    assert_int_equal(nra_reg_lookup_handle(0, 0xb1, &rec), a);
    assert_int_equal(nra_reg_lookup_handle(0, 0xb1, &rec), a);   /* from the cache */
    assert_int_equal(rec.java_site, 7);
    assert_int_equal(nra_reg_lookup_handle(0, 0xb2, NULL), 0);    /* a miss, cached too */
    uint64_t b = nra_reg_alloc(0, 0xb2, 0, 1, 1, 0);
    assert_int_equal(nra_reg_lookup_handle(0, 0xb2, NULL), b);    /* the alloc invalidated it */
    assert_int_equal(nra_reg_free(0, 0xb1, 1, 2, NULL), 0);
    assert_int_equal(nra_reg_lookup_handle(0, 0xb1, NULL), 0);
    uint64_t c = nra_reg_alloc(0, 0xb1, 0, 1, 3, 0);               /* the handle comes back */
    assert_int_equal(nra_reg_lookup_handle(0, 0xb1, NULL), c);
    assert_int_equal(nra_reg_free(0, 0xb1, 1, 4, NULL), 0);
    assert_int_equal(nra_reg_free(0, 0xb2, 1, 4, NULL), 0);
}

/* A snapshot lists exactly the outstanding records, counts from the same
 * moment, records being freed still outstanding, and running alloc
 * natives' reservations. */
static void snapshot_is_consistent(void **state)
{
    (void)state;
    uint64_t a = nra_reg_alloc(0, 0xa1, 0, 1, 1, 0);
    uint64_t b = nra_reg_alloc(0, 0xa2, 0, 1, 1, 0);
    nra_reg_alloc(0, 0xa3, 0, 1, 1, 0);
    assert_int_equal(nra_reg_free(0, 0xa3, 1, 2, NULL), 0);
    uint64_t freeing = nra_reg_begin_free(0, 0xa2, NULL);
    uint64_t reserved = nra_reg_reserve_id();
    struct nra_reg_snapshot snap;
    assert_int_equal(nra_reg_snapshot(&snap), 0);
    assert_int_equal(snap.n, 2);
    assert_int_equal(snap.counts[0].outstanding, 2);
    assert_int_equal(snap.counts[0].allocated - snap.counts[0].freed, snap.n);
    assert_non_null(nra_reg_snapshot_find(&snap, a));
    assert_true(nra_reg_snapshot_find(&snap, b)->flags & NRA_REC_FREEING);
    assert_true(nra_reg_snapshot_in_flight(&snap, reserved));
    assert_false(nra_reg_snapshot_in_flight(&snap, a));
    assert_true(snap.epoch > reserved);
    nra_reg_snapshot_free(&snap);
    nra_reg_end_free(freeing, 1, 3);
    nra_reg_alloc(0, 0, reserved, 1, 1, 0);   /* the native failed: place given back */
}

static void count_record(const struct nra_record_info *rec, void *arg)
{
    (void)rec;
    (*(int *)arg)++;
}

#define THREADS 8
#define PER_THREAD 20000

static void *churn(void *arg)
{
    int64_t base = (int64_t)(intptr_t)arg * 1000000;
    for (int i = 0; i < PER_THREAD; i++) {
        int64_t h = base + i % 64 + 1;  /* handles reused after free */
        nra_reg_alloc(0, h, 0, 1, 1, 0);
        if (i % 10 != 9)                /* keep every tenth... */
            nra_reg_free(0, h, 1, 2, NULL);
        else
            nra_reg_free(0, -h, 1, 2, NULL);  /* ...and free an unknown handle instead */
    }
    return NULL;
}

static void concurrent_alloc_free_8_threads(void **state)
{
    (void)state;
    nra_reg_init(1u << 20);
    pthread_t t[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct nra_rule_counts c;
    nra_reg_counts(0, &c);
    assert_int_equal(c.allocated, THREADS * PER_THREAD);
    assert_int_equal(c.unknown_frees, THREADS * PER_THREAD / 10);
    assert_int_equal(c.freed + c.outstanding, c.allocated);
    assert_true(c.reused_unfreed > 0);
    int walked = 0;
    nra_reg_for_each(count_record, &walked);
    assert_int_equal((uint64_t)walked, c.outstanding);
    assert_true(c.outstanding <= THREADS * 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(alloc_then_free, setup),
        cmocka_unit_test_setup(failed_alloc_is_not_recorded, setup),
        cmocka_unit_test_setup(recent_frees_keep_free_time_and_thread, setup),
        cmocka_unit_test_setup(reserved_id_is_used, setup),
        cmocka_unit_test_setup(handle_reuse_after_free_is_a_new_record, setup),
        cmocka_unit_test_setup(reuse_without_free_is_counted, setup),
        cmocka_unit_test_setup(unknown_free_is_counted, setup),
        cmocka_unit_test_setup(double_free_is_unknown_the_second_time, setup),
        cmocka_unit_test_setup(bound_drops_and_counts, setup),
        cmocka_unit_test_setup(reservations_hold_places, setup),
        cmocka_unit_test_setup(finalized_free_counts_as_by_finalizer, setup),
        cmocka_unit_test_setup(handle_reused_during_free_keeps_the_new_record, setup),
        cmocka_unit_test_setup(snapshot_is_consistent, setup),
        cmocka_unit_test_setup(cached_lookups_follow_frees_and_reuse, setup),
        cmocka_unit_test_setup(concurrent_alloc_free_8_threads, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
