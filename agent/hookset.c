/* hookset.c — see include/hookset.h. */
#include "hookset.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "gothook.h"
#include "log.h"

#define MAX_LIBS 128

struct lib {
    const struct link_map *lm;
    char name[200];
    unsigned slots;
    int error;          /* 0, or -errno of the failed patch */
};

static struct {
    pthread_mutex_t lock;
    struct lib libs[MAX_LIBS];
    unsigned n;
    uint64_t overflow;
} hs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static size_t hook_table(struct nra_got_hook *hooks)
{
    size_t n = 0;
    for (const char *const *s = nra_alloc_symbols; *s && n < NRA_GOT_MAX_HOOKS; s++)
        hooks[n++] = (struct nra_got_hook){.symbol = *s, .replacement = nra_alloc_hook_for(*s)};
    return n;
}

static struct lib *find_lib(const struct link_map *lm)
{
    for (unsigned i = 0; i < hs.n; i++)
        if (hs.libs[i].lm == lm && strcmp(hs.libs[i].name, lm->l_name ? lm->l_name : "") == 0)
            return &hs.libs[i];
    return NULL;
}

/* Patches one object once. Caller holds hs.lock. */
static int patch_one(const struct link_map *lm)
{
    if (find_lib(lm))
        return 0;
    if (hs.n == MAX_LIBS) {
        hs.overflow++;
        return -ENOSPC;
    }
    struct nra_got_hook hooks[NRA_GOT_MAX_HOOKS];
    size_t n = hook_table(hooks);
    struct nra_got_result res;
    memset(&res, 0, sizeof(res));
    int rc = nra_got_patch_object(lm, hooks, n, &res);
    struct lib *l = &hs.libs[hs.n++];
    l->lm = lm;
    snprintf(l->name, sizeof(l->name), "%s", lm->l_name ? lm->l_name : "");
    l->slots = res.total_patched + res.total_already;
    l->error = rc;
    if (rc != 0)
        nra_log(NRA_LOG_INFO, "cannot hook allocations of %s: %s", base_name(l->name), strerror(-rc));
    else
        nra_log(NRA_LOG_DEBUG, "hooked %u allocator slots in %s", l->slots, base_name(l->name));
    return rc;
}

static bool is_openssl(const struct link_map *lm)
{
    const char *b = base_name(lm->l_name ? lm->l_name : "");
    return strncmp(b, "libssl.", 7) == 0 || strncmp(b, "libcrypto.", 10) == 0;
}

static int patch_if_openssl(const struct link_map *dep, void *arg)
{
    (void)arg;
    if (is_openssl(dep))
        patch_one(dep);
    return 0;
}

static bool is_excluded(const struct link_map *lm)
{
    static const char *const skip[] = {"libc.so", "ld-linux", "libunwind", "libpthread.so",
                                       "libdl.so", "libm.so", "libgcc_s.so", NULL};
    const char *b = base_name(lm->l_name ? lm->l_name : "");
    if (b[0] == '\0')
        return true;  /* the main program: the java launcher */
    for (const char *const *s = skip; *s; s++)
        if (strncmp(b, *s, strlen(*s)) == 0)
            return true;
    return lm == nra_got_object_for_addr((const void *)nra_hookset_all);
}

static int patch_unless_excluded(const struct link_map *lm, void *arg)
{
    (void)arg;
    if (!is_excluded(lm))
        patch_one(lm);
    return 0;
}

int nra_hookset_all(void)
{
    pthread_mutex_lock(&hs.lock);
    int rc = nra_got_for_each_object(patch_unless_excluded, NULL);
    pthread_mutex_unlock(&hs.lock);
    return rc;
}

/* hook=all: a library loaded since the last scan (System.loadLibrary binds
 * its natives, so every bind is a chance to notice) triggers a rescan. The
 * check is _dl_find_object, lock-free and constant time. */
void nra_hookset_notice_code(const void *addr)
{
    const struct link_map *lm = NULL;
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
    struct dl_find_object found;
    if (_dl_find_object((void *)addr, &found) == 0)
        lm = found.dlfo_link_map;
#else
    lm = nra_got_object_for_addr(addr);
#endif
    if (!lm)
        return;
    pthread_mutex_lock(&hs.lock);
    bool known = find_lib(lm) != NULL || is_excluded(lm);
    pthread_mutex_unlock(&hs.lock);
    if (!known)
        nra_hookset_all();
}

int nra_hookset_for_address(const void *addr, enum nra_hook_mode mode)
{
    if (mode == NRA_HOOK_NONE)
        return 0;
    if (mode == NRA_HOOK_ALL)
        return nra_hookset_all();
    const struct link_map *lm = nra_got_object_for_addr(addr);
    if (!lm)
        return -ENOENT;
    pthread_mutex_lock(&hs.lock);
    bool fresh = find_lib(lm) == NULL;
    int rc = patch_one(lm);
    if (fresh)
        nra_got_for_each_dependency(lm, patch_if_openssl, NULL);
    pthread_mutex_unlock(&hs.lock);
    return rc;
}

unsigned nra_hookset_describe(char lines[][256], unsigned max, unsigned *n_failed)
{
    unsigned n = 0, failed = 0;
    pthread_mutex_lock(&hs.lock);
    for (unsigned i = 0; i < hs.n; i++) {
        const struct lib *l = &hs.libs[i];
        if (l->error)
            failed++;
        if (n == max)
            continue;
        if (l->error)
            snprintf(lines[n++], 256, "could not hook allocations of %s: %s", l->name, strerror(-l->error));
        else
            snprintf(lines[n++], 256, "hooked %u allocator slots of %s", l->slots, base_name(l->name));
    }
    if (hs.overflow && n < max)
        snprintf(lines[n++], 256, "%llu libraries not hooked: more than %d", (unsigned long long)hs.overflow, MAX_LIBS);
    pthread_mutex_unlock(&hs.lock);
    *n_failed = failed;
    return n;
}

unsigned nra_hookset_hooked(char names[][128], unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&hs.lock);
    for (unsigned i = 0; i < hs.n && n < max; i++)
        if (hs.libs[i].error == 0)
            snprintf(names[n++], 128, "%s", base_name(hs.libs[i].name));
    pthread_mutex_unlock(&hs.lock);
    return n;
}
