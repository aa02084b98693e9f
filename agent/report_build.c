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
static void close_with_native(struct nra_report_site *site, const char *name, uintptr_t entry)
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
    snprintf(f->symbol, sizeof(f->symbol), "%s (entry, reached by tail call)", want);
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
        if (name && !site->truncated)
            close_with_native(site, name, src->slot_address ? src->slot_address((unsigned)slot) : 0);
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

static void build_groups(struct nra_report *r, const struct nra_report_sources *src)
{
    struct group_walk w = {0};
    nra_reg_for_each(count_group, &w);
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

struct alloc_vec {
    struct nra_alloc_info *v;
    size_t n, cap;
    bool oom;
};

static void collect_alloc(const struct nra_alloc_info *a, void *arg)
{
    struct alloc_vec *vec = arg;
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 1024;
        void *grown = realloc(vec->v, cap * sizeof(*vec->v));
        if (!grown) {
            vec->oom = true;
            return;
        }
        vec->v = grown;
        vec->cap = cap;
    }
    vec->v[vec->n++] = *a;
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

/* Splits the attributed allocations: held by outstanding handles (counted
 * per rule) or residue (moved to the front of vec). Returns residue count. */
static size_t split_held(struct nra_report *r, struct alloc_vec *vec)
{
    size_t res = 0;
    for (size_t i = 0; i < vec->n; i++) {
        struct nra_record_info rec;
        if (nra_reg_get(vec->v[i].record_id, &rec) == 0) {
            if (rec.rule >= 0 && rec.rule < r->n_rules) {
                r->rules[rec.rule].held_bytes += vec->v[i].size;
                r->rules[rec.rule].held_allocations++;
            }
        } else {
            vec->v[res++] = vec->v[i];
        }
    }
    return res;
}

/* How strongly a site suggests a per-owner leak: repeating sites made in
 * the owner's own alloc or free native first; repeating sites made in use
 * natives next (they may be shared state that outlives owners on purpose,
 * e.g. a TLS session cache); one-time sites last. */
static int site_rank(const struct nra_report_site *s)
{
    if (!s->repeating)
        return 0;
    return strcmp(s->scope, "use") == 0 ? 1 : 2;
}

static bool site_before(const struct nra_report_site *a, const struct nra_report_site *b)
{
    int ra = site_rank(a), rb = site_rank(b);
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

struct owned {
    uint64_t id;
    int rule;
};

static int by_owned(const void *pa, const void *pb)
{
    const struct owned *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Sums the allocations vec[i..j) (one site) into *site; returns j. */
static size_t sum_site(const struct alloc_vec *vec, size_t i, size_t n, struct nra_report_site *site)
{
    memset(site, 0, sizeof(*site));
    site->size_each = vec->v[i].size;
    uint64_t last_rec = 0;
    size_t j = i;
    for (; j < n && vec->v[j].native_stack == vec->v[i].native_stack && vec->v[j].java_site == vec->v[i].java_site; j++) {
        site->bytes += vec->v[j].size;
        site->allocations++;
        if (vec->v[j].size != site->size_each)
            site->size_each = 0;
        if (vec->v[j].record_id != last_rec)
            site->owners++;
        last_rec = vec->v[j].record_id;
    }
    return j;
}

/* freed_with_residue counts distinct freed records with residue at a
 * repeating site: a one-time initialisation is not a per-owner leak. */
static void build_residue(struct nra_report *r, const struct nra_report_sources *src)
{
    struct alloc_vec vec = {0};
    nra_alloc_for_each(collect_alloc, &vec);
    if (vec.oom)
        nra_report_add_note(r, "report: out of memory listing attributed allocations; residue is incomplete");
    size_t n = split_held(r, &vec);
    qsort(vec.v, n, sizeof(*vec.v), by_site_then_record);
    struct nra_report_site *site = calloc(1, sizeof(*site));
    struct owned *owned = malloc((n ? n : 1) * sizeof(*owned));
    size_t n_owned = 0;
    for (size_t i = 0, j; site && owned && i < n; i = j) {
        j = sum_site(&vec, i, n, site);
        int rule = rule_of_stack(vec.v[i].native_stack, src);
        if (rule < 0 || rule >= r->n_rules)
            continue;
        struct nra_report_rule *rr = &r->rules[rule];
        native_stack_of(vec.v[i].native_stack, src, site);
        java_stack_of(vec.v[i].java_site, src, &site->java);
        site->owners_met = nra_alloc_site_owners(vec.v[i].native_stack);
        site->repeating = site->owners_met > 1 || site->owners > 1;
        rr->residue_bytes += site->bytes;
        rr->residue_allocations += site->allocations;
        if (site->repeating) {
            rr->repeating_bytes += site->bytes;
            rr->repeating_allocations += site->allocations;
        }
        add_site(rr, site);
        for (size_t m = i; site->repeating && m < j; m++)
            owned[n_owned++] = (struct owned){.id = vec.v[m].record_id, .rule = rule};
    }
    if (!site || !owned)
        nra_report_add_note(r, "report: out of memory grouping residue; residue is incomplete");
    qsort(owned, n_owned, sizeof(*owned), by_owned);
    for (size_t i = 0; i < n_owned; i++)
        if (i == 0 || owned[i].id != owned[i - 1].id || owned[i].rule != owned[i - 1].rule)
            r->rules[owned[i].rule].counts.freed_with_residue++;
    free(owned);
    free(site);
    free(vec.v);
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
static uint64_t fill_counts(struct nra_report_rule *rr, int i)
{
    struct nra_rule_counts c;
    nra_reg_counts(i, &c);
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

static void add_finding(struct nra_report_rule *rr, const char *kind, uint64_t owners, uint64_t bytes,
                        const char *summary)
{
    if (rr->n_findings == NRA_REPORT_MAX_FINDINGS)
        return;
    struct nra_report_finding *f = &rr->findings[rr->n_findings++];
    snprintf(f->kind, sizeof(f->kind), "%s", kind);
    f->owners = owners;
    f->bytes = bytes;
    snprintf(f->summary, sizeof(f->summary), "%s", summary);
}

/* Names a known leak (data/known-leaks.tsv) when the top site matches one
 * and the version of the natives' jar lies in its range. */
static void match_known_leak(struct nra_report_finding *f, const struct nra_report_site *top, int rule,
                             const struct nra_report_sources *src)
{
    const struct nra_known_leak *table;
    size_t n = nra_known_leaks(&table);
    char artifact[64] = "", version[64] = "";
    if (n == 0 || !src || !src->artifact || src->artifact(rule, artifact, sizeof(artifact), version, sizeof(version)) != 0)
        return;
    const struct nra_known_leak *k =
        nra_known_leak_match(table, n, top->scope_native, top->size_each, top->scope, artifact, version);
    if (!k)
        return;
    snprintf(f->known_leak, sizeof(f->known_leak), "%s", k->id);
    snprintf(f->known_version, sizeof(f->known_version), "%s %s", artifact, version);
    snprintf(f->known_fix, sizeof(f->known_fix), "%s", k->fix);
    size_t len = strlen(f->summary);
    snprintf(f->summary + len, sizeof(f->summary) - len, "; matches %s (%s %s); %s", k->id, artifact, version, k->fix);
}

static void residue_finding(struct nra_report_rule *rr, int rule, const struct nra_report_sources *src)
{
    uint64_t own_bytes = 0, use_bytes = 0;
    const struct nra_report_site *top = NULL;
    for (unsigned i = 0; i < rr->n_sites; i++) {
        const struct nra_report_site *s = &rr->sites[i];
        if (site_rank(s) == 2)
            own_bytes += s->bytes;
        else if (site_rank(s) == 1)
            use_bytes += s->bytes;
        if (site_rank(s) > 0 && (!top || site_before(s, top)))
            top = s;
    }
    if (!top)
        return;
    const char *where = top->n_native ? top->native[top->n_native - 1].symbol : "";
    const struct nra_report_frame *alloc_frame = top->n_native ? &top->native[0] : NULL;
    char summary[512], size[64] = "", also[160] = "";
    if (top->size_each)
        snprintf(size, sizeof(size), " of %llu bytes", (unsigned long long)top->size_each);
    if (own_bytes && use_bytes)
        snprintf(also, sizeof(also), "; plus %llu bytes kept from use natives (may be a cache: see sites)",
                 (unsigned long long)use_bytes);
    snprintf(summary, sizeof(summary),
             "%llu freed handles left native memory behind: %llu allocations%s made in %s (%s+0x%lx) "
             "in the %s native, never freed%s",
             (unsigned long long)rr->counts.freed_with_residue, (unsigned long long)top->allocations, size,
             where[0] ? where : top->scope_native, alloc_frame ? alloc_frame->library : "?",
             alloc_frame ? (unsigned long)alloc_frame->offset : 0ul, top->scope, also);
    add_finding(rr, "residue", rr->counts.freed_with_residue, own_bytes ? own_bytes : use_bytes, summary);
    match_known_leak(&rr->findings[rr->n_findings - 1], top, rule, src);
}

static void class_finding(struct nra_report_rule *rr, const char *kind, uint64_t n, const char *what)
{
    if (n == 0)
        return;
    char summary[512];
    snprintf(summary, sizeof(summary), "%llu %s handles %s", (unsigned long long)n, rr->rule, what);
    add_finding(rr, kind, n, 0, summary);
}

static int by_bytes_then_owners(const void *pa, const void *pb)
{
    const struct nra_report_finding *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return a->owners > b->owners ? -1 : a->owners < b->owners;
}

void nra_report_findings(struct nra_report *r, const struct nra_report_sources *src)
{
    for (int i = 0; i < r->n_rules; i++) {
        struct nra_report_rule *rr = &r->rules[i];
        rr->n_findings = 0;
        residue_finding(rr, i, src);
        class_finding(rr, "finalized_not_freed", rr->counts.finalized_not_freed,
                      "belong to owners whose finalize() has run without freeing them (leak)");
        class_finding(rr, "collected_not_freed", rr->counts.collected_not_freed,
                      "belong to owners collected by GC without ever being freed (leak)");
        class_finding(rr, "pending_finalization", rr->counts.pending_finalization,
                      "belong to unreachable owners still waiting for finalize()");
        qsort(rr->findings, rr->n_findings, sizeof(rr->findings[0]), by_bytes_then_owners);
    }
}

int nra_report_build(struct nra_report *r, const struct nra_report_sources *src)
{
    r->n_rules = src->rules->count;
    r->rules = calloc((size_t)(r->n_rules ? r->n_rules : 1), sizeof(*r->rules));
    if (!r->rules)
        return -ENOMEM;
    for (int i = 0; i < r->n_rules; i++) {
        fill_rule_header(&r->rules[i], i, src);
        r->stats.owners_claimed += fill_counts(&r->rules[i], i);
        r->dropped += r->rules[i].counts.dropped;
    }
    build_groups(r, src);
    build_residue(r, src);
    struct nra_alloc_stats as;
    nra_alloc_get_stats(&as);
    r->dropped += as.dropped + as.signature_dropped + nra_stacks_dropped();
    r->stats.attributed = as.attributed;
    r->stats.attributed_live = as.live;
    r->stats.stack_captures = as.stack_captures;
    r->stats.stacks_interned = nra_stacks_count();
    if (as.dropped)
        nra_report_add_note(r, "%llu allocations were not attributed: the allocation table was full (max_allocs=)",
                            (unsigned long long)as.dropped);
    if (as.signature_dropped)
        nra_report_add_note(r, "%llu allocation signatures were not cached: the signature cache was full",
                            (unsigned long long)as.signature_dropped);
    if (nra_stacks_dropped())
        nra_report_add_note(r, "%llu stacks were not interned: the stack table was full",
                            (unsigned long long)nra_stacks_dropped());
    nra_report_findings(r, src);
    return 0;
}
