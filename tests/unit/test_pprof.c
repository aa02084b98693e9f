/* Unit tests: the pprof writers. A small report made by hand is written as
 * a gperftools heap profile (checked as google-pprof reads it: symbol
 * section, header, sample lines, MAPPED_LIBRARIES) and as a gzip'd
 * profile.proto, which is inflated and decoded here field by field. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "report_pprof.h"

/* ---- the report ------------------------------------------------------------ */

#define NEWSSL_ADDR 0x7f0000010f17u
#define NEWSSL_OFF 0xef17u
#define TCN_BASE (NEWSSL_ADDR - NEWSSL_OFF)
#define ZALLOC_ADDR 0x7f00102333e9u
#define ZALLOC_OFF 0x2333e9u
#define ANON_ADDR 0x7f001023f9c3u
#define ANON_OFF 0x23f9c3u

static void frame(struct nra_report_frame *f, uintptr_t addr, uintptr_t off, const char *lib, const char *sym)
{
    f->address = addr;
    f->offset = off;
    snprintf(f->library, sizeof(f->library), "%s", lib);
    snprintf(f->symbol, sizeof(f->symbol), "%s", sym);
}

static void java(struct nra_report_stack *s, const char *frame_text)
{
    snprintf(s->frames[s->n++], NRA_REPORT_FRAME_LEN, "%s", frame_text);
}

static const char *const INIT = "io.netty.handler.ssl.ReferenceCountedOpenSslEngine.<init>"
                                "(ReferenceCountedOpenSslEngine.java:325)";
static const char *const MAIN = "nraudit.demo.Scenarios.main(Scenarios.java:122)";
static const char *const NEWSSL_JAVA = "io.netty.internal.tcnative.SSL.newSSL(Native Method)";

/* One rule: 300 engines leave 32 bytes each in newSSL; a second site in
 * libcrypto (one named, one unnamed frame); 2 allocations in sites not
 * kept; 10 outstanding handles holding 1000 bytes in 30 allocations, in
 * groups of 7 and 3. */
static struct nra_report *make_report(unsigned engines)
{
    struct nra_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    snprintf(r->trigger, sizeof(r->trigger), "exit");
    snprintf(r->version, sizeof(r->version), "0.1.0");
    r->pid = 4242;
    r->timestamp_ms = 1700000000000ull;
    r->n_rules = 1;
    r->rules = calloc(1, sizeof(*r->rules));
    assert_non_null(r->rules);
    struct nra_report_rule *rr = &r->rules[0];
    snprintf(rr->rule, sizeof(rr->rule), "netty-tcnative-ssl");
    snprintf(rr->owner_class, sizeof(rr->owner_class), "io.netty.handler.ssl.ReferenceCountedOpenSslEngine");

    struct nra_report_site *s = &rr->sites[rr->n_sites++];
    s->allocations = engines;
    s->bytes = 32ull * engines;
    s->owners = engines;
    s->size_each = 32;
    s->repeating = true;
    snprintf(s->scope, sizeof(s->scope), "alloc");
    snprintf(s->scope_native, sizeof(s->scope_native), "io.netty.internal.tcnative.SSL.newSSL");
    frame(&s->native[s->n_native++], NEWSSL_ADDR, NEWSSL_OFF, "libnetty_tcnative.so",
          "io.netty.internal.tcnative.SSL.newSSL (native)+0x46");
    java(&s->java, NEWSSL_JAVA);
    java(&s->java, INIT);
    java(&s->java, MAIN);

    s = &rr->sites[rr->n_sites++];
    s->allocations = 5;
    s->bytes = 640;
    s->owners = 1;
    s->repeating = true;
    snprintf(s->scope, sizeof(s->scope), "use");
    frame(&s->native[s->n_native++], ZALLOC_ADDR, ZALLOC_OFF, "libcrypto.so.3", "CRYPTO_zalloc+0x8");
    frame(&s->native[s->n_native++], ANON_ADDR, ANON_OFF, "libcrypto.so.3", "");
    frame(&s->native[s->n_native++], 0x1234, 0, "?", "");
    java(&s->java, "io.netty.handler.ssl.OpenSsl.<clinit>(OpenSsl.java:211)");
    java(&s->java, MAIN);

    rr->residue_allocations = engines + 5 + 2;
    rr->residue_bytes = 32ull * engines + 640 + 64;
    rr->repeating_allocations = rr->residue_allocations;
    rr->repeating_bytes = rr->residue_bytes;
    rr->sites_omitted = 1;

    rr->counts.outstanding = 10;
    rr->held_bytes = 1000;
    rr->held_allocations = 30;
    rr->groups[0].count = 7;
    java(&rr->groups[0].java, NEWSSL_JAVA);
    java(&rr->groups[0].java, INIT);
    java(&rr->groups[0].java, "nraudit.demo.Scenarios.hold(Scenarios.java:233)");
    rr->groups[1].count = 3;
    java(&rr->groups[1].java, "nraudit.demo.Other.run(Other.java:7)");
    rr->n_groups = 2;
    return r;
}

static void free_report(struct nra_report *r)
{
    free(r->rules);
    free(r);
}

/* ---- heap text ------------------------------------------------------------- */

struct heap_file {
    char *text;
    size_t len;
};

static struct heap_file heap_of(const struct nra_report *r)
{
    struct heap_file h = {0};
    FILE *f = open_memstream(&h.text, &h.len);
    assert_non_null(f);
    assert_int_equal(nra_report_write_pprof_heap(r, f), 0);
    assert_int_equal(fclose(f), 0);
    return h;
}

/* address of name in the symbol section, 0 if absent */
static uint64_t heap_symbol(const char *text, const char *name)
{
    const char *end = strstr(text, "\n---\n");
    assert_non_null(end);
    for (const char *p = text; p && p < end; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        uint64_t a;
        int off = 0;
        if (sscanf(p, "0x%" SCNx64 " %n", &a, &off) == 1 && off > 0) {
            const char *nl = strchr(p, '\n');
            size_t len = (size_t)(nl - (p + off));
            if (len == strlen(name) && strncmp(p + off, name, len) == 0)
                return a;
        }
    }
    return 0;
}

/* The sample line with these values: its addresses, leaf first. */
static unsigned heap_stack(const char *text, uint64_t n, uint64_t bytes, uint64_t *addrs, unsigned max)
{
    const char *p = strstr(text, "\nheap profile:");
    assert_non_null(p);
    for (p = strchr(p + 1, '\n'); p && *++p; p = strchr(p, '\n')) {
        uint64_t n1, b1, n2, b2;
        int off = 0;
        if (sscanf(p, " %" SCNu64 ": %" SCNu64 " [ %" SCNu64 ": %" SCNu64 "] @%n", &n1, &b1, &n2, &b2, &off) != 4)
            break;
        assert_int_equal(n1, n2);
        assert_int_equal(b1, b2);
        if (n1 != n || b1 != bytes)
            continue;
        unsigned k = 0;
        const char *q = p + off;
        int used;
        while (k < max && sscanf(q, " 0x%" SCNx64 "%n", &addrs[k], &used) == 1) {
            k++;
            q += used;
        }
        return k;
    }
    return 0;
}

static void one_time_sites_left_out(void **state)
{
    (void)state;
    struct nra_report *r = make_report(300);
    struct nra_report_rule *rr = &r->rules[0];
    /* the second site becomes a one-time initialisation: not in the profile */
    rr->sites[1].repeating = false;
    rr->repeating_bytes -= 640;
    rr->repeating_allocations -= 5;
    struct heap_file h = heap_of(r);
    const char *hdr = strstr(h.text, "\n---\nheap profile:");
    assert_non_null(hdr);
    uint64_t n1, b1;
    assert_int_equal(sscanf(hdr + 5, "heap profile: %" SCNu64 ": %" SCNu64, &n1, &b1), 2);
    assert_int_equal(n1, 300 + 2 + 30);
    assert_int_equal(b1, 9600 + 64 + 1000);
    assert_null(strstr(h.text, "CRYPTO_zalloc"));
    free(h.text);
    free_report(r);
}

static void heap_header_and_symbols(void **state)
{
    (void)state;
    struct nra_report *r = make_report(300);
    struct heap_file h = heap_of(r);

    assert_memory_equal(h.text, "--- symbol\nbinary=", 18);
    /* residue 300 + 5 + 2 (not kept), held 21 + 9 allocations */
    const char *hdr = strstr(h.text, "\n---\nheap profile:");
    assert_non_null(hdr);
    uint64_t n1, b1, n2, b2;
    char type[32] = "";
    assert_int_equal(sscanf(hdr + 5, "heap profile: %" SCNu64 ": %" SCNu64 " [ %" SCNu64 ": %" SCNu64 "] @ %31s",
                            &n1, &b1, &n2, &b2, type), 5);
    assert_int_equal(n1, 300 + 5 + 2 + 30);
    assert_int_equal(b1, 9600 + 640 + 64 + 1000);
    assert_int_equal(n2, n1);
    assert_int_equal(b2, b1);
    assert_string_equal(type, "heapprofile");   /* no sampling adjustment */

    /* our names, with ( ) < > swapped for google-pprof's name shortener */
    assert_int_equal(heap_symbol(h.text, "io.netty.internal.tcnative.SSL.newSSL [native]"), NEWSSL_ADDR);
    assert_int_equal(heap_symbol(h.text, "CRYPTO_zalloc"), ZALLOC_ADDR);
    assert_int_equal(heap_symbol(h.text, "libcrypto.so.3+0x23f9c3"), ANON_ADDR);
    assert_int_equal(heap_symbol(h.text, "0x1234"), 0x1234);
    uint64_t init = heap_symbol(h.text, "java: io.netty.handler.ssl.ReferenceCountedOpenSslEngine.{init}"
                                        "[ReferenceCountedOpenSslEngine.java:325]");
    uint64_t main_ = heap_symbol(h.text, "java: nraudit.demo.Scenarios.main[Scenarios.java:122]");
    uint64_t root = heap_symbol(h.text, "nraudit residue: netty-tcnative-ssl");
    assert_true(init >= 0x7ff0000000000000ull && init <= 0x7fffffffffffffffull);
    assert_true(main_ >= 0x7ff0000000000000ull && main_ <= 0x7fffffffffffffffull);
    assert_true(root >= 0x7ff0000000000000ull && root <= 0x7fffffffffffffffull);
    assert_null(strstr(h.text, "+0x46"));
    assert_null(strstr(h.text, "<init>"));

    /* the newSSL site: native frame, Java frames without the repeated
     * "newSSL(Native Method)", the rule's root */
    uint64_t a[80];
    assert_int_equal(heap_stack(h.text, 300, 9600, a, 80), 4);
    assert_int_equal(a[0], NEWSSL_ADDR);
    assert_int_equal(a[1], init);
    assert_int_equal(a[2], main_);
    assert_int_equal(a[3], root);

    /* every address in a sample line is named in the symbol section */
    const char *p = strstr(h.text, "\nheap profile:");
    for (p = strchr(p + 1, '\n'); p && *++p && *p != '\n'; p = strchr(p, '\n')) {
        const char *q = strchr(p, '@') + 1;
        const char *nl = strchr(p, '\n');
        uint64_t x;
        int used;
        while (q < nl && sscanf(q, " 0x%" SCNx64 "%n", &x, &used) == 1) {
            char pat[40];
            snprintf(pat, sizeof(pat), "\n0x%016" PRIx64 " ", x);
            assert_non_null(strstr(h.text, pat));
            q += used;
        }
    }
    free(h.text);
    free_report(r);
}

static void heap_held_and_omitted(void **state)
{
    (void)state;
    struct nra_report *r = make_report(300);
    struct heap_file h = heap_of(r);
    uint64_t a[80];
    uint64_t leaf = heap_symbol(h.text, "held by outstanding io.netty.handler.ssl.ReferenceCountedOpenSslEngine");
    uint64_t root = heap_symbol(h.text, "nraudit held: netty-tcnative-ssl");
    assert_true(leaf && root);
    /* 1000 bytes and 30 allocations split 7:3 */
    unsigned n = heap_stack(h.text, 21, 700, a, 80);
    assert_int_equal(n, 5);   /* leaf, 3 Java frames (newSSL kept: no native stack here), root */
    assert_int_equal(a[0], leaf);
    assert_int_equal(a[1], heap_symbol(h.text, "java: io.netty.internal.tcnative.SSL.newSSL[Native Method]"));
    assert_int_equal(a[4], root);
    assert_int_equal(heap_stack(h.text, 9, 300, a, 80), 3);
    /* residue of sites not kept */
    assert_int_equal(heap_stack(h.text, 2, 64, a, 80), 2);
    assert_int_equal(a[0], heap_symbol(h.text, "nraudit: residue sites not kept in the report"));
    assert_int_equal(a[1], heap_symbol(h.text, "nraudit residue: netty-tcnative-ssl"));
    free(h.text);
    free_report(r);
}

static void heap_mapped_libraries(void **state)
{
    (void)state;
    struct nra_report *r = make_report(300);
    struct heap_file h = heap_of(r);
    const char *m = strstr(h.text, "\nMAPPED_LIBRARIES:\n");
    assert_non_null(m);
    char want[128];
    snprintf(want, sizeof(want), "\n%08" PRIxPTR "-%08" PRIxPTR " r-xp 00000000 00:00 0 ", (uintptr_t)TCN_BASE,
             (uintptr_t)((NEWSSL_ADDR + 0x1000) & ~(uintptr_t)0xfff));
    const char *line = strstr(m, want);
    assert_non_null(line);
    line += strlen(want);
    line += strspn(line, " ");
    assert_memory_equal(line, "libnetty_tcnative.so\n", strlen("libnetty_tcnative.so\n"));
    assert_non_null(strstr(m, "libcrypto.so.3\n"));
    assert_null(strstr(m, " ?\n"));   /* unresolved frames have no library */
    free(h.text);
    free_report(r);
}

/* Same frame, same address in every dump (google-pprof --base merges the
 * symbol sections by address); counts follow the report. */
static void heap_dumps_compare(void **state)
{
    (void)state;
    struct nra_report *older = make_report(100), *newer = make_report(300);
    snprintf(newer->rules[0].sites[1].java.frames[0], NRA_REPORT_FRAME_LEN, "x.Y.z(Y.java:1)");
    struct heap_file a = heap_of(older), b = heap_of(newer);
    const char *name = "java: io.netty.handler.ssl.ReferenceCountedOpenSslEngine.{init}"
                       "[ReferenceCountedOpenSslEngine.java:325]";
    assert_int_equal(heap_symbol(a.text, name), heap_symbol(b.text, name));
    assert_int_equal(heap_symbol(a.text, "nraudit residue: netty-tcnative-ssl"),
                     heap_symbol(b.text, "nraudit residue: netty-tcnative-ssl"));
    uint64_t s[80];
    assert_int_equal(heap_stack(a.text, 100, 3200, s, 80), 4);
    assert_int_equal(heap_stack(b.text, 300, 9600, s, 80), 4);
    free(a.text);
    free(b.text);
    free_report(older);
    free_report(newer);
}

static void heap_names_sanitized(void **state)
{
    (void)state;
    struct nra_report *r = make_report(1);
    struct nra_report_site *s = &r->rules[0].sites[1];
    snprintf(s->native[0].symbol, sizeof(s->native[0].symbol), "operator--(int)+0x10");
    snprintf(s->native[1].symbol, sizeof(s->native[1].symbol), "bad\nname");
    struct heap_file h = heap_of(r);
    assert_int_not_equal(heap_symbol(h.text, "operator-[int]"), 0);
    assert_int_not_equal(heap_symbol(h.text, "bad?name"), 0);
    free(h.text);
    free_report(r);
}

static void heap_empty_report(void **state)
{
    (void)state;
    struct nra_report r;
    memset(&r, 0, sizeof(r));
    struct heap_file h = heap_of(&r);
    assert_non_null(strstr(h.text, "--- symbol\n"));
    assert_non_null(strstr(h.text, "\n---\nheap profile:      0:        0 [     0:        0] @ heapprofile\n"));
    assert_non_null(strstr(h.text, "\nMAPPED_LIBRARIES:\n"));
    free(h.text);
}

static void write_errors_reported(void **state)
{
    (void)state;
    struct nra_report *r = make_report(300);
    FILE *ro = fopen("/dev/null", "r");   /* every write fails */
    assert_non_null(ro);
    assert_int_equal(nra_report_write_pprof_heap(r, ro), -EIO);
    clearerr(ro);
    assert_int_equal(nra_report_write_pprof_proto(r, ro), -EIO);
    fclose(ro);
    free_report(r);
}

/* ---- profile.proto ------------------------------------------------------------ */

/* a minimal protobuf reader */
struct pbr {
    const uint8_t *p, *end;
};

static uint64_t rd_varint(struct pbr *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        assert_true(r->p < r->end);
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    fail_msg("varint longer than 10 bytes");
    return 0;
}

struct pbf {
    unsigned num, wire;
    uint64_t v;          /* varint */
    struct pbr sub;      /* length-delimited */
};

static bool rd_field(struct pbr *r, struct pbf *f)
{
    if (r->p >= r->end)
        return false;
    uint64_t key = rd_varint(r);
    f->num = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    assert_true(f->num > 0);
    if (f->wire == 0) {
        f->v = rd_varint(r);
    } else if (f->wire == 2) {
        uint64_t len = rd_varint(r);
        assert_true(len <= (uint64_t)(r->end - r->p));
        f->sub.p = r->p;
        f->sub.end = r->p + len;
        r->p += len;
    } else {
        fail_msg("unexpected wire type %u (field %u)", f->wire, f->num);
    }
    return true;
}

/* repeated uint64: packed or not */
static unsigned rd_repeated(const struct pbf *f, uint64_t *out, unsigned n, unsigned max)
{
    if (f->wire == 0) {
        assert_true(n < max);
        out[n++] = f->v;
        return n;
    }
    struct pbr r = f->sub;
    while (r.p < r.end) {
        assert_true(n < max);
        out[n++] = rd_varint(&r);
    }
    return n;
}

#define MAXN 256

struct p_sample {
    uint64_t loc[MAXN];
    unsigned n_loc;
    uint64_t val[8];
    unsigned n_val;
    struct p_label {
        uint64_t key, str, num, unit;   /* string indices but num */
    } label[8];
    unsigned n_labels;
};
struct p_location {
    uint64_t id, mapping, address, function, line;
    unsigned n_lines;
};
struct p_function {
    uint64_t id, name, system_name, filename;
};
struct p_mapping {
    uint64_t id, start, limit, filename;
    bool has_functions;
};

struct profile {
    uint64_t st_type[8], st_unit[8];
    unsigned n_st;
    struct p_sample sample[MAXN];
    unsigned n_sample;
    struct p_location loc[MAXN];
    unsigned n_loc;
    struct p_function fn[MAXN];
    unsigned n_fn;
    struct p_mapping map[16];
    unsigned n_map;
    char *str[4 * MAXN];
    unsigned n_str;
    uint64_t default_sample_type, time_nanos;
};

static uint8_t *gunzip(const uint8_t *in, size_t len, size_t *out_len)
{
    assert_true(len > 10);
    assert_int_equal(in[0], 0x1f);   /* gzip magic */
    assert_int_equal(in[1], 0x8b);
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    size_t cap = 1 << 16, n = 0;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    int rc;
    do {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        n = cap - z.avail_out;
    } while (rc != Z_STREAM_END);
    assert_int_equal(z.avail_in, 0);   /* nothing after the gzip member */
    inflateEnd(&z);
    *out_len = n;
    return out;
}

static void decode(const uint8_t *msg, size_t len, struct profile *p)
{
    memset(p, 0, sizeof(*p));
    struct pbr r = {msg, msg + len};
    struct pbf f, g, h;
    while (rd_field(&r, &f)) {
        switch (f.num) {
        case 1: {   /* sample_type */
            assert_true(p->n_st < 8);
            while (rd_field(&f.sub, &g))
                if (g.num == 1)
                    p->st_type[p->n_st] = g.v;
                else if (g.num == 2)
                    p->st_unit[p->n_st] = g.v;
            p->n_st++;
            break;
        }
        case 2: {   /* sample */
            assert_true(p->n_sample < MAXN);
            struct p_sample *s = &p->sample[p->n_sample++];
            while (rd_field(&f.sub, &g)) {
                if (g.num == 1)
                    s->n_loc = rd_repeated(&g, s->loc, s->n_loc, MAXN);
                else if (g.num == 2)
                    s->n_val = rd_repeated(&g, s->val, s->n_val, 8);
                else if (g.num == 3) {
                    assert_true(s->n_labels < 8);
                    struct p_label *l = &s->label[s->n_labels++];
                    while (rd_field(&g.sub, &h))
                        switch (h.num) {
                        case 1: l->key = h.v; break;
                        case 2: l->str = h.v; break;
                        case 3: l->num = h.v; break;
                        case 4: l->unit = h.v; break;
                        }
                }
            }
            break;
        }
        case 3: {   /* mapping */
            assert_true(p->n_map < 16);
            struct p_mapping *m = &p->map[p->n_map++];
            while (rd_field(&f.sub, &g))
                switch (g.num) {
                case 1: m->id = g.v; break;
                case 2: m->start = g.v; break;
                case 3: m->limit = g.v; break;
                case 5: m->filename = g.v; break;
                case 7: m->has_functions = g.v != 0; break;
                }
            break;
        }
        case 4: {   /* location */
            assert_true(p->n_loc < MAXN);
            struct p_location *l = &p->loc[p->n_loc++];
            while (rd_field(&f.sub, &g))
                switch (g.num) {
                case 1: l->id = g.v; break;
                case 2: l->mapping = g.v; break;
                case 3: l->address = g.v; break;
                case 4:
                    l->n_lines++;
                    while (rd_field(&g.sub, &h))
                        if (h.num == 1)
                            l->function = h.v;
                        else if (h.num == 2)
                            l->line = h.v;
                    break;
                }
            break;
        }
        case 5: {   /* function */
            assert_true(p->n_fn < MAXN);
            struct p_function *fn = &p->fn[p->n_fn++];
            while (rd_field(&f.sub, &g))
                switch (g.num) {
                case 1: fn->id = g.v; break;
                case 2: fn->name = g.v; break;
                case 3: fn->system_name = g.v; break;
                case 4: fn->filename = g.v; break;
                }
            break;
        }
        case 6: {   /* string_table */
            assert_int_equal(f.wire, 2);
            assert_true(p->n_str < 4 * MAXN);
            size_t n = (size_t)(f.sub.end - f.sub.p);
            char *s = malloc(n + 1);
            assert_non_null(s);
            memcpy(s, f.sub.p, n);
            s[n] = '\0';
            p->str[p->n_str++] = s;
            break;
        }
        case 9: p->time_nanos = f.v; break;
        case 14: p->default_sample_type = f.v; break;
        default: break;
        }
    }
}

static void profile_free(struct profile *p)
{
    for (unsigned i = 0; i < p->n_str; i++)
        free(p->str[i]);
}

static const char *S(const struct profile *p, uint64_t i)
{
    assert_true(i < p->n_str);
    return p->str[i];
}

static const struct p_location *loc_by_id(const struct profile *p, uint64_t id)
{
    for (unsigned i = 0; i < p->n_loc; i++)
        if (p->loc[i].id == id)
            return &p->loc[i];
    fail_msg("no location %" PRIu64, id);
    return NULL;
}

static const struct p_function *fn_by_id(const struct profile *p, uint64_t id)
{
    for (unsigned i = 0; i < p->n_fn; i++)
        if (p->fn[i].id == id)
            return &p->fn[i];
    fail_msg("no function %" PRIu64, id);
    return NULL;
}

static const struct p_mapping *map_by_id(const struct profile *p, uint64_t id)
{
    for (unsigned i = 0; i < p->n_map; i++)
        if (p->map[i].id == id)
            return &p->map[i];
    fail_msg("no mapping %" PRIu64, id);
    return NULL;
}

static const char *fn_name_at(const struct profile *p, uint64_t loc_id)
{
    return S(p, fn_by_id(p, loc_by_id(p, loc_id)->function)->name);
}

static const struct p_sample *sample_with(const struct profile *p, uint64_t v0, uint64_t v1, uint64_t v2, uint64_t v3)
{
    for (unsigned i = 0; i < p->n_sample; i++) {
        const uint64_t *v = p->sample[i].val;
        if (v[0] == v0 && v[1] == v1 && v[2] == v2 && v[3] == v3)
            return &p->sample[i];
    }
    fail_msg("no sample with values [%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "]", v0, v1, v2, v3);
    return NULL;
}

static const struct p_label *label_of(const struct profile *p, const struct p_sample *s, const char *key)
{
    for (unsigned i = 0; i < s->n_labels; i++)
        if (strcmp(S(p, s->label[i].key), key) == 0)
            return &s->label[i];
    fail_msg("no label %s", key);
    return NULL;
}

static const char *label_str(const struct profile *p, const struct p_sample *s, const char *key)
{
    return S(p, label_of(p, s, key)->str);
}

static uint64_t label_num(const struct profile *p, const struct p_sample *s, const char *key, const char *unit)
{
    const struct p_label *l = label_of(p, s, key);
    assert_string_equal(S(p, l->unit), unit);
    return l->num;
}

static void proto_of(const struct nra_report *r, struct profile *p)
{
    char *gz = NULL;
    size_t gz_len = 0;
    FILE *f = open_memstream(&gz, &gz_len);
    assert_non_null(f);
    assert_int_equal(nra_report_write_pprof_proto(r, f), 0);
    assert_int_equal(fclose(f), 0);
    size_t len = 0;
    uint8_t *msg = gunzip((const uint8_t *)gz, gz_len, &len);
    decode(msg, len, p);
    free(msg);
    free(gz);
}

static void proto_decodes(void **state)
{
    (void)state;
    struct nra_report *r = make_report(300);
    struct profile *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    proto_of(r, p);

    assert_true(p->n_str > 0);
    assert_string_equal(p->str[0], "");
    assert_int_equal(p->n_st, 4);
    const char *types[4][2] = {{"residue_allocations", "count"}, {"residue_space", "bytes"},
                               {"outstanding_handles", "count"}, {"held_space", "bytes"}};
    for (unsigned i = 0; i < 4; i++) {
        assert_string_equal(S(p, p->st_type[i]), types[i][0]);
        assert_string_equal(S(p, p->st_unit[i]), types[i][1]);
    }
    assert_string_equal(S(p, p->default_sample_type), "residue_space");
    assert_int_equal(p->time_nanos, 1700000000000ull * 1000000);

    /* residue: 2 kept sites + sites not kept; held: groups of 7 and 3 */
    assert_int_equal(p->n_sample, 5);
    uint64_t residue = 0, handles = 0, held = 0;
    for (unsigned i = 0; i < p->n_sample; i++) {
        assert_int_equal(p->sample[i].n_val, 4);
        residue += p->sample[i].val[1];
        handles += p->sample[i].val[2];
        held += p->sample[i].val[3];
    }
    assert_int_equal(residue, r->rules[0].residue_bytes);
    assert_int_equal(handles, 10);
    assert_int_equal(held, 1000);

    /* the newSSL site: leaf first, named by us, in libnetty_tcnative.so */
    const struct p_sample *s = sample_with(p, 300, 9600, 0, 0);
    assert_int_equal(s->n_loc, 4);
    const struct p_location *leaf = loc_by_id(p, s->loc[0]);
    assert_string_equal(fn_name_at(p, s->loc[0]), "io.netty.internal.tcnative.SSL.newSSL (native)");
    assert_int_equal(leaf->address, NEWSSL_ADDR);
    assert_int_equal(leaf->n_lines, 1);
    const struct p_mapping *m = map_by_id(p, leaf->mapping);
    assert_string_equal(S(p, m->filename), "libnetty_tcnative.so");
    assert_int_equal(m->start, TCN_BASE);
    assert_true(m->limit > NEWSSL_ADDR);
    assert_true(m->has_functions);
    /* Java frames: method, source file, line; no mapping */
    const struct p_location *init = loc_by_id(p, s->loc[1]);
    const struct p_function *init_fn = fn_by_id(p, init->function);
    assert_string_equal(S(p, init_fn->name), "io.netty.handler.ssl.ReferenceCountedOpenSslEngine.<init>");
    assert_string_equal(S(p, init_fn->system_name), "io.netty.handler.ssl.ReferenceCountedOpenSslEngine.<init>");
    assert_string_equal(S(p, init_fn->filename), "ReferenceCountedOpenSslEngine.java");
    assert_int_equal(init->line, 325);
    assert_int_equal(init->mapping, 0);
    assert_string_equal(fn_name_at(p, s->loc[2]), "nraudit.demo.Scenarios.main");
    assert_string_equal(fn_name_at(p, s->loc[3]), "nraudit residue: netty-tcnative-ssl");
    assert_string_equal(label_str(p, s, "rule"), "netty-tcnative-ssl");
    assert_string_equal(label_str(p, s, "kind"), "residue");
    assert_string_equal(label_str(p, s, "scope"), "alloc");
    assert_int_equal(label_num(p, s, "owners", "count"), 300);
    assert_int_equal(label_num(p, s, "size_each", "bytes"), 32);

    /* the libcrypto site: offsets stripped, unnamed frame named by library+offset */
    s = sample_with(p, 5, 640, 0, 0);
    assert_int_equal(s->n_loc, 6);
    assert_string_equal(fn_name_at(p, s->loc[0]), "CRYPTO_zalloc");
    assert_string_equal(fn_name_at(p, s->loc[1]), "libcrypto.so.3+0x23f9c3");
    assert_string_equal(fn_name_at(p, s->loc[2]), "0x1234");
    assert_int_equal(loc_by_id(p, s->loc[2])->mapping, 0);
    assert_int_equal(loc_by_id(p, s->loc[0])->mapping, loc_by_id(p, s->loc[1])->mapping);
    assert_string_equal(fn_name_at(p, s->loc[3]), "io.netty.handler.ssl.OpenSsl.<clinit>");
    /* the shared Java frame is one location */
    assert_int_equal(s->loc[4], sample_with(p, 300, 9600, 0, 0)->loc[2]);

    /* held: split by handle count; "newSSL(Native Method)" kept (no native stack) */
    s = sample_with(p, 0, 0, 7, 700);
    assert_string_equal(fn_name_at(p, s->loc[0]), "held by outstanding io.netty.handler.ssl.ReferenceCountedOpenSslEngine");
    assert_string_equal(fn_name_at(p, s->loc[1]), "io.netty.internal.tcnative.SSL.newSSL");
    assert_int_equal(loc_by_id(p, s->loc[1])->line, 0);
    assert_string_equal(fn_name_at(p, s->loc[s->n_loc - 1]), "nraudit held: netty-tcnative-ssl");
    s = sample_with(p, 0, 0, 3, 300);
    assert_int_equal(s->n_loc, 3);
    s = sample_with(p, 2, 64, 0, 0);
    assert_string_equal(fn_name_at(p, s->loc[0]), "nraudit: residue sites not kept in the report");

    /* ids: unique, nonzero; every reference resolves */
    for (unsigned i = 0; i < p->n_loc; i++) {
        assert_int_equal(p->loc[i].id, i + 1);
        if (p->loc[i].mapping)
            map_by_id(p, p->loc[i].mapping);
        fn_by_id(p, p->loc[i].function);
    }
    for (unsigned i = 0; i < p->n_fn; i++) {
        assert_int_equal(p->fn[i].id, i + 1);
        S(p, p->fn[i].name);
        S(p, p->fn[i].filename);
    }
    for (unsigned i = 0; i < p->n_map; i++)
        assert_int_equal(p->map[i].id, i + 1);
    assert_int_equal(p->n_map, 2);   /* libnetty_tcnative.so, libcrypto.so.3 */
    /* strings are interned once */
    for (unsigned i = 0; i < p->n_str; i++)
        for (unsigned j = i + 1; j < p->n_str; j++)
            assert_string_not_equal(p->str[i], p->str[j]);

    profile_free(p);
    free(p);
    free_report(r);
}

static void proto_empty_report(void **state)
{
    (void)state;
    struct nra_report r;
    memset(&r, 0, sizeof(r));
    struct profile *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    proto_of(&r, p);
    assert_int_equal(p->n_st, 4);
    assert_int_equal(p->n_sample, 0);
    assert_int_equal(p->n_loc, 0);
    assert_string_equal(p->str[0], "");
    profile_free(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heap_header_and_symbols),
        cmocka_unit_test(one_time_sites_left_out),
        cmocka_unit_test(heap_held_and_omitted),
        cmocka_unit_test(heap_mapped_libraries),
        cmocka_unit_test(heap_dumps_compare),
        cmocka_unit_test(heap_names_sanitized),
        cmocka_unit_test(heap_empty_report),
        cmocka_unit_test(write_errors_reported),
        cmocka_unit_test(proto_decodes),
        cmocka_unit_test(proto_empty_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
