/*
 * Unit tests for the class-file rewriter (agent/classfile.c).
 *
 * Inputs: small classes compiled by javac (tests/unit/fixtures/Fx*.java,
 * embedded by gen_fixtures.sh into classfile_fixtures.h) and hand-built
 * classes for the edge cases javac never emits. The outputs are checked with
 * an independent mini-reader below: every `return` of a hooked method has the
 * hook before it, no branch/handler/frame lands between a hook and its
 * `return`, Uninitialized() entries point at `new`, tables stay in range.
 * The JVM's own verifier checks the same classes in the corpus test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classfile.h"
#include "classfile_fixtures.h"

#define HOOK_CLASS "nraudit/Hooks"
#define HOOK_METHOD "constructed"

/* ------------------------------------------------------- mini class reader */

static uint16_t u2(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t u4(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct {
    const uint8_t *b;
    size_t len;
    unsigned cp_count;
    size_t cp[65536];
    size_t cp_end;  /* offset of access_flags */
    size_t methods; /* offset of methods_count */
} tclass;

typedef struct {
    uint16_t access, max_stack, max_locals;
    uint32_t code_len;
    const uint8_t *code;
    uint16_t n_exc;
    const uint8_t *exc;
    const uint8_t *smt, *lnt, *lvt, *lvtt;
    uint16_t n_sub;
} tcode;

static size_t skip_attrs(const uint8_t *b, size_t p)
{
    uint16_t n = u2(b + p);
    p += 2;
    for (uint16_t i = 0; i < n; i++)
        p += 6 + u4(b + p + 2);
    return p;
}

static tclass *topen(const uint8_t *b, size_t len)
{
    tclass *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->b = b;
    t->len = len;
    assert_int_equal(u4(b), 0xCAFEBABE);
    t->cp_count = u2(b + 8);
    size_t p = 10;
    for (unsigned i = 1; i < t->cp_count; i++) {
        t->cp[i] = p;
        switch (b[p]) {
        case 1: p += 3 + u2(b + p + 1); break;
        case 3: case 4: p += 5; break;
        case 5: case 6: p += 9; i++; break;
        case 7: case 8: case 16: case 19: case 20: p += 3; break;
        case 15: p += 4; break;
        default: p += 5; break;
        }
    }
    t->cp_end = p;
    p += 6;
    p += 2 + 2 * (size_t)u2(b + p);
    uint16_t nf = u2(b + p);
    p += 2;
    for (uint16_t i = 0; i < nf; i++)
        p = skip_attrs(b, p + 6);
    t->methods = p;
    return t;
}

static bool tutf8(const tclass *t, unsigned i, const char *s)
{
    if (i == 0 || i >= t->cp_count || t->b[t->cp[i]] != 1)
        return false;
    const uint8_t *e = t->b + t->cp[i];
    return strlen(s) == u2(e + 1) && memcmp(e + 3, s, u2(e + 1)) == 0;
}

/* Is cp[i] a Methodref to cls.name(Object)V? */
static bool tmref_is(const tclass *t, unsigned i, const char *cls, const char *name)
{
    if (i == 0 || i >= t->cp_count || t->b[t->cp[i]] != 10)
        return false;
    const uint8_t *e = t->b + t->cp[i];
    const uint8_t *c = t->b + t->cp[u2(e + 1)], *nat = t->b + t->cp[u2(e + 3)];
    return c[0] == 7 && tutf8(t, u2(c + 1), cls) && nat[0] == 12 &&
           tutf8(t, u2(nat + 1), name) && tutf8(t, u2(nat + 3), NRA_CF_HOOK_DESC);
}

static bool tmethod(const tclass *t, const char *name, const char *desc, tcode *c)
{
    const uint8_t *b = t->b;
    size_t p = t->methods;
    uint16_t n = u2(b + p);
    p += 2;
    for (uint16_t i = 0; i < n; i++) {
        size_t next = skip_attrs(b, p + 6);
        if (tutf8(t, u2(b + p + 2), name) && (!desc || tutf8(t, u2(b + p + 4), desc))) {
            memset(c, 0, sizeof(*c));
            c->access = u2(b + p);
            size_t a = p + 8;
            for (uint16_t j = 0; j < u2(b + p + 6); j++, a += 6 + u4(b + a + 2)) {
                if (!tutf8(t, u2(b + a), "Code"))
                    continue;
                const uint8_t *q = b + a + 6;
                c->max_stack = u2(q);
                c->max_locals = u2(q + 2);
                c->code_len = u4(q + 4);
                c->code = q + 8;
                q += 8 + c->code_len;
                c->n_exc = u2(q);
                c->exc = q + 2;
                q += 2 + 8 * (size_t)c->n_exc;
                c->n_sub = u2(q);
                q += 2;
                for (uint16_t k = 0; k < c->n_sub; k++, q += 6 + u4(q + 2)) {
                    if (tutf8(t, u2(q), "StackMapTable")) c->smt = q + 6;
                    if (tutf8(t, u2(q), "LineNumberTable")) c->lnt = q + 6;
                    if (tutf8(t, u2(q), "LocalVariableTable")) c->lvt = q + 6;
                    if (tutf8(t, u2(q), "LocalVariableTypeTable")) c->lvtt = q + 6;
                }
            }
            return true;
        }
        p = next;
    }
    return false;
}

/* Instruction length, written independently of the module. */
static uint32_t tlen(const uint8_t *code, uint32_t o)
{
    uint8_t op = code[o];
    if (op == 0xaa || op == 0xab) {
        uint32_t p = (o + 4) & ~3u;
        if (op == 0xaa)
            return p - o + 12 +
                   4 * (uint32_t)((int32_t)u4(code + p + 8) - (int32_t)u4(code + p + 4) + 1);
        return p - o + 8 + 8 * u4(code + p + 4);
    }
    if (op == 0xc4)
        return code[o + 1] == 0x84 ? 6 : 4;
    if (op == 0x10 || op == 0x12 || (op >= 0x15 && op <= 0x19) || (op >= 0x36 && op <= 0x3a) ||
        op == 0xa9 || op == 0xbc)
        return 2;
    if (op == 0x11 || op == 0x13 || op == 0x14 || op == 0x84 || (op >= 0x99 && op <= 0xa8) ||
        (op >= 0xb2 && op <= 0xb8) || op == 0xbb || op == 0xbd || op == 0xc0 || op == 0xc1 ||
        op == 0xc6 || op == 0xc7)
        return 3;
    if (op == 0xc5)
        return 4;
    if (op == 0xb9 || op == 0xba || op == 0xc8 || op == 0xc9)
        return 5;
    return 1;
}

typedef struct {
    unsigned hooks, returns, branches, frames, uninit, handlers;
} tstats;

static bool is_hook(const tcode *c, uint32_t o, uint16_t mref)
{
    return o + 4 <= c->code_len && c->code[o] == 0x2a && c->code[o + 1] == 0xb8 &&
           u2(c->code + o + 2) == mref;
}

/* A jump to t must land on an instruction, and never between a hook and the
   `return` it guards, nor right after entry code. */
static void check_target(const tcode *c, const uint8_t *starts, uint32_t t, uint16_t mref,
                         bool entry)
{
    assert_true(t < c->code_len);
    assert_true(starts[t]);
    if (c->code[t] == 0xb1 && t >= 4)
        assert_false(is_hook(c, t - 4, mref));
    if (entry)
        assert_true(t >= 4);
}

static const uint8_t *check_vti(const tcode *c, const uint8_t *q, tstats *s)
{
    uint8_t tag = *q++;
    assert_true(tag <= 8);
    if (tag == 7)
        q += 2;
    if (tag == 8) {
        uint16_t off = u2(q);
        assert_true(off < c->code_len);
        assert_int_equal(c->code[off], 0xbb); /* `new` */
        s->uninit++;
        q += 2;
    }
    return q;
}

/* Checks a method's rewritten code; returns what it saw. */
static tstats check_code(const tcode *c, uint16_t mref, bool entry, bool before_ret)
{
    tstats s = { 0 };
    uint8_t *starts = calloc(c->code_len + 1, 1);
    assert_non_null(starts);
    for (uint32_t o = 0; o < c->code_len; o += tlen(c->code, o))
        starts[o] = 1;
    starts[c->code_len] = 1; /* the end, for exclusive range ends */
    if (entry)
        assert_true(is_hook(c, 0, mref));
    for (uint32_t o = 0; o < c->code_len; o += tlen(c->code, o)) {
        uint8_t op = c->code[o];
        if (is_hook(c, o, mref))
            s.hooks++;
        if (op == 0xb1) {
            s.returns++;
            if (before_ret)
                assert_true(o >= 4 && is_hook(c, o - 4, mref));
        }
        if ((op >= 0x99 && op <= 0xa7) || op == 0xc6 || op == 0xc7) {
            uint32_t t = (uint32_t)((int32_t)o + (int16_t)u2(c->code + o + 1));
            check_target(c, starts, t, mref, entry);
            s.branches++;
        } else if (op == 0xc8) {
            uint32_t t = (uint32_t)((int32_t)o + (int32_t)u4(c->code + o + 1));
            check_target(c, starts, t, mref, entry);
            s.branches++;
        } else if (op == 0xaa || op == 0xab) {
            uint32_t p = (o + 4) & ~3u;
            for (uint32_t q = o + 1; q < p; q++)
                assert_int_equal(c->code[q], 0); /* padding kept */
            check_target(c, starts, o + u4(c->code + p), mref, entry);
            uint32_t n = op == 0xaa ? u4(c->code + p + 8) - u4(c->code + p + 4) + 1
                                    : u4(c->code + p + 4);
            for (uint32_t k = 0; k < n; k++) {
                uint32_t at = op == 0xaa ? p + 12 + 4 * k : p + 12 + 8 * k;
                check_target(c, starts, o + u4(c->code + at), mref, entry);
            }
            s.branches++;
        }
    }
    for (uint16_t i = 0; i < c->n_exc; i++) {
        const uint8_t *e = c->exc + 8 * i;
        uint16_t start = u2(e), end = u2(e + 2), handler = u2(e + 4);
        assert_true(start < end && end <= c->code_len);
        assert_true(starts[start] && starts[end]);
        check_target(c, starts, handler, mref, entry);
        /* a guarded return inside the range has its hook inside too */
        for (uint32_t o = start; o < end; o += tlen(c->code, o))
            if (c->code[o] == 0xb1 && before_ret)
                assert_true(o - 4 >= start);
        s.handlers++;
    }
    if (c->smt) {
        uint16_t n = u2(c->smt);
        const uint8_t *q = c->smt + 2;
        uint32_t off = 0;
        for (uint16_t i = 0; i < n; i++) {
            uint8_t t = *q++;
            uint32_t d;
            if (t < 64) {
                d = t;
            } else if (t < 128) {
                d = t - 64u;
                q = check_vti(c, q, &s);
            } else {
                assert_true(t >= 247);
                d = u2(q);
                q += 2;
                if (t == 247)
                    q = check_vti(c, q, &s);
                if (t >= 252 && t <= 254)
                    for (int k = 0; k < t - 251; k++)
                        q = check_vti(c, q, &s);
                if (t == 255) {
                    uint16_t nl = u2(q);
                    q += 2;
                    for (uint16_t k = 0; k < nl; k++)
                        q = check_vti(c, q, &s);
                    uint16_t ns = u2(q);
                    q += 2;
                    for (uint16_t k = 0; k < ns; k++)
                        q = check_vti(c, q, &s);
                }
            }
            off = i == 0 ? d : off + d + 1;
            check_target(c, starts, off, mref, entry);
            s.frames++;
        }
    }
    if (c->lnt)
        for (uint16_t i = 0; i < u2(c->lnt); i++)
            assert_true(starts[u2(c->lnt + 2 + 4 * i)]);
    const uint8_t *tabs[2] = { c->lvt, c->lvtt };
    for (int k = 0; k < 2; k++)
        if (tabs[k])
            for (uint16_t i = 0; i < u2(tabs[k]); i++) {
                const uint8_t *e = tabs[k] + 2 + 10 * i;
                assert_true(starts[u2(e)]);
                assert_true(starts[u2(e) + u2(e + 2)]);
            }
    free(starts);
    return s;
}

/* Finds the hook's Methodref in a rewritten class. */
static uint16_t find_mref(const tclass *t)
{
    for (unsigned i = 1; i < t->cp_count; i++)
        if (t->cp[i] && tmref_is(t, i, HOOK_CLASS, HOOK_METHOD))
            return (uint16_t)i;
    fail_msg("no hook Methodref");
    return 0;
}

/* Rewrites, expecting success and n_changed methods changed. */
static uint8_t *rewrite_ok(const uint8_t *in, size_t len, const struct nra_cf_insertion *ins,
                           size_t n_ins, unsigned expect_changed, size_t *out_len)
{
    uint8_t *out = NULL;
    unsigned changed = 99;
    int rc = nra_cf_rewrite(in, len, HOOK_CLASS, HOOK_METHOD, ins, n_ins, &out, out_len, &changed);
    assert_int_equal(rc, 0);
    assert_int_equal(changed, expect_changed);
    if (expect_changed) {
        assert_non_null(out);
        assert_int_equal(nra_cf_class_info(out, *out_len, NULL, 0, NULL, 0, NULL), 0);
    } else {
        assert_null(out);
    }
    return out;
}

static const struct nra_cf_insertion INS_ALL[] = {
    { NULL, NULL, NRA_CF_AT_ENTRY },
    { NULL, NULL, NRA_CF_BEFORE_RETURN },
};

/* Counts `return` (0xb1) instructions in a method of the original class. */
static unsigned count_returns(const uint8_t *b, size_t len, const char *name, const char *desc)
{
    tclass *t = topen(b, len);
    tcode c;
    assert_true(tmethod(t, name, desc, &c));
    unsigned n = 0;
    for (uint32_t o = 0; o < c.code_len; o += tlen(c.code, o))
        n += c.code[o] == 0xb1;
    free(t);
    return n;
}

/* --------------------------------------------------------------- class info */

static void test_class_info(void **state)
{
    (void)state;
    char name[64], super[64];
    bool fin = true;
    assert_int_equal(nra_cf_class_info(fx_FxFinalize, sizeof fx_FxFinalize, name, sizeof name,
                                       super, sizeof super, &fin), 0);
    assert_string_equal(name, "FxFinalize");
    assert_string_equal(super, "java/lang/Object");
    assert_true(fin);
    assert_int_equal(nra_cf_class_info(fx_FxCtor, sizeof fx_FxCtor, name, sizeof name,
                                       super, sizeof super, &fin), 0);
    assert_string_equal(name, "FxCtor");
    assert_false(fin);
    /* buffers: NULL is fine, too small is -ERANGE */
    assert_int_equal(nra_cf_class_info(fx_FxCtor, sizeof fx_FxCtor, NULL, 0, NULL, 0, NULL), 0);
    assert_int_equal(nra_cf_class_info(fx_FxCtor, sizeof fx_FxCtor, name, 6, NULL, 0, NULL),
                     -ERANGE);
    assert_string_equal(name, "");
    assert_int_equal(nra_cf_class_info(fx_FxCtor, sizeof fx_FxCtor, name, 7, NULL, 0, NULL), 0);
    assert_string_equal(name, "FxCtor");
}

/* ----------------------------------------------------------- constructors */

static void test_ctor_before_returns(void **state)
{
    (void)state;
    const struct nra_cf_insertion ins[] = { { "<init>", NULL, NRA_CF_BEFORE_RETURN } };
    size_t len;
    uint8_t *out = rewrite_ok(fx_FxCtor, sizeof fx_FxCtor, ins, 1, 2, &len);
    tclass *t = topen(out, len), *o = topen(fx_FxCtor, sizeof fx_FxCtor);
    uint16_t mref = find_mref(t);
    tcode c, oc;
    assert_true(tmethod(t, "<init>", "(I)V", &c));
    assert_true(tmethod(o, "<init>", "(I)V", &oc));
    tstats s = check_code(&c, mref, false, true);
    unsigned rets = count_returns(fx_FxCtor, sizeof fx_FxCtor, "<init>", "(I)V");
    assert_true(rets >= 3);
    assert_int_equal(s.hooks, rets);
    assert_int_equal(s.returns, rets);
    assert_true(s.branches >= 3 && s.frames >= 3);
    assert_int_equal(c.code_len, oc.code_len + 4 * rets);
    assert_int_equal(c.max_stack, oc.max_stack + 1);
    assert_int_equal(c.max_locals, oc.max_locals);
    assert_non_null(c.lnt);
    assert_non_null(c.lvt);
    /* the other constructor too; plain methods untouched */
    assert_true(tmethod(t, "<init>", "()V", &c));
    assert_int_equal(check_code(&c, mref, false, true).hooks, 1);
    assert_true(tmethod(t, "empty", NULL, &c));
    assert_int_equal(c.code_len, 1);
    free(t);
    free(o);
    free(out);
}

static void test_ctor_entry_refused(void **state)
{
    (void)state;
    const struct nra_cf_insertion ins[] = { { "<init>", "()V", NRA_CF_AT_ENTRY } };
    uint8_t *out = (uint8_t *)1;
    size_t len = 1;
    unsigned changed = 1;
    assert_int_equal(nra_cf_rewrite(fx_FxCtor, sizeof fx_FxCtor, HOOK_CLASS, HOOK_METHOD, ins, 1,
                                    &out, &len, &changed), -ENOTSUP);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(changed, 0);
}

/* Entry and before-return in every method: an empty method gets both hooks
   at offset 0; a loop back to offset 0 lands after the entry hook. */
static void test_all_methods(void **state)
{
    (void)state;
    size_t len;
    uint8_t *out = rewrite_ok(fx_FxCtor, sizeof fx_FxCtor, INS_ALL, 2, 4, &len);
    tclass *t = topen(out, len);
    uint16_t mref = find_mref(t);
    tcode c;
    assert_true(tmethod(t, "empty", "()V", &c));
    assert_int_equal(c.code_len, 9);
    assert_int_equal(check_code(&c, mref, true, true).hooks, 2);
    assert_true(tmethod(t, "spin", "(I)V", &c));
    tstats s = check_code(&c, mref, true, true);
    assert_int_equal(s.hooks, 2);
    assert_true(s.frames >= 1); /* the frame at the loop head moved to 4 */
    assert_true(tmethod(t, "<init>", "(I)V", &c));
    check_code(&c, mref, false, true);
    free(t);
    free(out);
}

/* ---------------------------------------------------------------- finalize */

static void test_finalize_entry(void **state)
{
    (void)state;
    const struct nra_cf_insertion ins[] = { { "finalize", "()V", NRA_CF_AT_ENTRY } };
    size_t len;
    uint8_t *out = rewrite_ok(fx_FxFinalize, sizeof fx_FxFinalize, ins, 1, 1, &len);
    tclass *t = topen(out, len), *o = topen(fx_FxFinalize, sizeof fx_FxFinalize);
    tcode c, oc;
    assert_true(tmethod(t, "finalize", "()V", &c));
    assert_true(tmethod(o, "finalize", "()V", &oc));
    uint16_t mref = find_mref(t);
    tstats s = check_code(&c, mref, true, false);
    assert_int_equal(s.hooks, 1);
    assert_int_equal(c.code_len, oc.code_len + 4);
    assert_memory_equal(c.code + 4, oc.code, oc.code_len);
    /* the line of the first instruction now covers the entry code too */
    assert_int_equal(u2(c.lnt + 2), 0);
    /* `this` stays live over the whole (longer) method */
    assert_int_equal(u2(c.lvt + 2), 0);
    assert_int_equal(u2(c.lvt + 4), c.code_len);
    /* the constant pool grew by exactly the hook's entries */
    assert_int_equal(t->cp_count, o->cp_count + 6);
    /* finalize with another descriptor does not match */
    const struct nra_cf_insertion other[] = { { "finalize", "(I)V", NRA_CF_AT_ENTRY } };
    rewrite_ok(fx_FxFinalize, sizeof fx_FxFinalize, other, 1, 0, &len);
    free(t);
    free(o);
    free(out);
}

/* Rewriting a rewritten class reuses the hook's constant pool entries. */
static void test_constant_pool_reuse(void **state)
{
    (void)state;
    const struct nra_cf_insertion ins[] = { { "finalize", "()V", NRA_CF_AT_ENTRY } };
    size_t len, len2;
    uint8_t *out = rewrite_ok(fx_FxFinalize, sizeof fx_FxFinalize, ins, 1, 1, &len);
    uint8_t *out2 = rewrite_ok(out, len, ins, 1, 1, &len2);
    assert_int_equal(u2(out2 + 8), u2(out + 8));
    assert_int_equal(len2, len + 4);
    tclass *t = topen(out2, len2);
    tcode c;
    assert_true(tmethod(t, "finalize", "()V", &c));
    assert_int_equal(check_code(&c, find_mref(t), true, false).hooks, 2);
    free(t);
    free(out);
    free(out2);
}

/* ---------------------------------------------------------------- switches */

static void test_switches(void **state)
{
    (void)state;
    size_t len;
    uint8_t *out = rewrite_ok(fx_FxSwitch, sizeof fx_FxSwitch, INS_ALL, 2, 3, &len);
    tclass *t = topen(out, len), *o = topen(fx_FxSwitch, sizeof fx_FxSwitch);
    uint16_t mref = find_mref(t);
    const char *names[] = { "table", "lookup" };
    uint8_t ops[] = { 0xaa, 0xab };
    for (int k = 0; k < 2; k++) {
        tcode c, oc;
        assert_true(tmethod(t, names[k], "(I)V", &c));
        assert_true(tmethod(o, names[k], "(I)V", &oc));
        tstats s = check_code(&c, mref, true, true);
        unsigned rets = count_returns(fx_FxSwitch, sizeof fx_FxSwitch, names[k], "(I)V");
        assert_true(rets >= 2);
        assert_int_equal(s.hooks, rets + 1);
        /* the switch kept its padding: same position modulo 4 */
        uint32_t so = 0, no = 0;
        while (oc.code[so] != ops[k])
            so += tlen(oc.code, so);
        while (c.code[no] != ops[k])
            no += tlen(c.code, no);
        assert_int_equal(so % 4, no % 4);
        assert_int_equal(c.code_len, oc.code_len + 4 * (rets + 1));
    }
    free(t);
    free(o);
    free(out);
}

/* -------------------------------------------------------------- handlers */

static void test_exception_handlers(void **state)
{
    (void)state;
    size_t len;
    uint8_t *out = rewrite_ok(fx_FxHandlers, sizeof fx_FxHandlers, INS_ALL, 2, 4, &len);
    tclass *t = topen(out, len), *o = topen(fx_FxHandlers, sizeof fx_FxHandlers);
    uint16_t mref = find_mref(t);
    tcode c, oc;
    assert_true(tmethod(t, "m", "(I)V", &c));
    assert_true(tmethod(o, "m", "(I)V", &oc));
    tstats s = check_code(&c, mref, true, true);
    assert_int_equal(s.handlers, oc.n_exc);
    assert_true(s.handlers >= 3);
    assert_int_equal(s.hooks, count_returns(fx_FxHandlers, sizeof fx_FxHandlers, "m", "(I)V") + 1);
    /* the try range starts after the entry code */
    assert_int_equal(u2(c.exc), u2(oc.exc) + 4);

    assert_true(tmethod(t, "sync", "(Ljava/lang/Object;)V", &c));
    s = check_code(&c, mref, true, true);
    assert_true(s.handlers >= 2);

    /* a method with generic locals keeps LocalVariableTypeTable consistent */
    assert_true(tmethod(t, "sum", "(I)I", &c));
    assert_non_null(c.lvtt);
    check_code(&c, mref, true, false);
    free(t);
    free(o);
    free(out);
}

/* ---------------------------------------------------- Uninitialized(offset) */

static void test_stackmap_uninitialized(void **state)
{
    (void)state;
    size_t len;
    uint8_t *out = rewrite_ok(fx_FxUninit, sizeof fx_FxUninit, INS_ALL, 2, 4, &len);
    tclass *t = topen(out, len), *o = topen(fx_FxUninit, sizeof fx_FxUninit);
    uint16_t mref = find_mref(t);
    tcode c, oc;
    assert_true(tmethod(o, "make", "(Z)Ljava/lang/Object;", &oc));
    assert_int_equal(oc.code[0], 0xbb); /* `new` at offset 0 ... */
    assert_true(tmethod(t, "make", "(Z)Ljava/lang/Object;", &c));
    tstats s = check_code(&c, mref, true, false);
    assert_true(s.uninit >= 1);           /* ... its Uninitialized moved to 4 */
    assert_int_equal(c.code[4], 0xbb);
    assert_true(tmethod(t, "set", "(Z)V", &c));
    assert_true(check_code(&c, mref, true, true).uninit >= 1);
    assert_true(tmethod(t, "<init>", "(Z)V", &c));
    assert_true(check_code(&c, mref, false, true).uninit >= 1);
    free(t);
    free(o);
    free(out);
}

/* ------------------------------------------------ hand-built class files */

struct synth {
    uint16_t access;          /* method access flags */
    const char *name, *desc;
    uint16_t max_stack, max_locals;
    const uint8_t *code;
    uint32_t code_len;
    const uint8_t *sub;       /* raw Code sub-attributes */
    size_t sub_len;
    uint16_t n_sub;
    const char *attr_name;    /* constant 10; NULL: "Foo" */
    const uint8_t *exc;       /* raw exception table entries */
    uint16_t n_exc;
    unsigned extra_ints;      /* Integer constants appended to the pool */
};

struct buf {
    uint8_t *p;
    size_t n;
};

static void put(struct buf *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->n + n);
    assert_non_null(b->p);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put2(struct buf *b, unsigned v)
{
    uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    put(b, x, 2);
}
static void put4(struct buf *b, uint32_t v) { put2(b, v >> 16); put2(b, v & 0xffff); }
static void pututf8(struct buf *b, const char *s)
{
    put(b, "\x01", 1);
    put2(b, (unsigned)strlen(s));
    put(b, s, strlen(s));
}

/* Constant pool: 1 "Synth", 2 Class#1, 3 "java/lang/Object", 4 Class#3,
   5 name, 6 desc, 7 "Code", 8-9 Long, 10 attr_name or "Foo". */
static struct buf synth_class(const struct synth *s)
{
    struct buf b = { 0 };
    put4(&b, 0xCAFEBABE);
    put2(&b, 0);
    put2(&b, 52);
    put2(&b, 11 + s->extra_ints);
    pututf8(&b, "Synth");
    put(&b, "\x07\x00\x01", 3);
    pututf8(&b, "java/lang/Object");
    put(&b, "\x07\x00\x03", 3);
    pututf8(&b, s->name);
    pututf8(&b, s->desc);
    pututf8(&b, "Code");
    put(&b, "\x05\x00\x00\x00\x00\x00\x00\x00\x2a", 9);
    pututf8(&b, s->attr_name ? s->attr_name : "Foo");
    for (unsigned i = 0; i < s->extra_ints; i++)
        put(&b, "\x03\x00\x00\x00\x01", 5);
    put2(&b, 0x21);
    put2(&b, 2);
    put2(&b, 4);
    put2(&b, 0); /* interfaces */
    put2(&b, 0); /* fields */
    put2(&b, 1); /* methods */
    put2(&b, s->access);
    put2(&b, 5);
    put2(&b, 6);
    put2(&b, 1);
    put2(&b, 7);
    put4(&b, 12 + s->code_len + 8 * (uint32_t)s->n_exc + (uint32_t)s->sub_len);
    put2(&b, s->max_stack);
    put2(&b, s->max_locals);
    put4(&b, s->code_len);
    put(&b, s->code, s->code_len);
    put2(&b, s->n_exc);
    if (s->n_exc)
        put(&b, s->exc, 8 * (size_t)s->n_exc);
    put2(&b, s->n_sub);
    if (s->sub_len)
        put(&b, s->sub, s->sub_len);
    put2(&b, 0); /* class attributes */
    return b;
}

static int synth_rewrite(const struct synth *s, const struct nra_cf_insertion *ins,
                         struct buf *out, unsigned *changed)
{
    struct buf in = synth_class(s);
    size_t len = 0;
    int rc = nra_cf_rewrite(in.p, in.n, HOOK_CLASS, HOOK_METHOD, ins, 1, &out->p, &len, changed);
    out->n = len;
    if (rc != 0)
        assert_null(out->p);
    free(in.p);
    return rc;
}

static const struct nra_cf_insertion ENTRY_ANY[] = { { NULL, NULL, NRA_CF_AT_ENTRY } };
static const struct nra_cf_insertion RET_ANY[] = { { NULL, NULL, NRA_CF_BEFORE_RETURN } };

/* A handler at a `return` lands on its hook; a try range that starts at a
   `return` includes the hook, one that ends there excludes it. */
static void test_handler_at_return(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0x00, 0xb1 }; /* nop; return */
    static const uint8_t exc[] = {
        0, 0, 0, 1, 0, 1, 0, 0, /* [0,1) -> 1 */
        0, 1, 0, 2, 0, 0, 0, 0, /* [1,2) -> 0 */
    };
    struct synth s = { .name = "m", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = code, .code_len = sizeof code, .exc = exc, .n_exc = 2 };
    struct buf out = { 0 };
    unsigned changed;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), 0);
    tclass *t = topen(out.p, out.n);
    tcode c;
    assert_true(tmethod(t, "m", "()V", &c));
    static const uint8_t want_code[] = { 0x00, 0x2a, 0xb8, 0x00, 0x10, 0xb1 };
    assert_memory_equal(c.code, want_code, sizeof want_code);
    assert_int_equal(c.n_exc, 2);
    static const uint8_t want_exc[] = {
        0, 0, 0, 1, 0, 1, 0, 0,
        0, 1, 0, 6, 0, 0, 0, 0,
    };
    assert_memory_equal(c.exc, want_exc, sizeof want_exc);
    free(t);
    free(out.p);
}

/* A same_frame pushed past delta 63 becomes a same_frame_extended. */
static void test_frame_grows_extended(void **state)
{
    (void)state;
    uint8_t code[64];
    memset(code, 0xb1, sizeof code);  /* returns at 3..63 */
    code[0] = 0xa7;                   /* goto 63 */
    code[1] = 0x00;
    code[2] = 0x3f;
    static const uint8_t smt[] = { 0x00, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x3f };
    struct synth s = { .name = "m", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = code, .code_len = sizeof code, .sub = smt, .sub_len = sizeof smt, .n_sub = 1,
        .attr_name = "StackMapTable" };
    struct buf out = { 0 };
    unsigned changed;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), 0);
    tclass *t = topen(out.p, out.n);
    tcode c;
    assert_true(tmethod(t, "m", "()V", &c));
    assert_int_equal(c.code_len, 64 + 4 * 61);
    assert_non_null(c.smt);
    assert_int_equal(u2(c.smt), 1);
    assert_int_equal(c.smt[2], 251);
    assert_int_equal(u2(c.smt + 3), 63 + 4 * 60);
    check_code(&c, 16, false, true);
    free(t);
    free(out.p);
}

/* The constant pool may not exceed 65535 entries. */
static void test_constant_pool_full(void **state)
{
    (void)state;
    static const uint8_t ret[] = { 0xb1 };
    struct synth s = { .name = "m", .desc = "()V", .max_stack = 0, .max_locals = 1, .code = ret,
        .code_len = 1, .extra_ints = 65535 - 11 };
    struct buf out = { 0 };
    unsigned changed;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), -ENOTSUP);
    s.extra_ints = 65535 - 11 - 5; /* one entry short */
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), -ENOTSUP);
    s.extra_ints = 65535 - 11 - 6; /* room for exactly the hook's 6 entries */
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), 0);
    assert_int_equal(u2(out.p + 8), 65535);
    free(out.p);
}

static void test_code_size_overflow(void **state)
{
    (void)state;
    uint32_t n = 65535;
    uint8_t *code = calloc(n, 1); /* nop ... */
    assert_non_null(code);
    code[n - 1] = 0xb1;           /* ... return */
    struct synth s = { .name = "big", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = code, .code_len = n };
    struct buf out = { 0 };
    unsigned changed;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), -ENOTSUP);
    s.code_len = n - 4;           /* exactly fits */
    s.code = code + 4;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), 0);
    assert_int_equal(changed, 1);
    tclass *t = topen(out.p, out.n);
    tcode c;
    assert_true(tmethod(t, "big", "()V", &c));
    assert_int_equal(c.code_len, 65535);
    free(t);
    free(out.p);
    free(code);
}

static void test_branch_overflow(void **state)
{
    (void)state;
    /* goto +32764 over a `return` at 3: with the hook it would be +32768 */
    uint32_t n = 32767 + 3;
    uint8_t *code = calloc(n, 1);
    assert_non_null(code);
    code[0] = 0xa7;
    code[1] = 0x7f;
    code[2] = 0xfc;
    code[3] = 0xb1;
    code[32764] = 0xb1;
    code[n - 1] = 0xb1;
    struct synth s = { .name = "far", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = code, .code_len = n };
    struct buf out = { 0 };
    unsigned changed;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), -ENOTSUP);
    free(code);
}

static void test_refusals(void **state)
{
    (void)state;
    struct buf out = { 0 };
    unsigned changed;
    /* jsr 3; return; astore_1; ret 1 */
    static const uint8_t jsr[] = { 0xa8, 0x00, 0x04, 0xb1, 0x4c, 0xa9, 0x01 };
    struct synth s = { .name = "sub", .desc = "()V", .max_stack = 1, .max_locals = 2,
        .code = jsr, .code_len = sizeof jsr };
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), -ENOTSUP);
    /* aconst_null; astore_0; return: local 0 no longer holds `this` */
    static const uint8_t st0[] = { 0x01, 0x4b, 0xb1 };
    struct synth s0 = { .name = "st0", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = st0, .code_len = sizeof st0 };
    assert_int_equal(synth_rewrite(&s0, RET_ANY, &out, &changed), -ENOTSUP);
    /* ... but entry code still sees `this` */
    assert_int_equal(synth_rewrite(&s0, ENTRY_ANY, &out, &changed), 0);
    assert_int_equal(changed, 1);
    free(out.p);
    out.p = NULL;
    /* wide astore 0 */
    static const uint8_t wst0[] = { 0x01, 0xc4, 0x3a, 0x00, 0x00, 0xb1 };
    struct synth sw = { .name = "wst0", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = wst0, .code_len = sizeof wst0 };
    assert_int_equal(synth_rewrite(&sw, RET_ANY, &out, &changed), -ENOTSUP);
    /* goto 3; 3: return — with a full_frame at 3 whose local 0 is Top */
    static const uint8_t goto_ret[] = { 0xa7, 0x00, 0x03, 0xb1 };
    uint8_t smt[] = { 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x01,
                      0xff, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00 };
    struct synth sf = { .name = "top", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = goto_ret, .code_len = sizeof goto_ret, .sub = smt, .sub_len = sizeof smt,
        .n_sub = 1, .attr_name = "StackMapTable" };
    assert_int_equal(synth_rewrite(&sf, RET_ANY, &out, &changed), -ENOTSUP);
    /* the same frame with local 0 = Object(Synth) is fine: the goto lands
       on the hook, the frame stays with it at 3 */
    smt[14] = 0x07;
    uint8_t smt_obj[] = { 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x01, 0xff, 0x00,
                          0x03, 0x00, 0x01, 0x07, 0x00, 0x02, 0x00, 0x00 };
    sf.sub = smt_obj;
    sf.sub_len = sizeof smt_obj;
    assert_int_equal(synth_rewrite(&sf, RET_ANY, &out, &changed), 0);
    assert_int_equal(changed, 1);
    tclass *t = topen(out.p, out.n);
    tcode c;
    assert_true(tmethod(t, "top", "()V", &c));
    static const uint8_t want[] = { 0xa7, 0x00, 0x03, 0x2a, 0xb8, 0x00, 0x10, 0xb1 };
    assert_int_equal(c.code_len, sizeof want);
    assert_memory_equal(c.code, want, sizeof want);
    assert_non_null(c.smt);
    assert_int_equal(c.smt[2], 0xff);
    assert_int_equal(u2(c.smt + 3), 3);
    check_code(&c, 16, false, true);
    free(t);
    free(out.p);
}

static void test_skips(void **state)
{
    (void)state;
    struct buf out = { 0 };
    unsigned changed = 7;
    static const uint8_t ret[] = { 0xb1 };
    /* static methods are skipped, not counted */
    struct synth s = { .access = 0x0008, .name = "st", .desc = "()V", .max_stack = 0,
        .max_locals = 0, .code = ret, .code_len = 1 };
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), 0);
    assert_int_equal(changed, 0);
    assert_null(out.p);
    /* a non-void method has no `return` to guard */
    static const uint8_t iret[] = { 0x03, 0xac };
    struct synth si = { .name = "i", .desc = "()I", .max_stack = 1, .max_locals = 1,
        .code = iret, .code_len = 2 };
    assert_int_equal(synth_rewrite(&si, RET_ANY, &out, &changed), 0);
    assert_int_equal(changed, 0);
    /* no matching insertion */
    const struct nra_cf_insertion other[] = { { "other", NULL, NRA_CF_BEFORE_RETURN } };
    assert_int_equal(synth_rewrite(&si, other, &out, &changed), 0);
    assert_null(out.p);
}

/* Long takes two constant pool slots; an unknown Code sub-attribute is
   dropped; max_stack grows by one even from 0. */
static void test_long_slots_and_unknown_attribute(void **state)
{
    (void)state;
    static const uint8_t ret[] = { 0xb1 };
    static const uint8_t foo[] = { 0x00, 0x0a, 0x00, 0x00, 0x00, 0x02, 0x12, 0x34 };
    struct synth s = { .name = "m", .desc = "()V", .max_stack = 0, .max_locals = 1, .code = ret,
        .code_len = 1, .sub = foo, .sub_len = sizeof foo, .n_sub = 1 };
    struct buf out = { 0 };
    unsigned changed;
    assert_int_equal(synth_rewrite(&s, RET_ANY, &out, &changed), 0);
    assert_int_equal(changed, 1);
    tclass *t = topen(out.p, out.n);
    assert_int_equal(t->cp_count, 11 + 6);
    assert_true(tmref_is(t, 16, HOOK_CLASS, HOOK_METHOD));
    tcode c;
    assert_true(tmethod(t, "m", "()V", &c));
    assert_int_equal(c.n_sub, 0);
    assert_int_equal(c.max_stack, 1);
    static const uint8_t want[] = { 0x2a, 0xb8, 0x00, 0x10, 0xb1 };
    assert_int_equal(c.code_len, sizeof want);
    assert_memory_equal(c.code, want, sizeof want);
    free(t);
    free(out.p);
}

/* ---------------------------------------------------------- malformed input */

static void expect_einval(const uint8_t *in, size_t len)
{
    uint8_t *out = (uint8_t *)1;
    size_t out_len = 5;
    unsigned changed = 5;
    assert_int_equal(nra_cf_rewrite(in, len, HOOK_CLASS, HOOK_METHOD, INS_ALL, 2, &out, &out_len,
                                    &changed), -EINVAL);
    assert_null(out);
    assert_int_equal(out_len, 0);
    assert_int_equal(changed, 0);
    assert_int_equal(nra_cf_class_info(in, len, NULL, 0, NULL, 0, NULL), -EINVAL);
}

static void test_malformed(void **state)
{
    (void)state;
    size_t n = sizeof fx_FxHandlers;
    uint8_t *b = malloc(n + 1);
    assert_non_null(b);
    /* every truncation */
    for (size_t len = 0; len < n; len++) {
        memcpy(b, fx_FxHandlers, len);
        expect_einval(b, len);
    }
    /* a trailing byte */
    memcpy(b, fx_FxHandlers, n);
    b[n] = 0;
    expect_einval(b, n + 1);
    /* bad magic */
    b[0] = 0xca;
    b[3] = 0xbf;
    expect_einval(b, n);
    /* constant pool count 0 */
    memcpy(b, fx_FxHandlers, n);
    b[8] = 0;
    b[9] = 0;
    expect_einval(b, n);
    /* an unknown constant tag */
    memcpy(b, fx_FxHandlers, n);
    b[10] = 2;
    expect_einval(b, n);
    memcpy(b, fx_FxHandlers, n);
    tclass *t = topen(b, n);
    /* this_class past the pool */
    b[t->cp_end + 2] = 0xff;
    b[t->cp_end + 3] = 0xf0;
    expect_einval(b, n);
    /* super_class naming a Utf8 entry instead of a Class */
    memcpy(b, fx_FxHandlers, n);
    unsigned utf8 = 1;
    while (b[t->cp[utf8]] != 1)
        utf8++;
    b[t->cp_end + 4] = (uint8_t)(utf8 >> 8);
    b[t->cp_end + 5] = (uint8_t)utf8;
    expect_einval(b, n);
    memcpy(b, fx_FxHandlers, n);
    /* method name index out of range */
    size_t m = t->methods + 2;
    b[m + 2] = 0xff;
    b[m + 3] = 0xff;
    free(t);
    expect_einval(b, n);
    /* bad arguments */
    uint8_t *out;
    size_t ol;
    unsigned ch;
    assert_int_equal(nra_cf_rewrite(fx_FxCtor, sizeof fx_FxCtor, "", HOOK_METHOD, INS_ALL, 2,
                                    &out, &ol, &ch), -EINVAL);
    assert_int_equal(nra_cf_rewrite(fx_FxCtor, sizeof fx_FxCtor, HOOK_CLASS, NULL, INS_ALL, 2,
                                    &out, &ol, &ch), -EINVAL);
    assert_int_equal(nra_cf_rewrite(NULL, 0, HOOK_CLASS, HOOK_METHOD, INS_ALL, 2, &out, &ol, &ch),
                     -EINVAL);
    free(b);
}

/* Bad bytecode inside a method that is rewritten. */
static void test_malformed_code(void **state)
{
    (void)state;
    struct buf out = { 0 };
    unsigned changed;
    static const uint8_t bad_op[] = { 0xcb, 0xb1 };                 /* undefined opcode */
    static const uint8_t bad_target[] = { 0xa7, 0x00, 0x02, 0xb1 }; /* goto mid-insn */
    static const uint8_t cut_switch[] = { 0xaa, 0x00, 0x00, 0x00, 0x00, 0x00 };
    static const uint8_t cut_insn[] = { 0xb1, 0x11, 0x00 };          /* sipush cut */
    const uint8_t *codes[] = { bad_op, bad_target, cut_switch, cut_insn };
    uint32_t lens[] = { sizeof bad_op, sizeof bad_target, sizeof cut_switch, sizeof cut_insn };
    for (int k = 0; k < 4; k++) {
        struct synth s = { .name = "m", .desc = "()V", .max_stack = 1, .max_locals = 1,
            .code = codes[k], .code_len = lens[k] };
        assert_int_equal(synth_rewrite(&s, ENTRY_ANY, &out, &changed), -EINVAL);
    }
    /* zero-length code */
    struct synth z = { .name = "m", .desc = "()V", .max_stack = 1, .max_locals = 1,
        .code = bad_op, .code_len = 0 };
    assert_int_equal(synth_rewrite(&z, ENTRY_ANY, &out, &changed), -EINVAL);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random bit flips and byte stores: never a crash, only 0 or -errno, and
   any output parses back. */
static void test_fuzz(void **state)
{
    (void)state;
    const uint8_t *fx[] = { fx_FxCtor, fx_FxFinalize, fx_FxSwitch, fx_FxHandlers, fx_FxUninit };
    size_t fl[] = { sizeof fx_FxCtor, sizeof fx_FxFinalize, sizeof fx_FxSwitch,
                    sizeof fx_FxHandlers, sizeof fx_FxUninit };
    unsigned ok = 0, errs = 0;
    for (int k = 0; k < 5; k++) {
        uint8_t *b = malloc(fl[k]);
        assert_non_null(b);
        for (int iter = 0; iter < 4000; iter++) {
            memcpy(b, fx[k], fl[k]);
            int flips = 1 + (int)(next_rand() % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = next_rand() % fl[k];
                if (next_rand() & 1)
                    b[at] ^= (uint8_t)(1u << (next_rand() % 8));
                else
                    b[at] = (uint8_t)next_rand();
            }
            size_t len = (next_rand() % 8 == 0) ? next_rand() % fl[k] : fl[k];
            uint8_t *out = NULL;
            size_t out_len = 0;
            unsigned changed = 0;
            int rc = nra_cf_rewrite(b, len, HOOK_CLASS, HOOK_METHOD, INS_ALL, 2, &out, &out_len,
                                    &changed);
            assert_true(rc == 0 || rc == -EINVAL || rc == -ENOTSUP);
            if (rc == 0) {
                ok++;
                assert_true((out != NULL) == (changed > 0));
                if (out)
                    assert_int_equal(nra_cf_class_info(out, out_len, NULL, 0, NULL, 0, NULL), 0);
            } else {
                errs++;
                assert_null(out);
            }
            free(out);
            bool fin;
            char name[32];
            rc = nra_cf_class_info(b, len, name, sizeof name, NULL, 0, &fin);
            assert_true(rc == 0 || rc == -EINVAL || rc == -ERANGE);
        }
        free(b);
    }
    assert_true(ok > 0 && errs > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_info),
        cmocka_unit_test(test_ctor_before_returns),
        cmocka_unit_test(test_ctor_entry_refused),
        cmocka_unit_test(test_all_methods),
        cmocka_unit_test(test_finalize_entry),
        cmocka_unit_test(test_constant_pool_reuse),
        cmocka_unit_test(test_switches),
        cmocka_unit_test(test_exception_handlers),
        cmocka_unit_test(test_stackmap_uninitialized),
        cmocka_unit_test(test_handler_at_return),
        cmocka_unit_test(test_frame_grows_extended),
        cmocka_unit_test(test_constant_pool_full),
        cmocka_unit_test(test_code_size_overflow),
        cmocka_unit_test(test_branch_overflow),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_skips),
        cmocka_unit_test(test_long_slots_and_unknown_attribute),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_code),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
