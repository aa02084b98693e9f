/* Unit tests: option parsing and report path templates. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

static struct nra_options parsed(const char *text, int expect_rc, char *err)
{
    struct nra_options o;
    nra_options_defaults(&o);
    char local[512] = "";
    int rc = nra_options_parse(text, &o, err ? err : local, 512);
    assert_int_equal(rc, expect_rc);
    return o;
}

static void defaults_without_options(void **state)
{
    (void)state;
    struct nra_options o = parsed(NULL, 0, NULL);
    assert_string_equal(o.file, "nraudit-%p-%n");
    assert_int_equal(o.formats, NRA_FMT_TEXT);
    assert_int_equal(o.log, NRA_LOG_INFO);
    assert_true(o.reachability);
    o = parsed("", 0, NULL);
    assert_int_equal(o.formats, NRA_FMT_TEXT);
}

static void all_keys_parse(void **state)
{
    (void)state;
    struct nra_options o = parsed("file=/tmp/r-%p.json,format=json,log=debug,hook=all,reachability=off,"
                                  "java_depth=8,java_sample=16,max_records=1000,max_allocs=2000,rules=/x", 0, NULL);
    assert_string_equal(o.file, "/tmp/r-%p.json");
    assert_int_equal(o.formats, NRA_FMT_JSON);
    assert_int_equal(o.log, NRA_LOG_DEBUG);
    assert_int_equal(o.hook, NRA_HOOK_ALL);
    assert_false(o.reachability);
    assert_int_equal(o.java_depth, 8);
    assert_int_equal(o.java_sample, 16);
    assert_int_equal(o.max_records, 1000);
    assert_int_equal(o.max_allocs, 2000);
    assert_string_equal(o.rules_file, "/x");
}

static void several_formats(void **state)
{
    (void)state;
    struct nra_options o = parsed("format=text+json", 0, NULL);
    assert_int_equal(o.formats, NRA_FMT_TEXT | NRA_FMT_JSON);
}

static void unknown_key_is_named(void **state)
{
    (void)state;
    char err[512];
    parsed("nonsense=1", -EINVAL, err);
    assert_non_null(strstr(err, "nonsense"));
    assert_non_null(strstr(err, "accepted"));
}

static void bad_format_lists_accepted(void **state)
{
    (void)state;
    char err[512];
    parsed("format=xml", -EINVAL, err);
    assert_non_null(strstr(err, "xml"));
    assert_non_null(strstr(err, "json"));
}

static void empty_file_refused(void **state)
{
    (void)state;
    char err[512];
    parsed("file=", -EINVAL, err);
    assert_non_null(strstr(err, "file="));
}

static void malformed_lists_refused(void **state)
{
    (void)state;
    parsed("format=json,,log=info", -EINVAL, NULL);
    parsed("format", -EINVAL, NULL);
    parsed("java_depth=-1", -EINVAL, NULL);
    parsed("java_depth=65", -EINVAL, NULL);
    parsed("java_depth=1x", -EINVAL, NULL);
    parsed("log=loud", -EINVAL, NULL);
    parsed("file=/tmp/%q", -EINVAL, NULL);
    parsed("format=text+", -EINVAL, NULL);
}

static void report_keyword_for_commands(void **state)
{
    (void)state;
    struct nra_options o = parsed("report,format=json,file=/tmp/x.json", 0, NULL);
    assert_true(o.report_now);
}

static void colon_separates_like_equals(void **state)
{
    (void)state;
    struct nra_options o = parsed("report,format:json,file:/tmp/a=b:c.json", 0, NULL);
    assert_true(o.report_now);
    assert_int_equal(o.formats, NRA_FMT_JSON);
    assert_string_equal(o.file, "/tmp/a=b:c.json");
    o = parsed("file=/tmp/x:y", 0, NULL);
    assert_string_equal(o.file, "/tmp/x:y");
}

static void path_template_expands(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(nra_options_expand_path("/tmp/r-%p-%t%%", 42, 1700, 3, ".txt", out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp/r-42-1700%.txt");
    assert_int_equal(nra_options_expand_path("%p", 42, 0, 1, "", out, 2), -ENAMETOOLONG);
}

static void one_format_keeps_given_extension(void **state)
{
    (void)state;
    char out[256];
    struct nra_options o = parsed("file=/tmp/r-%p.json,format=json", 0, NULL);
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_JSON, false, 7, 0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp/r-7.json");
    o = parsed(NULL, 0, NULL);
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_TEXT, false, 7, 0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "nraudit-7-1.txt");   /* the default keeps every report: %n */
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_TEXT, false, 7, 0, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "nraudit-7-2.txt");
}

static void pprof_writes_two_files(void **state)
{
    (void)state;
    char out[256];
    struct nra_options o = parsed("file=/tmp/p-%p,format=pprof", 0, NULL);
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_PPROF, false, 7, 0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp/p-7.heap");
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_PPROF, true, 7, 0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp/p-7.pb.gz");
    o = parsed("format=text+json+pprof+html+collapsed", 0, NULL);
    assert_int_equal(o.formats, NRA_FMT_ALL);
}

static void several_formats_get_own_extensions(void **state)
{
    (void)state;
    char out[256];
    struct nra_options o = parsed("file=/tmp/r.json,format=text+json", 0, NULL);
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_TEXT, false, 7, 0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp/r.txt");
    assert_int_equal(nra_options_report_path(&o, NRA_FMT_JSON, false, 7, 0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp/r.json");
}

static void durations_take_units(void **state)
{
    (void)state;
    assert_int_equal(parsed("interval=10", 0, NULL).interval, 10);
    assert_int_equal(parsed("interval=10s", 0, NULL).interval, 10);
    assert_int_equal(parsed("interval=5m", 0, NULL).interval, 300);
    assert_int_equal(parsed("interval=1h", 0, NULL).interval, 3600);
    char err[512];
    parsed("interval=2d", -EINVAL, err);
    assert_non_null(strstr(err, "expected a duration"));
    parsed("interval=25h", -EINVAL, err);
    parsed("interval=m", -EINVAL, err);
}

static void numbers_are_digits_only(void **state)
{
    (void)state;
    char err[512];
    parsed("interval=+5", -EINVAL, err);
    parsed("interval= 5", -EINVAL, err);
    parsed("max_allocs=+4096", -EINVAL, err);
    assert_non_null(strstr(err, "expected a whole number"));
    parsed("max_allocs= 4096", -EINVAL, err);
    parsed("java_sample=-1", -EINVAL, err);
    assert_int_equal(parsed("max_sites=4096,max_stacks=1024", 0, NULL).max_sites, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_without_options),
        cmocka_unit_test(all_keys_parse),
        cmocka_unit_test(several_formats),
        cmocka_unit_test(unknown_key_is_named),
        cmocka_unit_test(bad_format_lists_accepted),
        cmocka_unit_test(empty_file_refused),
        cmocka_unit_test(malformed_lists_refused),
        cmocka_unit_test(report_keyword_for_commands),
        cmocka_unit_test(colon_separates_like_equals),
        cmocka_unit_test(path_template_expands),
        cmocka_unit_test(one_format_keeps_given_extension),
        cmocka_unit_test(several_formats_get_own_extensions),
        cmocka_unit_test(pprof_writes_two_files),
        cmocka_unit_test(durations_take_units),
        cmocka_unit_test(numbers_are_digits_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
