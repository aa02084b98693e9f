/* diff.c — nraudit diff: growth from a base report to a new one, per rule
 * and per residue site (like pprof --base). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* One residue site, summed over the report's sites with the same key. */
struct site {
    char *key;          /* rule \x1f scope \x1f library+offset;... */
    const char *rule;
    json_object *repr;  /* the constituent site with the most bytes */
    int64_t bytes, allocs, size_each; /* size_each -1: sizes differ */
};

struct sites {
    struct site *v;
    size_t n;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        cli_die("out of memory");
    return q;
}

/* library+offset of a frame; "(deleted)" dropped so a replaced library still matches. */
static size_t frame_key(json_object *f, char *out, size_t out_len)
{
    const char *lib = cli_str(f, "library");
    size_t ll = strlen(lib);
    static const char del[] = " (deleted)";
    if (ll >= sizeof(del) - 1 && strcmp(lib + ll - (sizeof(del) - 1), del) == 0)
        ll -= sizeof(del) - 1;
    int n = snprintf(out, out_len, "%.*s+%s;", (int)ll, lib, cli_str(f, "offset"));
    return n < 0 ? 0 : (size_t)n;
}

static char *site_key(const char *rule, json_object *s)
{
    json_object *ns = cli_get(s, "native_stack");
    const char *scope = cli_str(s, "scope");
    size_t cap = strlen(rule) + strlen(scope) + 4, len = 0;
    for (size_t i = 0; i < cli_len(ns); i++)
        cap += strlen(cli_str(cli_at(ns, i), "library")) + strlen(cli_str(cli_at(ns, i), "offset")) + 3;
    char *k = xrealloc(NULL, cap);
    len = (size_t)snprintf(k, cap, "%s\x1f%s\x1f", rule, scope);
    for (size_t i = 0; i < cli_len(ns); i++)
        len += frame_key(cli_at(ns, i), k + len, cap - len);
    return k;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct site *)a)->key, ((const struct site *)b)->key);
}

static struct sites collect_sites(json_object *r)
{
    struct sites raw = {0};
    size_t cap = 0;
    json_object *res = cli_get(r, "resources");
    for (size_t i = 0; i < cli_len(res); i++) {
        json_object *one = cli_at(res, i);
        json_object *ss = cli_get(cli_get(one, "residue"), "sites");
        for (size_t j = 0; j < cli_len(ss); j++) {
            json_object *s = cli_at(ss, j);
            if (raw.n == cap) {
                cap = cap ? cap * 2 : 64;
                raw.v = xrealloc(raw.v, cap * sizeof(*raw.v));
            }
            raw.v[raw.n++] = (struct site){
                .key = site_key(cli_str(one, "rule"), s),
                .rule = cli_str(one, "rule"),
                .repr = s,
                .bytes = cli_int(s, "bytes"),
                .allocs = cli_int(s, "allocations"),
                .size_each = cli_int(s, "size_each"),
            };
        }
    }
    if (raw.n)
        qsort(raw.v, raw.n, sizeof(*raw.v), by_key);
    /* Merge equal keys (sites that differ only by Java stack or size). */
    size_t out = 0;
    for (size_t i = 0; i < raw.n; i++) {
        if (out > 0 && strcmp(raw.v[out - 1].key, raw.v[i].key) == 0) {
            struct site *m = &raw.v[out - 1];
            if (raw.v[i].bytes > cli_int(m->repr, "bytes"))
                m->repr = raw.v[i].repr;
            m->bytes = cli_add(m->bytes, raw.v[i].bytes);
            m->allocs = cli_add(m->allocs, raw.v[i].allocs);
            if (m->size_each != raw.v[i].size_each)
                m->size_each = -1;
            free(raw.v[i].key);
        } else {
            raw.v[out++] = raw.v[i];
        }
    }
    raw.n = out;
    return raw;
}

static void free_sites(struct sites *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
}

static json_object *find_rule(json_object *r, const char *rule)
{
    json_object *res = cli_get(r, "resources");
    for (size_t i = 0; i < cli_len(res); i++)
        if (strcmp(cli_str(cli_at(res, i), "rule"), rule) == 0)
            return cli_at(res, i);
    return NULL;
}

static void signed_str(int64_t d, char *out, size_t len)
{
    if (d > 0)
        snprintf(out, len, "+%" PRId64, d);
    else
        snprintf(out, len, "%" PRId64, d);
}

static void row(const char *name, json_object *base, json_object *new, int64_t b, int64_t n)
{
    char bs[32], ns[32], ds[32];
    if (base)
        snprintf(bs, sizeof(bs), "%" PRId64, b);
    else
        snprintf(bs, sizeof(bs), "-");
    if (new)
        snprintf(ns, sizeof(ns), "%" PRId64, n);
    else
        snprintf(ns, sizeof(ns), "-");
    signed_str(n - b, ds, sizeof(ds));
    printf("  %-22s %14s %14s %14s\n", name, bs, ns, ds);
}

static void finding_kinds(json_object *res, char *out, size_t len)
{
    json_object *fs = cli_get(res, "findings");
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cli_len(fs) && n < len; i++) {
        int w = snprintf(out + n, len - n, "%s%s", n ? ", " : "", cli_str(cli_at(fs, i), "kind"));
        if (w > 0)
            n += (size_t)w;
    }
    if (!res)
        snprintf(out, len, "-");
    else if (out[0] == '\0')
        snprintf(out, len, "none");
}

/* Hours from the base report to the new one (same process), else 0. */
static double hours_between;

static void rule_table(json_object *base_res, json_object *new_res)
{
    json_object *any = new_res ? new_res : base_res;
    printf("\n== %s (%s)%s ==\n", cli_str(any, "rule"), cli_str(any, "owner_class"),
           !base_res ? ", not in base" : !new_res ? ", not in new" : "");
    printf("  %-22s %14s %14s %14s\n", "", "base", "new", "delta");
    static const char *const order[] = {
        "allocated", "freed", "outstanding", "live", "pending_finalization", "finalized_not_freed",
        "collected_not_freed", "orphans", "freed_with_residue", "zombies", "freed_by_finalizer",
    };
    json_object *bc = cli_get(base_res, "counts"), *nc = cli_get(new_res, "counts");
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        row(order[i], base_res, new_res, cli_int(bc, order[i]), cli_int(nc, order[i]));
    json_object *br = cli_get(base_res, "residue"), *nr = cli_get(new_res, "residue");
    row("residue bytes", base_res, new_res, cli_int(br, "bytes"), cli_int(nr, "bytes"));
    row("residue allocations", base_res, new_res, cli_int(br, "allocations"), cli_int(nr, "allocations"));
    int64_t new_owners = cli_int(nc, "allocated") - cli_int(bc, "allocated");
    int64_t grown = cli_int(nr, "bytes") - cli_int(br, "bytes");
    if (base_res && new_res && new_owners > 0)
        printf("  residue growth per new owner: %.1f bytes (%" PRId64 " bytes over %" PRId64 " new handles)\n",
               (double)grown / (double)new_owners, grown, new_owners);
    if (base_res && new_res && hours_between > 0)
        printf("  residue growth per hour: %.0f bytes; new handles per hour: %.0f\n", (double)grown / hours_between,
               (double)new_owners / hours_between);
    char bk[256], nk[256];
    finding_kinds(base_res, bk, sizeof(bk));
    finding_kinds(new_res, nk, sizeof(nk));
    printf("  findings: base %s; new %s\n", bk, nk);
}

struct growth {
    const struct site *base, *new;
    int64_t dbytes, dallocs;
};

static int by_growth(const void *a, const void *b)
{
    const struct growth *x = a, *y = b;
    if (x->dbytes != y->dbytes)
        return x->dbytes > y->dbytes ? -1 : 1;
    if (x->dallocs != y->dallocs)
        return x->dallocs > y->dallocs ? -1 : 1;
    return strcmp(x->new->key, y->new->key);
}

static void print_site(const struct growth *g)
{
    const struct site *n = g->new, *b = g->base;
    char db[32], da[32];
    signed_str(g->dbytes, db, sizeof(db));
    signed_str(g->dallocs, da, sizeof(da));
    int64_t size = n->size_each;
    if (b && b->size_each != size)
        size = -1;
    printf("\n  %s bytes, %s allocations", db, da);
    if (size >= 0 && g->dallocs > 0)
        printf(" x %" PRId64 " bytes", size);
    printf("  [%s] ", n->rule);
    if (b)
        printf("grown: %" PRId64 " -> %" PRId64 " bytes, %" PRId64 " -> %" PRId64 " allocations\n", b->bytes,
               n->bytes, b->allocs, n->allocs);
    else
        printf("new: %" PRId64 " bytes in %" PRId64 " allocations\n", n->bytes, n->allocs);
    json_object *s = n->repr;
    const char *scope = cli_str(s, "scope"), *scope_native = cli_str(s, "scope_native");
    if (*scope || *scope_native)
        printf("      scope %s%s%s\n", *scope ? scope : "?", *scope_native ? ": " : "", scope_native);
    json_object *ns = cli_get(s, "native_stack");
    for (size_t i = 0; i < cli_len(ns); i++) {
        json_object *f = cli_at(ns, i);
        printf("      #%zu %s+%s  %s\n", i, cli_str(f, "library"), cli_str(f, "offset"), cli_str(f, "symbol"));
    }
    json_object *js = cli_get(s, "java_stack");
    size_t shown = cli_len(js) < 5 ? cli_len(js) : 4;
    for (size_t i = 0; i < shown; i++)
        printf("      at %s\n", json_object_get_string(cli_at(js, i)));
    if (cli_len(js) > shown)
        printf("      ... (%zu more Java frames)\n", cli_len(js) - shown);
}

static void site_diff(json_object *base, json_object *new)
{
    struct sites bs = collect_sites(base), ns = collect_sites(new);
    struct growth *g = xrealloc(NULL, (ns.n + 1) * sizeof(*g));
    size_t ng = 0, nnew = 0, unchanged = 0, shrunk = 0;
    int64_t shrink_bytes = 0, grow_bytes = 0;
    size_t i = 0, j = 0;
    while (i < bs.n || j < ns.n) {
        int c = i == bs.n ? 1 : j == ns.n ? -1 : strcmp(bs.v[i].key, ns.v[j].key);
        if (c < 0) { /* only in base: gone */
            shrunk++;
            shrink_bytes = cli_add(shrink_bytes, bs.v[i].bytes);
            i++;
        } else if (c > 0) { /* only in new */
            g[ng++] = (struct growth){NULL, &ns.v[j], ns.v[j].bytes, ns.v[j].allocs};
            nnew++;
            grow_bytes = cli_add(grow_bytes, ns.v[j].bytes);
            j++;
        } else {
            int64_t d = ns.v[j].bytes - bs.v[i].bytes;
            if (d > 0) {
                g[ng++] = (struct growth){&bs.v[i], &ns.v[j], d, ns.v[j].allocs - bs.v[i].allocs};
                grow_bytes = cli_add(grow_bytes, d);
            } else if (d < 0) {
                shrunk++;
                shrink_bytes = cli_add(shrink_bytes, -d);
            } else {
                unchanged++;
            }
            i++, j++;
        }
    }
    if (ng)
        qsort(g, ng, sizeof(*g), by_growth);
    printf("\n== residue sites new or grown, most byte growth first ==\n");
    if (ng == 0)
        printf("\n  none\n");
    for (size_t k = 0; k < ng; k++)
        print_site(&g[k]);
    printf("\nsites: %zu grew or appeared (+%" PRId64 " bytes, %zu new), %zu shrank or vanished (-%" PRId64
           " bytes), %zu unchanged\n",
           ng, grow_bytes, nnew, shrunk, shrink_bytes, unchanged);
    const char *names[2] = {"base", "new"};
    json_object *reps[2] = {base, new};
    for (int k = 0; k < 2; k++) {
        int64_t omitted = 0;
        json_object *res = cli_get(reps[k], "resources");
        for (size_t x = 0; x < cli_len(res); x++)
            omitted = cli_add(omitted, cli_count(cli_get(cli_at(res, x), "residue"), "sites_omitted"));
        if (omitted)
            printf("note: the %s report left out %" PRId64 " small residue sites; their growth is not shown\n",
                   names[k], omitted);
    }
    free(g);
    free_sites(&bs);
    free_sites(&ns);
}

static void header(const char *tag, const char *path, json_object *r)
{
    printf("%s %s (pid %" PRId64 ", trigger %s, uptime %.1f s)\n", tag, path, cli_int(r, "pid"),
           cli_str(r, "trigger"), (double)cli_int(r, "uptime_ms") / 1000.0);
}

int cli_diff(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL};
    int npaths = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (!opts_done && cli_is_help(a))
            cli_help(cli_usage_diff);
        if (!opts_done)
            cli_reject_option("diff", a);
        if (npaths == 2)
            cli_die("diff takes two reports, got a third: '%s' (try 'nraudit diff --help')", a);
        paths[npaths++] = a;
    }
    if (npaths != 2)
        cli_die("diff needs two reports: <base.json> <new.json> (try 'nraudit diff --help')");
    if (strcmp(paths[0], "-") == 0 && strcmp(paths[1], "-") == 0)
        cli_die("diff: only one of the two reports can come from stdin ('-')");
    json_object *base = cli_load_report(paths[0]);
    json_object *new = cli_load_report(paths[1]);

    printf("nraudit diff\n");
    header("  base", paths[0], base);
    header("  new ", paths[1], new);
    if (cli_int(base, "pid") != cli_int(new, "pid"))
        printf("  (different processes: each counts from its own JVM start)\n");
    else if (cli_int(new, "uptime_ms") < cli_int(base, "uptime_ms"))
        printf("warning: the new report is older than the base (uptime %.1f s < %.1f s): the reports are in the "
               "wrong order, growth reads as shrinkage\n",
               (double)cli_int(new, "uptime_ms") / 1000.0, (double)cli_int(base, "uptime_ms") / 1000.0);
    hours_between = cli_int(base, "pid") == cli_int(new, "pid")
                        ? (double)(cli_int(new, "uptime_ms") - cli_int(base, "uptime_ms")) / 3.6e6
                        : 0;

    json_object *nres = cli_get(new, "resources"), *bres = cli_get(base, "resources");
    for (size_t i = 0; i < cli_len(nres); i++)
        rule_table(find_rule(base, cli_str(cli_at(nres, i), "rule")), cli_at(nres, i));
    for (size_t i = 0; i < cli_len(bres); i++)
        if (!find_rule(new, cli_str(cli_at(bres, i), "rule")))
            rule_table(cli_at(bres, i), NULL);
    site_diff(base, new);

    json_object_put(base);
    json_object_put(new);
    if (fflush(stdout) != 0)
        cli_die("cannot write the result to stdout");
    return CLI_EXIT_OK;
}
