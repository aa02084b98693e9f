/* Unit tests: the known-leaks table, version ordering and matching. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "known_leaks.h"

static void versions_order_numerically(void **state)
{
    (void)state;
    assert_true(nra_version_compare("2.0.28.Final", "2.0.27.Final") > 0);
    assert_true(nra_version_compare("2.0.28.Final", "2.0.29.Final") < 0);
    assert_true(nra_version_compare("2.0.9.Final", "2.0.10.Final") < 0);
    assert_int_equal(nra_version_compare("2.0.30.Final", "2.0.30.Final"), 0);
    assert_true(nra_version_compare("2.0.30", "2.0.30.Final") > 0 || nra_version_compare("2.0.30", "2.0.30.Final") < 0);
    assert_true(nra_version_compare("2.1", "2.0.99") > 0);
}

static void builtin_table_has_532(void **state)
{
    (void)state;
    const struct nra_known_leak *t;
    size_t n = nra_known_leaks(&t);
    assert_true(n >= 1);
    const struct nra_known_leak *k =
        nra_known_leak_match(t, n, "io.netty.internal.tcnative.SSL.newSSL", 32, "alloc", "netty-tcnative", "2.0.28.Final");
    assert_non_null(k);
    assert_string_equal(k->id, "netty-tcnative #532");
    assert_non_null(strstr(k->fix, "2.0.30.Final"));
}

static void outside_range_or_other_site_does_not_match(void **state)
{
    (void)state;
    const struct nra_known_leak *t;
    size_t n = nra_known_leaks(&t);
    const char *native = "io.netty.internal.tcnative.SSL.newSSL";
    assert_null(nra_known_leak_match(t, n, native, 32, "alloc", "netty-tcnative", "2.0.30.Final"));
    assert_null(nra_known_leak_match(t, n, native, 32, "alloc", "netty-tcnative", "2.0.26.Final"));
    assert_null(nra_known_leak_match(t, n, native, 40, "alloc", "netty-tcnative", "2.0.28.Final"));
    assert_null(nra_known_leak_match(t, n, native, 32, "use", "netty-tcnative", "2.0.28.Final"));
    assert_null(nra_known_leak_match(t, n, native, 32, "alloc", "netty-handler", "2.0.28.Final"));
    assert_null(nra_known_leak_match(t, n, native, 32, "alloc", "netty-tcnative", NULL));
    /* upstream packaging: artifactId netty-tcnative-boringssl-static matches the prefix */
    assert_non_null(nra_known_leak_match(t, n, native, 32, "alloc", "netty-tcnative-boringssl-static", "2.0.27.Final"));
}

static void malformed_lines_are_refused(void **state)
{
    (void)state;
    struct nra_known_leak out[4];
    int bad = 0;
    assert_int_equal(nra_known_leaks_parse("# only a comment\n", out, 4, &bad), 0);
    assert_int_equal(nra_known_leaks_parse("a\tb\tc\n", out, 4, &bad), -EINVAL);
    assert_int_equal(bad, 1);
    assert_int_equal(nra_known_leaks_parse("id\tart\t1\t2\tX.y\tnotanumber\talloc\tfix\n", out, 4, &bad), -EINVAL);
    assert_int_equal(nra_known_leaks_parse("id\tart\t1\t2\tX.y\t8\talloc\tfix with\ttab\n", out, 4, &bad), 1);
    assert_string_equal(out[0].fix, "fix with\ttab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(versions_order_numerically),
        cmocka_unit_test(builtin_table_has_532),
        cmocka_unit_test(outside_range_or_other_site_does_not_match),
        cmocka_unit_test(malformed_lines_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
