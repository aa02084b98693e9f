/* Unit tests: rule matching (including shaded prefixes) and rules files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules.h"

static void suffix_matches_at_package_boundary(void **state)
{
    (void)state;
    assert_true(nra_class_matches("io/netty/internal/tcnative/SSL", "io/netty/internal/tcnative/SSL"));
    assert_true(nra_class_matches("Lio/netty/internal/tcnative/SSL;", "io/netty/internal/tcnative/SSL"));
    assert_true(nra_class_matches("Lcom/acme/shaded/io/netty/internal/tcnative/SSL;", "io/netty/internal/tcnative/SSL"));
    assert_false(nra_class_matches("Lio/netty/internal/tcnative/SSLContext;", "io/netty/internal/tcnative/SSL"));
    assert_false(nra_class_matches("Lxio/netty/internal/tcnative/SSL;", "io/netty/internal/tcnative/SSL"));
    assert_false(nra_class_matches("SSL", "io/netty/internal/tcnative/SSL"));
}

static struct nra_match match(const struct nra_ruleset *rs, const char *cls, const char *m, const char *sig, bool expect)
{
    struct nra_match out = {0};
    assert_int_equal(nra_rules_match_native(rs, cls, m, sig, &out), expect);
    return out;
}

static void builtin_ssl_roles(void **state)
{
    (void)state;
    struct nra_ruleset rs;
    nra_rules_builtin(&rs);
    const char *ssl = "Lio/netty/internal/tcnative/SSL;";
    assert_int_equal(match(&rs, ssl, "newSSL", "(JZ)J", true).role, NRA_ROLE_ALLOC);
    assert_int_equal(match(&rs, ssl, "freeSSL", "(J)V", true).role, NRA_ROLE_FREE);
    assert_int_equal(match(&rs, ssl, "setTlsExtHostName", "(JLjava/lang/String;)V", true).role, NRA_ROLE_USE);
    assert_int_equal(match(&rs, ssl, "readFromSSL", "(JJI)I", true).role, NRA_ROLE_USE);
    /* no handle first: not ours */
    match(&rs, ssl, "getLastErrorNumber", "()I", false);
    match(&rs, ssl, "bioLengthByteBuffer", "(IJ)I", false);
}

static void builtin_ctx_rule_and_shading(void **state)
{
    (void)state;
    struct nra_ruleset rs;
    nra_rules_builtin(&rs);
    struct nra_match m = match(&rs, "Lshade/io/netty/internal/tcnative/SSLContext;", "make", "(II)J", true);
    assert_int_equal(m.role, NRA_ROLE_ALLOC);
    assert_string_equal(rs.rule[m.rule].name, "netty-tcnative-ctx");
    assert_int_equal(match(&rs, "Lshade/io/netty/internal/tcnative/SSLContext;", "free", "(J)I", true).role,
                     NRA_ROLE_FREE);
    match(&rs, "Lio/netty/internal/tcnative/Other;", "make", "(II)J", false);
}

static void float_natives_are_skipped(void **state)
{
    (void)state;
    struct nra_ruleset rs;
    nra_rules_builtin(&rs);
    struct nra_match m = match(&rs, "Lio/netty/internal/tcnative/SSL;", "scale", "(JD)D", true);
    assert_int_equal(m.role, NRA_ROLE_SKIPPED);
    assert_non_null(strstr(m.skip_reason, "float"));
    m = match(&rs, "Lio/netty/internal/tcnative/SSL;", "many", "(JJJJJJJJJ)V", true);
    assert_int_equal(m.role, NRA_ROLE_SKIPPED);
}

static void descriptor_counting(void **state)
{
    (void)state;
    int ni, nf;
    char first, ret;
    assert_int_equal(nra_descriptor_params("(J[BLjava/lang/String;D)Z", &ni, &nf, &first, &ret), 0);
    assert_int_equal(ni, 3);
    assert_int_equal(nf, 1);
    assert_int_equal(first, 'J');
    assert_int_equal(ret, 'Z');
    assert_int_equal(nra_descriptor_params("(J", &ni, &nf, &first, &ret), -EINVAL);
    assert_int_equal(nra_descriptor_params("(Lfoo)V", &ni, &nf, &first, &ret), -EINVAL);
    assert_int_equal(nra_descriptor_params("(Q)V", &ni, &nf, &first, &ret), -EINVAL);
}

static void owner_rule_by_suffix(void **state)
{
    (void)state;
    struct nra_ruleset rs;
    nra_rules_builtin(&rs);
    assert_int_equal(nra_rules_owner_rule(&rs, "io/netty/handler/ssl/ReferenceCountedOpenSslEngine"), 0);
    assert_int_equal(nra_rules_owner_rule(&rs, "x/io/netty/handler/ssl/ReferenceCountedOpenSslContext"), 1);
    assert_int_equal(nra_rules_owner_rule(&rs, "io/netty/handler/ssl/OpenSslEngine"), -1);
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/nra-rules-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void rules_file_adds_rules(void **state)
{
    (void)state;
    struct nra_ruleset rs;
    nra_rules_builtin(&rs);
    char *p = write_temp("# test rules\n\nnratest nraudit.test.NativeOwner handle nraudit.test.NativeOwner "
                         "alloc (II)J free (J)V use=yes finalizable=no\n");
    char err[512];
    assert_int_equal(nra_rules_load_file(&rs, p, err, sizeof(err)), 0);
    unlink(p);
    assert_int_equal(rs.count, 3);
    assert_string_equal(rs.rule[2].owner_class, "nraudit/test/NativeOwner");
    assert_int_equal(match(&rs, "Lnraudit/test/NativeOwner;", "use", "(JI)V", true).role, NRA_ROLE_USE);
}

static void rules_file_errors_name_line(void **state)
{
    (void)state;
    struct nra_ruleset rs;
    nra_rules_builtin(&rs);
    char *p = write_temp("a b c d e (II)J f (J)V use=yes finalizable=no\nbroken line\n");
    char err[512];
    assert_int_equal(nra_rules_load_file(&rs, p, err, sizeof(err)), -EINVAL);
    unlink(p);
    assert_non_null(strstr(err, ":2:"));
    assert_int_equal(nra_rules_load_file(&rs, "/nonexistent/rules", err, sizeof(err)), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(suffix_matches_at_package_boundary),
        cmocka_unit_test(builtin_ssl_roles),
        cmocka_unit_test(builtin_ctx_rule_and_shading),
        cmocka_unit_test(float_natives_are_skipped),
        cmocka_unit_test(descriptor_counting),
        cmocka_unit_test(owner_rule_by_suffix),
        cmocka_unit_test(rules_file_adds_rules),
        cmocka_unit_test(rules_file_errors_name_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
