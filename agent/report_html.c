/* report_html.c — the report as one self-contained HTML page: the verdict in
 * the terms of the three hypotheses (still reachable, awaiting finalization,
 * freed or collected but native memory not freed), charts of the time series
 * drawn here as inline SVG, per rule the counts, the residue sites as a tree
 * of native and Java frames and the outstanding groups, the Finalizer and the
 * agent's notes.
 *
 * Self-contained: no scripts, no external styles, fonts or images, and a
 * Content-Security-Policy that lets a browser load nothing else — so a
 * report can be opened offline, mailed, attached to a ticket, and a frame
 * name that slipped through escaping still could not run anything.
 * Every string from the report goes through esc() (HTML entities, invalid
 * UTF-8 and control characters replaced by U+FFFD).
 *
 * No libm: the agent links with --no-undefined and without -lm.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report_html.h"
#include "report_flame.h"

/* ---- text --------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most max bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t max)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;   /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;   /* overlong */
        if (c == 0xED)
            hi = 0x9F;   /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n > max)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Writes at most max bytes of s (stops at NUL) as HTML text, safe in element
 * content and in quoted attribute values. */
static void esc_n(FILE *o, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < max && p[i]) {
        unsigned char c = p[i];
        const char *ent = NULL;
        switch (c) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: break;
        }
        if (ent) {
            fputs(ent, o);
            i++;
        } else if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
                fputs("&#xFFFD;", o);
            else
                fputc(c, o);
            i++;
        } else {
            size_t n = utf8_len(p + i, max - i);
            if (n == 0) {
                fputs("&#xFFFD;", o);
                i++;
            } else {
                fwrite(p + i, 1, n, o);
                i += n;
            }
        }
    }
}

static void esc(FILE *o, const char *s)
{
    esc_n(o, s, SIZE_MAX);
}

/* A fixed-size char array field, never read past its end. */
#define ESCF(o, field) esc_n((o), (field), sizeof(field))

static const char *plural(uint64_t n, const char *s)
{
    return n == 1 ? "" : s;
}

static const char *human_bytes(uint64_t b, char *buf, size_t len)
{
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    if (b < 1024) {
        snprintf(buf, len, "%" PRIu64 " byte%s", b, plural(b, "s"));
        return buf;
    }
    double v = (double)b;
    unsigned u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

/* "6400 bytes (6.2 KiB)", or "32 bytes". */
static void bytes_text(FILE *o, uint64_t b)
{
    char h[32];
    if (b < 1024)
        fprintf(o, "%" PRIu64 " byte%s", b, plural(b, "s"));
    else
        fprintf(o, "%" PRIu64 " bytes (%s)", b, human_bytes(b, h, sizeof(h)));
}

static const char *utc_time(uint64_t ms, char *buf, size_t len)
{
    if (ms == 0) {
        snprintf(buf, len, "unknown time");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, len, "%" PRIu64 " ms (epoch)", ms);
    return buf;
}

/* ---- page skeleton -------------------------------------------------------------------- */

static const char css[] =
    ":root{--fg:#1d2430;--muted:#5b6573;--line:#d9dee5;--panel:#f6f8fa;"
    "--bad:#b42318;--badbg:#fdecea;--warn:#8a5a00;--warnbg:#fff3d1;--ok:#1a7f37;--okbg:#e3f4e8}\n"
    "*{box-sizing:border-box}\n"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:var(--fg);"
    "background:#fff;margin:0 auto;max-width:1260px;padding:16px 24px 48px}\n"
    "h1{font-size:22px;margin:0 0 2px}\n"
    "h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin:30px 0 10px}\n"
    "h3{font-size:15px;margin:18px 0 6px}\n"
    "code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace;font-size:12.5px}\n"
    ".meta,.note,.muted{color:var(--muted)}\n"
    "nav{margin:8px 0 0;font-size:13px}nav a{margin-right:12px;color:#2f5d8a;text-decoration:none}\n"
    ".verdict{font-size:17px;font-weight:600;padding:10px 14px;border-radius:6px;border-left:6px solid;margin:8px 0}\n"
    ".verdict.bad{background:var(--badbg);border-color:var(--bad);color:var(--bad)}\n"
    ".verdict.ok{background:var(--okbg);border-color:var(--ok);color:var(--ok)}\n"
    ".verdict.unknown{border-color:var(--muted);color:var(--muted)}\n"
    "ul.findings{margin:6px 0 10px;padding-left:20px}ul.findings li{margin:3px 0}\n"
    "table{border-collapse:collapse;margin:6px 0 12px}\n"
    "th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:var(--panel);font-weight:600}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "caption{text-align:left;font-weight:600;padding:4px 0}\n"
    "table.hypotheses{width:100%}table.hypotheses td:nth-child(2){width:30%}\n"
    "table.hypotheses td:nth-child(3){width:80px;text-align:center}\n"
    "tr.sub td:first-child{padding-left:24px}\n"
    ".badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}\n"
    ".badge.leak{background:var(--badbg);color:var(--bad)}\n"
    ".badge.yes{background:var(--warnbg);color:var(--warn)}\n"
    ".badge.no{background:var(--okbg);color:var(--ok)}\n"
    ".badge.unknown{background:var(--panel);color:var(--muted)}\n"
    ".badge.kind{background:#eef2f7;color:#2f4b6b}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:14px}\n"
    "figure.chart-box{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px 10px}\n"
    "figcaption{font-weight:600;margin-bottom:2px}figcaption .note{font-weight:400}\n"
    "svg.chart{width:100%;height:auto;display:block}\n"
    "svg.chart text{font-family:'DejaVu Sans',sans-serif;font-size:11px;fill:#4a5563}\n"
    "svg.chart .empty{font-size:13px}\n"
    "p.no-series{font-weight:600;color:var(--warn);background:var(--warnbg);padding:6px 10px;border-radius:6px}\n"
    "details{margin:3px 0}summary{cursor:pointer}\n"
    "details.site{border:1px solid var(--line);border-radius:6px;padding:6px 10px;margin:8px 0}\n"
    "details.site.one-time{border-style:dashed}\n"
    "details.site>summary{font-weight:500}\n"
    "details.stack{margin-left:18px}details.stack>summary{color:var(--muted)}\n"
    "details.group-list{margin:8px 0}\n"
    "ol.frames{list-style:none;margin:2px 0 6px 6px;padding-left:16px;border-left:2px solid var(--line)}\n"
    "ol.frames li{position:relative;padding:1px 0;overflow-wrap:anywhere}\n"
    "ol.frames li::before{content:'';position:absolute;left:-16px;top:.8em;width:11px;border-top:2px solid var(--line)}\n"
    ".lib{color:#2f5d8a}.sym{font-weight:600}.addr{color:var(--muted);font-size:11px}\n"
    ".unk{color:var(--muted);font-style:italic}\n"
    ".known{display:inline-block;margin-top:2px;padding:1px 6px;background:#eef2f7;border-radius:4px}\n"
    "p.diagnosis{background:var(--warnbg);padding:6px 10px;border-radius:6px}\n"
    "footer{margin-top:36px;color:var(--muted);font-size:12px}\n";

static void head(const struct nra_report *r, FILE *o)
{
    char when[64];
    utc_time(r->timestamp_ms, when, sizeof(when));
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          /* nothing may be fetched: the page is complete as it is */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"nraudit ",
          o);
    ESCF(o, r->version);
    fputs("\">\n<title>nraudit report: pid ", o);
    fprintf(o, "%ld, ", r->pid);
    ESCF(o, r->trigger);
    fprintf(o, ", %s</title>\n<style>\n%s</style>\n</head>\n<body>\n", when, css);
}

static void header(const struct nra_report *r, FILE *o)
{
    char when[64];
    utc_time(r->timestamp_ms, when, sizeof(when));
    fputs("<header>\n<h1>nraudit report</h1>\n<p class=\"meta\" id=\"meta\">pid <b>", o);
    fprintf(o, "%ld</b> &middot; trigger <b>", r->pid);
    ESCF(o, r->trigger);
    fprintf(o, "</b> &middot; <time>%s</time> &middot; agent uptime %.1f s &middot; nraudit ", when,
            (double)r->uptime_ms / 1000.0);
    ESCF(o, r->version);
    fputs("</p>\n<nav><a href=\"#verdict\">Verdict</a><a href=\"#over-time\">Over time</a>", o);
    for (int i = 0; i < r->n_rules; i++) {
        fprintf(o, "<a href=\"#rule-%d\">", i);
        ESCF(o, r->rules[i].rule);
        fputs("</a>", o);
    }
    fputs("<a href=\"#finalizer\">Finalizer</a><a href=\"#agent\">Agent</a></nav>\n</header>\n", o);
}

/* ---- verdict ------------------------------------------------------------------------- */

static unsigned total_findings(const struct nra_report *r)
{
    unsigned n = 0;
    for (int i = 0; i < r->n_rules; i++)
        n += r->rules[i].n_findings;
    return n;
}

static unsigned n_sites(const struct nra_report_rule *rr)
{
    return rr->n_sites < NRA_REPORT_MAX_SITES ? rr->n_sites : NRA_REPORT_MAX_SITES;
}

/* The site the residue finding names: the first repeating one (the builder
 * orders sites by how strongly they suggest a per-owner leak). */
static const struct nra_report_site *top_site(const struct nra_report_rule *rr)
{
    for (unsigned i = 0; i < n_sites(rr); i++)
        if (rr->sites[i].repeating)
            return &rr->sites[i];
    return NULL;
}

static void frame_where(const struct nra_report_frame *f, FILE *o)
{
    fputs("<code class=\"lib\">", o);
    ESCF(o, f->library);
    fprintf(o, "+0x%" PRIxPTR "</code>", f->offset);
}

static void badge(FILE *o, const char *cls, const char *word)
{
    fprintf(o, "<span class=\"badge %s\">%s</span>", cls, word);
}

/* A finding that matched data/known-leaks.tsv: its id, the version, the fix. */
static void known_leak(const struct nra_report_finding *f, FILE *o)
{
    if (!f->known_leak[0])
        return;
    fputs("<br><span class=\"known\">known leak <b>", o);
    ESCF(o, f->known_leak);
    fputs("</b>", o);
    if (f->known_version[0]) {
        fputs(" (version ", o);
        ESCF(o, f->known_version);
        fputs(")", o);
    }
    if (f->known_fix[0]) {
        fputs(": ", o);
        ESCF(o, f->known_fix);
    }
    fputs("</span>", o);
}

static void finalizer_brief(const struct nra_report_finalizer *f, FILE *o)
{
    if (!f->known) {
        fputs("Finalizer state not known.", o);
        return;
    }
    fprintf(o, "Finalizer: finalization %s, queue length ", f->enabled ? "enabled" : "disabled");
    if (f->queue_length >= 0)
        fprintf(o, "%" PRId64, f->queue_length);
    else
        fputs("unknown", o);
    fputs(", thread ", o);
    ESCF(o, f->thread_state);
    fputs(".", o);
    if (f->diagnosis[0]) {
        size_t len = strnlen(f->diagnosis, sizeof(f->diagnosis));
        char last = f->diagnosis[len - 1];
        fputs(" <b>", o);
        ESCF(o, f->diagnosis);
        fputs(last == '.' || last == '!' || last == '?' ? "</b>" : ".</b>", o);
    }
}

static void hypotheses(const struct nra_report *r, int idx, FILE *o)
{
    const struct nra_report_rule *rr = &r->rules[idx];
    const struct nra_report_counts *c = &rr->counts;
    bool walked = r->reachability_done;

    fprintf(o, "<table class=\"hypotheses\" id=\"hypotheses-%d\">\n<caption>", idx);
    ESCF(o, rr->rule);
    fputs(" <span class=\"muted\">(owner <code>", o);
    ESCF(o, rr->owner_class);
    fprintf(o, "</code>): %" PRIu64 " handle%s allocated, %" PRIu64 " freed, %" PRIu64 " outstanding</span></caption>\n",
            c->allocated, plural(c->allocated, "s"), c->freed, c->outstanding);
    fputs("<tr><th>#</th><th>hypothesis</th><th>seen?</th><th>evidence</th></tr>\n", o);

    /* 1. still in use? */
    fputs("<tr class=\"h1\"><td>1</td><td><b>still in use?</b> Still reachable: the application still holds "
          "the owners (in use, or a leak in Java code)</td><td>", o);
    if (!walked)
        badge(o, "unknown", "unknown");
    else
        badge(o, c->live ? "yes" : "no", c->live ? "yes" : "no");
    fputs("</td><td>", o);
    if (walked)
        fprintf(o, "<b>%" PRIu64 "</b> live handle%s: owner strongly reachable from the roots.", c->live,
                plural(c->live, "s"));
    else
        fprintf(o, "unknown: the reachability walk did not run; <code>live</code> holds all %" PRIu64
                   " outstanding handle%s.", c->outstanding, plural(c->outstanding, "s"));
    if (rr->held_allocations) {
        fputs(" Outstanding handles hold ", o);
        bytes_text(o, rr->held_bytes);
        fprintf(o, " of native memory made in their natives (%" PRIu64 " allocation%s).", rr->held_allocations,
                plural(rr->held_allocations, "s"));
    }
    if (rr->n_groups)
        fprintf(o, " Outstanding handles by the Java code that created them: <a href=\"#groups-%d\">groups</a>.", idx);
    fputs("</td></tr>\n", o);

    /* 2. waiting to be finalized? Only pending handles answer yes: zombies
     * are freed already (heap cost only), as the text report says. */
    bool h2 = c->pending_finalization != 0;
    fputs("<tr class=\"h2\"><td>2</td><td><b>waiting to be finalized?</b> Awaiting finalization: owners "
          "unreachable, queued for <code>finalize()</code> behind the Finalizer thread</td><td>", o);
    if (!walked && !h2)
        badge(o, "unknown", "unknown");
    else
        badge(o, h2 ? "yes" : "no", h2 ? "yes" : "no");
    fputs("</td><td>", o);
    if (walked)
        fprintf(o, "<b>%" PRIu64 "</b> pending finalization (unreachable owner not yet finalized, handle "
                   "outstanding)", c->pending_finalization);
    else
        fputs("pending finalization: not classified (no reachability walk)", o);
    fprintf(o, "; <b>%" PRIu64 "</b> freed owner%s still in the heap (zombies: the handle is freed, heap cost "
               "only). ", c->zombies, plural(c->zombies, "s"));
    finalizer_brief(&r->finalizer, o);
    fputs(" <a href=\"#finalizer\">Finalizer section</a>.</td></tr>\n", o);

    /* 3. gone but not freed? */
    const struct nra_report_site *top = top_site(rr);
    uint64_t handle_leaks = c->finalized_not_freed + c->collected_not_freed;
    bool h3 = handle_leaks || c->freed_with_residue || top;
    fputs("<tr class=\"h3\"><td>3</td><td><b>gone but not freed?</b> Finalized, collected or freed, but the "
          "native memory not freed: a leak in native code or in the owner's clean-up</td><td>", o);
    badge(o, h3 ? "leak" : "no", h3 ? "yes" : "no");
    fprintf(o, "</td><td><b>%" PRIu64 "</b> finalized not freed (<code>finalize()</code> ran, handle never freed); "
               "<b>%" PRIu64 "</b> collected not freed (owner garbage-collected, handle never freed); "
               "<b>%" PRIu64 "</b> freed with residue: ",
            c->finalized_not_freed, c->collected_not_freed, c->freed_with_residue);
    bytes_text(o, rr->leak_bytes);
    fputs(" left behind at leak sites", o);
    if (rr->residue_bytes > rr->leak_bytes) {
        fputs(" (one-time initialisation and retained state excluded: ", o);
        bytes_text(o, rr->residue_bytes - rr->leak_bytes);
        fputs(")", o);
    }
    fputs(".", o);
    if (top) {
        fputs("<br>Top site: ", o);
        bytes_text(o, top->bytes);
        fprintf(o, " in %" PRIu64 " allocation%s", top->allocations, plural(top->allocations, "s"));
        if (top->size_each)
            fprintf(o, " of %" PRIu64 " bytes", top->size_each);
        fprintf(o, " from %" PRIu64 " owner%s, made ", top->owners, plural(top->owners, "s"));
        if (top->n_native) {
            const struct nra_report_frame *f = &top->native[0];
            if (f->symbol[0]) {
                fputs("in <code class=\"sym\">", o);
                ESCF(o, f->symbol);
                fputs("</code> ", o);
            }
            fputs("at ", o);
            frame_where(f, o);
            fputs(" ", o);
        }
        fputs("in the ", o);
        ESCF(o, top->scope);
        fputs(" native <code>", o);
        ESCF(o, top->scope_native);
        fprintf(o, "</code> (<a href=\"#site-%d-%u\">site</a>).", idx, (unsigned)(top - rr->sites));
    }
    fputs("</td></tr>\n</table>\n", o);
}

static void verdict(const struct nra_report *r, FILE *o)
{
    unsigned n = total_findings(r);
    fputs("<section id=\"verdict\">\n<h2>Verdict</h2>\n", o);
    fprintf(o, "<p class=\"verdict %s\">VERDICT: ", n ? "bad" : r->audited ? "ok" : "unknown");
    ESCF(o, r->verdict);
    fputs("</p>\n", o);
    for (int i = 0; i < r->n_rules; i++) {
        if (r->rules[i].audited)
            continue;
        fputs("<p class=\"note\">not audited: ", o);
        ESCF(o, r->rules[i].unaudited_reason);
        fputs("</p>\n", o);
    }
    if (n) {
        fputs("<ul class=\"findings\">\n", o);
        for (int i = 0; i < r->n_rules; i++)
            for (unsigned k = 0; k < r->rules[i].n_findings && k < NRA_REPORT_MAX_FINDINGS; k++) {
                const struct nra_report_finding *f = &r->rules[i].findings[k];
                fputs("<li><span class=\"badge kind\">", o);
                ESCF(o, f->kind);
                fputs("</span> <b>[", o);
                ESCF(o, r->rules[i].rule);
                fputs("]</b> ", o);
                ESCF(o, f->summary);
                known_leak(f, o);
                fputs("</li>\n", o);
            }
        fputs("</ul>\n", o);
    }
    if (r->finalizer.known && r->finalizer.diagnosis[0]) {
        fputs("<p class=\"diagnosis\"><b>Finalizer:</b> ", o);
        ESCF(o, r->finalizer.diagnosis);
        fputs("</p>\n", o);
    }

    fputs("<h3>Where did the handles go?</h3>\n", o);
    bool shown = false;
    for (int i = 0; i < r->n_rules; i++) {
        const struct nra_report_rule *rr = &r->rules[i];
        if (rr->counts.allocated == 0 && rr->n_findings == 0)
            continue;
        hypotheses(r, i, o);
        shown = true;
    }
    if (!shown)
        fputs("<p class=\"note\">No rule allocated a handle yet: nothing to classify.</p>\n", o);
    fputs("</section>\n", o);
}

/* ---- charts (inline SVG) -------------------------------------------------------------------- */

enum line_kind { L_OUTSTANDING, L_RESIDUE, L_RSS, L_HEAP, L_FINQ };
enum unit { U_COUNT, U_BYTES };

struct chart_line {
    enum line_kind kind;
    int rule;
    const char *name;
    const char *color;
};

static const char *const palette[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1",
                                      "#76b7b2", "#9c755f", "#ff9da7", "#edc948", "#bab0ac"};
#define PALETTE_N (sizeof(palette) / sizeof(palette[0]))

/* The value of one line in one sample, or -1 when unknown. */
static int64_t line_value(const struct nra_sample *s, const struct chart_line *l)
{
    switch (l->kind) {
    case L_OUTSTANDING:
    case L_RESIDUE:
        if (l->rule < 0 || l->rule >= s->n_rules || l->rule >= NRA_MAX_RULES)
            return -1;
        {
            uint64_t v = l->kind == L_OUTSTANDING ? s->rule[l->rule].outstanding : s->rule[l->rule].residue_bytes;
            return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
        }
    case L_RSS: return s->rss_bytes < 0 ? -1 : s->rss_bytes;
    case L_HEAP: return s->heap_used_bytes < 0 ? -1 : s->heap_used_bytes;
    case L_FINQ: return s->finalizer_queue < 0 ? -1 : s->finalizer_queue;
    }
    return -1;
}

/* 1, 2 or 5 times a power of ten, at least raw. */
static double nice_step(double raw)
{
    if (!(raw > 0))
        return 1;
    double mag = 1;
    while (mag * 10 <= raw)
        mag *= 10;
    while (mag > raw)
        mag /= 10;
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Smallest whole k with k * step >= v (v >= 0, v / step small). */
static double ceil_steps(double v, double step)
{
    double k = (double)(int64_t)(v / step);
    while (k * step < v)
        k += 1;
    return k;
}

static void fmt_tick(double v, double step, const char *suffix, char *buf, size_t len)
{
    const char *fmt = step >= 1 ? "%.0f%s%s" : step >= 0.1 ? "%.1f%s%s" : "%.2f%s%s";
    if (v > -1e-9 && v < 1e-9) {
        snprintf(buf, len, "0");
        return;
    }
    snprintf(buf, len, fmt, v, suffix[0] ? " " : "", suffix);
}

/* The x axis: seconds since the agent started (uptime), else since the first
 * sample (wall clock), else the sample number. */
struct xaxis {
    int basis;            /* 0 uptime, 1 wall clock, 2 index */
    double min, max;      /* seconds (or index) */
    double div;           /* seconds per displayed unit */
    char label[48];
};

static double sample_x(const struct nra_sample *s, size_t i, const struct nra_sample *first, int basis)
{
    if (basis == 0)
        return (double)s->uptime_ms / 1000.0;
    if (basis == 1)
        return (double)(s->timestamp_ms - first->timestamp_ms) / 1000.0;
    return (double)i;
}

static struct xaxis make_xaxis(const struct nra_sample *series, size_t n)
{
    struct xaxis x = {.basis = 2, .min = 0, .max = (double)(n > 1 ? n - 1 : 1), .div = 1, .label = "sample"};
    bool up_ok = true, wall_ok = true;
    for (size_t i = 1; i < n; i++) {
        if (series[i].uptime_ms < series[i - 1].uptime_ms)
            up_ok = false;
        if (series[i].timestamp_ms < series[i - 1].timestamp_ms)
            wall_ok = false;
    }
    if (n > 1 && up_ok && series[n - 1].uptime_ms > series[0].uptime_ms)
        x.basis = 0;
    else if (n > 1 && wall_ok && series[n - 1].timestamp_ms > series[0].timestamp_ms)
        x.basis = 1;
    if (x.basis == 2)
        return x;
    x.min = sample_x(&series[0], 0, &series[0], x.basis);
    x.max = sample_x(&series[n - 1], n - 1, &series[0], x.basis);
    double span = x.max - x.min;
    const char *since = x.basis == 0 ? "since the agent started" : "since the first sample";
    const char *unit = "seconds";
    if (span > 3 * 3600)
        x.div = 3600, unit = "hours";
    else if (span > 180)
        x.div = 60, unit = "minutes";
    snprintf(x.label, sizeof(x.label), "%s %s", unit, since);
    return x;
}

#define CH_W 600
#define CH_ML 66
#define CH_MR 18
#define CH_MT 14
#define CH_PH 210
#define CH_PW (CH_W - CH_ML - CH_MR)
#define CH_MAX_POINTS 400   /* circles per line; the polyline keeps every sample */

static void value_text(FILE *o, int64_t v, enum unit unit)
{
    if (unit == U_BYTES)
        bytes_text(o, (uint64_t)v);
    else
        fprintf(o, "%" PRId64, v);
}

static void chart(FILE *o, const char *id, const char *caption, const char *what, enum unit unit,
                  const struct nra_sample *series, size_t n, const struct chart_line *lines, int n_lines)
{
    /* y scale */
    int64_t vmax = 0;
    bool any = false;
    for (int l = 0; l < n_lines; l++)
        for (size_t i = 0; i < n; i++) {
            int64_t v = line_value(&series[i], &lines[l]);
            if (v >= 0) {
                any = true;
                if (v > vmax)
                    vmax = v;
            }
        }
    double div = 1;
    const char *suffix = "";
    if (unit == U_BYTES) {
        static const char *bu[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        unsigned u = 0;
        while ((double)vmax / div >= 1024 && u < 4)
            div *= 1024, u++;
        suffix = bu[u];
    } else if (vmax >= 10000000) {
        div = 1e6, suffix = "M";
    } else if (vmax >= 10000) {
        div = 1e3, suffix = "k";
    }
    double top = (double)vmax / div;
    double ystep = nice_step(top > 0 ? top / 4 : 1);
    if (unit == U_COUNT && div == 1 && ystep < 1)
        ystep = 1;
    double ymax = ceil_steps(top, ystep) * ystep;
    if (ymax <= 0)
        ymax = ystep;

    struct xaxis xa = make_xaxis(series, n);
    double xspan = xa.max - xa.min > 0 ? xa.max - xa.min : 1;

    /* legend rows */
    int rows = 1, lx = CH_ML;
    for (int l = 0; l < n_lines; l++) {
        int w = 26 + 7 * (int)strlen(lines[l].name) + 14;
        if (lx + w > CH_W - CH_MR && lx > CH_ML)
            rows++, lx = CH_ML;
        lx += w;
    }
    int legend_y = CH_MT + CH_PH + 48;
    int height = legend_y + rows * 18 + 4;

    size_t stride = n > CH_MAX_POINTS ? (n + CH_MAX_POINTS - 1) / CH_MAX_POINTS : 1;
    fprintf(o, "<figure class=\"chart-box\">\n<figcaption>%s", caption);
    if (stride > 1)
        fprintf(o, " <span class=\"note\">(%zu samples; every %zu%s marked)</span>", n, stride,
                stride == 2 ? "nd" : stride == 3 ? "rd" : "th");
    fprintf(o, "</figcaption>\n<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
               "role=\"img\" aria-label=\"%s\">\n<title>%s</title>\n",
            id, CH_W, height, CH_W, height, caption, caption);

    /* grid and y ticks */
    fputs("<g class=\"grid y\">\n", o);
    for (int k = 0; k <= 12; k++) {
        double v = ystep * k;
        if (v > ymax + ystep * 1e-6)
            break;
        double y = CH_MT + CH_PH - v / ymax * CH_PH;
        char t[32];
        fmt_tick(v, ystep, suffix, t, sizeof(t));
        fprintf(o, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
                CH_ML, CH_ML + CH_PW, y, y, k == 0 ? "#8a94a3" : "#e6e9ee", CH_ML - 6, y, t);
    }
    fputs("</g>\n", o);

    /* x axis */
    fprintf(o, "<g class=\"axis x\">\n<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#8a94a3\"/>\n", CH_ML,
            CH_ML + CH_PW, CH_MT + CH_PH, CH_MT + CH_PH);
    double umin = xa.min / xa.div, umax = xa.max / xa.div, uspan = xspan / xa.div;
    double xstep = nice_step(uspan / 6);
    if (xa.basis == 2 && xstep < 1)
        xstep = 1;
    double first = umin <= 0 ? 0 : ceil_steps(umin, xstep) * xstep;
    for (int k = 0; k <= 20; k++) {
        double u = first + xstep * k;
        if (u > umax + xstep * 1e-6)
            break;
        double x = CH_ML + (u - umin) / uspan * CH_PW;
        char t[32];
        fmt_tick(u, xstep, "", t, sizeof(t));
        fprintf(o, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#8a94a3\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                x, x, CH_MT + CH_PH, CH_MT + CH_PH + 5, x, CH_MT + CH_PH + 18, t);
    }
    fprintf(o, "<text class=\"label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n</g>\n",
            CH_ML + CH_PW / 2, CH_MT + CH_PH + 36, xa.label);
    fprintf(o, "<line class=\"axis y\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#8a94a3\"/>\n", CH_ML, CH_ML,
            CH_MT, CH_MT + CH_PH);

    if (!any)
        fprintf(o, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">no known values in the "
                   "samples</text>\n",
                CH_ML + CH_PW / 2, CH_MT + CH_PH / 2);

    /* lines and points */
    for (int l = 0; l < n_lines; l++) {
        const struct chart_line *cl = &lines[l];
        fputs("<g class=\"series\" data-series=\"", o);
        esc(o, cl->name);
        fprintf(o, "\" fill=\"%s\" stroke=\"%s\">\n<polyline class=\"line\" fill=\"none\" stroke-width=\"2\" "
                   "stroke-linejoin=\"round\" points=\"",
                cl->color, cl->color);
        bool sep = false;
        for (size_t i = 0; i < n; i++) {
            int64_t v = line_value(&series[i], cl);
            if (v < 0)
                continue;
            double x = CH_ML + (sample_x(&series[i], i, &series[0], xa.basis) - xa.min) / xspan * CH_PW;
            double y = CH_MT + CH_PH - ((double)v / div) / ymax * CH_PH;
            fprintf(o, "%s%.1f,%.1f", sep ? " " : "", x, y);
            sep = true;
        }
        fputs("\"><title>", o);
        esc(o, cl->name);
        fputs("</title></polyline>\n", o);
        for (size_t i = 0; i < n; i++) {
            int64_t v = line_value(&series[i], cl);
            if (v < 0 || (i % stride != 0 && i != n - 1))
                continue;
            double xs = sample_x(&series[i], i, &series[0], xa.basis);
            double x = CH_ML + (xs - xa.min) / xspan * CH_PW;
            double y = CH_MT + CH_PH - ((double)v / div) / ymax * CH_PH;
            char when[64];
            fprintf(o, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" stroke=\"#fff\" stroke-width=\"1\">"
                       "<title>",
                    x, y);
            esc(o, cl->name);
            fputs(": ", o);
            value_text(o, v, unit);
            fprintf(o, "%s%s at ", what[0] ? " " : "", what);
            if (xa.basis == 2)
                fprintf(o, "sample %zu", i + 1);
            else
                fprintf(o, "%.1f s", xs);
            fprintf(o, " (%s)</title></circle>\n", utc_time(series[i].timestamp_ms, when, sizeof(when)));
        }
        fputs("</g>\n", o);
    }

    /* legend */
    fputs("<g class=\"legend\">\n", o);
    lx = CH_ML;
    int ly = legend_y;
    for (int l = 0; l < n_lines; l++) {
        int w = 26 + 7 * (int)strlen(lines[l].name) + 14;
        if (lx + w > CH_W - CH_MR && lx > CH_ML)
            ly += 18, lx = CH_ML;
        fprintf(o, "<g class=\"legend-item\"><line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                   "stroke-width=\"2\"/><circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">",
                lx, lx + 20, ly, ly, lines[l].color, lx + 10, ly, lines[l].color, lx + 26, ly);
        esc(o, lines[l].name);
        fputs("</text></g>\n", o);
        lx += w;
    }
    fputs("</g>\n</svg>\n</figure>\n", o);
}

static void current_values(const struct nra_report *r, const struct nra_sample *series, size_t n_series, FILE *o)
{
    fputs("<p class=\"no-series\">no time series (start the agent with interval=SECONDS)</p>\n", o);
    fputs("<table class=\"current\" id=\"current-values\">\n<caption>Current values (this report)</caption>\n"
          "<tr><th>rule</th><th>outstanding handles</th><th>residue</th><th>held by outstanding handles</th></tr>\n",
          o);
    for (int i = 0; i < r->n_rules; i++) {
        const struct nra_report_rule *rr = &r->rules[i];
        fputs("<tr><td>", o);
        ESCF(o, rr->rule);
        fprintf(o, "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">", rr->counts.outstanding);
        bytes_text(o, rr->residue_bytes);
        fputs("</td><td class=\"num\">", o);
        bytes_text(o, rr->held_bytes);
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n", o);
    if (n_series == 1) {
        const struct nra_sample *s = &series[0];
        fputs("<p>One sample: process RSS ", o);
        if (s->rss_bytes >= 0)
            bytes_text(o, (uint64_t)s->rss_bytes);
        else
            fputs("unknown", o);
        fputs(", Java heap used ", o);
        if (s->heap_used_bytes >= 0)
            bytes_text(o, (uint64_t)s->heap_used_bytes);
        else
            fputs("unknown", o);
        fputs(".</p>\n", o);
    }
}

static void over_time(const struct nra_report *r, const struct nra_sample *series, size_t n, FILE *o)
{
    fprintf(o, "<section id=\"over-time\" data-samples=\"%zu\">\n<h2>Over time</h2>\n", series ? n : 0);
    if (n < 2 || !series) {
        current_values(r, series, series ? n : 0, o);
        fputs("</section>\n", o);
        return;
    }
    char span[96], a[64], b[64];
    snprintf(span, sizeof(span), "%s to %s", utc_time(series[0].timestamp_ms, a, sizeof(a)),
             utc_time(series[n - 1].timestamp_ms, b, sizeof(b)));
    fprintf(o, "<p class=\"note\">%zu samples, %s. Hover a point for its value.</p>\n<div class=\"charts\">\n", n, span);

    struct chart_line lines[NRA_MAX_RULES];
    int n_rules = r->n_rules < NRA_MAX_RULES ? r->n_rules : NRA_MAX_RULES;
    for (int k = 0; k < n_rules; k++)
        lines[k] = (struct chart_line){L_OUTSTANDING, k, r->rules[k].rule, palette[k % PALETTE_N]};
    chart(o, "chart-outstanding", "Outstanding handles per rule", "outstanding", U_COUNT, series, n, lines, n_rules);
    for (int k = 0; k < n_rules; k++)
        lines[k].kind = L_RESIDUE;
    chart(o, "chart-residue", "Residue per rule (bytes still allocated after their handle was freed)", "residue",
          U_BYTES, series, n, lines, n_rules);

    bool heap = false, finq = false;
    for (size_t i = 0; i < n; i++) {
        heap |= series[i].heap_used_bytes >= 0;
        finq |= series[i].finalizer_queue >= 0;
    }
    struct chart_line mem[2] = {{L_RSS, -1, "process RSS", palette[0]}, {L_HEAP, -1, "Java heap used", palette[3]}};
    chart(o, "chart-memory", heap ? "Process RSS and Java heap used" : "Process RSS", "", U_BYTES, series, n,
          mem, heap ? 2 : 1);
    if (finq) {
        struct chart_line q = {L_FINQ, -1, "Finalizer queue", palette[4]};
        chart(o, "chart-finalizer", "Finalizer queue length (objects waiting for finalize())", "queued", U_COUNT,
              series, n, &q, 1);
    }
    fputs("</div>\n</section>\n", o);
}

/* ---- per rule ------------------------------------------------------------------------------------ */

static void count_row(FILE *o, const char *key, uint64_t v, const char *meaning, bool sub, bool unclassified)
{
    fprintf(o, "<tr%s><td><code>%s</code></td><td class=\"num\">", sub ? " class=\"sub\"" : "", key);
    if (unclassified)
        fputs("<span class=\"muted\">n/a</span>", o);
    else
        fprintf(o, "%" PRIu64, v);
    fprintf(o, "</td><td>%s</td></tr>\n", meaning);
}

static void counts(const struct nra_report *r, const struct nra_report_rule *rr, FILE *o)
{
    const struct nra_report_counts *c = &rr->counts;
    bool nc = !r->reachability_done;
    fputs("<table class=\"counts\">\n<tr><th>count</th><th>value</th><th>meaning</th></tr>\n", o);
    count_row(o, "allocated", c->allocated, "handles returned by the alloc native", false, false);
    count_row(o, "freed", c->freed, "handles passed to the free native", false, false);
    count_row(o, "freed_by_finalizer", c->freed_by_finalizer, "of those, freed from <code>finalize()</code>", true,
              false);
    count_row(o, "outstanding", c->outstanding, "allocated, not freed yet", false, false);
    count_row(o, "live", c->live,
              nc ? "all outstanding handles (not classified: reachability walk not run)"
                 : "(1) owner still strongly reachable",
              true, false);
    count_row(o, "pending_finalization", c->pending_finalization,
              "(2) owner unreachable, a <code>Finalizer</code> still refers to it", true, nc);
    count_row(o, "finalized_not_freed", c->finalized_not_freed, "(3) owner's <code>finalize()</code> ran, handle not freed: leak",
              true, false);
    count_row(o, "collected_not_freed", c->collected_not_freed, "(3) owner collected, handle never freed: leak", true,
              false);
    count_row(o, "orphans", c->orphans, "owner's constructor never returned normally", true, false);
    count_row(o, "freed_with_residue", c->freed_with_residue,
              "(3) freed handles that left native memory behind at a repeating site", false, false);
    count_row(o, "zombies", c->zombies, "(2) handle freed, owner unreachable but still in the heap", false, nc && !c->zombies);
    if (c->unknown_frees || c->reused_unfreed || c->dropped) {
        count_row(o, "unknown_frees", c->unknown_frees, "free native called with a handle never seen", false, false);
        count_row(o, "reused_unfreed", c->reused_unfreed,
                  "alloc native returned a handle still outstanding (freed by a path not wrapped)", false, false);
        count_row(o, "dropped", c->dropped, "not recorded: registry full", false, false);
    }
    fputs("<tr><td><code>held</code></td><td class=\"num\">", o);
    bytes_text(o, rr->held_bytes);
    fprintf(o, "</td><td>native memory attributed to outstanding handles, in %" PRIu64 " allocation%s</td></tr>\n",
            rr->held_allocations, plural(rr->held_allocations, "s"));
    fputs("<tr><td><code>residue</code></td><td class=\"num\">", o);
    bytes_text(o, rr->residue_bytes);
    fprintf(o, "</td><td>still allocated after their handle was freed, in %" PRIu64 " allocation%s; ",
            rr->residue_allocations, plural(rr->residue_allocations, "s"));
    bytes_text(o, rr->repeating_bytes);
    fputs(" of it at repeating sites</td></tr>\n", o);
    fputs("</table>\n", o);
}

static void java_frames(const struct nra_report_stack *s, FILE *o)
{
    unsigned n = s->n < NRA_REPORT_JAVA_FRAMES ? s->n : NRA_REPORT_JAVA_FRAMES;
    fputs("<ol class=\"frames java\">\n", o);
    if (n == 0)
        fputs("<li class=\"unk\">(no Java stack)</li>\n", o);
    for (unsigned i = 0; i < n; i++) {
        fputs("<li>at <code>", o);
        ESCF(o, s->frames[i]);
        fputs("</code></li>\n", o);
    }
    fputs("</ol>\n", o);
}

static void native_frames(const struct nra_report_site *s, FILE *o)
{
    unsigned n = s->n_native < NRA_REPORT_NATIVE_FRAMES ? s->n_native : NRA_REPORT_NATIVE_FRAMES;
    fputs("<ol class=\"frames native\">\n", o);
    if (n == 0)
        fputs("<li class=\"unk\">(no native stack)</li>\n", o);
    for (unsigned i = 0; i < n; i++) {
        const struct nra_report_frame *f = &s->native[i];
        fputs("<li>", o);
        frame_where(f, o);
        fputs(" ", o);
        if (f->symbol[0]) {
            fputs("<code class=\"sym\">", o);
            ESCF(o, f->symbol);
            fputs("</code>", o);
        } else {
            fputs("<span class=\"unk\">(no symbol)</span>", o);
        }
        fprintf(o, " <span class=\"addr\">0x%" PRIxPTR "</span></li>\n", f->address);
    }
    if (s->truncated)
        fputs("<li class=\"unk\">&hellip; stack cut before the wrapped native</li>\n", o);
    fputs("</ol>\n", o);
}

static void site(const struct nra_report_site *s, int rule, unsigned idx, bool open, FILE *o)
{
    unsigned nn = s->n_native < NRA_REPORT_NATIVE_FRAMES ? s->n_native : NRA_REPORT_NATIVE_FRAMES;
    unsigned nj = s->java.n < NRA_REPORT_JAVA_FRAMES ? s->java.n : NRA_REPORT_JAVA_FRAMES;
    fprintf(o, "<details class=\"site %s\" id=\"site-%d-%u\"%s>\n<summary><b>", s->repeating ? "repeating" : "one-time",
            rule, idx, open ? " open" : "");
    bytes_text(o, s->bytes);
    fprintf(o, "</b> in %" PRIu64 " allocation%s", s->allocations, plural(s->allocations, "s"));
    if (s->size_each)
        fprintf(o, " of %" PRIu64 " bytes", s->size_each);
    fprintf(o, ", %" PRIu64 " owner%s (%" PRIu64 " with allocations here now) ", s->owners, plural(s->owners, "s"),
            s->owners_met);
    badge(o, s->repeating ? "leak" : "unknown", s->repeating ? "repeating" : "one-time");
    if (s->estimated)
        fprintf(o, " <span class=\"note\">estimated: 1 in %u allocations tracked</span>", s->sample_rate);
    if (!s->java_sampled)
        fputs(" <span class=\"note\">Java stack not sampled</span>", o);
    fputs(" made in the ", o);
    ESCF(o, s->scope);
    fputs(" native <code>", o);
    ESCF(o, s->scope_native);
    fputs("</code>", o);
    if (nn) {
        fputs(", from ", o);
        frame_where(&s->native[0], o);
    }
    fputs("</summary>\n", o);
    fprintf(o, "<details class=\"stack native\" open>\n<summary>native stack, innermost first (%u frame%s)</summary>\n",
            nn, plural(nn, "s"));
    native_frames(s, o);
    fprintf(o, "</details>\n<details class=\"stack java\" open>\n<summary>Java stack that created the owner, "
               "innermost first (%u frame%s)</summary>\n",
            nj, plural(nj, "s"));
    java_frames(&s->java, o);
    fputs("</details>\n</details>\n", o);
}

static void residue(const struct nra_report_rule *rr, int idx, FILE *o)
{
    fprintf(o, "<h3 id=\"residue-%d\">Residue sites</h3>\n", idx);
    unsigned n = n_sites(rr);
    if (n == 0) {
        fputs("<p class=\"note\">No residue: no attributed allocation outlived its handle.</p>\n", o);
        return;
    }
    fputs("<p>", o);
    bytes_text(o, rr->residue_bytes);
    fprintf(o, " in %" PRIu64 " allocation%s left by freed handles. Each site: its native stack (allocator's caller "
               "first, up to the wrapped native), then the Java stack that created the owner.</p>\n",
            rr->residue_allocations, plural(rr->residue_allocations, "s"));
    fprintf(o, "<h4 id=\"flame-%d\">Flame graph of the repeating sites</h4>\n<p class=\"note\">Width: bytes. "
               "Top: the rule; then the Java frames that created the owners, outermost first; then the native "
               "frames down to the allocator's caller. Red: leaks; teal: retained state.</p>\n", idx);
    if (nra_report_write_flame(rr, o) == 0)
        fputs("<p class=\"note\">No repeating site: nothing to draw.</p>\n", o);
    unsigned shown = 0;
    for (unsigned i = 0; i < n; i++)
        if (rr->sites[i].repeating) {
            if (shown == 0)
                fputs("<p><b>Repeating sites</b> (allocations by more than one owner: leaks)</p>\n", o);
            site(&rr->sites[i], idx, i, shown++ < 3, o);
        }
    unsigned one_time = 0;
    uint64_t one_bytes = 0;
    for (unsigned i = 0; i < n; i++)
        if (!rr->sites[i].repeating)
            one_time++, one_bytes += rr->sites[i].bytes;
    if (one_time) {
        fprintf(o, "<details class=\"one-time-sites\">\n<summary><b>%u one-time site%s</b>, ", one_time,
                plural(one_time, "s"));
        bytes_text(o, one_bytes);
        fputs(" (met by a single owner: initialisation, not per owner)</summary>\n", o);
        for (unsigned i = 0; i < n; i++)
            if (!rr->sites[i].repeating)
                site(&rr->sites[i], idx, i, false, o);
        fputs("</details>\n", o);
    }
    if (rr->sites_omitted)
        fprintf(o, "<p class=\"note\">(%" PRIu64 " smaller site%s not listed)</p>\n", rr->sites_omitted,
                plural(rr->sites_omitted, "s"));
}

static void groups(const struct nra_report *r, const struct nra_report_rule *rr, int idx, FILE *o)
{
    fprintf(o, "<h3 id=\"groups-%d\">Outstanding handles, by the Java code that created them</h3>\n", idx);
    unsigned n = rr->n_groups < NRA_REPORT_MAX_GROUPS ? rr->n_groups : NRA_REPORT_MAX_GROUPS;
    if (n == 0) {
        fputs("<p class=\"note\">No outstanding handles.</p>\n", o);
        return;
    }
    fputs("<table class=\"groups\">\n<tr><th>handles</th><th>oldest created</th><th>Java stack</th></tr>\n", o);
    for (unsigned i = 0; i < n; i++) {
        const struct nra_report_group *g = &rr->groups[i];
        char when[64];
        fprintf(o, "<tr><td class=\"num\">%" PRIu64 "</td><td>%s", g->count, utc_time(g->oldest_ms, when, sizeof(when)));
        if (g->oldest_ms && r->timestamp_ms >= g->oldest_ms)
            fprintf(o, "<br><span class=\"muted\">%.1f s before this report</span>",
                    (double)(r->timestamp_ms - g->oldest_ms) / 1000.0);
        fputs("</td><td>", o);
        java_frames(&g->java, o);
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n", o);
    if (rr->groups_omitted)
        fprintf(o, "<p class=\"note\">(%" PRIu64 " more handle%s in other groups)</p>\n", rr->groups_omitted,
                plural(rr->groups_omitted, "s"));
}

static void rule(const struct nra_report *r, int idx, FILE *o)
{
    const struct nra_report_rule *rr = &r->rules[idx];
    fprintf(o, "<section class=\"rule\" id=\"rule-%d\">\n<h2>", idx);
    ESCF(o, rr->rule);
    fputs(": <code>", o);
    ESCF(o, rr->owner_class);
    fputs("</code></h2>\n<p>alloc <code>", o);
    ESCF(o, rr->alloc_native);
    fputs("</code>, free <code>", o);
    ESCF(o, rr->free_native);
    fprintf(o, "</code>; %u use native%s wrapped</p>\n", rr->wrapped_use, plural(rr->wrapped_use, "s"));
    counts(r, rr, o);
    unsigned nf = rr->n_findings < NRA_REPORT_MAX_FINDINGS ? rr->n_findings : NRA_REPORT_MAX_FINDINGS;
    if (nf) {
        fputs("<h3>Findings</h3>\n<ul class=\"findings\">\n", o);
        for (unsigned k = 0; k < nf; k++) {
            const struct nra_report_finding *f = &rr->findings[k];
            fputs("<li><span class=\"badge kind\">", o);
            ESCF(o, f->kind);
            fputs("</span> ", o);
            ESCF(o, f->summary);
            fprintf(o, " <span class=\"muted\">(%" PRIu64 " owner%s", f->owners, plural(f->owners, "s"));
            if (f->bytes) {
                fputs(", ", o);
                bytes_text(o, f->bytes);
            }
            fputs(")</span>", o);
            known_leak(f, o);
            fputs("</li>\n", o);
        }
        fputs("</ul>\n", o);
    }
    residue(rr, idx, o);
    groups(r, rr, idx, o);
    unsigned ns = rr->n_skipped < NRA_REPORT_MAX_SKIPPED ? rr->n_skipped : NRA_REPORT_MAX_SKIPPED;
    if (ns) {
        fputs("<h3>Natives not wrapped</h3>\n<ul>\n", o);
        for (unsigned k = 0; k < ns; k++) {
            fputs("<li><code>", o);
            ESCF(o, rr->skipped[k]);
            fputs("</code></li>\n", o);
        }
        fputs("</ul>\n", o);
    }
    fputs("</section>\n", o);
}

/* ---- Finalizer, agent ------------------------------------------------------------------------------ */

static void finalizer(const struct nra_report_finalizer *f, FILE *o)
{
    fputs("<section id=\"finalizer\">\n<h2>Finalizer</h2>\n", o);
    if (!f->known) {
        fputs("<p class=\"note\">Finalizer state not known.</p>\n</section>\n", o);
        return;
    }
    fprintf(o, "<table class=\"finalizer\">\n<tr><th>finalization</th><td>%s</td></tr>\n"
               "<tr><th>queue length</th><td class=\"num\">",
            f->enabled ? "enabled" : "disabled");
    if (f->queue_length >= 0)
        fprintf(o, "%" PRId64, f->queue_length);
    else
        fputs("unknown", o);
    fputs("</td></tr>\n<tr><th>thread state</th><td><code>", o);
    ESCF(o, f->thread_state);
    fputs("</code></td></tr>\n", o);
    if (f->diagnosis[0]) {
        fputs("<tr><th>diagnosis</th><td><b>", o);
        ESCF(o, f->diagnosis);
        fputs("</b></td></tr>\n", o);
    }
    fputs("</table>\n<details class=\"stack\" open>\n<summary>Finalizer thread stack</summary>\n", o);
    java_frames(&f->stack, o);
    fputs("</details>\n</section>\n", o);
}

static void agent(const struct nra_report *r, size_t n_series, FILE *o)
{
    fputs("<section id=\"agent\">\n<h2>Agent</h2>\n<table class=\"agent\">\n<tr><th>options</th><td><code>", o);
    ESCF(o, r->options);
    fprintf(o, "</code></td></tr>\n<tr><th>dropped</th><td class=\"num\">%" PRIu64 "</td></tr>\n", r->dropped);
    fputs("<tr><th>reachability walk</th><td>", o);
    if (r->reachability_done)
        fprintf(o, "done in %.1f ms", r->reachability_ms);
    else
        fputs("not run", o);
    fprintf(o, "</td></tr>\n<tr><th>time-series samples</th><td class=\"num\">%zu</td></tr>\n", n_series);
    const struct {
        const char *k;
        uint64_t v;
    } st[] = {
        {"attributed allocations", r->stats.attributed},
        {"attributed allocations live", r->stats.attributed_live},
        {"native stack captures", r->stats.stack_captures},
        {"stacks interned", r->stats.stacks_interned},
        {"Java stacks captured", r->stats.java_stacks_captured},
        {"Java stacks not sampled", r->stats.java_stacks_not_sampled},
        {"owners claimed", r->stats.owners_claimed},
        {"classes instrumented", r->stats.classes_instrumented},
    };
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
        fprintf(o, "<tr><th>%s</th><td class=\"num\">%" PRIu64 "</td></tr>\n", st[i].k, st[i].v);
    for (unsigned i = 0; i < r->n_bounds; i++) {
        const struct nra_report_bound *b = &r->bounds[i];
        fputs("<tr><th>bound: ", o);
        ESCF(o, b->table);
        if (b->option[0]) {
            fputs(" (", o);
            ESCF(o, b->option);
            fputs(")", o);
        }
        fprintf(o, "</th><td>%" PRIu64 " of %" PRIu64 " used, %" PRIu64 " dropped, %" PRIu64 " degraded", b->used,
                b->size, b->dropped, b->degraded);
        if (b->dropped || b->degraded) {
            fputs(": ", o);
            ESCF(o, b->effect);
        }
        fputs("</td></tr>\n", o);
    }
    unsigned nh = r->n_hooked < 16 ? r->n_hooked : 16;
    if (nh) {
        fputs("<tr><th>hooked libraries</th><td>", o);
        for (unsigned i = 0; i < nh; i++) {
            fputs(i ? ", <code>" : "<code>", o);
            ESCF(o, r->hooked[i]);
            fputs("</code>", o);
        }
        fputs("</td></tr>\n", o);
    }
    fputs("</table>\n", o);
    unsigned nn = r->n_notes < NRA_REPORT_MAX_NOTES ? r->n_notes : NRA_REPORT_MAX_NOTES;
    fputs("<h3>Notes</h3>\n", o);
    if (nn == 0)
        fputs("<p class=\"note\">No notes: nothing limited this report.</p>\n", o);
    else {
        fputs("<ul class=\"notes\">\n", o);
        for (unsigned i = 0; i < nn; i++) {
            fputs("<li>", o);
            ESCF(o, r->notes[i]);
            fputs("</li>\n", o);
        }
        fputs("</ul>\n", o);
    }
    fputs("</section>\n", o);
}

int nra_report_write_html(const struct nra_report *r, const struct nra_sample *series, size_t n_series, FILE *out)
{
    if (!r || !out)
        return -EINVAL;
    if (!series)
        n_series = 0;
    struct nra_report safe;
    if (r->n_rules > 0 && !r->rules) {   /* never dereference a missing rule array */
        memcpy(&safe, r, sizeof(safe));
        safe.n_rules = 0;
        r = &safe;
    }
    head(r, out);
    header(r, out);
    fputs("<main>\n", out);
    verdict(r, out);
    over_time(r, series, n_series, out);
    for (int i = 0; i < r->n_rules; i++)
        rule(r, i, out);
    finalizer(&r->finalizer, out);
    agent(r, n_series, out);
    fputs("</main>\n<footer>Written by the nraudit agent. Self-contained: no scripts, nothing loaded from "
          "elsewhere.</footer>\n</body>\n</html>\n",
          out);
    return ferror(out) ? -EIO : 0;
}
