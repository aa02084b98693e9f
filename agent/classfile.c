/*
 * classfile.c — parse and rewrite Java class files (see include/classfile.h).
 *
 * Pure C, libc only. Every read goes through a bounds-checked cursor or is of
 * a range that an earlier pass validated; output is built in a growable
 * buffer and handed over only when the whole class was rewritten.
 *
 * Offsets in a rewritten method (old offset o → new offset):
 *   E = 4 if the method gets entry code (at 0), else 0;
 *   R = the sorted offsets of the `return`s that get code before them.
 *   target(o) = o + E + 4·|{r ∈ R : r < o}|   where a jump to o lands: the
 *               code inserted before a `return` at o, but after entry code;
 *   insn(o)   = o + E + 4·|{r ∈ R : r ≤ o}|   where the instruction itself is;
 *   start(o)  = 0 if o == 0, else target(o)   start of a line / variable range.
 * Branches, switches, handlers, try ranges and StackMapTable frames use
 * target(); Uninitialized(o) and a branch's own position use insn().
 */
#include "classfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ACC_STATIC   0x0008
#define ACC_NATIVE   0x0100
#define ACC_ABSTRACT 0x0400

#define CP_UTF8        1
#define CP_CLASS       7
#define CP_METHODREF   10
#define CP_NAMEANDTYPE 12

#define OP_ALOAD_0      0x2a
#define OP_INVOKESTATIC 0xb8
#define OP_RETURN       0xb1
#define HOOK_LEN        4u
#define CODE_MAX        65535u

/* ------------------------------------------------------------------ bytes */

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bounds-checked cursor: once past the end it stays `bad` and reads 0. */
struct rd {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}
static uint8_t rd_u1(struct rd *r) { const uint8_t *q = rd_take(r, 1); return q ? q[0] : 0; }
static uint16_t rd_u2(struct rd *r) { const uint8_t *q = rd_take(r, 2); return q ? be16(q) : 0; }
static uint32_t rd_u4(struct rd *r) { const uint8_t *q = rd_take(r, 4); return q ? be32(q) : 0; }

/* Growable output buffer: after an allocation failure it stays `oom`. */
struct wb {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static bool wb_room(struct wb *w, size_t n)
{
    if (w->oom)
        return false;
    if (n <= w->cap - w->len)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
        w->oom = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}
static void wb_bytes(struct wb *w, const void *b, size_t n)
{
    if (n && wb_room(w, n)) {
        memcpy(w->p + w->len, b, n);
        w->len += n;
    }
}
static void wb_u1(struct wb *w, uint8_t v) { wb_bytes(w, &v, 1); }
static void wb_u2(struct wb *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    wb_bytes(w, b, 2);
}
static void wb_u4(struct wb *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    wb_bytes(w, b, 4);
}
static void wb_set_u2(struct wb *w, size_t at, uint16_t v)
{
    if (!w->oom) {
        w->p[at] = (uint8_t)(v >> 8);
        w->p[at + 1] = (uint8_t)v;
    }
}
static void wb_set_u4(struct wb *w, size_t at, uint32_t v)
{
    if (!w->oom) {
        w->p[at] = (uint8_t)(v >> 24);
        w->p[at + 1] = (uint8_t)(v >> 16);
        w->p[at + 2] = (uint8_t)(v >> 8);
        w->p[at + 3] = (uint8_t)v;
    }
}

/* ------------------------------------------------------------ class level */

struct cls {
    const uint8_t *in;
    size_t len;
    uint16_t cp_count;
    uint32_t *cp;        /* cp[i]: offset of entry i's tag; 0 if i is no entry */
    size_t cp_start;     /* first entry */
    size_t cp_end;       /* access_flags */
    uint16_t this_class, super_class;
    size_t methods_at;   /* methods_count */
    size_t attrs_at;     /* class attributes_count */
};

/* Skips a fields or methods table. */
static void skip_members(struct rd *r)
{
    uint16_t n = rd_u2(r);
    for (uint16_t i = 0; i < n && !r->bad; i++) {
        rd_take(r, 6);
        uint16_t na = rd_u2(r);
        for (uint16_t j = 0; j < na && !r->bad; j++) {
            rd_take(r, 2);
            rd_take(r, rd_u4(r));
        }
    }
}

static int cp_tag(const struct cls *c, unsigned i)
{
    return (i && i < c->cp_count && c->cp[i]) ? c->in[c->cp[i]] : 0;
}

static bool cp_utf8(const struct cls *c, unsigned i, const uint8_t **s, uint16_t *n)
{
    if (cp_tag(c, i) != CP_UTF8)
        return false;
    const uint8_t *p = c->in + c->cp[i];
    *n = be16(p + 1);
    *s = p + 3;
    return true;
}

static bool cp_utf8_is(const struct cls *c, unsigned i, const char *str)
{
    const uint8_t *s;
    uint16_t n;
    return cp_utf8(c, i, &s, &n) && strlen(str) == n && memcmp(s, str, n) == 0;
}

/* Utf8 index of a Class entry's name, 0 if i is no Class. */
static unsigned cp_class_name(const struct cls *c, unsigned i)
{
    if (cp_tag(c, i) != CP_CLASS)
        return 0;
    unsigned n = be16(c->in + c->cp[i] + 1);
    return cp_tag(c, n) == CP_UTF8 ? n : 0;
}

static void cls_free(struct cls *c)
{
    free(c->cp);
    c->cp = NULL;
}

/* Validates the whole class file structure (not the bytecode). */
static int cls_parse(struct cls *c, const uint8_t *in, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->in = in;
    c->len = len;
    if (!in || len > UINT32_MAX)
        return -EINVAL;
    struct rd r = { in, len, 0, false };
    if (rd_u4(&r) != 0xCAFEBABEu)
        return -EINVAL;
    rd_u2(&r); /* minor */
    uint16_t major = rd_u2(&r);
    c->cp_count = rd_u2(&r);
    if (r.bad || major < 45 || c->cp_count == 0)
        return -EINVAL;
    c->cp = calloc(c->cp_count, sizeof(*c->cp));
    if (!c->cp)
        return -ENOMEM;
    c->cp_start = r.pos;
    for (unsigned i = 1; i < c->cp_count && !r.bad; i++) {
        c->cp[i] = (uint32_t)r.pos;
        switch (rd_u1(&r)) {
        case 1: rd_take(&r, rd_u2(&r)); break;          /* Utf8 */
        case 3: case 4: rd_take(&r, 4); break;           /* Integer, Float */
        case 5: case 6:                                  /* Long, Double: 2 slots */
            rd_take(&r, 8);
            if (++i >= c->cp_count)
                r.bad = true;
            break;
        case 7: case 8: case 16: case 19: case 20: rd_take(&r, 2); break;
        case 9: case 10: case 11: case 12: case 17: case 18: rd_take(&r, 4); break;
        case 15: rd_take(&r, 3); break;                  /* MethodHandle */
        default: r.bad = true; break;
        }
    }
    c->cp_end = r.pos;
    rd_u2(&r); /* access_flags */
    c->this_class = rd_u2(&r);
    c->super_class = rd_u2(&r);
    rd_take(&r, 2 * (size_t)rd_u2(&r)); /* interfaces */
    skip_members(&r);                    /* fields */
    c->methods_at = r.pos;
    skip_members(&r);
    c->attrs_at = r.pos;
    uint16_t na = rd_u2(&r);
    for (uint16_t j = 0; j < na && !r.bad; j++) {
        rd_take(&r, 2);
        rd_take(&r, rd_u4(&r));
    }
    if (r.bad || r.pos != len || !cp_class_name(c, c->this_class) ||
        (c->super_class && !cp_class_name(c, c->super_class))) {
        cls_free(c);
        return -EINVAL;
    }
    return 0;
}

/* One method_info header; `attrs`..`end` are its attributes. */
struct method {
    size_t at, end;
    uint16_t access, name, desc, n_attrs;
    size_t attrs;
};

/* Reads the method at r (bounds were validated by cls_parse). */
static int method_read(const struct cls *c, struct rd *r, struct method *m)
{
    m->at = r->pos;
    m->access = rd_u2(r);
    m->name = rd_u2(r);
    m->desc = rd_u2(r);
    m->n_attrs = rd_u2(r);
    m->attrs = r->pos;
    for (uint16_t j = 0; j < m->n_attrs && !r->bad; j++) {
        rd_take(r, 2);
        rd_take(r, rd_u4(r));
    }
    m->end = r->pos;
    if (r->bad || cp_tag(c, m->name) != CP_UTF8 || cp_tag(c, m->desc) != CP_UTF8)
        return -EINVAL;
    return 0;
}

/* --------------------------------------------------------------- bytecode */

/* Length of a fixed-size instruction; -1 variable (switches, wide); 0 invalid. */
static int fixed_len(uint8_t op)
{
    if (op <= 0x0f) return 1;                       /* nop, constants */
    switch (op) {
    case 0x10: return 2;                            /* bipush */
    case 0x11: return 3;                            /* sipush */
    case 0x12: return 2;                            /* ldc */
    case 0x13: case 0x14: return 3;                 /* ldc_w, ldc2_w */
    case 0x84: return 3;                            /* iinc */
    case 0xa9: return 2;                            /* ret */
    case 0xaa: case 0xab: case 0xc4: return -1;     /* switches, wide */
    case 0xb9: case 0xba: return 5;                 /* invokeinterface/dynamic */
    case 0xbb: return 3;                            /* new */
    case 0xbc: return 2;                            /* newarray */
    case 0xbd: return 3;                            /* anewarray */
    case 0xbe: case 0xbf: return 1;                 /* arraylength, athrow */
    case 0xc0: case 0xc1: return 3;                 /* checkcast, instanceof */
    case 0xc2: case 0xc3: return 1;                 /* monitorenter/exit */
    case 0xc5: return 4;                            /* multianewarray */
    case 0xc6: case 0xc7: return 3;                 /* ifnull, ifnonnull */
    case 0xc8: case 0xc9: return 5;                 /* goto_w, jsr_w */
    default: break;
    }
    if (op >= 0x15 && op <= 0x19) return 2;         /* xload idx */
    if (op >= 0x1a && op <= 0x35) return 1;         /* xload_n, xaload */
    if (op >= 0x36 && op <= 0x3a) return 2;         /* xstore idx */
    if (op >= 0x3b && op <= 0x83) return 1;         /* xstore_n .. arithmetic */
    if (op >= 0x85 && op <= 0x98) return 1;         /* conversions, compares */
    if (op >= 0x99 && op <= 0xa8) return 3;         /* if*, goto, jsr */
    if (op >= 0xac && op <= 0xb1) return 1;         /* returns */
    if (op >= 0xb2 && op <= 0xb8) return 3;         /* field access, invokes */
    return 0;
}

/* First operand byte of a switch at o (after its 0–3 padding bytes). */
static uint32_t switch_operands(uint32_t o) { return (o + 4) & ~3u; }

/* Length of the instruction at code[o], or 0 if malformed or truncated. */
static uint32_t insn_len(const uint8_t *code, uint32_t n, uint32_t o)
{
    uint8_t op = code[o];
    int fl = fixed_len(op);
    uint64_t total;
    if (fl == 0)
        return 0;
    if (fl > 0) {
        total = (uint64_t)fl;
    } else if (op == 0xc4) { /* wide */
        if (n - o < 2)
            return 0;
        uint8_t op2 = code[o + 1];
        if (op2 == 0x84)
            total = 6;
        else if ((op2 >= 0x15 && op2 <= 0x19) || (op2 >= 0x36 && op2 <= 0x3a) || op2 == 0xa9)
            total = 4;
        else
            return 0;
    } else {
        uint32_t p = switch_operands(o);
        if (op == 0xaa) { /* tableswitch: default, low, high, offsets */
            if (p > n || n - p < 12)
                return 0;
            int32_t low = (int32_t)be32(code + p + 4), high = (int32_t)be32(code + p + 8);
            if (low > high)
                return 0;
            total = (uint64_t)(p - o) + 12 + 4 * ((uint64_t)((int64_t)high - low) + 1);
        } else { /* lookupswitch: default, npairs, pairs */
            if (p > n || n - p < 8)
                return 0;
            int32_t npairs = (int32_t)be32(code + p + 4);
            if (npairs < 0)
                return 0;
            total = (uint64_t)(p - o) + 8 + 8 * (uint64_t)npairs;
        }
    }
    return total <= n - o ? (uint32_t)total : 0;
}

static bool is_branch16(uint8_t op)
{
    return (op >= 0x99 && op <= 0xa7) || op == 0xc6 || op == 0xc7;
}

/* Does the instruction at code[o] store into local 0? */
static bool stores_local0(const uint8_t *code, uint32_t o)
{
    uint8_t op = code[o];
    if (op >= 0x36 && op <= 0x3a)
        return code[o + 1] == 0;
    if (op == 0x3b || op == 0x3f || op == 0x43 || op == 0x47 || op == 0x4b)
        return true;
    if (op == 0xc4 && code[o + 1] >= 0x36 && code[o + 1] <= 0x3a)
        return be16(code + o + 2) == 0;
    return false;
}

static bool is_subroutine(const uint8_t *code, uint32_t o)
{
    uint8_t op = code[o];
    return op == 0xa8 || op == 0xa9 || op == 0xc9 || (op == 0xc4 && code[o + 1] == 0xa9);
}

/* Number of parameters of a method descriptor (one per verification type,
   long/double included), or -1 if it is malformed. */
static int desc_params(const uint8_t *d, uint16_t n)
{
    if (n < 3 || d[0] != '(')
        return -1;
    size_t i = 1;
    int count = 0;
    while (i < n && d[i] != ')') {
        while (i < n && d[i] == '[')
            i++;
        if (i >= n)
            return -1;
        if (d[i] == 'L') {
            while (i < n && d[i] != ';')
                i++;
            if (i >= n)
                return -1;
        } else if (!d[i] || !strchr("BCDFIJSZ", d[i])) {
            return -1;
        }
        i++;
        count++;
    }
    return i < n ? count : -1;
}

/* ------------------------------------------------------------ offset map */

struct remap {
    uint32_t entry;       /* bytes of entry code at 0: 0 or HOOK_LEN */
    const uint32_t *rets; /* sorted offsets of `return`s that get code */
    size_t n_rets;
};

static size_t rets_below(const struct remap *m, uint32_t o)
{
    size_t lo = 0, hi = m->n_rets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->rets[mid] < o)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t map_target(const struct remap *m, uint32_t o)
{
    return o + m->entry + HOOK_LEN * (uint32_t)rets_below(m, o);
}

static uint32_t map_insn(const struct remap *m, uint32_t o)
{
    size_t k = rets_below(m, o);
    if (k < m->n_rets && m->rets[k] == o)
        k++;
    return o + m->entry + HOOK_LEN * (uint32_t)k;
}

static uint32_t map_start(const struct remap *m, uint32_t o)
{
    return o == 0 ? 0 : map_target(m, o);
}

/* ---------------------------------------------------- Code sub-attributes */

/* Copies one verification_type_info, remapping Uninitialized(offset).
   Returns its tag, or -1 if malformed. */
static int copy_vti(struct rd *r, struct wb *w, const struct remap *m, uint32_t code_len)
{
    uint8_t tag = rd_u1(r);
    if (r->bad || tag > 8)
        return -1;
    wb_u1(w, tag);
    if (tag == 7) {          /* Object(cpool index) */
        wb_u2(w, rd_u2(r));
    } else if (tag == 8) {   /* Uninitialized(offset of `new`) */
        uint16_t off = rd_u2(r);
        if (off >= code_len)
            return -1;
        wb_u2(w, (uint16_t)map_insn(m, off));
    }
    return r->bad ? -1 : tag;
}

/* Rewrites a StackMapTable body. *local0_bad is set when a frame may not hold
   `this` (or uninitializedThis) in local 0: `aload_0` would not verify. */
static int rewrite_stackmap(const uint8_t *a, uint32_t alen, uint32_t code_len,
                            const struct remap *m, int init_locals, struct wb *w,
                            bool *local0_bad)
{
    struct rd r = { a, alen, 0, false };
    uint16_t n = rd_u2(&r);
    wb_u2(w, n);
    uint32_t prev_old = 0, prev_new = 0;
    long locals = init_locals;
    for (uint16_t i = 0; i < n; i++) {
        uint8_t t = rd_u1(&r);
        uint32_t delta;
        if (t <= 127)
            delta = t <= 63 ? t : t - 64u;
        else if (t >= 247)
            delta = rd_u2(&r);
        else
            return -EINVAL; /* reserved frame types */
        if (r.bad)
            return -EINVAL;
        uint32_t old = i == 0 ? delta : prev_old + delta + 1;
        if (old >= code_len)
            return -EINVAL;
        uint32_t nw = map_target(m, old);
        uint32_t nd = i == 0 ? nw : nw - prev_new - 1;
        prev_old = old;
        prev_new = nw;
        if (t <= 63) {                      /* same_frame */
            if (nd <= 63) {
                wb_u1(w, (uint8_t)nd);
            } else {
                wb_u1(w, 251);
                wb_u2(w, (uint16_t)nd);
            }
        } else if (t <= 127) {              /* same_locals_1_stack_item */
            if (nd <= 63) {
                wb_u1(w, (uint8_t)(64 + nd));
            } else {
                wb_u1(w, 247);
                wb_u2(w, (uint16_t)nd);
            }
            if (copy_vti(&r, w, m, code_len) < 0)
                return -EINVAL;
        } else {
            wb_u1(w, t);
            wb_u2(w, (uint16_t)nd);
            if (t == 247) {                 /* same_locals_1_stack_item_extended */
                if (copy_vti(&r, w, m, code_len) < 0)
                    return -EINVAL;
            } else if (t <= 250) {          /* chop_frame */
                locals -= 251 - t;
            } else if (t == 251) {          /* same_frame_extended */
            } else if (t <= 254) {          /* append_frame */
                for (int k = 0; k < t - 251; k++)
                    if (copy_vti(&r, w, m, code_len) < 0)
                        return -EINVAL;
                locals += t - 251;
            } else {                        /* full_frame */
                uint16_t nl = rd_u2(&r);
                wb_u2(w, nl);
                for (uint16_t k = 0; k < nl; k++) {
                    int tag = copy_vti(&r, w, m, code_len);
                    if (tag < 0)
                        return -EINVAL;
                    if (k == 0 && tag != 7 && tag != 6)
                        *local0_bad = true;
                }
                locals = nl;
                uint16_t ns = rd_u2(&r);
                wb_u2(w, ns);
                for (uint16_t k = 0; k < ns; k++)
                    if (copy_vti(&r, w, m, code_len) < 0)
                        return -EINVAL;
            }
        }
        if (locals < 1)
            *local0_bad = true;
    }
    return r.bad || r.pos != alen ? -EINVAL : 0;
}

static int rewrite_lines(const uint8_t *a, uint32_t alen, uint32_t code_len,
                         const struct remap *m, struct wb *w)
{
    if (alen < 2 || alen != 2 + 4 * (uint32_t)be16(a))
        return -EINVAL;
    uint16_t n = be16(a);
    wb_u2(w, n);
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *e = a + 2 + 4 * (size_t)i;
        uint16_t pc = be16(e);
        if (pc >= code_len)
            return -EINVAL;
        wb_u2(w, (uint16_t)map_start(m, pc));
        wb_u2(w, be16(e + 2));
    }
    return 0;
}

/* LocalVariableTable and LocalVariableTypeTable share their layout. */
static int rewrite_locals(const uint8_t *a, uint32_t alen, uint32_t code_len,
                          const struct remap *m, struct wb *w)
{
    if (alen < 2 || alen != 2 + 10 * (uint32_t)be16(a))
        return -EINVAL;
    uint16_t n = be16(a);
    wb_u2(w, n);
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *e = a + 2 + 10 * (size_t)i;
        uint32_t start = be16(e), end = start + be16(e + 2);
        if (end > code_len)
            return -EINVAL;
        uint32_t ns = map_start(m, start);
        uint32_t nlen = start == end ? 0 : map_target(m, end) - ns;
        wb_u2(w, (uint16_t)ns);
        wb_u2(w, (uint16_t)nlen);
        wb_bytes(w, e + 4, 6); /* name, descriptor/signature, index */
    }
    return 0;
}

/* ------------------------------------------------------------ Code body */

struct method_job {
    const struct cls *c;
    bool entry, before_ret;
    int init_locals;   /* verification types in the initial frame */
    uint16_t mref;     /* the hook's Methodref */
};

static void emit_hook(struct wb *w, uint16_t mref)
{
    uint8_t b[4] = { OP_ALOAD_0, OP_INVOKESTATIC, (uint8_t)(mref >> 8), (uint8_t)mref };
    wb_bytes(w, b, 4);
}

/* Emits the switch offset stored at code[at], relative to the switch at o. */
static int emit_rel32(const uint8_t *code, uint32_t code_len, const uint8_t *starts,
                      const struct remap *m, uint32_t o, uint32_t here, uint32_t at,
                      struct wb *w)
{
    int64_t t = (int64_t)o + (int32_t)be32(code + at);
    if (t < 0 || t >= code_len || !starts[t])
        return -EINVAL;
    wb_u4(w, (uint32_t)(int32_t)((int64_t)map_target(m, (uint32_t)t) - here));
    return 0;
}

/* Emits the rewritten bytecode. Validates branch targets on the way. */
static int emit_code(const uint8_t *code, uint32_t code_len, const uint8_t *starts,
                     const struct remap *m, uint16_t mref, struct wb *w)
{
    size_t base = w->len;
    size_t next_ret = 0;
    int err;
    for (uint32_t o = 0, len; o < code_len; o += len) {
        len = insn_len(code, code_len, o); /* validated by the scan */
        if (o == 0 && m->entry)
            emit_hook(w, mref);
        if (next_ret < m->n_rets && m->rets[next_ret] == o) {
            emit_hook(w, mref);
            next_ret++;
        }
        uint32_t here = map_insn(m, o);
        if (!w->oom && w->len - base != here)
            return -EINVAL; /* cannot happen: the map and the emitter disagree */
        uint8_t op = code[o];
        if (is_branch16(op) || op == 0xc8) {
            int64_t t = (int64_t)o + (op == 0xc8 ? (int32_t)be32(code + o + 1)
                                                 : (int16_t)be16(code + o + 1));
            if (t < 0 || t >= code_len || !starts[t])
                return -EINVAL;
            int64_t rel = (int64_t)map_target(m, (uint32_t)t) - here;
            wb_u1(w, op);
            if (op == 0xc8) {
                wb_u4(w, (uint32_t)(int32_t)rel);
            } else {
                if (rel < INT16_MIN || rel > INT16_MAX)
                    return -ENOTSUP;
                wb_u2(w, (uint16_t)(int16_t)rel);
            }
        } else if (op == 0xaa || op == 0xab) {
            if ((here - o) % 4 != 0)
                return -EINVAL; /* cannot happen: insertions are 4 bytes */
            uint32_t p = switch_operands(o);
            wb_bytes(w, code + o, p - o); /* opcode and padding, unchanged */
            if ((err = emit_rel32(code, code_len, starts, m, o, here, p, w)) < 0)
                return err;                                  /* default */
            wb_bytes(w, code + p + 4, op == 0xaa ? 8 : 4);   /* low, high / npairs */
            if (op == 0xaa) {
                uint32_t n = (uint32_t)((int64_t)(int32_t)be32(code + p + 8) -
                                        (int32_t)be32(code + p + 4) + 1);
                for (uint32_t k = 0; k < n; k++)
                    if ((err = emit_rel32(code, code_len, starts, m, o, here,
                                          p + 12 + 4 * k, w)) < 0)
                        return err;
            } else {
                uint32_t n = be32(code + p + 4);
                for (uint32_t k = 0; k < n; k++) {
                    wb_bytes(w, code + p + 8 + 8 * k, 4);    /* match */
                    if ((err = emit_rel32(code, code_len, starts, m, o, here,
                                          p + 12 + 8 * k, w)) < 0)
                        return err;
                }
            }
        } else {
            wb_bytes(w, code + o, len);
        }
    }
    return 0;
}

/* Attribute names of a Code attribute that this module rewrites. */
enum sub { SUB_OTHER, SUB_STACKMAP, SUB_LINES, SUB_LOCALS };

static enum sub sub_kind(const struct cls *c, uint16_t name)
{
    if (cp_utf8_is(c, name, "StackMapTable")) return SUB_STACKMAP;
    if (cp_utf8_is(c, name, "LineNumberTable")) return SUB_LINES;
    if (cp_utf8_is(c, name, "LocalVariableTable") ||
        cp_utf8_is(c, name, "LocalVariableTypeTable"))
        return SUB_LOCALS;
    return SUB_OTHER;
}

/*
 * Rewrites the body of a Code attribute (after name and length) into w.
 * Returns 1 if the method changed, 0 if it has nothing to change (w is then
 * untouched), or a negative errno.
 */
static int rewrite_code(const struct method_job *job, const uint8_t *body, uint32_t body_len,
                        struct wb *w)
{
    struct rd r = { body, body_len, 0, false };
    uint16_t max_stack = rd_u2(&r), max_locals = rd_u2(&r);
    uint32_t code_len = rd_u4(&r);
    const uint8_t *code = rd_take(&r, code_len);
    uint16_t n_exc = rd_u2(&r);
    const uint8_t *exc = rd_take(&r, 8 * (size_t)n_exc);
    uint16_t n_attrs = rd_u2(&r);
    size_t attrs_at = r.pos;
    for (uint16_t j = 0; j < n_attrs && !r.bad; j++) {
        if (cp_tag(job->c, rd_u2(&r)) != CP_UTF8)
            r.bad = true;
        rd_take(&r, rd_u4(&r));
    }
    if (r.bad || r.pos != body_len || code_len == 0 || code_len > CODE_MAX)
        return -EINVAL;

    int err = 0;
    uint8_t *starts = calloc(code_len + 1, 1);
    uint32_t *rets = malloc(sizeof(*rets) * code_len);
    if (!starts || !rets) {
        err = -ENOMEM;
        goto out;
    }

    /* Scan: instruction boundaries, returns, what we refuse. */
    size_t n_rets = 0;
    bool store0 = false, subroutine = false;
    for (uint32_t o = 0, len; o < code_len; o += len) {
        len = insn_len(code, code_len, o);
        if (!len) {
            err = -EINVAL;
            goto out;
        }
        starts[o] = 1;
        store0 |= stores_local0(code, o);
        subroutine |= is_subroutine(code, o);
        if (code[o] == OP_RETURN && job->before_ret)
            rets[n_rets++] = o;
    }
    if (!job->entry && n_rets == 0)
        goto out; /* err == 0: unchanged */
    if (max_locals < 1) {
        err = -EINVAL;
        goto out;
    }
    uint32_t new_len = code_len + (job->entry ? HOOK_LEN : 0) + HOOK_LEN * (uint32_t)n_rets;
    /* Entry code sees `this` in local 0 always; code before a `return` only
       if nothing ever stores to local 0. */
    if ((store0 && n_rets) || subroutine || new_len > CODE_MAX || max_stack == 0xffff) {
        err = -ENOTSUP;
        goto out;
    }
    struct remap m = { job->entry ? HOOK_LEN : 0, rets, n_rets };

    wb_u2(w, (uint16_t)(max_stack + 1)); /* aload_0 on whatever the stack holds */
    wb_u2(w, max_locals);
    wb_u4(w, new_len);
    if ((err = emit_code(code, code_len, starts, &m, job->mref, w)) < 0)
        goto out;

    wb_u2(w, n_exc);
    for (uint16_t i = 0; i < n_exc; i++) {
        const uint8_t *e = exc + 8 * (size_t)i;
        uint16_t start = be16(e), end = be16(e + 2), handler = be16(e + 4);
        if (start >= end || end > code_len || handler >= code_len || !starts[handler]) {
            err = -EINVAL;
            goto out;
        }
        wb_u2(w, (uint16_t)map_target(&m, start));
        wb_u2(w, (uint16_t)map_target(&m, end));
        wb_u2(w, (uint16_t)map_target(&m, handler));
        wb_u2(w, be16(e + 6));
    }

    size_t count_at = w->len;
    uint16_t kept = 0;
    bool local0_bad = false;
    wb_u2(w, 0);
    r.pos = attrs_at;
    for (uint16_t j = 0; j < n_attrs; j++) {
        uint16_t name = rd_u2(&r);
        uint32_t alen = rd_u4(&r);
        const uint8_t *a = rd_take(&r, alen);
        enum sub kind = sub_kind(job->c, name);
        if (kind == SUB_OTHER)
            continue; /* may hold code offsets we do not know: drop it */
        wb_u2(w, name);
        size_t len_at = w->len;
        wb_u4(w, 0);
        size_t body_at = w->len;
        if (kind == SUB_STACKMAP)
            err = rewrite_stackmap(a, alen, code_len, &m, job->init_locals, w, &local0_bad);
        else if (kind == SUB_LINES)
            err = rewrite_lines(a, alen, code_len, &m, w);
        else
            err = rewrite_locals(a, alen, code_len, &m, w);
        if (err < 0)
            goto out;
        wb_set_u4(w, len_at, (uint32_t)(w->len - body_at));
        kept++;
    }
    wb_set_u2(w, count_at, kept);
    if (local0_bad && n_rets)
        err = -ENOTSUP;
    else
        err = w->oom ? -ENOMEM : 1;
out:
    free(starts);
    free(rets);
    return err;
}

/* --------------------------------------------------------- the hook's ref */

struct hookref {
    uint16_t index;     /* Methodref to invoke */
    uint16_t added;     /* constant pool entries appended */
    bool overflow;      /* the pool would exceed 65535 entries */
    struct wb entries;  /* the appended entries */
};

static unsigned find_utf8(const struct cls *c, const char *s)
{
    for (unsigned i = 1; i < c->cp_count; i++)
        if (cp_utf8_is(c, i, s))
            return i;
    return 0;
}

static unsigned find_class(const struct cls *c, const char *name)
{
    for (unsigned i = 1; i < c->cp_count; i++) {
        unsigned n = cp_class_name(c, i);
        if (n && cp_utf8_is(c, n, name))
            return i;
    }
    return 0;
}

static bool nat_is(const struct cls *c, unsigned i, const char *name, const char *desc)
{
    if (cp_tag(c, i) != CP_NAMEANDTYPE)
        return false;
    const uint8_t *p = c->in + c->cp[i];
    return cp_utf8_is(c, be16(p + 1), name) && cp_utf8_is(c, be16(p + 3), desc);
}

static unsigned find_nat(const struct cls *c, const char *name, const char *desc)
{
    for (unsigned i = 1; i < c->cp_count; i++)
        if (nat_is(c, i, name, desc))
            return i;
    return 0;
}

static unsigned find_methodref(const struct cls *c, const char *cls, const char *name,
                               const char *desc)
{
    for (unsigned i = 1; i < c->cp_count; i++) {
        if (cp_tag(c, i) != CP_METHODREF)
            continue;
        const uint8_t *p = c->in + c->cp[i];
        unsigned cn = cp_class_name(c, be16(p + 1));
        if (cn && cp_utf8_is(c, cn, cls) && nat_is(c, be16(p + 3), name, desc))
            return i;
    }
    return 0;
}

/* Appends an entry (tag, then two payload pieces) and returns its index. */
static uint16_t add_entry(const struct cls *c, struct hookref *h, uint8_t tag,
                          const void *a, size_t na, const void *b, size_t nb)
{
    unsigned index = (unsigned)c->cp_count + h->added;
    if (index > 0xfffe) { /* constant_pool_count is a u2 */
        h->overflow = true;
        return 0;
    }
    wb_u1(&h->entries, tag);
    wb_bytes(&h->entries, a, na);
    wb_bytes(&h->entries, b, nb);
    h->added++;
    return (uint16_t)index;
}

static uint16_t add_utf8(const struct cls *c, struct hookref *h, const char *s)
{
    unsigned i = find_utf8(c, s);
    if (i)
        return (uint16_t)i;
    size_t n = strlen(s);
    uint8_t len[2] = { (uint8_t)(n >> 8), (uint8_t)n };
    return add_entry(c, h, CP_UTF8, len, 2, s, n);
}

static uint16_t add_pair(const struct cls *c, struct hookref *h, uint8_t tag, uint16_t a,
                         uint16_t b)
{
    uint8_t p[4] = { (uint8_t)(a >> 8), (uint8_t)a, (uint8_t)(b >> 8), (uint8_t)b };
    return add_entry(c, h, tag, p, 4, NULL, 0);
}

/* Finds or plans the Methodref for hook_class.hook_method(Object)V. */
static void hook_plan(const struct cls *c, const char *cls, const char *name, struct hookref *h)
{
    memset(h, 0, sizeof(*h));
    unsigned i = find_methodref(c, cls, name, NRA_CF_HOOK_DESC);
    if (i) {
        h->index = (uint16_t)i;
        return;
    }
    unsigned ci = find_class(c, cls);
    if (!ci) {
        uint16_t u = add_utf8(c, h, cls);
        uint8_t p[2] = { (uint8_t)(u >> 8), (uint8_t)u };
        ci = add_entry(c, h, CP_CLASS, p, 2, NULL, 0);
    }
    unsigned nat = find_nat(c, name, NRA_CF_HOOK_DESC);
    if (!nat) {
        uint16_t un = add_utf8(c, h, name);
        uint16_t ud = add_utf8(c, h, NRA_CF_HOOK_DESC);
        nat = add_pair(c, h, CP_NAMEANDTYPE, un, ud);
    }
    h->index = add_pair(c, h, CP_METHODREF, (uint16_t)ci, (uint16_t)nat);
}

/* ------------------------------------------------------------ public API */

/* Which insertions apply to a method. Returns -ENOTSUP for entry code in a
   constructor that was asked for by name. */
static int match_method(const struct cls *c, const struct method *m,
                        const struct nra_cf_insertion *ins, size_t n_ins,
                        bool *entry, bool *before_ret)
{
    *entry = *before_ret = false;
    bool ctor = cp_utf8_is(c, m->name, "<init>");
    for (size_t k = 0; k < n_ins; k++) {
        if (ins[k].method_name && !cp_utf8_is(c, m->name, ins[k].method_name))
            continue;
        if (ins[k].method_desc && !cp_utf8_is(c, m->desc, ins[k].method_desc))
            continue;
        if (ins[k].where == NRA_CF_BEFORE_RETURN) {
            *before_ret = true;
        } else if (!ctor) {
            *entry = true;
        } else if (ins[k].method_name) {
            return -ENOTSUP; /* `this` is not initialized at a constructor's entry */
        }
    }
    return 0;
}

static bool valid_name(const char *s)
{
    return s && *s && strlen(s) <= 0xffff;
}

/* Writes method m, rewriting its Code if it matches. Returns 1 if changed. */
static int rewrite_method(const struct cls *c, const struct method *m,
                          const struct nra_cf_insertion *ins, size_t n_ins,
                          uint16_t mref, struct wb *w)
{
    bool entry, before_ret;
    int err = 0;
    if ((m->access & (ACC_STATIC | ACC_NATIVE | ACC_ABSTRACT)) ||
        cp_utf8_is(c, m->name, "<clinit>") ||
        (err = match_method(c, m, ins, n_ins, &entry, &before_ret)) < 0 ||
        (!entry && !before_ret)) {
        if (err == 0)
            wb_bytes(w, c->in + m->at, m->end - m->at);
        return err;
    }

    const uint8_t *d = NULL;
    uint16_t dn = 0;
    cp_utf8(c, m->desc, &d, &dn); /* method_read checked it is Utf8 */
    int params = desc_params(d, dn);
    if (params < 0)
        return -EINVAL;
    struct method_job job = { c, entry, before_ret, params + 1, mref };

    size_t start = w->len;
    wb_bytes(w, c->in + m->at, m->attrs - m->at); /* header, attribute count */
    bool changed = false, seen_code = false;
    struct rd r = { c->in, m->end, m->attrs, false };
    for (uint16_t j = 0; j < m->n_attrs; j++) {
        size_t at = r.pos;
        uint16_t name = rd_u2(&r);
        uint32_t alen = rd_u4(&r);
        const uint8_t *a = rd_take(&r, alen);
        if (!cp_utf8_is(c, name, "Code")) {
            wb_bytes(w, c->in + at, r.pos - at);
            continue;
        }
        if (seen_code)
            return -EINVAL;
        seen_code = true;
        wb_u2(w, name);
        size_t len_at = w->len;
        wb_u4(w, 0);
        int rc = rewrite_code(&job, a, alen, w);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            w->len = len_at - 2; /* unchanged: copy as it was */
            wb_bytes(w, c->in + at, r.pos - at);
        } else {
            wb_set_u4(w, len_at, (uint32_t)(w->len - len_at - 4));
            changed = true;
        }
    }
    if (!changed) {
        w->len = start;
        wb_bytes(w, c->in + m->at, m->end - m->at);
    }
    return changed ? 1 : 0;
}

int nra_cf_rewrite(const uint8_t *in, size_t in_len,
                   const char *hook_class, const char *hook_method,
                   const struct nra_cf_insertion *ins, size_t n_ins,
                   uint8_t **out, size_t *out_len, unsigned *n_changed)
{
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (n_changed)
        *n_changed = 0;
    if (!in || !out || !out_len || !n_changed || (!ins && n_ins) ||
        !valid_name(hook_class) || !valid_name(hook_method))
        return -EINVAL;
    for (size_t k = 0; k < n_ins; k++)
        if (ins[k].where != NRA_CF_AT_ENTRY && ins[k].where != NRA_CF_BEFORE_RETURN)
            return -EINVAL;

    struct cls c;
    int err = cls_parse(&c, in, in_len);
    if (err < 0)
        return err;

    struct hookref h;
    hook_plan(&c, hook_class, hook_method, &h);
    struct wb methods = { 0 };
    unsigned changed = 0;
    struct rd r = { in, in_len, c.methods_at, false };
    uint16_t n_methods = rd_u2(&r);
    for (uint16_t i = 0; i < n_methods; i++) {
        struct method m;
        if ((err = method_read(&c, &r, &m)) < 0)
            goto out;
        if ((err = rewrite_method(&c, &m, ins, n_ins, h.index, &methods)) < 0)
            goto out;
        changed += (unsigned)err;
    }
    err = 0;
    if (changed == 0)
        goto out;
    if (h.overflow) {
        err = -ENOTSUP;
        goto out;
    }

    struct wb w = { 0 };
    wb_room(&w, in_len + h.entries.len + methods.len - (c.attrs_at - c.methods_at));
    wb_bytes(&w, in, c.cp_start - 2);                       /* magic, version */
    wb_u2(&w, (uint16_t)(c.cp_count + h.added));
    wb_bytes(&w, in + c.cp_start, c.cp_end - c.cp_start);   /* old constants */
    wb_bytes(&w, h.entries.p, h.entries.len);               /* new constants */
    wb_bytes(&w, in + c.cp_end, c.methods_at + 2 - c.cp_end); /* .. methods_count */
    wb_bytes(&w, methods.p, methods.len);
    wb_bytes(&w, in + c.attrs_at, in_len - c.attrs_at);     /* class attributes */
    if (w.oom || methods.oom || h.entries.oom) {
        free(w.p);
        err = -ENOMEM;
        goto out;
    }
    *out = w.p;
    *out_len = w.len;
    *n_changed = changed;
out:
    free(methods.p);
    free(h.entries.p);
    cls_free(&c);
    return err;
}

static int copy_name(const struct cls *c, unsigned utf8, char *buf, size_t buf_len)
{
    const uint8_t *s = (const uint8_t *)"";
    uint16_t n = 0;
    if (utf8)
        cp_utf8(c, utf8, &s, &n);
    if (!buf)
        return buf_len ? -EINVAL : 0;
    if ((size_t)n >= buf_len || memchr(s, 0, n))
        return buf_len ? (buf[0] = '\0', -ERANGE) : -ERANGE;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

int nra_cf_class_info(const uint8_t *in, size_t in_len,
                      char *name, size_t name_len, char *super_name, size_t super_len,
                      bool *declares_finalize)
{
    if (name && name_len)
        name[0] = '\0';
    if (super_name && super_len)
        super_name[0] = '\0';
    if (declares_finalize)
        *declares_finalize = false;
    struct cls c;
    int err = cls_parse(&c, in, in_len);
    if (err < 0)
        return err;
    bool fin = false;
    struct rd r = { in, in_len, c.methods_at, false };
    uint16_t n_methods = rd_u2(&r);
    for (uint16_t i = 0; i < n_methods && err == 0; i++) {
        struct method m;
        err = method_read(&c, &r, &m);
        if (err == 0 && !(m.access & (ACC_STATIC | ACC_ABSTRACT)) &&
            cp_utf8_is(&c, m.name, "finalize") && cp_utf8_is(&c, m.desc, "()V"))
            fin = true;
    }
    if (err == 0 && (name || name_len))
        err = copy_name(&c, cp_class_name(&c, c.this_class), name, name_len);
    if (err == 0 && (super_name || super_len))
        err = copy_name(&c, c.super_class ? cp_class_name(&c, c.super_class) : 0,
                        super_name, super_len);
    if (err == 0 && declares_finalize)
        *declares_finalize = fin;
    if (err < 0) {
        if (name && name_len)
            name[0] = '\0';
        if (super_name && super_len)
            super_name[0] = '\0';
    }
    cls_free(&c);
    return err;
}
