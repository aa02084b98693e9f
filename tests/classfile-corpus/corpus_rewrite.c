/*
 * corpus_rewrite — rewrites every class of a class archive (see
 * CorpusLoader.java: records of u2 path length, path, u4 length, bytes;
 * big-endian) into another archive, the way the corpus test wants: entry
 * code in every non-constructor instance method, code before every `return`
 * of every instance method (constructors included), calling
 * nratest/CorpusHook.hit(Object). Classes that need no change, or that the
 * rewriter refuses with -ENOTSUP, are copied unchanged (and counted). Each
 * rewritten class is parsed back (class info, and a second rewrite) to check
 * that the output is well formed.
 *
 * Usage: corpus_rewrite IN.cla OUT.cla [MAX_UNSUPPORTED]
 * Prints one summary line; exits 1 on malformed input/output, I/O errors, or
 * more than MAX_UNSUPPORTED classes refused with -ENOTSUP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classfile.h"

static const struct nra_cf_insertion INS[] = {
    { NULL, NULL, NRA_CF_AT_ENTRY }, /* never applies to constructors */
    { NULL, NULL, NRA_CF_BEFORE_RETURN },
};
#define HOOK_CLASS "nratest/CorpusHook"
#define HOOK_METHOD "hit"

static unsigned long n_classes, n_rewritten, n_methods, n_unchanged, n_notsup, n_bad;
static size_t bytes_in, bytes_out;
static double cpu_rewrite;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Checks that a rewritten class parses back and keeps its names. */
static int check_output(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len)
{
    char n1[1024], s1[1024], n2[1024], s2[1024];
    bool f1, f2;
    if (nra_cf_class_info(in, in_len, n1, sizeof n1, s1, sizeof s1, &f1) != 0 ||
        nra_cf_class_info(out, out_len, n2, sizeof n2, s2, sizeof s2, &f2) != 0 ||
        strcmp(n1, n2) || strcmp(s1, s2) || f1 != f2)
        return -1;
    uint8_t *again = NULL;
    size_t again_len;
    unsigned changed;
    int rc = nra_cf_rewrite(out, out_len, HOOK_CLASS, HOOK_METHOD, INS, 2, &again, &again_len,
                            &changed);
    free(again);
    return rc == 0 || rc == -ENOTSUP ? 0 : -1;
}

/* Reads n bytes; returns 1, 0 at a clean end of file, -1 if truncated. */
static int read_exact(FILE *f, void *buf, size_t n, int eof_ok)
{
    size_t got = fread(buf, 1, n, f);
    if (got == n)
        return 1;
    return (got == 0 && eof_ok && feof(f)) ? 0 : -1;
}

static void put_be(uint8_t *p, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Rewrites one class and writes its record. Returns -1 on an I/O error. */
static int one_class(FILE *out, const char *name, uint16_t name_len, const uint8_t *in,
                     size_t in_len)
{
    uint8_t *res = NULL;
    size_t res_len = 0;
    unsigned changed = 0;
    n_classes++;
    bytes_in += in_len;
    double t0 = now();
    int rc = nra_cf_rewrite(in, in_len, HOOK_CLASS, HOOK_METHOD, INS, 2, &res, &res_len, &changed);
    cpu_rewrite += now() - t0;
    if (rc == 0 && changed) {
        n_rewritten++;
        n_methods += changed;
        if (check_output(in, in_len, res, res_len) != 0) {
            fprintf(stderr, "corpus: rewritten %s does not parse back\n", name);
            n_bad++;
        }
    } else if (rc == 0) {
        n_unchanged++;
    } else if (rc == -ENOTSUP) {
        fprintf(stderr, "corpus: unsupported (left unchanged): %s\n", name);
        n_notsup++;
    } else {
        fprintf(stderr, "corpus: %s: %s\n", name, strerror(-rc));
        n_bad++;
    }
    const uint8_t *w = res ? res : in;
    size_t wl = res ? res_len : in_len;
    bytes_out += wl;
    uint8_t hdr[4];
    put_be(hdr, name_len, 2);
    int ok = fwrite(hdr, 1, 2, out) == 2 && fwrite(name, 1, name_len, out) == name_len;
    put_be(hdr, (uint32_t)wl, 4);
    ok = ok && fwrite(hdr, 1, 4, out) == 4 && fwrite(w, 1, wl, out) == wl;
    free(res);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s IN.cla OUT.cla [MAX_UNSUPPORTED]\n", argv[0]);
        return 2;
    }
    unsigned long max_notsup = argc == 4 ? strtoul(argv[3], NULL, 10) : (unsigned long)-1;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out) {
        perror(in ? argv[2] : argv[1]);
        return 1;
    }
    int io_error = 0;
    char name[65536];
    uint8_t *buf = NULL;
    for (;;) {
        uint8_t hdr[4];
        int r = read_exact(in, hdr, 2, 1);
        if (r == 0)
            break;
        uint16_t nl = (uint16_t)(hdr[0] << 8 | hdr[1]);
        if (r < 0 || read_exact(in, name, nl, 0) < 0 || read_exact(in, hdr, 4, 0) < 0) {
            io_error = 1;
            break;
        }
        name[nl] = '\0';
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | hdr[2] << 8 | hdr[3];
        free(buf);
        buf = malloc(len ? len : 1);
        if (!buf || (len && read_exact(in, buf, len, 0) < 0) ||
            one_class(out, name, nl, buf, len) != 0) {
            io_error = 1;
            break;
        }
    }
    free(buf);
    fclose(in);
    if (fclose(out) != 0)
        io_error = 1;
    if (io_error)
        fprintf(stderr, "corpus: I/O error on %s or %s\n", argv[1], argv[2]);
    printf("rewrite %s: classes %lu, rewritten %lu (methods %lu), unchanged %lu, "
           "unsupported %lu, malformed %lu; %zu -> %zu bytes, %.3f s cpu\n",
           argv[1], n_classes, n_rewritten, n_methods, n_unchanged, n_notsup, n_bad,
           bytes_in, bytes_out, cpu_rewrite);
    if (n_notsup > max_notsup)
        printf("FAIL: %lu classes refused as unsupported, at most %lu expected\n", n_notsup,
               max_notsup);
    return (n_bad || io_error || n_classes == 0 || n_notsup > max_notsup) ? 1 : 0;
}
