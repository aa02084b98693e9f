/* report_pprof.c — writes a report as pprof profiles (see report_pprof.h).
 *
 * Both encodings come from one list of samples (pf_samples):
 *  - residue: one sample per repeating residue site (one-time
 *    initialisation sites are left out: they are not leaks); its stack
 *    is the site's native frames (innermost first), then its Java frames,
 *    then a root frame "nraudit residue: <rule>". Residue of the sites the
 *    report did not keep (sites_omitted) is one more sample, so totals stay.
 *  - held: one sample per outstanding group (creating Java stack). The
 *    report keeps held bytes per rule only, so a rule's held bytes and
 *    allocations are split between its groups by their handle counts.
 *    Stack: leaf "held by outstanding <owner class>", the Java frames,
 *    root "nraudit held: <rule>".
 * The Java frame "X.m(Native Method)" that repeats the bound native at the
 * outer end of a complete native stack is left out.
 *
 * Frame names: a native frame is its symbol without the "+0x.." offset
 * (several call sites in one function are one function to pprof), else
 * "library+0xoffset", else its address; a Java frame is the reported frame.
 *
 * Heap text (google-pprof): a "--- symbol" section names every address,
 * so google-pprof does not symbolize from the libraries (it would name a
 * stripped library's static function after the nearest export). Such a
 * profile is read without a binary argument: `google-pprof --text f.heap`.
 * google-pprof shortens names like C++ ones (drops "(...)" and "<...>"), so
 * there names use [ ] and { } instead of ( ) and < >, and "--" (its
 * inline-frame separator) becomes "-". Java frames ("java: <frame>") and
 * the frames made up here sit at synthetic addresses above the user address
 * space (0x7ff0...), a hash of the name, so the same frame has the same
 * address in every dump (--base merges symbol sections by address).
 * MAPPED_LIBRARIES lists each library once, from its load base (address -
 * offset) to past its highest frame, under the report's base name: a
 * symbolized profile does not need it, and google-pprof, which runs
 * `objdump -h` on each path, says "No such file" for a bare name.
 *
 * profile.proto: hand-encoded (varint/length-delimited), gzip'd by zlib.
 * Sample types residue_allocations/count, residue_space/bytes,
 * outstanding_handles/count, held_space/bytes; default residue_space.
 * Native locations carry their real address in a mapping per library
 * (has_functions set: pprof takes our names); Java locations carry the
 * method as function, the source file and the line.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>
#include <zlib.h>

#include "report_pprof.h"

#define PF_MAX_FRAMES (NRA_REPORT_NATIVE_FRAMES + NRA_REPORT_JAVA_FRAMES + 3)
#define PF_NAME_LEN 512
/* Synthetic addresses: above any user address, below 2^63 (google-pprof
 * drops larger ones as bogus). */
#define PF_SYNTH_BASE ((uintptr_t)0x7ff0000000000000ull)
#define PF_SYNTH_MASK ((uintptr_t)0x000fffffffffffffull)

/* ---- the samples, shared by both encodings ------------------------------------ */

enum pf_kind { PF_NATIVE, PF_JAVA, PF_SYNTH };
enum pf_cat { PF_RESIDUE, PF_HELD };

struct pf_frame {
    enum pf_kind kind;
    const struct nra_report_frame *native;  /* PF_NATIVE */
    const char *text;                       /* PF_JAVA: the frame as reported; PF_SYNTH: the name */
};

struct pf_sample {
    const struct nra_report_rule *rule;
    const struct nra_report_site *site;     /* a kept residue site, else NULL */
    enum pf_cat cat;
    uint64_t allocations, bytes;            /* residue, or held (apportioned) */
    uint64_t handles;                       /* held: outstanding handles */
    unsigned n;
    struct pf_frame f[PF_MAX_FRAMES];
    char synth[3][PF_NAME_LEN];
};

typedef int (*pf_visit)(const struct pf_sample *s, void *ctx);

static void push(struct pf_sample *s, enum pf_kind kind, const struct nra_report_frame *nf, const char *text)
{
    if (s->n == PF_MAX_FRAMES)
        return;
    s->f[s->n].kind = kind;
    s->f[s->n].native = nf;
    s->f[s->n].text = text;
    s->n++;
}

static void push_synth(struct pf_sample *s, unsigned slot, const char *fmt, const char *arg)
{
    snprintf(s->synth[slot], sizeof(s->synth[slot]), fmt, arg);
    push(s, PF_SYNTH, NULL, s->synth[slot]);
}

/* The first Java frame is "X.m(Native Method)" and the native stack ends in
 * the bound native "X.m (native)...": the Java frame says nothing new. */
static bool java_repeats_native(const struct nra_report_site *site)
{
    if (site->n_native == 0 || site->java.n == 0)
        return false;
    const char *j = site->java.frames[0];
    const char *p = strstr(j, "(Native Method)");
    if (!p || p[strlen("(Native Method)")] != '\0')
        return false;
    size_t m = (size_t)(p - j);
    const char *sym = site->native[site->n_native - 1].symbol;
    return strncmp(sym, j, m) == 0 && strncmp(sym + m, " (native)", 9) == 0;
}

static void push_java(struct pf_sample *s, const struct nra_report_stack *java, unsigned from)
{
    for (unsigned i = from; i < java->n && i < NRA_REPORT_JAVA_FRAMES; i++)
        push(s, PF_JAVA, NULL, java->frames[i]);
}

static int residue_samples(const struct nra_report_rule *rr, pf_visit visit, void *ctx)
{
    struct pf_sample s;
    uint64_t kept_bytes = 0, kept_allocations = 0;
    for (unsigned i = 0; i < rr->n_sites && i < NRA_REPORT_MAX_SITES; i++) {
        const struct nra_report_site *site = &rr->sites[i];
        if (!site->repeating)
            continue;  /* one-time initialisation: not what a profile of leaks shows */
        memset(&s, 0, sizeof(s));
        s.rule = rr;
        s.site = site;
        s.cat = PF_RESIDUE;
        s.allocations = site->allocations;
        s.bytes = site->bytes;
        for (unsigned k = 0; k < site->n_native && k < NRA_REPORT_NATIVE_FRAMES; k++)
            push(&s, PF_NATIVE, &site->native[k], NULL);
        push_java(&s, &site->java, java_repeats_native(site) ? 1 : 0);
        push_synth(&s, 0, "nraudit residue: %s", rr->rule);
        kept_bytes += site->bytes;
        kept_allocations += site->allocations;
        int rc = visit(&s, ctx);
        if (rc)
            return rc;
    }
    if (rr->repeating_bytes <= kept_bytes && rr->repeating_allocations <= kept_allocations)
        return 0;
    memset(&s, 0, sizeof(s));
    s.rule = rr;
    s.cat = PF_RESIDUE;
    s.allocations = rr->repeating_allocations > kept_allocations ? rr->repeating_allocations - kept_allocations : 0;
    s.bytes = rr->repeating_bytes > kept_bytes ? rr->repeating_bytes - kept_bytes : 0;
    push_synth(&s, 1, "%s", "nraudit: residue sites not kept in the report");
    push_synth(&s, 0, "nraudit residue: %s", rr->rule);
    return visit(&s, ctx);
}

/* part of total in proportion cum/whole, rounded down */
static uint64_t share(uint64_t total, uint64_t cum, uint64_t whole)
{
    return (uint64_t)((unsigned __int128)total * cum / whole);
}

static int held_samples(const struct nra_report_rule *rr, pf_visit visit, void *ctx)
{
    uint64_t listed = rr->groups_omitted;
    for (unsigned i = 0; i < rr->n_groups && i < NRA_REPORT_MAX_GROUPS; i++)
        listed += rr->groups[i].count;
    uint64_t whole = rr->counts.outstanding > listed ? rr->counts.outstanding : listed;
    if (whole == 0)
        return 0;
    struct pf_sample s;
    uint64_t cum = 0;
    unsigned n = rr->n_groups < NRA_REPORT_MAX_GROUPS ? rr->n_groups : NRA_REPORT_MAX_GROUPS;
    for (unsigned i = 0; i <= n; i++) {
        uint64_t count = i < n ? rr->groups[i].count : whole - cum;  /* last: groups not listed */
        if (count == 0)
            continue;
        memset(&s, 0, sizeof(s));
        s.rule = rr;
        s.cat = PF_HELD;
        s.handles = count;
        s.bytes = share(rr->held_bytes, cum + count, whole) - share(rr->held_bytes, cum, whole);
        s.allocations = share(rr->held_allocations, cum + count, whole) - share(rr->held_allocations, cum, whole);
        cum += count;
        push_synth(&s, 1, "held by outstanding %s", rr->owner_class[0] ? rr->owner_class : rr->rule);
        if (i < n)
            push_java(&s, &rr->groups[i].java, 0);
        else
            push_synth(&s, 2, "%s", "nraudit: creating Java stacks not kept in the report");
        push_synth(&s, 0, "nraudit held: %s", rr->rule);
        int rc = visit(&s, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int pf_samples(const struct nra_report *r, pf_visit visit, void *ctx)
{
    for (int i = 0; i < r->n_rules; i++) {
        int rc = residue_samples(&r->rules[i], visit, ctx);
        if (!rc)
            rc = held_samples(&r->rules[i], visit, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- names ---------------------------------------------------------------------- */

/* "sym+0x46" -> "sym"; anything else unchanged */
static void strip_offset(char *s)
{
    char *plus = strrchr(s, '+');
    if (!plus || plus == s || strncmp(plus, "+0x", 3) != 0 || plus[3] == '\0')
        return;
    for (const char *p = plus + 3; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return;
    *plus = '\0';
}

static void native_name(const struct nra_report_frame *f, char *out, size_t len)
{
    if (f->symbol[0]) {
        snprintf(out, len, "%s", f->symbol);
        strip_offset(out);
    } else if (f->library[0] && strcmp(f->library, "?") != 0) {
        snprintf(out, len, "%s+0x%" PRIxPTR, f->library, f->offset);
    } else {
        snprintf(out, len, "0x%" PRIxPTR, f->address);
    }
}

struct java_frame {
    char name[NRA_REPORT_FRAME_LEN];   /* "pkg.Class.method" */
    char file[NRA_REPORT_FRAME_LEN];   /* "" when unknown or native */
    int64_t line;                      /* 0 when unknown */
};

/* "pkg.C.m(C.java:12)", "pkg.C.m(C.java)", "pkg.C.m(Native Method)",
 * "pkg.C.m(Unknown Source)", "<unloaded method>" */
static void java_parse(const char *frame, struct java_frame *j)
{
    memset(j, 0, sizeof(*j));
    const char *open = strrchr(frame, '(');
    size_t len = strlen(frame);
    if (!open || open == frame || len < 2 || frame[len - 1] != ')') {
        snprintf(j->name, sizeof(j->name), "%s", frame);
        return;
    }
    snprintf(j->name, sizeof(j->name), "%.*s", (int)(open - frame), frame);
    const char *in = open + 1;
    size_t in_len = (size_t)(frame + len - 1 - in);
    if ((in_len == 13 && strncmp(in, "Native Method", 13) == 0) ||
        (in_len == 14 && strncmp(in, "Unknown Source", 14) == 0))
        return;
    const char *colon = memrchr(in, ':', in_len);
    if (colon && colon + 1 < in + in_len) {
        int64_t line = 0;
        const char *p = colon + 1;
        for (; p < in + in_len && isdigit((unsigned char)*p) && line < 100000000; p++)
            line = line * 10 + (*p - '0');
        if (p == in + in_len) {
            j->line = line;
            in_len = (size_t)(colon - in);
        }
    }
    snprintf(j->file, sizeof(j->file), "%.*s", (int)in_len, in);
}

/* For google-pprof: its C++ name shortener drops "(...)" and "<...>", and
 * "--" separates inlined frames; control characters would break lines. */
static void heap_sanitize(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        char c = *p;
        switch (c) {
        case '(': c = '['; break;
        case ')': c = ']'; break;
        case '<': c = '{'; break;
        case '>': c = '}'; break;
        default:
            if ((unsigned char)c < 0x20 || c == 0x7f)
                c = '?';
        }
        if (c == '-' && w > s && w[-1] == '-')
            continue;
        *w++ = c;
    }
    *w = '\0';
    if (s[0] == '\0')
        snprintf(s, 2, "?");
}

/* The name a frame has in the heap text, and the address it would like. */
static uintptr_t heap_frame(const struct pf_frame *f, char *name, size_t len)
{
    uintptr_t want = 0;
    switch (f->kind) {
    case PF_NATIVE:
        native_name(f->native, name, len);
        want = f->native->address;
        break;
    case PF_JAVA:
        snprintf(name, len, "java: %s", f->text);
        break;
    case PF_SYNTH:
        snprintf(name, len, "%s", f->text);
        break;
    }
    heap_sanitize(name);
    return want;
}

static uint64_t fnv1a(const char *s, uint64_t salt)
{
    uint64_t h = 0xcbf29ce484222325ull ^ salt;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- gperftools heap profile (text) ---------------------------------------- */

struct sym_entry {
    uintptr_t addr;
    char *name;
    UT_hash_handle by_addr, by_name;
};

struct lib_entry {
    char *key;                 /* "base library" */
    const char *library;
    uintptr_t base, end;
    UT_hash_handle hh;
};

struct heap_ctx {
    struct sym_entry *addrs, *names;
    struct lib_entry *libs;
    uint64_t total_n, total_bytes;
    FILE *out;
    bool writing;
    int err;
};

static struct sym_entry *sym_add(struct heap_ctx *h, uintptr_t addr, const char *name)
{
    struct sym_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(name))) {
        free(e);
        return NULL;
    }
    e->addr = addr;
    HASH_ADD(by_addr, h->addrs, addr, sizeof(e->addr), e);
    struct sym_entry *named = NULL;
    HASH_FIND(by_name, h->names, name, strlen(name), named);
    if (!named)
        HASH_ADD_KEYPTR(by_name, h->names, e->name, strlen(e->name), e);
    return e;
}

/* The address a frame gets: its own when no other name has it, else (and
 * for Java and synthetic frames) one derived from the name. Returns 0 when
 * out of memory. */
static uintptr_t sym_address(struct heap_ctx *h, uintptr_t want, const char *name)
{
    struct sym_entry *e = NULL;
    if (want) {
        HASH_FIND(by_addr, h->addrs, &want, sizeof(want), e);
        if (!e)
            return sym_add(h, want, name) ? want : 0;
        if (strcmp(e->name, name) == 0)
            return want;
    }
    HASH_FIND(by_name, h->names, name, strlen(name), e);
    if (e)
        return e->addr;
    for (uint64_t salt = 0;; salt++) {
        uintptr_t a = PF_SYNTH_BASE | ((uintptr_t)fnv1a(name, salt) & PF_SYNTH_MASK);
        HASH_FIND(by_addr, h->addrs, &a, sizeof(a), e);
        if (!e)
            return sym_add(h, a, name) ? a : 0;
    }
}

static int lib_note(struct heap_ctx *h, const struct nra_report_frame *f)
{
    if (!f->library[0] || strcmp(f->library, "?") == 0 || f->offset > f->address)
        return 0;
    uintptr_t base = f->address - f->offset;
    char key[sizeof(f->library) + 24];
    snprintf(key, sizeof(key), "%" PRIxPTR " %s", base, f->library);
    struct lib_entry *l = NULL;
    HASH_FIND_STR(h->libs, key, l);
    if (!l) {
        if (!(l = calloc(1, sizeof(*l))) || !(l->key = strdup(key))) {
            free(l);
            return -ENOMEM;
        }
        l->library = f->library;
        l->base = base;
        HASH_ADD_KEYPTR(hh, h->libs, l->key, strlen(l->key), l);
    }
    if (f->address + 1 > l->end)
        l->end = f->address + 1;
    return 0;
}

static int heap_sample(const struct pf_sample *s, void *arg)
{
    struct heap_ctx *h = arg;
    if (s->allocations == 0 && s->bytes == 0)
        return 0;
    if (h->writing)
        fprintf(h->out, "%6" PRIu64 ": %8" PRIu64 " [%6" PRIu64 ": %8" PRIu64 "] @", s->allocations, s->bytes,
                s->allocations, s->bytes);
    else {
        h->total_n += s->allocations;
        h->total_bytes += s->bytes;
    }
    for (unsigned i = 0; i < s->n; i++) {
        char name[PF_NAME_LEN];
        uintptr_t want = heap_frame(&s->f[i], name, sizeof(name));
        uintptr_t a = sym_address(h, want, name);
        if (!a)
            return -ENOMEM;
        if (h->writing)
            fprintf(h->out, " 0x%016" PRIxPTR, a);
        else if (s->f[i].kind == PF_NATIVE && lib_note(h, s->f[i].native))
            return -ENOMEM;
    }
    if (h->writing)
        fputc('\n', h->out);
    return 0;
}

static int by_base(const struct lib_entry *a, const struct lib_entry *b)
{
    return a->base < b->base ? -1 : a->base > b->base;
}

static void heap_free(struct heap_ctx *h)
{
    struct sym_entry *e, *etmp;
    HASH_ITER(by_name, h->names, e, etmp) {
        HASH_DELETE(by_name, h->names, e);
    }
    HASH_ITER(by_addr, h->addrs, e, etmp) {
        HASH_DELETE(by_addr, h->addrs, e);
        free(e->name);
        free(e);
    }
    struct lib_entry *l, *ltmp;
    HASH_ITER(hh, h->libs, l, ltmp) {
        HASH_DEL(h->libs, l);
        free(l->key);
        free(l);
    }
}

int nra_report_write_pprof_heap(const struct nra_report *r, FILE *out)
{
    struct heap_ctx h = {.out = out};
    int rc = pf_samples(r, heap_sample, &h);   /* names, addresses, totals, libraries */
    if (rc == 0) {
        fputs("--- symbol\nbinary=java\n", out);
        for (struct sym_entry *e = h.addrs; e; e = e->by_addr.next)
            fprintf(out, "0x%016" PRIxPTR " %s\n", e->addr, e->name);
        fputs("---\n", out);
        fprintf(out, "heap profile: %6" PRIu64 ": %8" PRIu64 " [%6" PRIu64 ": %8" PRIu64 "] @ heapprofile\n",
                h.total_n, h.total_bytes, h.total_n, h.total_bytes);
        h.writing = true;
        rc = pf_samples(r, heap_sample, &h);
    }
    if (rc == 0) {
        fputs("\nMAPPED_LIBRARIES:\n", out);
        HASH_SORT(h.libs, by_base);
        for (struct lib_entry *l = h.libs; l; l = l->hh.next) {
            uintptr_t end = (l->end + 0xfff) & ~(uintptr_t)0xfff;
            fprintf(out, "%08" PRIxPTR "-%08" PRIxPTR " r-xp 00000000 00:00 0          %s\n", l->base, end,
                    l->library);
        }
    }
    heap_free(&h);
    if (rc)
        return rc;
    return ferror(out) ? -EIO : 0;
}

/* ---- protobuf wire format --------------------------------------------------------- */

struct pb {
    uint8_t *p;
    size_t n, cap;
    bool oom;
};

enum { PB_VARINT = 0, PB_LEN = 2 };

static void pb_raw(struct pb *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len)
            cap *= 2;
        uint8_t *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void pb_uvarint(struct pb *b, uint64_t v)
{
    uint8_t buf[10];
    size_t n = 0;
    do {
        buf[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            buf[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, buf, n);
}

static void pb_key(struct pb *b, unsigned field, unsigned wire)
{
    pb_uvarint(b, (uint64_t)field << 3 | wire);
}

/* proto3 scalars: the default (0, false) is not written */
static void pb_u64(struct pb *b, unsigned field, uint64_t v)
{
    if (!v)
        return;
    pb_key(b, field, PB_VARINT);
    pb_uvarint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *data, size_t len)
{
    pb_key(b, field, PB_LEN);
    pb_uvarint(b, len);
    pb_raw(b, data, len);
}

/* appends m as a message field and empties m for reuse */
static void pb_msg(struct pb *b, unsigned field, struct pb *m)
{
    if (m->oom)
        b->oom = true;
    pb_bytes(b, field, m->p, m->n);
    m->n = 0;
    m->oom = false;
}

static void pb_packed(struct pb *b, unsigned field, const uint64_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = v[i];
        do {
            len++;
            x >>= 7;
        } while (x);
    }
    pb_key(b, field, PB_LEN);
    pb_uvarint(b, len);
    for (size_t i = 0; i < n; i++)
        pb_uvarint(b, v[i]);
}

/* ---- profile.proto ------------------------------------------------------------------ */

enum {
    /* Profile */
    P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4, P_FUNCTION = 5,
    P_STRING_TABLE = 6, P_TIME_NANOS = 9, P_PERIOD_TYPE = 11, P_PERIOD = 12, P_COMMENT = 13,
    P_DEFAULT_SAMPLE_TYPE = 14,
    /* ValueType */
    VT_TYPE = 1, VT_UNIT = 2,
    /* Sample */
    S_LOCATION_ID = 1, S_VALUE = 2, S_LABEL = 3,
    /* Label */
    L_KEY = 1, L_STR = 2, L_NUM = 3, L_NUM_UNIT = 4,
    /* Mapping */
    M_ID = 1, M_MEMORY_START = 2, M_MEMORY_LIMIT = 3, M_FILE_OFFSET = 4, M_FILENAME = 5,
    M_HAS_FUNCTIONS = 7,
    /* Location */
    LOC_ID = 1, LOC_MAPPING_ID = 2, LOC_ADDRESS = 3, LOC_LINE = 4,
    /* Line */
    LN_FUNCTION_ID = 1, LN_LINE = 2,
    /* Function */
    F_ID = 1, F_NAME = 2, F_SYSTEM_NAME = 3, F_FILENAME = 4,
};

#define PF_VALUES 4   /* residue_allocations, residue_space, outstanding_handles, held_space */

/* An interned key -> id; the tables' payloads are encoded as they grow. */
struct intern {
    char *key;
    uint64_t id;
    uintptr_t start, end;     /* mappings: address range seen */
    UT_hash_handle hh;
};

struct proto_ctx {
    struct intern *strings, *functions, *locations, *mappings;
    uint64_t n_strings, n_functions, n_locations, n_mappings;
    struct pb string_table, function_table, location_table, samples;
    struct pb scratch, scratch2;
    bool oom;
};

static struct intern *intern_find(struct intern *table, const char *key)
{
    struct intern *e = NULL;
    HASH_FIND_STR(table, key, e);
    return e;
}

static struct intern *intern_add(struct intern **table, const char *key, uint64_t id)
{
    struct intern *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    e->id = id;
    HASH_ADD_KEYPTR(hh, *table, e->key, strlen(e->key), e);
    return e;
}

static void intern_free(struct intern **table)
{
    struct intern *e, *tmp;
    HASH_ITER(hh, *table, e, tmp) {
        HASH_DEL(*table, e);
        free(e->key);
        free(e);
    }
}

/* index of s in the string table (0 for "", and when out of memory) */
static uint64_t str_index(struct proto_ctx *c, const char *s)
{
    if (!s || !s[0])
        return 0;
    struct intern *e = intern_find(c->strings, s);
    if (e)
        return e->id;
    if (!(e = intern_add(&c->strings, s, c->n_strings))) {
        c->oom = true;
        return 0;
    }
    c->n_strings++;
    pb_bytes(&c->string_table, P_STRING_TABLE, s, strlen(s));
    return e->id;
}

static uint64_t function_id(struct proto_ctx *c, const char *name, const char *file)
{
    char key[2 * PF_NAME_LEN + 2];
    snprintf(key, sizeof(key), "%s\n%s", name, file);
    struct intern *e = intern_find(c->functions, key);
    if (e)
        return e->id;
    if (!(e = intern_add(&c->functions, key, c->n_functions + 1))) {
        c->oom = true;
        return 0;
    }
    c->n_functions++;
    uint64_t name_i = str_index(c, name);
    pb_u64(&c->scratch, F_ID, e->id);
    pb_u64(&c->scratch, F_NAME, name_i);
    pb_u64(&c->scratch, F_SYSTEM_NAME, name_i);
    pb_u64(&c->scratch, F_FILENAME, str_index(c, file));
    pb_msg(&c->function_table, P_FUNCTION, &c->scratch);
    return e->id;
}

static uint64_t mapping_id(struct proto_ctx *c, const struct nra_report_frame *f)
{
    if (!f->library[0] || strcmp(f->library, "?") == 0 || f->offset > f->address)
        return 0;
    uintptr_t base = f->address - f->offset;
    char key[sizeof(f->library) + 24];
    snprintf(key, sizeof(key), "%" PRIxPTR " %s", base, f->library);
    struct intern *e = intern_find(c->mappings, key);
    if (!e) {
        if (!(e = intern_add(&c->mappings, key, c->n_mappings + 1))) {
            c->oom = true;
            return 0;
        }
        c->n_mappings++;
        e->start = base;
        str_index(c, f->library);   /* the mapping table is encoded at the end */
    }
    if (f->address + 1 > e->end)
        e->end = f->address + 1;
    return e->id;
}

static uint64_t location_id(struct proto_ctx *c, const struct pf_frame *f)
{
    char key[PF_NAME_LEN + 40];
    char name[PF_NAME_LEN];
    struct java_frame j;
    switch (f->kind) {
    case PF_NATIVE:
        native_name(f->native, name, sizeof(name));
        snprintf(key, sizeof(key), "n%" PRIxPTR " %s", f->native->address, name);
        break;
    case PF_JAVA:
        snprintf(key, sizeof(key), "j%s", f->text);
        break;
    default:
        snprintf(key, sizeof(key), "s%s", f->text);
        break;
    }
    struct intern *e = intern_find(c->locations, key);
    if (e)
        return e->id;
    if (!(e = intern_add(&c->locations, key, c->n_locations + 1))) {
        c->oom = true;
        return 0;
    }
    c->n_locations++;
    uint64_t fn = 0, mapping = 0, address = 0;
    int64_t line = 0;
    switch (f->kind) {
    case PF_NATIVE:
        fn = function_id(c, name, "");
        mapping = mapping_id(c, f->native);
        address = f->native->address;
        break;
    case PF_JAVA:
        java_parse(f->text, &j);
        fn = function_id(c, j.name, j.file);
        line = j.line;
        break;
    default:
        fn = function_id(c, f->text, "");
        break;
    }
    pb_u64(&c->scratch2, LN_FUNCTION_ID, fn);
    pb_u64(&c->scratch2, LN_LINE, (uint64_t)line);
    pb_u64(&c->scratch, LOC_ID, e->id);
    pb_u64(&c->scratch, LOC_MAPPING_ID, mapping);
    pb_u64(&c->scratch, LOC_ADDRESS, address);
    pb_msg(&c->scratch, LOC_LINE, &c->scratch2);
    pb_msg(&c->location_table, P_LOCATION, &c->scratch);
    return e->id;
}

static void label_str(struct proto_ctx *c, struct pb *sample, const char *key, const char *value)
{
    pb_u64(&c->scratch2, L_KEY, str_index(c, key));
    pb_u64(&c->scratch2, L_STR, str_index(c, value));
    pb_msg(sample, S_LABEL, &c->scratch2);
}

static void label_num(struct proto_ctx *c, struct pb *sample, const char *key, uint64_t num, const char *unit)
{
    pb_u64(&c->scratch2, L_KEY, str_index(c, key));
    pb_u64(&c->scratch2, L_NUM, num);
    pb_u64(&c->scratch2, L_NUM_UNIT, str_index(c, unit));
    pb_msg(sample, S_LABEL, &c->scratch2);
}

static int proto_sample(const struct pf_sample *s, void *arg)
{
    struct proto_ctx *c = arg;
    uint64_t ids[PF_MAX_FRAMES];
    for (unsigned i = 0; i < s->n; i++)
        ids[i] = location_id(c, &s->f[i]);
    uint64_t values[PF_VALUES] = {0};
    if (s->cat == PF_RESIDUE) {
        values[0] = s->allocations;
        values[1] = s->bytes;
    } else {
        values[2] = s->handles;
        values[3] = s->bytes;
    }
    struct pb sample = {0};
    pb_packed(&sample, S_LOCATION_ID, ids, s->n);
    pb_packed(&sample, S_VALUE, values, PF_VALUES);
    label_str(c, &sample, "rule", s->rule->rule);
    label_str(c, &sample, "kind", s->cat == PF_RESIDUE ? "residue" : "held");
    if (s->site) {
        label_num(c, &sample, "owners", s->site->owners, "count");
        if (s->site->size_each)
            label_num(c, &sample, "size_each", s->site->size_each, "bytes");
        label_str(c, &sample, "scope", s->site->scope);
        label_str(c, &sample, "scope_native", s->site->scope_native);
    }
    if (s->cat == PF_HELD)
        label_num(c, &sample, "held_allocations", s->allocations, "count");
    pb_msg(&c->samples, P_SAMPLE, &sample);
    free(sample.p);
    return c->oom || c->samples.oom ? -ENOMEM : 0;
}

static void value_type(struct proto_ctx *c, struct pb *out, unsigned field, const char *type, const char *unit)
{
    pb_u64(&c->scratch, VT_TYPE, str_index(c, type));
    pb_u64(&c->scratch, VT_UNIT, str_index(c, unit));
    pb_msg(out, field, &c->scratch);
}

static int by_id(const struct intern *a, const struct intern *b)
{
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The whole Profile message, not yet compressed. */
static int proto_encode(const struct nra_report *r, struct pb *out)
{
    struct proto_ctx c = {0};
    pb_bytes(&c.string_table, P_STRING_TABLE, "", 0);   /* string_table[0] = "" */
    c.n_strings = 1;
    value_type(&c, out, P_SAMPLE_TYPE, "residue_allocations", "count");
    value_type(&c, out, P_SAMPLE_TYPE, "residue_space", "bytes");
    value_type(&c, out, P_SAMPLE_TYPE, "outstanding_handles", "count");
    value_type(&c, out, P_SAMPLE_TYPE, "held_space", "bytes");
    int rc = pf_samples(r, proto_sample, &c);
    if (rc == 0) {
        pb_raw(out, c.samples.p, c.samples.n);
        HASH_SORT(c.mappings, by_id);
        for (struct intern *m = c.mappings; m; m = m->hh.next) {
            const char *lib = strchr(m->key, ' ') + 1;
            pb_u64(&c.scratch, M_ID, m->id);
            pb_u64(&c.scratch, M_MEMORY_START, m->start);
            pb_u64(&c.scratch, M_MEMORY_LIMIT, (m->end + 0xfff) & ~(uintptr_t)0xfff);
            pb_u64(&c.scratch, M_FILE_OFFSET, 0);
            pb_u64(&c.scratch, M_FILENAME, str_index(&c, lib));
            pb_u64(&c.scratch, M_HAS_FUNCTIONS, 1);
            pb_msg(out, P_MAPPING, &c.scratch);
        }
        pb_raw(out, c.location_table.p, c.location_table.n);
        pb_raw(out, c.function_table.p, c.function_table.n);
        pb_u64(out, P_TIME_NANOS, r->timestamp_ms * 1000000);
        value_type(&c, out, P_PERIOD_TYPE, "space", "bytes");
        pb_u64(out, P_PERIOD, 1);
        char text[512];
        snprintf(text, sizeof(text), "nraudit %s report (%s) of pid %ld", r->version, r->trigger, r->pid);
        pb_u64(out, P_COMMENT, str_index(&c, text));
        pb_u64(out, P_COMMENT, str_index(&c, "held_space and held_allocations: a rule's bytes held by outstanding "
                                           "handles, split between creating Java stacks by handle count"));
        pb_u64(out, P_DEFAULT_SAMPLE_TYPE, str_index(&c, "residue_space"));
        /* last: every string above is in it */
        pb_raw(out, c.string_table.p, c.string_table.n);
        if (c.oom || c.string_table.oom || c.function_table.oom || c.location_table.oom || c.samples.oom ||
            c.scratch.oom || c.scratch2.oom || out->oom)
            rc = -ENOMEM;
    }
    intern_free(&c.strings);
    intern_free(&c.functions);
    intern_free(&c.locations);
    intern_free(&c.mappings);
    free(c.string_table.p);
    free(c.function_table.p);
    free(c.location_table.p);
    free(c.samples.p);
    free(c.scratch.p);
    free(c.scratch2.p);
    return rc;
}

static int gzip_write(const uint8_t *data, size_t len, FILE *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16: a gzip container */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uint8_t buf[16384];
    int rc = 0, zrc;
    z.next_in = (Bytef *)(uintptr_t)data;
    do {
        /* avail_in is 32 bits: feed large inputs in pieces */
        if (z.avail_in == 0 && len > 0) {
            size_t piece = len > (1u << 30) ? (1u << 30) : len;
            z.avail_in = (uInt)piece;
            len -= piece;
        }
        z.next_out = buf;
        z.avail_out = sizeof(buf);
        zrc = deflate(&z, len == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (zrc == Z_STREAM_ERROR) {
            rc = -EIO;
            break;
        }
        size_t have = sizeof(buf) - z.avail_out;
        if (have && fwrite(buf, 1, have, out) != have) {
            rc = -EIO;
            break;
        }
    } while (zrc != Z_STREAM_END);
    deflateEnd(&z);
    return rc;
}

int nra_report_write_pprof_proto(const struct nra_report *r, FILE *out)
{
    struct pb msg = {0};
    int rc = proto_encode(r, &msg);
    if (rc == 0)
        rc = gzip_write(msg.p, msg.n, out);
    free(msg.p);
    if (rc)
        return rc;
    return ferror(out) ? -EIO : 0;
}
