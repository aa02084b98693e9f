/*
 * cmocka tests for gothook: patch the malloc-family GOT slots of fixture
 * libraries (tests/unit/fixtures: BIND_NOW+RELRO, lazy, -fno-plt) and of the
 * real libcrypto.so.3 to counting hooks, check what they see, unpatch.
 *
 * Fixtures are found in $NRAUDIT_FIXTURES, else <dir of this executable>/fixtures.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gothook.h"

/* ---- counting hooks ----------------------------------------------------- */

static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);

static unsigned long n_malloc, n_free, n_calloc, n_realloc;

static void *count_malloc(size_t n)
{
    __atomic_add_fetch(&n_malloc, 1, __ATOMIC_RELAXED);
    return real_malloc(n);
}

static void count_free(void *p)
{
    __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    real_free(p);
}

static void *count_calloc(size_t n, size_t s)
{
    __atomic_add_fetch(&n_calloc, 1, __ATOMIC_RELAXED);
    return real_calloc(n, s);
}

static void *count_realloc(void *p, size_t n)
{
    __atomic_add_fetch(&n_realloc, 1, __ATOMIC_RELAXED);
    return real_realloc(p, n);
}

static void reset_counts(void)
{
    __atomic_store_n(&n_malloc, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_free, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_calloc, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_realloc, 0, __ATOMIC_RELAXED);
}

enum { H_MALLOC, H_FREE, H_CALLOC, H_REALLOC, H_N };

static struct nra_got_hook hooks[H_N];

/* ---- fixtures -------------------------------------------------------------- */

struct fix {
    void *h;
    struct link_map *lm;
    void *(*f_malloc)(size_t);
    void (*f_free)(void *);
    void *(*f_calloc)(size_t, size_t);
    void *(*f_realloc)(void *, size_t);
    void *(*f_free_address)(void);
    int (*f_roundtrip)(size_t);
    char path[PATH_MAX];
};

static void fixture_path(const char *file, char *out, size_t len)
{
    const char *env = getenv("NRAUDIT_FIXTURES");
    if (env && env[0]) {
        int r = snprintf(out, len, "%s/%s", env, file);
        assert_true(r > 0 && (size_t)r < len);
        return;
    }
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(l > 0);
    exe[l] = '\0';
    char *slash = strrchr(exe, '/');
    assert_non_null(slash);
    *slash = '\0';
    int r = snprintf(out, len, "%s/fixtures/%s", exe, file);
    assert_true(r > 0 && (size_t)r < len);
}

static void open_fix(struct fix *f, const char *file, int mode)
{
    memset(f, 0, sizeof *f);
    fixture_path(file, f->path, sizeof f->path);
    f->h = dlopen(f->path, mode);
    if (!f->h)
        fail_msg("dlopen %s: %s", f->path, dlerror());
    assert_int_equal(dlinfo(f->h, RTLD_DI_LINKMAP, &f->lm), 0);
    *(void **)&f->f_malloc = dlsym(f->h, "gotfix_malloc");
    *(void **)&f->f_free = dlsym(f->h, "gotfix_free");
    *(void **)&f->f_calloc = dlsym(f->h, "gotfix_calloc");
    *(void **)&f->f_realloc = dlsym(f->h, "gotfix_realloc");
    *(void **)&f->f_free_address = dlsym(f->h, "gotfix_free_address");
    *(void **)&f->f_roundtrip = dlsym(f->h, "gotfix_roundtrip");
    assert_non_null(f->f_malloc);
    assert_non_null(f->f_free);
    assert_non_null(f->f_calloc);
    assert_non_null(f->f_realloc);
    assert_non_null(f->f_free_address);
}

static void close_fix(struct fix *f)
{
    if (f->h)
        dlclose(f->h);
}

/* The /proc/self/maps lines of one file (start-end perms), concatenated. */
static void maps_of(const char *path, char *out, size_t len)
{
    FILE *m = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 128];
    size_t used = 0;
    assert_non_null(m);
    out[0] = '\0';
    while (fgets(line, sizeof line, m)) {
        if (!strstr(line, path))
            continue;
        size_t l = strlen(line);
        if (used + l + 1 < len) {
            memcpy(out + used, line, l + 1);
            used += l;
        }
    }
    fclose(m);
}

static int setup(void **state)
{
    (void)state;
    *(void **)&real_malloc = nra_got_real("malloc");
    *(void **)&real_free = nra_got_real("free");
    *(void **)&real_calloc = nra_got_real("calloc");
    *(void **)&real_realloc = nra_got_real("realloc");
    assert_non_null(real_malloc);
    assert_non_null(real_free);
    hooks[H_MALLOC] = (struct nra_got_hook){"malloc", (void *)count_malloc};
    hooks[H_FREE] = (struct nra_got_hook){"free", (void *)count_free};
    hooks[H_CALLOC] = (struct nra_got_hook){"calloc", (void *)count_calloc};
    hooks[H_REALLOC] = (struct nra_got_hook){"realloc", (void *)count_realloc};
    return 0;
}

/* Patch f, exercise every function, check counts and data, unpatch. */
static void exercise(struct fix *f, bool expect_relro, struct nra_got_result *after_patch)
{
    struct nra_got_result res;
    char maps_before[8192], maps_after[8192];

    memset(&res, 0, sizeof res);
    maps_of(f->path, maps_before, sizeof maps_before);
    assert_int_equal(nra_got_patch_object(f->lm, hooks, H_N, &res), 0);
    assert_int_equal(res.n, H_N);
    assert_true(res.hook[H_MALLOC].patched >= 1);
    assert_true(res.hook[H_FREE].patched >= 1); /* &free may share the call slot (.plt.got) */
    assert_true(res.hook[H_CALLOC].patched >= 1);
    assert_true(res.hook[H_REALLOC].patched >= 1);
    assert_int_equal(res.total_already, 0);
    if (expect_relro)
        assert_true(res.hook[H_MALLOC].relro >= 1);
    assert_non_null(res.hook[H_FREE].prev_glob_dat);
    assert_ptr_equal(res.hook[H_FREE].prev_glob_dat, (void *)real_free);
    if (after_patch)
        *after_patch = res;
    /* protections are exactly what they were */
    maps_of(f->path, maps_after, sizeof maps_after);
    assert_string_equal(maps_before, maps_after);

    reset_counts();
    unsigned char *p = f->f_malloc(48);
    assert_non_null(p);
    for (int i = 0; i < 48; i++)
        assert_int_equal(p[i], 0x5a);
    assert_int_equal(n_malloc, 1);
    p = f->f_realloc(p, 4096);
    assert_non_null(p);
    assert_int_equal(p[47], 0x5a);
    assert_int_equal(n_realloc, 1);
    f->f_free(p);
    assert_int_equal(n_free, 1);
    unsigned *z = f->f_calloc(16, sizeof *z);
    assert_non_null(z);
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    assert_int_equal(n_calloc, 1);
    f->f_free(z);
    assert_int_equal(n_free, 2);
    /* &free in the object is the GLOB_DAT slot: it sees the hook */
    assert_ptr_equal(f->f_free_address(), (void *)count_free);

    /* the test program itself is not patched */
    void *q = malloc(10);
    free(q);
    assert_int_equal(n_malloc, 1);
    assert_int_equal(n_free, 2);

    /* unpatch: everything back, nothing counted */
    assert_int_equal(nra_got_unpatch_object(f->lm, hooks, H_N, &res), 0);
    assert_int_equal(res.total_restored,
                     res.hook[H_MALLOC].restored + res.hook[H_FREE].restored +
                         res.hook[H_CALLOC].restored + res.hook[H_REALLOC].restored);
    assert_true(res.hook[H_MALLOC].restored >= 1);
    assert_true(res.hook[H_FREE].restored >= 1);
    reset_counts();
    p = f->f_malloc(8);
    f->f_free(p);
    z = f->f_calloc(1, 1);
    z = f->f_realloc(z, 100);
    f->f_free(z);
    assert_int_equal(n_malloc + n_free + n_calloc + n_realloc, 0);
    assert_ptr_equal(f->f_free_address(), (void *)real_free);
    maps_of(f->path, maps_after, sizeof maps_after);
    assert_string_equal(maps_before, maps_after);
}

static void test_bindnow_relro_patch_and_unpatch(void **state)
{
    (void)state;
    struct fix f;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    exercise(&f, true, NULL);
    close_fix(&f);
}

static void test_lazy_unresolved_slots(void **state)
{
    (void)state;
    struct fix f;
    /* lazy: the JUMP_SLOTs still point at PLT stubs (unless LD_BIND_NOW) */
    open_fix(&f, "libgotfix_lazy.so", RTLD_LAZY | RTLD_LOCAL);
    struct nra_got_result res;
    exercise(&f, false, &res);
    if (!getenv("LD_BIND_NOW")) {
        /* the previous value of an unresolved slot is the object's PLT stub */
        assert_ptr_not_equal(res.hook[H_MALLOC].prev_jump_slot, (void *)real_malloc);
        assert_ptr_equal(nra_got_object_for_addr(res.hook[H_MALLOC].prev_jump_slot), f.lm);
    }
    /* after unpatch, lazy resolution still works (stubs were restored) */
    void *p = f.f_malloc(5);
    assert_non_null(p);
    f.f_free(p);
    close_fix(&f);
}

static void test_lazy_resolved_slots(void **state)
{
    (void)state;
    struct fix f;
    open_fix(&f, "libgotfix_lazy.so", RTLD_LAZY | RTLD_LOCAL);
    void *p = f.f_malloc(5); /* resolve the slots first */
    p = f.f_realloc(p, 10);
    f.f_free(p);
    f.f_free(f.f_calloc(1, 1));
    struct nra_got_result res;
    exercise(&f, false, &res);
    assert_ptr_equal(res.hook[H_MALLOC].prev_jump_slot, (void *)real_malloc);
    close_fix(&f);
}

static void test_noplt_glob_dat_calls(void **state)
{
    (void)state;
    struct fix f;
    open_fix(&f, "libgotfix_noplt.so", RTLD_NOW | RTLD_LOCAL);
    struct nra_got_result res;
    memset(&res, 0, sizeof res);
    assert_int_equal(nra_got_patch_object(f.lm, hooks, H_N, &res), 0);
    /* -fno-plt: the calls themselves go through GLOB_DAT slots */
    assert_non_null(res.hook[H_MALLOC].prev_glob_dat);
    assert_true(res.hook[H_MALLOC].relro >= 1);
    reset_counts();
    f.f_free(f.f_malloc(3));
    assert_int_equal(n_malloc, 1);
    assert_int_equal(n_free, 1);
    assert_int_equal(nra_got_unpatch_object(f.lm, hooks, H_N, &res), 0);
    reset_counts();
    f.f_free(f.f_malloc(3));
    assert_int_equal(n_malloc + n_free, 0);
    close_fix(&f);
}

static void test_patch_is_idempotent(void **state)
{
    (void)state;
    struct fix f;
    struct nra_got_result res;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    memset(&res, 0, sizeof res);
    assert_int_equal(nra_got_patch_object(f.lm, hooks, H_N, &res), 0);
    unsigned first = res.total_patched, first_malloc = res.hook[H_MALLOC].patched;
    void *prev = res.hook[H_MALLOC].prev_jump_slot ? res.hook[H_MALLOC].prev_jump_slot
                                                   : res.hook[H_MALLOC].prev_glob_dat;
    assert_true(first >= 4); /* malloc, free, calloc, realloc */
    assert_int_equal(nra_got_patch_object(f.lm, hooks, H_N, &res), 0);
    assert_int_equal(res.total_patched, 0);
    assert_int_equal(res.total_already, first);
    assert_int_equal(res.hook[H_MALLOC].already, first_malloc);
    /* the previous values survive the second call */
    void *prev2 = res.hook[H_MALLOC].prev_jump_slot ? res.hook[H_MALLOC].prev_jump_slot
                                                    : res.hook[H_MALLOC].prev_glob_dat;
    assert_ptr_equal(prev, prev2);
    assert_ptr_equal(prev, (void *)real_malloc);
    reset_counts();
    f.f_free(f.f_malloc(1));
    assert_int_equal(n_malloc, 1); /* hooked once, not twice */
    assert_int_equal(nra_got_unpatch_object(f.lm, hooks, H_N, &res), 0);
    assert_int_equal(res.total_restored, first);
    assert_int_equal(nra_got_unpatch_object(f.lm, hooks, H_N, &res), 0);
    assert_int_equal(res.total_restored, 0);
    close_fix(&f);
}

static void test_unpatch_without_saved_values_uses_real(void **state)
{
    (void)state;
    struct fix f;
    struct nra_got_result res, blank;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    memset(&res, 0, sizeof res);
    assert_int_equal(nra_got_patch_object(f.lm, hooks, H_N, &res), 0);
    memset(&blank, 0, sizeof blank);
    blank.n = H_N;
    assert_int_equal(nra_got_unpatch_object(f.lm, hooks, H_N, &blank), 0);
    assert_int_equal(blank.total_restored, res.total_patched);
    assert_ptr_equal(f.f_free_address(), (void *)real_free);
    reset_counts();
    f.f_free(f.f_malloc(1));
    assert_int_equal(n_malloc + n_free, 0);
    close_fix(&f);
}

static void test_unknown_symbol_patches_nothing(void **state)
{
    (void)state;
    struct fix f;
    struct nra_got_result res;
    struct nra_got_hook h[2] = {{"nra_no_such_symbol", (void *)count_malloc},
                                {"mallo", (void *)count_malloc}}; /* prefix of malloc */
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    memset(&res, 0, sizeof res);
    assert_int_equal(nra_got_patch_object(f.lm, h, 2, &res), 0);
    assert_int_equal(res.total_patched, 0);
    assert_int_equal(res.total_already, 0);
    reset_counts();
    f.f_free(f.f_malloc(1));
    assert_int_equal(n_malloc, 0);
    close_fix(&f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct nra_got_result res;
    struct nra_got_hook many[NRA_GOT_MAX_HOOKS + 1];
    struct link_map *self = nra_got_object_for_addr((void *)test_bad_arguments);
    assert_non_null(self);
    for (size_t i = 0; i < NRA_GOT_MAX_HOOKS + 1; i++)
        many[i] = hooks[0];
    memset(&res, 0, sizeof res);
    assert_int_equal(nra_got_patch_object(NULL, hooks, 1, &res), -EINVAL);
    assert_int_equal(nra_got_patch_object(self, hooks, 1, NULL), -EINVAL);
    assert_int_equal(nra_got_patch_object(self, many, NRA_GOT_MAX_HOOKS + 1, &res), -EINVAL);
    struct nra_got_hook nul = {"malloc", NULL};
    assert_int_equal(nra_got_patch_object(self, &nul, 1, &res), -EINVAL);
    /* a fake link_map that is not loaded */
    struct link_map fake;
    memset(&fake, 0, sizeof fake);
    fake.l_name = (char *)"/nonexistent/libnothing.so";
    assert_int_equal(nra_got_patch_object(&fake, hooks, 1, &res), -ESTALE);
}

static void test_object_for_addr(void **state)
{
    (void)state;
    struct fix f;
    int on_stack = 0;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    assert_ptr_equal(nra_got_object_for_addr((void *)f.f_malloc), f.lm);
    assert_null(nra_got_object_for_addr(&on_stack));
    struct link_map *self = nra_got_object_for_addr((void *)test_object_for_addr);
    assert_non_null(self);
    assert_ptr_not_equal(self, f.lm);
    close_fix(&f);
}

/* ---- enumeration ----------------------------------------------------------- */

struct seen {
    char names[64][PATH_MAX / 8];
    size_t n;
    const struct link_map *want;
    bool saw_want;
    int stop_after;
};

static int record_cb(const struct link_map *lm, void *arg)
{
    struct seen *s = arg;
    const char *b = strrchr(lm->l_name, '/');
    b = b ? b + 1 : lm->l_name;
    if (s->n < 64)
        snprintf(s->names[s->n++], sizeof s->names[0], "%s", b);
    if (lm == s->want)
        s->saw_want = true;
    if (s->stop_after && (int)s->n >= s->stop_after)
        return 42;
    return 0;
}

static bool seen_prefix(const struct seen *s, const char *prefix)
{
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->names[i], prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static void test_dependencies_of_fixture(void **state)
{
    (void)state;
    struct fix f;
    static struct seen s;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    memset(&s, 0, sizeof s);
    s.want = f.lm;
    assert_int_equal(nra_got_for_each_dependency(f.lm, record_cb, &s), 0);
    assert_true(seen_prefix(&s, "libc.so.6"));
    assert_false(s.saw_want);
    assert_false(seen_prefix(&s, "libcmocka"));
    assert_false(seen_prefix(&s, "ld-linux"));
    close_fix(&f);
}

static void test_dependencies_of_libcrypto(void **state)
{
    (void)state;
    static struct seen s;
    void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        skip();
    struct link_map *lm = NULL;
    assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(nra_got_for_each_dependency(lm, record_cb, &s), 0);
    assert_true(seen_prefix(&s, "libcrypto.so.3"));
    assert_true(seen_prefix(&s, "libc.so.6"));
    dlclose(h);
}

static void test_for_each_object(void **state)
{
    (void)state;
    struct fix f;
    static struct seen s;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    memset(&s, 0, sizeof s);
    s.want = f.lm;
    assert_int_equal(nra_got_for_each_object(record_cb, &s), 0);
    assert_true(s.saw_want);
    assert_true(seen_prefix(&s, "libc.so.6"));
    assert_true(seen_prefix(&s, "libcmocka"));
    assert_false(seen_prefix(&s, "ld-linux"));
    assert_false(seen_prefix(&s, "linux-vdso"));
    /* nonzero from the callback stops the walk */
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    assert_int_equal(nra_got_for_each_object(record_cb, &s), 42);
    assert_int_equal(s.n, 2);
    close_fix(&f);
}

/* ---- the real libcrypto -------------------------------------------------- */

static void test_real_libcrypto(void **state)
{
    (void)state;
    void *h = dlopen("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        print_message("libcrypto.so.3 not available: %s\n", dlerror());
        skip();
    }
    void *(*c_malloc)(size_t, const char *, int);
    void *(*c_realloc)(void *, size_t, const char *, int);
    void (*c_free)(void *, const char *, int);
    *(void **)&c_malloc = dlsym(h, "CRYPTO_malloc");
    *(void **)&c_realloc = dlsym(h, "CRYPTO_realloc");
    *(void **)&c_free = dlsym(h, "CRYPTO_free");
    assert_non_null(c_malloc);
    assert_non_null(c_realloc);
    assert_non_null(c_free);
    struct link_map *lm = NULL;
    assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
    assert_ptr_equal(nra_got_object_for_addr((void *)c_malloc), lm);

    struct nra_got_result res;
    memset(&res, 0, sizeof res);
    assert_int_equal(nra_got_patch_object(lm, hooks, H_N, &res), 0);
    assert_true(res.hook[H_MALLOC].patched >= 1);
    assert_true(res.hook[H_FREE].patched >= 1);
    assert_true(res.hook[H_MALLOC].relro >= 1); /* BIND_NOW + RELRO */

    reset_counts();
    char *p = c_malloc(100, __FILE__, __LINE__);
    assert_non_null(p);
    memset(p, 1, 100);
    assert_int_equal(n_malloc, 1);
    p = c_realloc(p, 1000, __FILE__, __LINE__);
    assert_non_null(p);
    assert_int_equal(p[99], 1);
    assert_int_equal(n_realloc, 1);
    c_free(p, __FILE__, __LINE__);
    assert_int_equal(n_free, 1);

    assert_int_equal(nra_got_unpatch_object(lm, hooks, H_N, &res), 0);
    assert_int_equal(res.total_restored, res.hook[H_MALLOC].patched + res.hook[H_FREE].patched +
                                             res.hook[H_CALLOC].patched +
                                             res.hook[H_REALLOC].patched);
    reset_counts();
    c_free(c_malloc(10, __FILE__, __LINE__), __FILE__, __LINE__);
    assert_int_equal(n_malloc + n_free, 0);
    dlclose(h);
}

/* ---- patching while other threads call through the slots ------------------- */

struct churn {
    int (*roundtrip)(size_t);
    volatile int stop;
    unsigned long calls;
    int failures;
};

static void *churn_thread(void *arg)
{
    struct churn *c = arg;
    unsigned long calls = 0;
    while (!c->stop) {
        if (!c->roundtrip(24))
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
        calls++;
    }
    __atomic_add_fetch(&c->calls, calls, __ATOMIC_RELAXED);
    return NULL;
}

static void test_patch_while_threads_allocate(void **state)
{
    (void)state;
    struct fix f;
    pthread_t t[3];
    struct churn c;
    open_fix(&f, "libgotfix_now.so", RTLD_NOW | RTLD_LOCAL);
    assert_non_null(f.f_roundtrip);
    memset(&c, 0, sizeof c);
    c.roundtrip = f.f_roundtrip;
    reset_counts();
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &c), 0);
    struct nra_got_result res;
    memset(&res, 0, sizeof res);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(nra_got_patch_object(f.lm, hooks, 2, &res), 0);
        assert_int_equal(nra_got_unpatch_object(f.lm, hooks, 2, &res), 0);
    }
    assert_int_equal(nra_got_patch_object(f.lm, hooks, 2, &res), 0);
    unsigned long m0 = __atomic_load_n(&n_malloc, __ATOMIC_RELAXED);
    unsigned long f0 = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
    usleep(20000);
    /* patched: the hooks see the threads' calls */
    assert_true(__atomic_load_n(&n_malloc, __ATOMIC_RELAXED) > m0);
    assert_true(__atomic_load_n(&n_free, __ATOMIC_RELAXED) > f0);
    c.stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(c.failures, 0);
    assert_true(n_malloc <= c.calls);
    assert_true(n_free <= c.calls);
    assert_int_equal(nra_got_unpatch_object(f.lm, hooks, 2, &res), 0);
    close_fix(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bindnow_relro_patch_and_unpatch),
        cmocka_unit_test(test_lazy_unresolved_slots),
        cmocka_unit_test(test_lazy_resolved_slots),
        cmocka_unit_test(test_noplt_glob_dat_calls),
        cmocka_unit_test(test_patch_is_idempotent),
        cmocka_unit_test(test_unpatch_without_saved_values_uses_real),
        cmocka_unit_test(test_unknown_symbol_patches_nothing),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_object_for_addr),
        cmocka_unit_test(test_dependencies_of_fixture),
        cmocka_unit_test(test_dependencies_of_libcrypto),
        cmocka_unit_test(test_for_each_object),
        cmocka_unit_test(test_real_libcrypto),
        cmocka_unit_test(test_patch_while_threads_allocate),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
