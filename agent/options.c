/* options.c — see include/options.h. */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN 4096

void nra_options_defaults(struct nra_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    snprintf(opts->file, sizeof(opts->file), "nraudit-%%p-%%n");
    opts->formats = NRA_FMT_TEXT;
    opts->log = NRA_LOG_INFO;
    opts->java_depth = 16;
    opts->java_sample = 64;
    opts->hook = NRA_HOOK_RULE_LIBS;
    opts->reachability = true;
    opts->max_records = 1u << 20;
    opts->max_allocs = 1u << 20;
    opts->max_sites = 1u << 16;
    opts->max_stacks = 1u << 16;
    opts->interval = 0;
    opts->series_max_kb = 65536;
}

static int fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int parse_formats(const char *v, unsigned *out, char *err, size_t err_len)
{
    char buf[64];
    if (strlen(v) >= sizeof(buf) || v[0] == '\0')
        return fail(err, err_len, "format=%s: expected text, json, pprof, html or collapsed, several joined by '+' (e.g. text+json)", v);
    size_t n = strlen(v);
    if (v[0] == '+' || v[n - 1] == '+' || strstr(v, "++"))
        return fail(err, err_len, "format=%s: empty format name; accepted: text, json, pprof, html, collapsed (join several with '+')", v);
    strcpy(buf, v);
    unsigned set = 0;
    for (char *save = NULL, *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        if (strcmp(tok, "text") == 0)
            set |= NRA_FMT_TEXT;
        else if (strcmp(tok, "json") == 0)
            set |= NRA_FMT_JSON;
        else if (strcmp(tok, "pprof") == 0)
            set |= NRA_FMT_PPROF;
        else if (strcmp(tok, "html") == 0)
            set |= NRA_FMT_HTML;
        else if (strcmp(tok, "collapsed") == 0)
            set |= NRA_FMT_COLLAPSED;
        else
            return fail(err, err_len, "format=%s: unknown format '%s'; accepted: text, json, pprof, html, collapsed (join several with '+')", v, tok);
    }
    *out = set;
    return 0;
}

/* Parses an unsigned decimal in [min, max]. */
static int parse_uint(const char *key, const char *v, unsigned min, unsigned max, unsigned *out,
                      char *err, size_t err_len)
{
    char *end = NULL;
    errno = 0;
    /* strtoul would accept leading spaces and a sign: digits only */
    unsigned long n = v[0] >= '0' && v[0] <= '9' ? strtoul(v, &end, 10) : 0;
    if (!end || *end != '\0' || errno != 0 || n < min || n > max) {
        snprintf(err, err_len, "%s=%s: expected a whole number from %u to %u", key, v, min, max);
        return -EINVAL;
    }
    *out = (unsigned)n;
    return 0;
}

/* A duration in seconds: digits, then an optional unit s, m or h. */
static int parse_seconds(const char *key, const char *v, unsigned max, unsigned *out, char *err, size_t err_len)
{
    char digits[32];
    size_t n = strlen(v);
    unsigned scale = 1;
    if (n > 0 && n < sizeof(digits) && strchr("smh", v[n - 1])) {
        scale = v[n - 1] == 'h' ? 3600 : v[n - 1] == 'm' ? 60 : 1;
        n--;
    }
    if (n == 0 || n >= sizeof(digits))
        return fail(err, err_len, "%s=%s: expected a duration (e.g. 30, 30s, 5m, 1h; at most %u s)", key, v, max);
    memcpy(digits, v, n);
    digits[n] = '\0';
    unsigned count;
    if (parse_uint(key, digits, 0, max, &count, err, err_len) != 0 || (uint64_t)count * scale > max)
        return fail(err, err_len, "%s=%s: expected a duration (e.g. 30, 30s, 5m, 1h; at most %u s)", key, v, max);
    *out = count * scale;
    return 0;
}

static int parse_choice(const char *key, const char *v, const char *const *names, int n,
                        int *out, char *err, size_t err_len)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    char accepted[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(accepted, names[i], sizeof(accepted) - strlen(accepted) - 1);
        if (i + 1 < n)
            strncat(accepted, "|", sizeof(accepted) - strlen(accepted) - 1);
    }
    snprintf(err, err_len, "%s=%s: expected one of %s", key, v, accepted);
    return -EINVAL;
}

static int set_option(struct nra_options *o, const char *key, const char *v, char *err, size_t err_len)
{
    static const char *const logs[] = {"quiet", "info", "debug"};
    static const char *const hooks[] = {"rule-libs", "all", "none"};
    static const char *const onoff[] = {"off", "on"};
    int choice = 0, rc = 0;

    if (strcmp(key, "file") == 0) {
        if (v[0] == '\0')
            return fail(err, err_len, "file=: expected a report path template (e.g. file=/tmp/nraudit-%%p)");
        if (strlen(v) >= sizeof(o->file) - 16)
            return fail(err, err_len, "file=%.64s...: path too long", v);
        char probe[NRA_PATH_MAX];
        if (nra_options_expand_path(v, 1, 1, 1, "", probe, sizeof(probe)) != 0)
            return fail(err, err_len, "file=%s: unknown %% sequence; accepted: %%p (pid), %%t (timestamp), %%%%", v);
        snprintf(o->file, sizeof(o->file), "%s", v);
    } else if (strcmp(key, "format") == 0) {
        rc = parse_formats(v, &o->formats, err, err_len);
    } else if (strcmp(key, "log") == 0) {
        if ((rc = parse_choice(key, v, logs, 3, &choice, err, err_len)) == 0)
            o->log = (enum nra_log_level)choice;
    } else if (strcmp(key, "hook") == 0) {
        if ((rc = parse_choice(key, v, hooks, 3, &choice, err, err_len)) == 0)
            o->hook = (enum nra_hook_mode)choice;
    } else if (strcmp(key, "reachability") == 0) {
        if ((rc = parse_choice(key, v, onoff, 2, &choice, err, err_len)) == 0)
            o->reachability = choice == 1;
    } else if (strcmp(key, "rules") == 0) {
        if (v[0] == '\0' || strlen(v) >= sizeof(o->rules_file))
            return fail(err, err_len, "rules=%s: expected the path of a rules file", v);
        snprintf(o->rules_file, sizeof(o->rules_file), "%s", v);
    } else if (strcmp(key, "interval") == 0) {
        rc = parse_seconds(key, v, 86400, &o->interval, err, err_len);
    } else if (strcmp(key, "series_max_kb") == 0) {
        rc = parse_uint(key, v, 1, 4u << 20, &o->series_max_kb, err, err_len);
    } else if (strcmp(key, "java_depth") == 0) {
        rc = parse_uint(key, v, 0, 64, &o->java_depth, err, err_len);
    } else if (strcmp(key, "java_sample") == 0) {
        rc = parse_uint(key, v, 1, 1u << 20, &o->java_sample, err, err_len);
    } else if (strcmp(key, "max_records") == 0) {
        rc = parse_uint(key, v, 16, 1u << 26, &o->max_records, err, err_len);
    } else if (strcmp(key, "max_allocs") == 0) {
        rc = parse_uint(key, v, 16, 1u << 26, &o->max_allocs, err, err_len);
    } else if (strcmp(key, "max_sites") == 0) {
        rc = parse_uint(key, v, 64, 1u << 22, &o->max_sites, err, err_len);
    } else if (strcmp(key, "max_stacks") == 0) {
        rc = parse_uint(key, v, 64, 1u << 22, &o->max_stacks, err, err_len);
    } else {
        return fail(err, err_len,
                    "unknown option '%s'; accepted: file, format, log, hook, reachability, rules, "
                    "interval, series_max_kb, java_depth, java_sample, max_records, max_allocs, max_sites, "
                    "max_stacks, report", key);
    }
    return rc;
}

int nra_options_parse(const char *text, struct nra_options *o, char *err, size_t err_len)
{
    if (text == NULL || text[0] == '\0')
        return 0;
    if (strlen(text) >= MAX_TOKEN)
        return fail(err, err_len, "option string longer than %d characters", MAX_TOKEN - 1);
    char buf[MAX_TOKEN];
    strcpy(buf, text);
    /* Split by hand: strtok would silently merge empty items (",,"). */
    char *item = buf;
    for (;;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        if (item[0] == '\0')
            return fail(err, err_len, "empty option in '%s' (options are key=value separated by ',')", text);
        /* key=value, or key:value: jcmd's argument parser splits tokens at
         * '=', so commands through JVMTI.agent_load can use ':' instead. */
        char *eq = item + strcspn(item, "=:");
        if (*eq == '\0')
            eq = NULL;
        int rc;
        if (eq == NULL) {
            if (strcmp(item, "report") == 0) {
                o->report_now = true;
                rc = 0;
            } else {
                rc = fail(err, err_len, "option '%s' needs a value (key=value)", item);
            }
        } else {
            *eq = '\0';
            rc = set_option(o, item, eq + 1, err, err_len);
        }
        if (rc != 0)
            return rc;
        if (!comma)
            return 0;
        item = comma + 1;
    }
}

int nra_options_expand_path(const char *tmpl, long pid, uint64_t timestamp_ms, uint64_t seq,
                            const char *ext, char *out, size_t out_len)
{
    size_t n = 0;
    char num[32];
    for (const char *p = tmpl; *p; p++) {
        const char *piece = NULL;
        char one[2] = {*p, '\0'};
        if (*p == '%') {
            p++;
            if (*p == 'p')
                snprintf(num, sizeof(num), "%ld", pid), piece = num;
            else if (*p == 't')
                snprintf(num, sizeof(num), "%llu", (unsigned long long)timestamp_ms), piece = num;
            else if (*p == 'n')
                snprintf(num, sizeof(num), "%llu", (unsigned long long)seq), piece = num;
            else if (*p == '%')
                piece = "%";
            else
                return -EINVAL;
        } else {
            piece = one;
        }
        size_t len = strlen(piece);
        if (n + len >= out_len)
            return -ENAMETOOLONG;
        memcpy(out + n, piece, len);
        n += len;
    }
    size_t elen = ext ? strlen(ext) : 0;
    if (n + elen >= out_len)
        return -ENAMETOOLONG;
    if (elen)
        memcpy(out + n, ext, elen);
    out[n + elen] = '\0';
    return 0;
}

const char *nra_format_extension(enum nra_format f)
{
    switch (f) {
    case NRA_FMT_TEXT: return ".txt";
    case NRA_FMT_JSON: return ".json";
    case NRA_FMT_PPROF: return ".heap";
    case NRA_FMT_HTML: return ".html";
    case NRA_FMT_COLLAPSED: return ".collapsed";
    }
    return "";
}

const char *nra_format_extension_alt(enum nra_format f)
{
    return f == NRA_FMT_PPROF ? ".pb.gz" : nra_format_extension(f);
}

static bool has_extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash + 1) && dot[1] != '\0';
}

int nra_options_path_with_ext(const struct nra_options *opts, const char *ext, long pid,
                              uint64_t timestamp_ms, uint64_t seq, char *out, size_t out_len)
{
    char base[NRA_PATH_MAX];
    snprintf(base, sizeof(base), "%s", opts->file);
    static const enum nra_format known[] = {NRA_FMT_TEXT, NRA_FMT_JSON, NRA_FMT_PPROF, NRA_FMT_HTML,
                                            NRA_FMT_COLLAPSED};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *known_ext = nra_format_extension(known[i]);
        size_t bl = strlen(base), el = strlen(known_ext);
        if (bl > el && strcmp(base + bl - el, known_ext) == 0) {
            base[bl - el] = '\0';
            break;
        }
    }
    return nra_options_expand_path(base, pid, timestamp_ms, seq, ext, out, out_len);
}

int nra_options_report_path(const struct nra_options *opts, enum nra_format f, bool alt, long pid,
                            uint64_t timestamp_ms, uint64_t seq, char *out, size_t out_len)
{
    /* pprof writes two files, so it always gets its own extensions. */
    bool several = (opts->formats & (opts->formats - 1)) != 0 || (opts->formats & NRA_FMT_PPROF);
    if (!several && has_extension(opts->file))
        return nra_options_expand_path(opts->file, pid, timestamp_ms, seq, "", out, out_len);
    const char *ext = alt ? nra_format_extension_alt(f) : nra_format_extension(f);
    return nra_options_path_with_ext(opts, ext, pid, timestamp_ms, seq, out, out_len);
}
