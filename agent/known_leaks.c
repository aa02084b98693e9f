/* known_leaks.c — see include/known_leaks.h. The table text is generated at
 * build time from data/known-leaks.tsv (known_leaks_data.c). */
#include "known_leaks.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char nra_known_leaks_tsv[];

#define MAX_KNOWN 64

static void copy_field(char *dst, size_t len, const char *src, size_t n)
{
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int parse_line(const char *line, size_t len, struct nra_known_leak *k)
{
    const char *f[8];
    size_t flen[8];
    int n = 0;
    const char *p = line, *end = line + len;
    while (n < 8) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *stop = (tab && n < 7) ? tab : end;
        f[n] = p;
        flen[n++] = (size_t)(stop - p);
        if (stop == end)
            break;
        p = stop + 1;
    }
    if (n != 8)
        return -EINVAL;
    memset(k, 0, sizeof(*k));
    copy_field(k->id, sizeof(k->id), f[0], flen[0]);
    copy_field(k->artifact, sizeof(k->artifact), f[1], flen[1]);
    copy_field(k->first, sizeof(k->first), f[2], flen[2]);
    copy_field(k->last, sizeof(k->last), f[3], flen[3]);
    copy_field(k->native, sizeof(k->native), f[4], flen[4]);
    char size[24];
    copy_field(size, sizeof(size), f[5], flen[5]);
    char *e = NULL;
    k->size = strtoull(size, &e, 10);
    if (!size[0] || *e)
        return -EINVAL;
    copy_field(k->scope, sizeof(k->scope), f[6], flen[6]);
    copy_field(k->fix, sizeof(k->fix), f[7], flen[7]);
    return 0;
}

int nra_known_leaks_parse(const char *text, struct nra_known_leak *out, size_t max, int *bad_line)
{
    size_t count = 0;
    int lineno = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len > 0 && p[0] != '#') {
            if (count == max || parse_line(p, len, &out[count]) != 0) {
                *bad_line = lineno;
                return -EINVAL;
            }
            count++;
        }
        p += len + (nl ? 1 : 0);
    }
    return (int)count;
}

static struct {
    pthread_once_t once;
    struct nra_known_leak table[MAX_KNOWN];
    size_t n;
} builtin = {.once = PTHREAD_ONCE_INIT};

static void load_builtin(void)
{
    int bad = 0;
    int n = nra_known_leaks_parse(nra_known_leaks_tsv, builtin.table, MAX_KNOWN, &bad);
    builtin.n = n > 0 ? (size_t)n : 0;
}

size_t nra_known_leaks(const struct nra_known_leak **out)
{
    pthread_once(&builtin.once, load_builtin);
    *out = builtin.table;
    return builtin.n;
}

/* Reads the next version part: a number, or a qualifier word. */
static const char *next_part(const char *p, unsigned long *num, const char **word, size_t *wlen)
{
    while (*p == '.' || *p == '-')
        p++;
    *word = NULL;
    *wlen = 0;
    if (isdigit((unsigned char)*p)) {
        char *e;
        *num = strtoul(p, &e, 10);
        return e;
    }
    *num = 0;
    *word = p;
    while (*p && *p != '.' && *p != '-')
        p++;
    *wlen = (size_t)(p - *word);
    return p;
}

int nra_version_compare(const char *a, const char *b)
{
    while (*a || *b) {
        unsigned long na, nb;
        const char *wa, *wb;
        size_t la, lb;
        a = next_part(a, &na, &wa, &la);
        b = next_part(b, &nb, &wb, &lb);
        if (!wa && !wb) {
            if (na != nb)
                return na < nb ? -1 : 1;
            continue;
        }
        if (!wa || !wb)  /* a number sorts after a qualifier or nothing */
            return wa ? -1 : 1;
        size_t l = la < lb ? la : lb;
        int c = strncasecmp(wa, wb, l);
        if (c || la != lb)
            return c ? c : (la < lb ? -1 : 1);
    }
    return 0;
}

const struct nra_known_leak *nra_known_leak_match(const struct nra_known_leak *table, size_t n,
                                                  const char *native, uint64_t size_each, const char *scope,
                                                  const char *artifact, const char *version)
{
    if (!native || !artifact || !version)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const struct nra_known_leak *k = &table[i];
        if (strcmp(k->native, native) != 0 || k->size != size_each || strcmp(k->scope, scope) != 0)
            continue;
        if (strncmp(artifact, k->artifact, strlen(k->artifact)) != 0)
            continue;
        if (nra_version_compare(version, k->first) >= 0 && nra_version_compare(version, k->last) <= 0)
            return k;
    }
    return NULL;
}
