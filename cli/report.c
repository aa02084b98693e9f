/* report.c — loads an nraudit JSON report and checks the parts of the
 * contract (/work/shared/report-contract.md, docs/report-format.md) that
 * check and diff read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *const cli_count_keys[] = {
    "allocated", "freed", "outstanding", "freed_by_finalizer", "live", "pending_finalization",
    "finalized_not_freed", "collected_not_freed", "freed_with_residue", "zombies", "orphans",
};
const size_t cli_n_count_keys = sizeof(cli_count_keys) / sizeof(cli_count_keys[0]);

#define MAX_REPORT_BYTES ((size_t)1 << 30)

json_object *cli_get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
        return v;
    return NULL;
}

int64_t cli_int(json_object *o, const char *key)
{
    json_object *v = cli_get(o, key);
    return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
}

int64_t cli_count(json_object *o, const char *key)
{
    int64_t v = cli_int(o, key);
    return v < 0 ? 0 : v > CLI_COUNT_MAX ? CLI_COUNT_MAX : v;
}

const char *cli_str(json_object *o, const char *key)
{
    json_object *v = cli_get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

size_t cli_len(json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

json_object *cli_at(json_object *a, size_t i)
{
    return i < cli_len(a) ? json_object_array_get_idx(a, i) : NULL;
}

json_object *cli_parse_json(const char *text, size_t len, char *err, size_t err_len)
{
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", text[start]))
        start++;
    if (start == len) {
        snprintf(err, err_len, "invalid JSON: the file is empty");
        return NULL;
    }
    if (len > (size_t)0x7fffffff) {
        snprintf(err, err_len, "invalid JSON: too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue) {
        snprintf(err, err_len, "invalid JSON: unexpected end of input");
        json_object_put(obj);
        return NULL;
    }
    if (jerr != json_tokener_success) {
        snprintf(err, err_len, "invalid JSON at byte %zu: %s", end, json_tokener_error_desc(jerr));
        json_object_put(obj);
        return NULL;
    }
    while (end < len && strchr(" \t\r\n", text[end]))
        end++;
    if (end < len) {
        snprintf(err, err_len, "invalid JSON: unexpected data after the value at byte %zu", end);
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

static char *read_all(const char *path, size_t *len_out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        cli_die("cannot read %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        cli_die("out of memory reading %s", path);
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_REPORT_BYTES)
                cli_die("%s: larger than 1 GiB, not a report", path);
            cap *= 2;
            char *more = realloc(buf, cap + 1);
            if (!more)
                cli_die("out of memory reading %s", path);
            buf = more;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f))
        cli_die("cannot read %s: %s", path, strerror(errno ? errno : EIO));
    if (f != stdin)
        fclose(f);
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

json_object *cli_load_report(const char *path)
{
    size_t len = 0;
    char *text = read_all(path, &len);
    char err[512];
    json_object *r = cli_parse_json(text, len, err, sizeof(err));
    free(text);
    if (!r)
        cli_die("%s: %s", strcmp(path, "-") == 0 ? "stdin" : path, err);
    if (cli_report_validate(r, err, sizeof(err)) != 0) {
        json_object_put(r);
        cli_die("%s: %s", strcmp(path, "-") == 0 ? "stdin" : path, err);
    }
    return r;
}

/* ---- validation ------------------------------------------------------- */

#define BAD(...) (snprintf(err, err_len, __VA_ARGS__), -1)

static bool is(json_object *v, enum json_type t)
{
    return v && json_object_is_type(v, t);
}

/* Counts are whole numbers in 0 .. 2^53 (exact in any JSON reader), so sums
 * and differences of them stay far from int64 overflow. */
static bool is_count(json_object *v)
{
    return is(v, json_type_int) && json_object_get_int64(v) >= 0 && json_object_get_int64(v) <= CLI_COUNT_MAX;
}

static int need_counts(json_object *o, const char *const *keys, size_t n, const char *where,
                       char *err, size_t err_len)
{
    for (size_t i = 0; i < n; i++)
        if (!is_count(cli_get(o, keys[i])))
            return BAD("not a valid nraudit report: %s.%s is missing or not a whole number from 0 to 2^53", where, keys[i]);
    return 0;
}

static int need_strings(json_object *o, const char *const *keys, size_t n, const char *where,
                        char *err, size_t err_len)
{
    for (size_t i = 0; i < n; i++)
        if (!is(cli_get(o, keys[i]), json_type_string))
            return BAD("not a valid nraudit report: %s.%s is missing or not a string", where, keys[i]);
    return 0;
}

static int validate_site(json_object *s, const char *where, char *err, size_t err_len)
{
    static const char *const counts[] = {"bytes", "allocations", "owners", "size_each"};
    if (!is(s, json_type_object))
        return BAD("not a valid nraudit report: %s is not an object", where);
    if (need_counts(s, counts, 4, where, err, err_len))
        return -1;
    json_object *scope = cli_get(s, "scope");
    if (scope && !is(scope, json_type_string))
        return BAD("not a valid nraudit report: %s.scope is not a string", where);
    json_object *ns = cli_get(s, "native_stack");
    if (!is(ns, json_type_array))
        return BAD("not a valid nraudit report: %s.native_stack is missing or not a list", where);
    for (size_t i = 0; i < cli_len(ns); i++) {
        static const char *const frame_keys[] = {"library", "offset"};
        char fw[160];
        snprintf(fw, sizeof(fw), "%s.native_stack[%zu]", where, i);
        if (!is(cli_at(ns, i), json_type_object))
            return BAD("not a valid nraudit report: %s is not an object", fw);
        if (need_strings(cli_at(ns, i), frame_keys, 2, fw, err, err_len))
            return -1;
    }
    json_object *js = cli_get(s, "java_stack");
    if (!is(js, json_type_array))
        return BAD("not a valid nraudit report: %s.java_stack is missing or not a list", where);
    for (size_t i = 0; i < cli_len(js); i++)
        if (!is(cli_at(js, i), json_type_string))
            return BAD("not a valid nraudit report: %s.java_stack[%zu] is not a string", where, i);
    return 0;
}

static int validate_resource(json_object *res, size_t idx, char *err, size_t err_len)
{
    static const char *const names[] = {"rule", "owner_class", "alloc_native", "free_native"};
    char where[128];
    snprintf(where, sizeof(where), "resources[%zu]", idx);
    if (!is(res, json_type_object))
        return BAD("not a valid nraudit report: %s is not an object", where);
    if (need_strings(res, names, 4, where, err, err_len))
        return -1;
    snprintf(where, sizeof(where), "resources[%zu] (%s)", idx, cli_str(res, "rule"));
    json_object *counts = cli_get(res, "counts");
    if (!is(counts, json_type_object))
        return BAD("not a valid nraudit report: %s.counts is missing or not an object", where);
    char cw[160];
    snprintf(cw, sizeof(cw), "%s.counts", where);
    if (need_counts(counts, cli_count_keys, cli_n_count_keys, cw, err, err_len))
        return -1;

    json_object *resid = cli_get(res, "residue");
    if (!is(resid, json_type_object))
        return BAD("not a valid nraudit report: %s.residue is missing or not an object", where);
    static const char *const rkeys[] = {"bytes", "allocations"};
    snprintf(cw, sizeof(cw), "%s.residue", where);
    if (need_counts(resid, rkeys, 2, cw, err, err_len))
        return -1;
    json_object *sites = cli_get(resid, "sites");
    if (!is(sites, json_type_array))
        return BAD("not a valid nraudit report: %s.residue.sites is missing or not a list", where);
    for (size_t i = 0; i < cli_len(sites); i++) {
        snprintf(cw, sizeof(cw), "%s.residue.sites[%zu]", where, i);
        if (validate_site(cli_at(sites, i), cw, err, err_len))
            return -1;
    }

    json_object *findings = cli_get(res, "findings");
    if (!is(findings, json_type_array))
        return BAD("not a valid nraudit report: %s.findings is missing or not a list", where);
    for (size_t i = 0; i < cli_len(findings); i++) {
        static const char *const fstr[] = {"kind", "summary"};
        static const char *const fnum[] = {"owners", "bytes"};
        json_object *f = cli_at(findings, i);
        snprintf(cw, sizeof(cw), "%s.findings[%zu]", where, i);
        if (!is(f, json_type_object))
            return BAD("not a valid nraudit report: %s is not an object", cw);
        if (need_strings(f, fstr, 2, cw, err, err_len) || need_counts(f, fnum, 2, cw, err, err_len))
            return -1;
    }
    return 0;
}

int cli_report_validate(json_object *r, char *err, size_t err_len)
{
    if (!is(r, json_type_object))
        return BAD("not an nraudit report (a JSON %s, not an object with schema \"nraudit/report-v1\")",
                   json_type_to_name(json_object_get_type(r)));
    json_object *schema = cli_get(r, "schema");
    if (!is(schema, json_type_string))
        return BAD("not an nraudit report (no \"schema\": \"nraudit/report-v1\")");
    if (strcmp(json_object_get_string(schema), "nraudit/report-v1") != 0)
        return BAD("not an nraudit report v1 (schema is \"%.80s\", expected \"nraudit/report-v1\")",
                   json_object_get_string(schema));
    static const char *const top_str[] = {"trigger"};
    static const char *const top_num[] = {"pid", "timestamp_ms", "uptime_ms"};
    if (need_strings(r, top_str, 1, "report", err, err_len) || need_counts(r, top_num, 3, "report", err, err_len))
        return -1;
    json_object *res = cli_get(r, "resources");
    if (!is(res, json_type_array))
        return BAD("not a valid nraudit report: resources is missing or not a list");
    for (size_t i = 0; i < cli_len(res); i++)
        if (validate_resource(cli_at(res, i), i, err, err_len))
            return -1;
    return 0;
}
