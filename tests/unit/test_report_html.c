/* Unit tests: the HTML report (report_html.c) from a report built by hand:
 * verdict, escaping, charts and their points, self-containment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"
#include "report_html.h"
#include "series.h"

#define SET(field, ...) snprintf((field), sizeof(field), __VA_ARGS__)

static struct nra_report *make_report(void)
{
    struct nra_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    SET(r->trigger, "exit");
    r->pid = 31337;
    r->timestamp_ms = 1750000000000ull;
    r->uptime_ms = 6000;
    SET(r->version, "0.1.0");
    SET(r->options, "file=/tmp/x.html,format=html,interval=1");
    r->reachability_done = true;
    r->n_notes = 1;
    SET(r->notes[0], "note with <script>alert(1)</script> & \"quotes\" and bad UTF-8 \xff here");
    r->n_rules = 2;
    r->rules = calloc(2, sizeof(*r->rules));
    assert_non_null(r->rules);

    struct nra_report_rule *rr = &r->rules[0];
    SET(rr->rule, "netty-tcnative-ssl");
    SET(rr->owner_class, "io.netty.handler.ssl.ReferenceCountedOpenSslEngine");
    SET(rr->alloc_native, "io.netty.internal.tcnative.SSL.newSSL(JZ)J");
    SET(rr->free_native, "io.netty.internal.tcnative.SSL.freeSSL(J)V");
    rr->counts = (struct nra_report_counts){.allocated = 101, .freed = 100, .outstanding = 1, .live = 1,
                                            .freed_with_residue = 100};
    rr->residue_bytes = rr->repeating_bytes = rr->leak_bytes = 3200;
    rr->residue_allocations = 100;
    rr->n_sites = 1;
    struct nra_report_site *s = &rr->sites[0];
    s->bytes = 3200, s->allocations = 100, s->owners = 100, s->owners_met = 101, s->size_each = 32;
    s->repeating = true;
    SET(s->scope, "alloc");
    SET(s->scope_native, "io.netty.internal.tcnative.SSL.newSSL");
    s->n_native = 2;
    s->native[0].address = 0x7f0000001234;
    s->native[0].offset = 0x1234;
    SET(s->native[0].library, "libcrypto.so.3");
    SET(s->native[0].symbol, "CRYPTO_zalloc+0x8");
    s->native[1].address = 0x7f000000ef17;
    s->native[1].offset = 0xef17;
    SET(s->native[1].library, "libnetty_tcnative.so");
    SET(s->native[1].symbol, "io.netty.internal.tcnative.SSL.newSSL (native)+0x46");
    s->java.n = 2;
    SET(s->java.frames[0], "io.netty.internal.tcnative.SSL.newSSL(Native Method)");
    SET(s->java.frames[1], "io.netty.handler.ssl.ReferenceCountedOpenSslEngine.<init>(ReferenceCountedOpenSslEngine.java:325)");
    rr->n_groups = 1;
    rr->groups[0].count = 1;
    rr->groups[0].oldest_ms = r->timestamp_ms - 5000;
    rr->groups[0].java = s->java;
    rr->n_findings = 1;
    rr->audited = true;
    r->audited = true;
    snprintf(r->verdict, sizeof(r->verdict), "1 native leak finding.");
    SET(rr->findings[0].kind, "residue");
    rr->findings[0].owners = 100;
    rr->findings[0].bytes = 3200;
    SET(rr->findings[0].summary, "100 freed handles left native memory behind: 100 allocations of 32 bytes");

    rr = &r->rules[1];
    SET(rr->rule, "rule<&>\"two\"");
    SET(rr->owner_class, "a.b.Owner");

    r->finalizer.known = true;
    r->finalizer.enabled = true;
    r->finalizer.queue_length = 3;
    SET(r->finalizer.thread_state, "BLOCKED");
    SET(r->finalizer.diagnosis, "the Finalizer is stuck in x.Blocker.finalize()");
    return r;
}

static void free_report(struct nra_report *r)
{
    free(r->rules);
    free(r);
}

static struct nra_sample *make_series(size_t n, int64_t finalizer_queue)
{
    struct nra_sample *v = calloc(n ? n : 1, sizeof(*v));
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i].uptime_ms = 1000 * (i + 1);
        v[i].timestamp_ms = 1750000000000ull - 6000 + v[i].uptime_ms;
        v[i].rss_bytes = (int64_t)(100 + i) << 20;
        v[i].heap_used_bytes = -1;
        v[i].finalizer_queue = finalizer_queue;
        v[i].n_rules = 2;
        v[i].rule[0].outstanding = i;
        v[i].rule[0].residue_bytes = 640 * i;
        v[i].rule[1].outstanding = 2;
    }
    return v;
}

static char *render(const struct nra_report *r, const struct nra_sample *series, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(nra_report_write_html(r, series, n, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(buf);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + strlen(needle), needle))
        n++;
    return n;
}

/* The text of the element starting at open_tag (e.g. `<svg class="chart" id="chart-x"`) up to its end tag. */
static char *element(const char *html, const char *open_tag, const char *end_tag)
{
    const char *a = strstr(html, open_tag);
    if (!a)
        return NULL;
    const char *b = strstr(a, end_tag);
    assert_non_null(b);
    return strndup(a, (size_t)(b - a));
}

/* Points in each <g class="series"> of a chart; returns the number of series. */
static unsigned points_per_series(const char *svg, unsigned *points, unsigned max)
{
    unsigned n = 0;
    for (const char *g = strstr(svg, "<g class=\"series\""); g && n < max; g = strstr(g + 1, "<g class=\"series\"")) {
        char *body = strndup(g, (size_t)(strstr(g, "</g>") - g));
        points[n++] = count(body, "<circle class=\"point\"");
        free(body);
    }
    return n;
}

static void assert_self_contained(const char *html)
{
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<iframe"));
    assert_null(strstr(html, " src="));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, "url("));
    assert_non_null(strstr(html, "Content-Security-Policy"));
}

static void assert_balanced(const char *html)
{
    static const char *const tags[] = {"details", "summary", "section", "table", "svg", "figure", "ol", "ul", "g"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        char open[32], open_attr[32], close[32];
        snprintf(open, sizeof(open), "<%s>", tags[i]);
        snprintf(open_attr, sizeof(open_attr), "<%s ", tags[i]);
        snprintf(close, sizeof(close), "</%s>", tags[i]);
        if (count(html, open) + count(html, open_attr) != count(html, close))
            fail_msg("unbalanced <%s>: %u + %u opened, %u closed", tags[i], count(html, open), count(html, open_attr),
                     count(html, close));
    }
}

static void full_report_with_five_samples(void **state)
{
    (void)state;
    struct nra_report *r = make_report();
    struct nra_sample *series = make_series(5, -1);
    char *html = render(r, series, 5);

    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(html, "</html>\n"));
    assert_non_null(strstr(html, "<title>nraudit report: pid 31337, exit, 2025-06-15 15:06:40 UTC</title>"));
    /* the verdict, before anything else */
    const char *verdict = strstr(html, "VERDICT: 1 native leak finding.");
    assert_non_null(verdict);
    assert_true(verdict < strstr(html, "id=\"over-time\""));
    assert_non_null(strstr(html, "still in use?"));
    assert_non_null(strstr(html, "waiting to be finalized?"));
    assert_non_null(strstr(html, "gone but not freed?"));
    assert_non_null(strstr(html, "the Finalizer is stuck in x.Blocker.finalize()"));
    assert_non_null(strstr(html, "100 freed handles left native memory behind"));
    /* residue site tree: native frames, innermost first, then Java frames */
    const char *tree = strstr(html, "id=\"site-0-0\"");
    assert_non_null(tree);
    const char *inner = strstr(tree, "CRYPTO_zalloc+0x8");
    const char *outer = strstr(tree, "io.netty.internal.tcnative.SSL.newSSL (native)+0x46");
    const char *jframe = strstr(tree, "ReferenceCountedOpenSslEngine.&lt;init&gt;(ReferenceCountedOpenSslEngine.java:325)");
    assert_non_null(inner);
    assert_non_null(outer);
    assert_non_null(jframe);
    assert_true(inner < outer && outer < jframe);
    assert_non_null(strstr(html, "libnetty_tcnative.so+0xef17"));
    /* the flame graph: before the tree, root first, frames named */
    const char *flame = strstr(html, "<svg class=\"flame\"");
    assert_non_null(flame);
    assert_true(flame < tree);
    const char *flame_end = strstr(flame, "</svg>");
    const char *java_in_flame = strstr(flame, "ReferenceCountedOpenSslEngine.&lt;init&gt;");
    const char *native_in_flame = strstr(flame, "io.netty.internal.tcnative.SSL.newSSL (native)+0x46");
    assert_true(java_in_flame && native_in_flame && java_in_flame < native_in_flame && native_in_flame < flame_end);
    /* escaping */
    assert_non_null(strstr(html, "&lt;init&gt;"));
    assert_null(strstr(html, "<init>"));
    assert_non_null(strstr(html, "note with &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert_non_null(strstr(html, "bad UTF-8 &#xFFFD; here"));
    assert_non_null(strstr(html, "rule&lt;&amp;&gt;&quot;two&quot;"));
    assert_null(strstr(html, "rule<&>"));
    assert_null(strstr(html, "\xff"));
    /* three charts (no Finalizer queue in the samples), 5 points per series */
    assert_int_equal(count(html, "<svg class=\"chart\""), 3);
    assert_null(strstr(html, "no time series"));
    static const struct {
        const char *id;
        unsigned series;
    } charts[] = {{"chart-outstanding", 2}, {"chart-residue", 2}, {"chart-memory", 1}};
    for (size_t c = 0; c < 3; c++) {
        char open[64];
        snprintf(open, sizeof(open), "<svg class=\"chart\" id=\"%s\"", charts[c].id);
        char *svg = element(html, open, "</svg>");
        assert_non_null(svg);
        unsigned pts[8];
        unsigned ns = points_per_series(svg, pts, 8);
        assert_int_equal(ns, charts[c].series);
        for (unsigned k = 0; k < ns; k++)
            assert_int_equal(pts[k], 5);
        assert_non_null(strstr(svg, "<polyline class=\"line\""));
        assert_non_null(strstr(svg, "<g class=\"legend\">"));
        assert_non_null(strstr(svg, "seconds since the agent started"));
        assert_non_null(strstr(svg, "<title>"));
        free(svg);
    }
    char *mem = element(html, "<svg class=\"chart\" id=\"chart-memory\"", "</svg>");
    assert_non_null(strstr(mem, "data-series=\"process RSS\""));
    assert_null(strstr(mem, "Java heap used"));   /* heap unknown in every sample */
    assert_non_null(strstr(mem, "100 MiB"));        /* a y tick label */
    assert_non_null(strstr(mem, "<title>process RSS: 104857600 bytes (100.0 MiB) at 1.0 s (2025-06-15 15:06:35 UTC)</title>"));
    free(mem);
    char *out = element(html, "<svg class=\"chart\" id=\"chart-outstanding\"", "</svg>");
    assert_non_null(strstr(out, "data-series=\"rule&lt;&amp;&gt;&quot;two&quot;\""));
    assert_non_null(strstr(out, "<title>netty-tcnative-ssl: 4 outstanding at 5.0 s (2025-06-15 15:06:39 UTC)</title>"));
    free(out);

    assert_self_contained(html);
    assert_balanced(html);
    free(html);
    free(series);
    free_report(r);
}

static void finalizer_queue_adds_a_chart(void **state)
{
    (void)state;
    struct nra_report *r = make_report();
    struct nra_sample *series = make_series(7, 12);
    for (size_t i = 0; i < 7; i++)
        series[i].rss_bytes = -1;   /* RSS unknown: its chart stays, empty */
    char *html = render(r, series, 7);
    char *mem = element(html, "<svg class=\"chart\" id=\"chart-memory\"", "</svg>");
    assert_non_null(mem);
    assert_non_null(strstr(mem, "no known values in the samples"));
    assert_int_equal(count(mem, "<circle class=\"point\""), 0);
    free(mem);
    assert_int_equal(count(html, "<svg class=\"chart\""), 4);
    char *svg = element(html, "<svg class=\"chart\" id=\"chart-finalizer\"", "</svg>");
    assert_non_null(svg);
    assert_int_equal(count(svg, "<circle class=\"point\""), 7);
    free(svg);
    assert_balanced(html);
    free(html);
    free(series);
    free_report(r);
}

static void fewer_than_two_samples_show_current_values(void **state)
{
    (void)state;
    struct nra_report *r = make_report();
    struct nra_sample *series = make_series(1, -1);
    for (size_t n = 0; n < 2; n++) {
        char *html = render(r, n ? series : NULL, n);
        assert_non_null(strstr(html, "no time series (start the agent with interval=SECONDS)"));
        assert_int_equal(count(html, "<svg class=\"chart\""), 0);
        assert_int_equal(count(html, "<circle class=\"point\""), 0);
        char *table = element(html, "<table class=\"current\"", "</table>");
        assert_non_null(table);
        assert_non_null(strstr(table, "netty-tcnative-ssl"));
        assert_non_null(strstr(table, "3200 bytes (3.1 KiB)"));
        free(table);
        if (n == 1)
            assert_non_null(strstr(html, "process RSS 104857600 bytes (100.0 MiB)"));
        assert_self_contained(html);
        assert_balanced(html);
        free(html);
    }
    free(series);
    free_report(r);
}

static void many_samples_are_thinned_and_in_minutes(void **state)
{
    (void)state;
    struct nra_report *r = make_report();
    size_t n = NRA_SERIES_CAP;
    struct nra_sample *series = make_series(n, -1);
    char *html = render(r, series, n);
    char *svg = element(html, "<svg class=\"chart\" id=\"chart-outstanding\"", "</svg>");
    unsigned pts[4];
    assert_int_equal(points_per_series(svg, pts, 4), 2);
    assert_true(pts[0] > 300 && pts[0] <= 400 + 1);
    assert_non_null(strstr(svg, "minutes since the agent started"));
    /* the polyline keeps every sample */
    const char *pl = strstr(svg, "points=\"");
    assert_non_null(pl);
    unsigned commas = 0;
    for (const char *p = pl + 8; *p != '"'; p++)
        commas += *p == ',';
    assert_int_equal(commas, n);
    free(svg);
    assert_non_null(strstr(html, "every 6th marked"));
    free(html);
    free(series);
    free_report(r);
}

static void unclassified_and_empty_reports(void **state)
{
    (void)state;
    struct nra_report *r = make_report();
    r->reachability_done = false;
    r->rules[0].n_findings = 0;
    snprintf(r->verdict, sizeof(r->verdict), "no native leak seen.");
    r->finalizer.known = false;
    char *html = render(r, NULL, 0);
    assert_non_null(strstr(html, "VERDICT: no native leak seen."));
    assert_non_null(strstr(html, "<span class=\"badge unknown\">unknown</span>"));
    assert_non_null(strstr(html, "reachability walk did not run"));
    assert_non_null(strstr(html, "Finalizer state not known."));
    free(html);
    free_report(r);

    struct nra_report *empty = calloc(1, sizeof(*empty));
    assert_non_null(empty);
    snprintf(empty->verdict, sizeof(empty->verdict), "nothing audited (inconclusive).");
    html = render(empty, NULL, 0);
    assert_non_null(strstr(html, "<p class=\"verdict unknown\">VERDICT: nothing audited (inconclusive).</p>"));
    assert_non_null(strstr(html, "No rule allocated a handle yet"));
    assert_balanced(html);
    free(html);
    empty->n_rules = 3;   /* rules missing: must not be dereferenced */
    html = render(empty, NULL, 0);
    free(html);
    free(empty);
}

static void write_error_is_reported(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (!f)
        skip();
    struct nra_report *r = make_report();
    struct nra_sample *series = make_series(50, 1);
    assert_true(nra_report_write_html(r, series, 50, f) < 0);
    fclose(f);
    free(series);
    free_report(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_report_with_five_samples),
        cmocka_unit_test(finalizer_queue_adds_a_chart),
        cmocka_unit_test(fewer_than_two_samples_show_current_values),
        cmocka_unit_test(many_samples_are_thinned_and_in_minutes),
        cmocka_unit_test(unclassified_and_empty_reports),
        cmocka_unit_test(write_error_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
