/* hooks_class.c — see include/hooks_class.h.
 *
 * The class is tiny and fixed, so it is assembled here rather than compiled
 * from Java at build time: version 52 (Java 8, loadable by every JDK the
 * agent supports), public final, no fields, no constructor, and
 * `public static native void m(Object)` methods.
 */
#include "hooks_class.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

struct writer {
    uint8_t *p;
    size_t n, cap;
    int overflow;
};

static void u1(struct writer *w, unsigned v)
{
    if (w->n < w->cap)
        w->p[w->n] = (uint8_t)v;
    else
        w->overflow = 1;
    w->n++;
}

static void u2(struct writer *w, unsigned v)
{
    u1(w, v >> 8);
    u1(w, v & 0xff);
}

static void utf8(struct writer *w, const char *s)
{
    u1(w, 1); /* CONSTANT_Utf8 */
    u2(w, (unsigned)strlen(s));
    for (const char *c = s; *c; c++)
        u1(w, (unsigned char)*c);
}

void nra_hooks_constructed_name(int rule, char *out, size_t len)
{
    snprintf(out, len, "constructed%d", rule);
}

/* Constant pool layout:
 *   1 Utf8 nraudit/Hooks    2 Class #1
 *   3 Utf8 java/lang/Object 4 Class #3
 *   5 Utf8 (Ljava/lang/Object;)V
 *   6 Utf8 finalizing
 *   7.. Utf8 constructed<k>, one per rule */
int nra_hooks_class_bytes(int n_rules, uint8_t *out, size_t cap)
{
    if (n_rules < 0 || n_rules > NRA_MAX_RULES)
        return -EINVAL;
    struct writer w = {.p = out, .cap = cap};
    u2(&w, 0xcafe);
    u2(&w, 0xbabe);
    u2(&w, 0);   /* minor */
    u2(&w, 52);  /* major: Java 8 */
    u2(&w, (unsigned)(7 + n_rules));
    utf8(&w, NRA_HOOKS_CLASS);
    u1(&w, 7), u2(&w, 1);
    utf8(&w, "java/lang/Object");
    u1(&w, 7), u2(&w, 3);
    utf8(&w, "(Ljava/lang/Object;)V");
    utf8(&w, NRA_HOOKS_FINALIZING);
    for (int k = 0; k < n_rules; k++) {
        char name[32];
        nra_hooks_constructed_name(k, name, sizeof(name));
        utf8(&w, name);
    }
    u2(&w, 0x0001 | 0x0010 | 0x0020); /* public final super */
    u2(&w, 2);                        /* this */
    u2(&w, 4);                        /* super */
    u2(&w, 0);                        /* interfaces */
    u2(&w, 0);                        /* fields */
    u2(&w, (unsigned)(1 + n_rules));  /* methods */
    for (int m = 0; m <= n_rules; m++) {
        u2(&w, 0x0001 | 0x0008 | 0x0100); /* public static native */
        u2(&w, m == 0 ? 6u : (unsigned)(6 + m));
        u2(&w, 5);
        u2(&w, 0);                    /* attributes */
    }
    u2(&w, 0);                        /* class attributes */
    return w.overflow ? -ENOSPC : (int)w.n;
}
