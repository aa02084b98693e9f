/* report_build.c — builds the rule sections of a report (see report.h).
 *
 * Residue is decided here, at report time, not on the hot path: an
 * attributed allocation whose record is no longer outstanding belongs to a
 * handle that was freed, so it is residue. Allocations still attributed to
 * outstanding handles are "held" and are not residue.
 */
#include "report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "alloc.h"
#include "known_leaks.h"
#include "registry.h"
#include "stacks.h"
#include "symbols.h"

/* ---- small helpers ------------------------------------------------------------ */

void nra_report_add_note(struct nra_report *r, const char *fmt, ...)
{
    if (r->n_notes >= NRA_REPORT_MAX_NOTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->n_notes], sizeof(r->notes[0]), fmt, ap);
    va_end(ap);
    for (unsigned i = 0; i < r->n_notes; i++)
        if (strcmp(r->notes[i], r->notes[r->n_notes]) == 0)
            return;
    r->n_notes++;
}

void nra_report_free(struct nra_report *r)
{
    free(r->rules);
    r->rules = NULL;
    r->n_rules = 0;
}

static void dotted(const char *internal, char *out, size_t len)
{
    snprintf(out, len, "%s", internal);
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = '.';
}

static void java_stack_of(uint32_t id, const struct nra_report_sources *src, struct nra_report_stack *out)
{
    uintptr_t flat[2 * NRA_REPORT_JAVA_FRAMES];
    out->n = 0;
    if (id == 0 || !src->java_frame)
        return;
    unsigned n = nra_stack_get(id, flat, 2 * NRA_REPORT_JAVA_FRAMES) / 2;
    for (unsigned i = 0; i < n; i++)
        src->java_frame(flat[2 * i], flat[2 * i + 1], out->frames[out->n++], NRA_REPORT_FRAME_LEN);
}

static void native_frame(uintptr_t pc, struct nra_report_frame *f)
{
    struct nra_sym_frame s;
    memset(f, 0, sizeof(*f));
    f->address = pc;
    /* pc is a return address: resolve the call instruction before it. */
    if (nra_sym_resolve(pc - 1, &s) != 0) {
        snprintf(f->library, sizeof(f->library), "?");
        return;
    }
    f->offset = s.offset + 1;
    snprintf(f->library, sizeof(f->library), "%s%s", s.library_base, s.deleted ? " (deleted)" : "");
    if (s.has_symbol)
        snprintf(f->symbol, sizeof(f->symbol), "%s+0x%lx", s.symbol, (unsigned long)s.symbol_offset);
}

static const char *role_word(enum nra_role role)
{
    switch (role) {
    case NRA_ROLE_ALLOC: return "alloc";
    case NRA_ROLE_FREE: return "free";
    case NRA_ROLE_USE: return "use";
    default: return "?";
    }
}

/* The bound native at the outer end of a complete stack: named by the
 * symbols module's JNI map when the frame lies in it; when the native
 * tail-called into another library (tcnative's readFromSSL jumps to
 * SSL_read), a frame for the native's entry point is added so the reader
 * still sees which native made the allocation. */
static void close_with_native(struct nra_report_site *site, const char *name, uintptr_t entry, const char *how)
{
    char want[NRA_REPORT_FRAME_LEN];
    snprintf(want, sizeof(want), "%s (native)", name);
    if (site->n_native > 0 && strncmp(site->native[site->n_native - 1].symbol, want, strlen(want)) == 0)
        return;
    if (site->n_native == NRA_REPORT_NATIVE_FRAMES || entry == 0)
        return;
    struct nra_report_frame *f = &site->native[site->n_native++];
    native_frame(entry + 1, f);  /* +1: native_frame resolves pc - 1 */
    f->address = entry;
    f->offset -= 1;
    snprintf(f->symbol, sizeof(f->symbol), "%s (entry, %s)", want, how);
}

/* Fills the native frames of a site from its interned stack, whose last
 * value is the slot tag naming the bound native. Returns the slot. */
static int native_stack_of(uint32_t id, const struct nra_report_sources *src, struct nra_report_site *site)
{
    uintptr_t pcs[NRA_STACK_MAX_FRAMES];
    unsigned n = nra_stack_get(id, pcs, NRA_STACK_MAX_FRAMES);
    int slot = -1;
    site->n_native = 0;
    site->truncated = true;
    for (unsigned i = 0; i < n; i++) {
        if (!(pcs[i] & NRA_FRAME_SLOT_TAG)) {
            if (site->n_native < NRA_REPORT_NATIVE_FRAMES)
                native_frame(pcs[i], &site->native[site->n_native++]);
            continue;
        }
        slot = (int)NRA_FRAME_SLOT(pcs[i]);
        const char *name = src->slot_name ? src->slot_name((unsigned)slot) : NULL;
        if (name)
            snprintf(site->scope_native, sizeof(site->scope_native), "%s", name);
        snprintf(site->scope, sizeof(site->scope), "%s",
                 role_word(src->slot_role ? src->slot_role((unsigned)slot) : NRA_ROLE_NONE));
        site->truncated = !(pcs[i] & NRA_FRAME_COMPLETE);
        site->unnamed = (pcs[i] & NRA_FRAME_UNNAMED) != 0;
        uintptr_t entry = src->slot_address ? src->slot_address((unsigned)slot) : 0;
        if (name && site->unnamed)
            close_with_native(site, name, entry, "stack not unwound: past its call's budget");
        else if (name && !site->truncated)
            close_with_native(site, name, entry, "reached by tail call");
    }
    return slot;
}

/* ---- outstanding groups -------------------------------------------------------- */

struct group_acc {
    uint64_t key;              /* rule << 32 | java_site */
    uint64_t count, oldest_ns;
    UT_hash_handle hh;
};

struct group_walk {
    struct group_acc *map;
    bool oom;
};

static void count_group(const struct nra_record_info *rec, void *arg)
{
    struct group_walk *w = arg;
    uint64_t key = ((uint64_t)rec->rule << 32) | rec->java_site;
    struct group_acc *g = NULL;
    HASH_FIND(hh, w->map, &key, sizeof(key), g);
    if (!g) {
        if (HASH_COUNT(w->map) >= 4096 || !(g = calloc(1, sizeof(*g)))) {
            w->oom = true;
            return;
        }
        g->key = key;
        g->oldest_ns = rec->alloc_ns;
        HASH_ADD(hh, w->map, key, sizeof(g->key), g);
    }
    g->count++;
}

static int by_oldest(const struct group_acc *a, const struct group_acc *b)
{
    return a->oldest_ns < b->oldest_ns ? -1 : a->oldest_ns > b->oldest_ns;
}

static void build_groups(struct nra_report *r, const struct nra_report_sources *src,
                         const struct nra_reg_snapshot *snap)
{
    struct group_walk w = {0};
    for (size_t i = 0; i < snap->n; i++)
        count_group(&snap->records[i], &w);
    HASH_SORT(w.map, by_oldest);
    struct group_acc *g, *tmp;
    HASH_ITER(hh, w.map, g, tmp) {
        struct nra_report_rule *rr = &r->rules[g->key >> 32];
        if (rr->n_groups < NRA_REPORT_MAX_GROUPS) {
            struct nra_report_group *out = &rr->groups[rr->n_groups++];
            out->count = g->count;
            out->oldest_ms = g->oldest_ns / 1000000;
            java_stack_of((uint32_t)g->key, src, &out->java);
        } else {
            rr->groups_omitted += g->count;
        }
        HASH_DEL(w.map, g);
        free(g);
    }
    if (w.oom)
        nra_report_add_note(r, "outstanding handles in more than 4096 groups: some are not listed");
}

/* ---- residue -------------------------------------------------------------------- */

/* A copy of the allocation table, sized before the walk: the walk holds a
 * stripe lock, so it must not allocate. */
struct alloc_vec {
    struct nra_alloc_info *v;
    size_t n, cap;
    uint64_t missed;           /* entries inserted after the vector was sized */
};

static void collect_alloc(const struct nra_alloc_info *a, void *arg)
{
    struct alloc_vec *vec = arg;
    if (vec->n == vec->cap) {
        vec->missed++;
        return;
    }
    vec->v[vec->n++] = *a;
}

static int by_stack_then_record(const void *pa, const void *pb)
{
    const struct nra_alloc_info *a = pa, *b = pb;
    if (a->native_stack != b->native_stack)
        return a->native_stack < b->native_stack ? -1 : 1;
    return a->record_id < b->record_id ? -1 : a->record_id > b->record_id;
}

static int by_site_then_record(const void *pa, const void *pb)
{
    const struct nra_alloc_info *a = pa, *b = pb;
    if (a->native_stack != b->native_stack)
        return a->native_stack < b->native_stack ? -1 : 1;
    if (a->java_site != b->java_site)
        return a->java_site < b->java_site ? -1 : 1;
    return a->record_id < b->record_id ? -1 : a->record_id > b->record_id;
}

static int rule_of_stack(uint32_t native_stack, const struct nra_report_sources *src)
{
    int slot = nra_alloc_stack_slot(native_stack);
    return slot >= 0 && src->slot_rule ? src->slot_rule((unsigned)slot) : -1;
}

/* Owners met per native stack: the distinct records with an entry there
 * now, held or residue. One owner is a one-time initialisation; a site met
 * by many owners allocates once per owner. */
struct stack_owners {
    uint32_t stack;
    uint64_t owners;
};

static size_t count_owners_met(struct alloc_vec *vec, struct stack_owners *out)
{
    qsort(vec->v, vec->n, sizeof(*vec->v), by_stack_then_record);
    size_t n = 0;
    for (size_t i = 0; i < vec->n; i++) {
        const struct nra_alloc_info *a = &vec->v[i];
        if (n == 0 || out[n - 1].stack != a->native_stack)
            out[n++] = (struct stack_owners){.stack = a->native_stack};
        if (i == 0 || vec->v[i - 1].record_id != a->record_id || vec->v[i - 1].native_stack != a->native_stack)
            out[n - 1].owners++;
    }
    return n;
}

static uint64_t owners_met_of(const struct stack_owners *t, size_t n, uint32_t stack)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid].stack < stack)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && t[lo].stack == stack ? t[lo].owners : 0;
}

/* Splits the attributed allocations against the snapshot: held by a
 * handle outstanding at the snapshot (counted per rule), or residue of one
 * freed before it (moved to the front of vec, order kept). Allocations of
 * records made after the snapshot, or of alloc natives still running at
 * it, are neither: they are left out. Returns the residue count. */
static size_t split_held(struct nra_report *r, struct alloc_vec *vec, const struct nra_reg_snapshot *snap)
{
    size_t res = 0;
    for (size_t i = 0; i < vec->n; i++) {
        const struct nra_alloc_info *a = &vec->v[i];
        const struct nra_record_info *rec = nra_reg_snapshot_find(snap, a->record_id);
        if (rec) {
            if (rec->rule >= 0 && rec->rule < r->n_rules) {
                r->rules[rec->rule].held_bytes += (uint64_t)a->size * a->weight;
                r->rules[rec->rule].held_allocations += a->weight;
            }
        } else if (a->record_id < snap->epoch && !nra_reg_snapshot_in_flight(snap, a->record_id)) {
            vec->v[res++] = *a;
        }
    }
    return res;
}

/* How strongly a site suggests a per-owner leak: repeating sites made in
 * the owner's own alloc or free native first; repeating sites made in use
 * natives next (they may be shared state that outlives owners on purpose,
 * e.g. a TLS session cache); one-time sites last. */
static int rank_of(bool repeating, const char *scope)
{
    if (!repeating)
        return 0;
    return strcmp(scope, "use") == 0 ? 1 : 2;
}

static bool site_before(const struct nra_report_site *a, const struct nra_report_site *b)
{
    int ra = rank_of(a->repeating, a->scope), rb = rank_of(b->repeating, b->scope);
    return ra != rb ? ra > rb : a->bytes >= b->bytes;
}

static bool native_before(const struct nra_report_native_site *a, const struct nra_report_native_site *b)
{
    int ra = rank_of(a->repeating, a->scope), rb = rank_of(b->repeating, b->scope);
    return ra != rb ? ra > rb : a->bytes >= b->bytes;
}

/* Keeps the NRA_REPORT_MAX_SITES most important sites, in order. */
static void add_site(struct nra_report_rule *rr, const struct nra_report_site *site)
{
    unsigned at = rr->n_sites;
    if (at == NRA_REPORT_MAX_SITES) {
        rr->sites_omitted++;
        if (site_before(&rr->sites[at - 1], site))
            return;
        at--;
    } else {
        rr->n_sites++;
    }
    while (at > 0 && !site_before(&rr->sites[at - 1], site)) {
        rr->sites[at] = rr->sites[at - 1];
        at--;
    }
    rr->sites[at] = *site;
}

static void add_native_site(struct nra_report_rule *rr, const struct nra_report_native_site *ns)
{
    unsigned at = rr->n_native_sites;
    if (at == NRA_REPORT_MAX_NATIVE_SITES) {
        rr->native_sites_omitted++;
        if (native_before(&rr->native_sites[at - 1], ns))
            return;
        at--;
    } else {
        rr->n_native_sites++;
    }
    while (at > 0 && !native_before(&rr->native_sites[at - 1], ns)) {
        rr->native_sites[at] = rr->native_sites[at - 1];
        at--;
    }
    rr->native_sites[at] = *ns;
}

/* A path joins its native site's list, largest first; the smallest goes
 * to paths_omitted when the list is full. */
static void add_path(struct nra_report_native_site *ns, const struct nra_report_path *p)
{
    unsigned at = ns->n_paths;
    if (at == NRA_REPORT_MAX_PATHS) {
        if (ns->paths[at - 1].owners >= p->owners) {
            ns->paths_omitted += p->owners;
            return;
        }
        ns->paths_omitted += ns->paths[at - 1].owners;
        at--;
    } else {
        ns->n_paths++;
    }
    while (at > 0 && ns->paths[at - 1].owners < p->owners) {
        ns->paths[at] = ns->paths[at - 1];
        at--;
    }
    ns->paths[at] = *p;
}

struct owned {
    uint64_t id;
    int rule;
    uint32_t weight;
};

static int by_owned(const void *pa, const void *pb)
{
    const struct owned *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Sums the allocations vec[i..j) (one native stack, one Java stack) into
 * *site, each entry by its weight; returns j. */
static size_t sum_site(const struct alloc_vec *vec, size_t i, size_t n, struct nra_report_site *site)
{
    memset(site, 0, sizeof(*site));
    site->size_each = vec->v[i].size;
    site->sample_rate = 1;
    uint64_t last_rec = 0;
    size_t j = i;
    for (; j < n && vec->v[j].native_stack == vec->v[i].native_stack && vec->v[j].java_site == vec->v[i].java_site; j++) {
        const struct nra_alloc_info *a = &vec->v[j];
        site->bytes += (uint64_t)a->size * a->weight;
        site->allocations += a->weight;
        if (a->size != site->size_each)
            site->size_each = 0;
        if (a->record_id != last_rec)
            site->owners += a->weight;
        if (a->weight > site->sample_rate)
            site->sample_rate = a->weight;
        last_rec = a->record_id;
    }
    if (site->owners > site->allocations)
        site->owners = site->allocations;
    site->estimated = site->sample_rate > 1;
    site->java_sampled = vec->v[i].java_site != 0;
    return j;
}

/* Starts a native site from its first (native + Java) site. */
static void native_site_from(struct nra_report_native_site *ns, const struct nra_report_site *site)
{
    memset(ns, 0, sizeof(*ns));
    ns->size_each = site->size_each;
    ns->owners_met = site->owners_met;
    ns->repeating = site->repeating;
    ns->unnamed = site->unnamed;
    ns->truncated = site->truncated;
    ns->sample_rate = 1;
    snprintf(ns->scope, sizeof(ns->scope), "%s", site->scope);
    snprintf(ns->scope_native, sizeof(ns->scope_native), "%s", site->scope_native);
    ns->n_native = site->n_native;
    ns->native_stack = site->native_stack;
    memcpy(ns->native, site->native, site->n_native * sizeof(site->native[0]));
}

static void native_site_add(struct nra_report_native_site *ns, const struct nra_report_site *site)
{
    ns->bytes += site->bytes;
    ns->allocations += site->allocations;
    ns->owners += site->owners;
    if (site->java_sampled)
        ns->owners_sampled += site->owners;
    if (site->size_each != ns->size_each)
        ns->size_each = 0;
    if (site->sample_rate > ns->sample_rate)
        ns->sample_rate = site->sample_rate;
    ns->estimated |= site->estimated;
    struct nra_report_path p = {.owners = site->owners, .allocations = site->allocations, .bytes = site->bytes,
                                .sampled = site->java_sampled, .java = site->java};
    add_path(ns, &p);
}

struct residue_work {
    struct alloc_vec vec;
    struct stack_owners *met;
    size_t n_met;
    struct owned *owned;
    size_t n_owned;
    struct nra_report_site *site;
    struct nra_report_native_site *ns;
};

static bool unnamed_stack(uint32_t id)
{
    uintptr_t pcs[2];
    return nra_stack_get(id, pcs, 2) == 1 && (pcs[0] & NRA_FRAME_SLOT_TAG) && (pcs[0] & NRA_FRAME_UNNAMED);
}

/* Distinct records among vec[i..end) (sorted by Java stack, then record). */
static uint64_t residue_owners(const struct alloc_vec *vec, size_t i, size_t end)
{
    struct owned *ids = malloc((end - i) * sizeof(*ids));
    if (!ids)
        return 2;   /* cannot tell: the careful answer is "repeating" */
    for (size_t k = i; k < end; k++)
        ids[k - i] = (struct owned){.id = vec->v[k].record_id};
    qsort(ids, end - i, sizeof(*ids), by_owned);
    uint64_t n = 0;
    for (size_t k = 0; k < end - i; k++)
        n += k == 0 || ids[k].id != ids[k - 1].id;
    free(ids);
    return n;
}

/* One native stack's residue, vec[i..end): its (native, Java) sites and its
 * native site. Records at repeating sites go to w->owned. */
static void residue_of_stack(struct nra_report *r, const struct nra_report_sources *src, struct residue_work *w,
                             size_t i, size_t end)
{
    int rule = rule_of_stack(w->vec.v[i].native_stack, src);
    if (rule < 0 || rule >= r->n_rules)
        return;
    struct nra_report_rule *rr = &r->rules[rule];
    uint64_t met = owners_met_of(w->met, w->n_met, w->vec.v[i].native_stack);
    /* An unnamed site pools a native's allocations past its call's budget:
     * one context's one-time initialisation and the state every live
     * context holds meet there, so owners met says nothing. Only residue
     * left by several freed owners makes it repeating. */
    uint32_t stack = w->vec.v[i].native_stack;
    if (unnamed_stack(stack))
        met = residue_owners(&w->vec, i, end);
    for (size_t k = i, j; k < end; k = j) {
        j = sum_site(&w->vec, k, end, w->site);
        native_stack_of(w->vec.v[k].native_stack, src, w->site);
        java_stack_of(w->vec.v[k].java_site, src, &w->site->java);
        w->site->owners_met = met;
        w->site->native_stack = stack;
        w->site->repeating = met > 1;
        if (k == i)
            native_site_from(w->ns, w->site);
        native_site_add(w->ns, w->site);
        rr->residue_bytes += w->site->bytes;
        rr->residue_allocations += w->site->allocations;
        rr->residue_estimated |= w->site->estimated;
        if (w->site->repeating) {
            rr->repeating_bytes += w->site->bytes;
            rr->repeating_allocations += w->site->allocations;
        }
        add_site(rr, w->site);
    }
    if (w->ns->owners > w->ns->allocations)
        w->ns->owners = w->ns->allocations;
    add_native_site(rr, w->ns);
    for (size_t m = i; w->ns->repeating && m < end; m++)
        w->owned[w->n_owned++] = (struct owned){.id = w->vec.v[m].record_id, .rule = rule,
                                                .weight = w->vec.v[m].weight};
}

/* freed_with_residue: distinct freed records with residue at a repeating
 * site (a one-time initialisation is not a per-owner leak); each record
 * counts its weight when the table sampled, capped at `freed`. */
static void count_freed_with_residue(struct nra_report *r, struct residue_work *w)
{
    qsort(w->owned, w->n_owned, sizeof(*w->owned), by_owned);
    for (size_t i = 0; i < w->n_owned; i++)
        if (i == 0 || w->owned[i].id != w->owned[i - 1].id || w->owned[i].rule != w->owned[i - 1].rule)
            r->rules[w->owned[i].rule].counts.freed_with_residue += w->owned[i].weight;
    for (int i = 0; i < r->n_rules; i++)
        if (r->rules[i].counts.freed_with_residue > r->rules[i].counts.freed)
            r->rules[i].counts.freed_with_residue = r->rules[i].counts.freed;
}

static bool residue_work_init(struct residue_work *w)
{
    struct nra_alloc_stats as;
    nra_alloc_get_stats(&as);
    w->vec.cap = as.live + as.live / 8 + 1024;
    w->vec.v = malloc(w->vec.cap * sizeof(*w->vec.v));
    w->met = malloc(w->vec.cap * sizeof(*w->met));
    w->owned = malloc(w->vec.cap * sizeof(*w->owned));
    w->site = calloc(1, sizeof(*w->site));
    w->ns = calloc(1, sizeof(*w->ns));
    return w->vec.v && w->met && w->owned && w->site && w->ns;
}

static void residue_work_free(struct residue_work *w)
{
    free(w->vec.v);
    free(w->met);
    free(w->owned);
    free(w->site);
    free(w->ns);
}

static void build_residue(struct nra_report *r, const struct nra_report_sources *src,
                          const struct nra_reg_snapshot *snap)
{
    struct residue_work w = {0};
    if (!residue_work_init(&w)) {
        nra_report_add_note(r, "report: out of memory copying the allocation table; residue is not reported");
        residue_work_free(&w);
        return;
    }
    nra_alloc_for_each(collect_alloc, &w.vec);
    if (w.vec.missed)
        nra_report_add_note(r, "report: %llu allocations attributed during the report were not read",
                            (unsigned long long)w.vec.missed);
    w.n_met = count_owners_met(&w.vec, w.met);
    size_t n = split_held(r, &w.vec, snap);
    qsort(w.vec.v, n, sizeof(*w.vec.v), by_site_then_record);
    for (size_t i = 0, end; i < n; i = end) {
        for (end = i; end < n && w.vec.v[end].native_stack == w.vec.v[i].native_stack; end++)
            ;
        residue_of_stack(r, src, &w, i, end);
    }
    count_freed_with_residue(r, &w);
    residue_work_free(&w);
}

/* ---- rules, counts, findings ----------------------------------------------------------- */

static void fill_rule_header(struct nra_report_rule *rr, int i, const struct nra_report_sources *src)
{
    const struct nra_rule *rule = &src->rules->rule[i];
    char native_class[NRA_RULE_STR];
    snprintf(rr->rule, sizeof(rr->rule), "%s", rule->name);
    dotted(rule->owner_class, rr->owner_class, sizeof(rr->owner_class));
    dotted(rule->native_class, native_class, sizeof(native_class));
    const char *a = src->bound_name ? src->bound_name(i, NRA_ROLE_ALLOC) : NULL;
    const char *f = src->bound_name ? src->bound_name(i, NRA_ROLE_FREE) : NULL;
    if (a)
        snprintf(rr->alloc_native, sizeof(rr->alloc_native), "%s", a);
    else
        snprintf(rr->alloc_native, sizeof(rr->alloc_native), "%s.%s%s", native_class, rule->alloc_method, rule->alloc_sig);
    if (f)
        snprintf(rr->free_native, sizeof(rr->free_native), "%s", f);
    else
        snprintf(rr->free_native, sizeof(rr->free_native), "%s.%s%s", native_class, rule->free_method, rule->free_sig);
    if (src->skipped) {
        const char *names[NRA_REPORT_MAX_SKIPPED];
        rr->n_skipped = src->skipped(i, names, NRA_REPORT_MAX_SKIPPED);
        for (unsigned k = 0; k < rr->n_skipped; k++)
            snprintf(rr->skipped[k], sizeof(rr->skipped[k]), "%s", names[k]);
    }
    if (src->wrapped)
        rr->wrapped_use = src->wrapped(i, NRA_ROLE_USE);
}

/* Returns the rule's owners_claimed, for the agent stats. */
static uint64_t fill_counts(struct nra_report_rule *rr, int i, const struct nra_reg_snapshot *snap)
{
    struct nra_rule_counts c = snap->counts[i];
    rr->counts.allocated = c.allocated;
    rr->counts.freed = c.freed;
    rr->counts.outstanding = c.outstanding;
    rr->counts.freed_by_finalizer = c.freed_by_finalizer;
    rr->counts.live = c.outstanding;  /* unclassified until a reachability walk */
    rr->counts.unknown_frees = c.unknown_frees;
    rr->counts.reused_unfreed = c.reused_unfreed;
    rr->counts.dropped = c.dropped;
    struct nra_freed_info f[NRA_RECENT_FREES];
    unsigned n = nra_reg_recent_frees(i, f, NRA_RECENT_FREES);
    for (unsigned k = 0; k < n && k < sizeof(rr->recent) / sizeof(rr->recent[0]); k++) {
        rr->recent[k].handle = f[k].handle;
        rr->recent[k].alloc_tid = f[k].alloc_tid;
        rr->recent[k].free_tid = f[k].free_tid;
        rr->recent[k].alloc_ms = f[k].alloc_ns / 1000000;
        rr->recent[k].free_ms = f[k].free_ns / 1000000;
        rr->n_recent = k + 1;
    }
    return c.owners_claimed;
}

static struct nra_report_finding *add_to(struct nra_report_finding *list, unsigned *n, const char *kind,
                                         uint64_t owners, uint64_t bytes, const char *summary)
{
    if (*n == NRA_REPORT_MAX_FINDINGS)
        return NULL;
    struct nra_report_finding *f = &list[(*n)++];
    memset(f, 0, sizeof(*f));
    snprintf(f->kind, sizeof(f->kind), "%s", kind);
    f->owners = owners;
    f->bytes = bytes;
    f->native_site = -1;
    snprintf(f->summary, sizeof(f->summary), "%s", summary);
    return f;
}

static struct nra_report_finding *add_finding(struct nra_report_rule *rr, const char *kind, uint64_t owners,
                                              uint64_t bytes, const char *summary)
{
    return add_to(rr->findings, &rr->n_findings, kind, owners, bytes, summary);
}

/* Names a known leak (data/known-leaks.tsv) when the native site matches
 * one and the version of the natives' jar lies in its range. */
static void match_known_leak(struct nra_report_finding *f, const struct nra_report_native_site *ns, int rule,
                             const struct nra_report_sources *src)
{
    const struct nra_known_leak *table;
    size_t n = nra_known_leaks(&table);
    char artifact[64] = "", version[64] = "";
    if (n == 0 || !src || !src->artifact || src->artifact(rule, artifact, sizeof(artifact), version, sizeof(version)) != 0)
        return;
    const struct nra_known_leak *k =
        nra_known_leak_match(table, n, ns->scope_native, ns->size_each, ns->scope, artifact, version);
    if (!k)
        return;
    snprintf(f->known_leak, sizeof(f->known_leak), "%s", k->id);
    snprintf(f->known_version, sizeof(f->known_version), "%s %s", artifact, version);
    snprintf(f->known_fix, sizeof(f->known_fix), "%s", k->fix);
    size_t len = strlen(f->summary);
    snprintf(f->summary + len, sizeof(f->summary) - len, "; matches %s (%s %s); %s", k->id, artifact, version, k->fix);
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The headline of one native leak site: its totals over every Java path. */
static void native_site_summary(const struct nra_report_native_site *ns, char *out, size_t len)
{
    const char *where = ns->n_native ? ns->native[ns->n_native - 1].symbol : "";
    const struct nra_report_frame *first = ns->n_native ? &ns->native[0] : NULL;
    const char *approx = ns->estimated ? "~" : "";
    char what[96], est[96] = "", cache[96] = "";
    if (ns->size_each && ns->owners == ns->allocations)
        snprintf(what, sizeof(what), "%llu bytes each", (unsigned long long)ns->size_each);
    else
        snprintf(what, sizeof(what), "%s%llu %s", approx, (unsigned long long)ns->allocations,
                 plural(ns->allocations, "allocation", "allocations"));
    if (ns->estimated)
        snprintf(est, sizeof(est), " (estimated: 1 in %u allocations tracked past max_allocs)", ns->sample_rate);
    if (strcmp(ns->scope, "use") == 0)
        snprintf(cache, sizeof(cache), "; made in a use native: may be a cache that outlives its owners");
    snprintf(out, len,
             "%s%llu freed %s left %s in %s (%s+0x%lx), made in the %s native and never freed: "
             "%s%llu %s, %s%llu bytes%s%s",
             approx, (unsigned long long)ns->owners, plural(ns->owners, "handle", "handles"), what,
             where[0] ? where : ns->scope_native, first ? first->library : "?",
             first ? (unsigned long)first->offset : 0ul, ns->scope, approx, (unsigned long long)ns->allocations,
             plural(ns->allocations, "allocation", "allocations"), approx, (unsigned long long)ns->bytes, est, cache);
}

/* Residue that is bounded state, not a per-owner leak, by its evidence:
 * - made in a use native while handles of another rule of the same native
 *   library (a longer-lived owner: netty's SSL context) are outstanding:
 *   state the longer-lived owner keeps, such as the TLS session cache that
 *   an OpenSSL server context fills from SSL.readFromSSL;
 * - a handful of owners while many more were freed: per-thread state (an
 *   OpenSSL error queue is made once per thread, charged to the first
 *   owner a thread made), which stays put as freed owners grow.
 * A leak grows one-per-owner without bound; neither of these does. */
#define BOUNDED_OWNERS 64
#define BOUNDED_RATIO 8

static uint64_t outstanding_elsewhere(const struct nra_report *r, int rule, int *other)
{
    uint64_t n = 0;
    for (int i = 0; i < r->n_rules; i++) {
        if (i == rule || r->rules[i].counts.outstanding == 0)
            continue;
        n += r->rules[i].counts.outstanding;
        *other = i;
    }
    return n;
}

static void classify_retained(const struct nra_report *r, int rule, struct nra_report_native_site *ns)
{
    const struct nra_report_rule *rr = &r->rules[rule];
    int other = -1;
    uint64_t elsewhere = strcmp(ns->scope, "use") == 0 ? outstanding_elsewhere(r, rule, &other) : 0;
    ns->retained = false;
    ns->retained_reason[0] = '\0';
    if (elsewhere && other >= 0) {
        ns->retained = true;
        snprintf(ns->retained_reason, sizeof(ns->retained_reason),
                 "made in the use native %s and held while %llu %s handle%s live: state a longer-lived owner "
                 "keeps (e.g. a TLS session cache), freed with it", ns->scope_native,
                 (unsigned long long)elsewhere, r->rules[other].rule, elsewhere == 1 ? " is" : "s are");
    } else if (ns->owners <= BOUNDED_OWNERS && ns->owners * BOUNDED_RATIO <= rr->counts.freed) {
        ns->retained = true;
        snprintf(ns->retained_reason, sizeof(ns->retained_reason),
                 "%llu owner%s of %llu freed: bounded state (e.g. per-thread), not one per owner",
                 (unsigned long long)ns->owners, ns->owners == 1 ? "" : "s", (unsigned long long)rr->counts.freed);
    }
}

/* One finding per repeating native site: the native allocation site is
 * the leak; its Java paths are listed under it, not split into findings.
 * Retained sites get a finding of their own kind, which no gate fails on
 * by default. */
static void residue_findings(struct nra_report *r, int rule, const struct nra_report_sources *src)
{
    struct nra_report_rule *rr = &r->rules[rule];
    rr->leak_bytes = rr->retained_bytes = 0;
    for (unsigned i = 0; i < rr->n_native_sites; i++) {
        struct nra_report_native_site *ns = &rr->native_sites[i];
        if (!ns->repeating)
            continue;
        classify_retained(r, rule, ns);
        for (unsigned k = 0; k < rr->n_sites; k++)
            if (rr->sites[k].native_stack == ns->native_stack)
                rr->sites[k].retained = ns->retained;
        if (ns->retained)
            rr->retained_bytes += ns->bytes;
        else
            rr->leak_bytes += ns->bytes;
        char summary[512];
        native_site_summary(ns, summary, sizeof(summary));
        if (ns->retained) {
            size_t len = strlen(summary);
            snprintf(summary + len, sizeof(summary) - len, "; retained, not leaked: %s", ns->retained_reason);
        }
        struct nra_report_finding *f =
            ns->retained ? add_to(rr->retained, &rr->n_retained, "retained", ns->owners, ns->bytes, summary)
                         : add_finding(rr, "residue", ns->owners, ns->bytes, summary);
        if (!f)
            return;
        f->native_site = (int)i;
        f->estimated = ns->estimated;
        if (!ns->retained)
            match_known_leak(f, ns, rule, src);
    }
}

static void class_finding(struct nra_report_rule *rr, const char *kind, uint64_t n, const char *what)
{
    if (n == 0)
        return;
    char summary[512];
    snprintf(summary, sizeof(summary), "%llu %s %s %s", (unsigned long long)n, rr->rule, plural(n, "handle", "handles"),
             what);
    add_finding(rr, kind, n, 0, summary);
}

/* Frames of the JDK and of the libraries the rules audit are not where an
 * application engineer looks first. */
static bool library_frame(const char *f)
{
    static const char *const prefixes[] = {"java.", "javax.", "jdk.", "sun.", "com.sun.", "io.netty.", "org.apache.tomcat.", NULL};
    for (unsigned i = 0; prefixes[i]; i++)
        if (strncmp(f, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static void first_application_frame(const struct nra_report_native_site *ns, char *out, size_t len)
{
    out[0] = '\0';
    for (unsigned p = 0; p < ns->n_paths; p++)
        for (unsigned i = 0; i < ns->paths[p].java.n; i++)
            if (!library_frame(ns->paths[p].java.frames[i])) {
                snprintf(out, len, "%s", ns->paths[p].java.frames[i]);
                return;
            }
}

/* The verdict block's lines, computed once here for every renderer. */
static void finding_block(struct nra_report_finding *f, const struct nra_report_rule *rr)
{
    if (f->native_site >= 0) {
        const struct nra_report_native_site *ns = &rr->native_sites[f->native_site];
        snprintf(f->what, sizeof(f->what), "%s: native memory left behind by freed handles (%s native)",
                 strcmp(f->kind, "retained") == 0 ? "retained state" : "leak", ns->scope);
        const struct nra_report_frame *first = ns->n_native ? &ns->native[0] : NULL;
        snprintf(f->where_native, sizeof(f->where_native), "%s, from %s+0x%lx",
                 ns->n_native ? ns->native[ns->n_native - 1].symbol : ns->scope_native, first ? first->library : "?",
                 first ? (unsigned long)first->offset : 0ul);
        first_application_frame(ns, f->where_java, sizeof(f->where_java));
    } else {
        snprintf(f->what, sizeof(f->what), "%s", strcmp(f->kind, "pending_finalization") == 0
                                                     ? "backlog: handles wait for finalize()"
                                                     : "leak: handles never freed");
    }
    if (f->known_leak[0])
        snprintf(f->todo, sizeof(f->todo), "%s (%s): %s", f->known_leak, f->known_version, f->known_fix);
    else if (strcmp(f->kind, "retained") == 0)
        snprintf(f->todo, sizeof(f->todo), "nothing, unless it grows with traffic: compare two reports (nraudit diff)");
    else if (strcmp(f->kind, "pending_finalization") == 0)
        snprintf(f->todo, sizeof(f->todo), "see the Finalizer diagnosis below");
    else if (f->native_site >= 0)
        snprintf(f->todo, sizeof(f->todo), "read the native site's code: what it allocates is not freed by the free native");
    else
        snprintf(f->todo, sizeof(f->todo), "release owners before dropping them (see their Java stacks below)");
}

/* Rates over the audited time (the agent's uptime): what tells a leak that
 * grows with traffic from bounded state, and sizes the urgency. */
static void finding_rates(struct nra_report_finding *f, uint64_t uptime_ms)
{
    f->bytes_per_owner = f->owners ? f->bytes / f->owners : 0;
    double hours = (double)uptime_ms / 3.6e6;
    f->owners_per_hour = hours > 0 ? (double)f->owners / hours : 0;
    f->bytes_per_hour = hours > 0 ? (double)f->bytes / hours : 0;
}

/* A projection from a few seconds of start-up says nothing about a day:
 * rates are only projected after this much audited time. */
#define RATE_MIN_UPTIME_MS (10 * 60 * 1000ull)

/* The rate line of the verdict block, once, for every renderer (the
 * summary ends with its projection). */
static void rate_line(struct nra_report_finding *f, uint64_t uptime_ms)
{
    f->rate[0] = '\0';
    if (!f->bytes || f->bytes_per_hour <= 0)
        return;
    if (uptime_ms < RATE_MIN_UPTIME_MS) {
        snprintf(f->rate, sizeof(f->rate), "not projected: audited for %.0f s only (rates need 10 min)",
                 (double)uptime_ms / 1000.0);
        return;
    }
    double per_day = f->bytes_per_hour * 24;
    const char *unit = per_day >= 1024.0 * 1024 * 1024 ? "GiB" : per_day >= 1024.0 * 1024 ? "MiB" : "KiB";
    double scale = per_day >= 1024.0 * 1024 * 1024 ? 1024.0 * 1024 * 1024 : per_day >= 1024.0 * 1024 ? 1024.0 * 1024 : 1024.0;
    snprintf(f->rate, sizeof(f->rate), "%.0f handles per hour; at this rate ~%.1f %s/day", f->owners_per_hour,
             per_day / scale, unit);
    size_t used = strlen(f->summary);
    snprintf(f->summary + used, sizeof(f->summary) - used, "; at this rate ~%.1f %s/day", per_day / scale, unit);
}

/* Residue of the owner's own natives first, then the leak classes, then
 * residue of use natives (possibly a cache); by bytes within each. */
static int finding_rank(const struct nra_report_finding *f, const struct nra_report_rule *rr)
{
    if (f->native_site < 0)
        return 1;
    return strcmp(rr->native_sites[f->native_site].scope, "use") == 0 ? 0 : 2;
}

static bool finding_before(const struct nra_report_finding *a, const struct nra_report_finding *b,
                           const struct nra_report_rule *rr)
{
    int ra = finding_rank(a, rr), rb = finding_rank(b, rr);
    if (ra != rb)
        return ra > rb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes;
    return a->owners > b->owners;
}

/* Insertion sort: at most NRA_REPORT_MAX_FINDINGS entries, and the order
 * needs the rule (qsort's comparator has no context). */
static void sort_findings(struct nra_report_rule *rr)
{
    for (unsigned i = 1; i < rr->n_findings; i++) {
        struct nra_report_finding f = rr->findings[i];
        unsigned j = i;
        for (; j > 0 && finding_before(&f, &rr->findings[j - 1], rr); j--)
            rr->findings[j] = rr->findings[j - 1];
        rr->findings[j] = f;
    }
}

/* A rule is audited when its alloc native was bound and wrapped: without
 * it no handle can be seen, and "no leak" would mean nothing. */
static void audit_state(struct nra_report *r, const struct nra_report_sources *src)
{
    r->audited = false;
    for (int i = 0; i < r->n_rules; i++) {
        struct nra_report_rule *rr = &r->rules[i];
        rr->audited = src->wrapped && src->wrapped(i, NRA_ROLE_ALLOC) > 0;
        rr->unaudited_reason[0] = '\0';
        if (!rr->audited)
            snprintf(rr->unaudited_reason, sizeof(rr->unaudited_reason),
                     "no native of rule %s was bound (%s never registered: its library not loaded, "
                     "or loaded before the agent)", rr->rule, rr->alloc_native);
        r->audited |= rr->audited;
    }
}

static void verdict_sentence(struct nra_report *r)
{
    unsigned n = 0, kept = 0;
    for (int i = 0; i < r->n_rules; i++) {
        n += r->rules[i].n_findings;
        kept += r->rules[i].n_retained;
    }
    char also[96] = "";
    if (kept)
        snprintf(also, sizeof(also), " (and %u retained site%s: bounded state, not leaks)", kept, kept == 1 ? "" : "s");
    if (n)
        snprintf(r->verdict, sizeof(r->verdict), "%u native leak finding%s%s.", n, n == 1 ? "" : "s", also);
    else if (kept)
        snprintf(r->verdict, sizeof(r->verdict), "no native leak seen%s.", also);
    else if (!r->audited)
        snprintf(r->verdict, sizeof(r->verdict), "nothing audited: no native of any rule was bound, so no leak "
                                                 "could be seen (inconclusive).");
    else
        snprintf(r->verdict, sizeof(r->verdict), "no native leak seen.");
}

void nra_report_findings(struct nra_report *r, const struct nra_report_sources *src)
{
    audit_state(r, src);
    for (int i = 0; i < r->n_rules; i++) {
        struct nra_report_rule *rr = &r->rules[i];
        rr->n_findings = 0;
        rr->n_retained = 0;
        residue_findings(r, i, src);
        class_finding(rr, "finalized_not_freed", rr->counts.finalized_not_freed,
                      "belong to owners whose finalize() has run without freeing them (leak)");
        class_finding(rr, "collected_not_freed", rr->counts.collected_not_freed,
                      "belong to owners collected by GC without ever being freed (leak)");
        class_finding(rr, "pending_finalization", rr->counts.pending_finalization,
                      "belong to unreachable owners still waiting for finalize()");
        for (unsigned k = 0; k < rr->n_findings + rr->n_retained; k++) {
            struct nra_report_finding *f = k < rr->n_findings ? &rr->findings[k] : &rr->retained[k - rr->n_findings];
            finding_rates(f, r->uptime_ms);
            finding_block(f, rr);
            rate_line(f, r->uptime_ms);
        }
        sort_findings(rr);
    }
    verdict_sentence(r);
}

static void add_bound(struct nra_report *r, const char *table, const char *option, uint64_t size, uint64_t used,
                      uint64_t dropped, uint64_t degraded, const char *effect)
{
    if (r->n_bounds >= sizeof(r->bounds) / sizeof(r->bounds[0]))
        return;
    struct nra_report_bound *b = &r->bounds[r->n_bounds++];
    snprintf(b->table, sizeof(b->table), "%s", table);
    snprintf(b->option, sizeof(b->option), "%s", option);
    b->size = size;
    b->used = used;
    b->dropped = dropped;
    b->degraded = degraded;
    snprintf(b->effect, sizeof(b->effect), "%s", effect);
    r->dropped += dropped;
}

/* Every bounded table with its own counters, and a note for each one that
 * changed what the report says. */
static void fill_bounds(struct nra_report *r, const struct nra_report_sources *src)
{
    uint64_t records_dropped = 0, outstanding = 0;
    for (int i = 0; i < r->n_rules; i++) {
        records_dropped += r->rules[i].counts.dropped;
        outstanding += r->rules[i].counts.outstanding;
    }
    struct nra_alloc_stats as;
    nra_alloc_get_stats(&as);
    uint64_t past_budget = as.unnamed[NRA_UNNAMED_PAST_ORDER] + as.unnamed[NRA_UNNAMED_UNWIND_BUDGET];
    add_bound(r, "records", "max_records", src->max_records, outstanding, records_dropped, 0,
              "handles allocated while full are not tracked (counts.dropped)");
    add_bound(r, "allocations", "max_allocs", as.capacity, as.live, as.dropped, as.thinned,
              "past 3/4 full, allocations are sampled by address and residue numbers are estimates");
    add_bound(r, "sites", "max_sites", as.signatures_max, as.signatures, 0, as.unnamed[NRA_UNNAMED_SITES_FULL],
              "allocations at uncached sites are listed under their native, stack not unwound");
    add_bound(r, "stacks", "max_stacks", src->max_stacks, nra_stacks_count(), nra_stacks_dropped(),
              as.unnamed[NRA_UNNAMED_STACKS_FULL], "stacks not interned are not named");
    add_bound(r, "scope budget", "", NRA_SCOPE_NAMED, 0, 0, past_budget,
              "allocations past the first 128 of one native call (or its 16 unwinds) are listed unnamed");
    r->sample_shift = as.sample_shift;
    r->stats.attributed = as.attributed;
    r->stats.attributed_live = as.live;
    r->stats.stack_captures = as.stack_captures;
    r->stats.stacks_interned = nra_stacks_count();
    if (as.dropped)
        nra_report_add_note(r, "%llu allocations were not attributed: the allocation table was full (max_allocs=%llu)",
                            (unsigned long long)as.dropped, (unsigned long long)as.capacity);
    if (as.sample_shift)
        nra_report_add_note(r, "the allocation table (max_allocs=%llu) passed 3/4 full: 1 in %u allocations is "
                               "tracked, and residue and held numbers are estimates",
                            (unsigned long long)as.capacity, 1u << as.sample_shift);
    if (as.unnamed[NRA_UNNAMED_SITES_FULL])
        nra_report_add_note(r, "%llu allocations have no native stack: the site cache was full (max_sites=%llu)",
                            (unsigned long long)as.unnamed[NRA_UNNAMED_SITES_FULL],
                            (unsigned long long)as.signatures_max);
    if (nra_stacks_dropped())
        nra_report_add_note(r, "%llu stacks were not interned: the stack table was full (max_stacks=%llu)",
                            (unsigned long long)nra_stacks_dropped(), (unsigned long long)src->max_stacks);
}

int nra_report_build(struct nra_report *r, const struct nra_report_sources *src, const struct nra_reg_snapshot *snap)
{
    r->n_rules = src->rules->count;
    r->rules = calloc((size_t)(r->n_rules ? r->n_rules : 1), sizeof(*r->rules));
    if (!r->rules)
        return -ENOMEM;
    for (int i = 0; i < r->n_rules; i++) {
        fill_rule_header(&r->rules[i], i, src);
        r->stats.owners_claimed += fill_counts(&r->rules[i], i, snap);
    }
    build_groups(r, src, snap);
    build_residue(r, src, snap);
    if (snap->in_flight_untracked)
        nra_report_add_note(r, "%llu alloc natives were running beyond the %d the snapshot names: their "
                               "allocations may read as residue",
                            (unsigned long long)snap->in_flight_untracked, NRA_REG_IN_FLIGHT);
    fill_bounds(r, src);
    nra_report_findings(r, src);
    return 0;
}
