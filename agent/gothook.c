/*
 * gothook — GOT slot patching for loaded ELF objects. See include/gothook.h
 * for the contract. Notes on the implementation:
 *
 *  - Program headers come from dl_iterate_phdr (matched to the link_map by
 *    the address of PT_DYNAMIC == l_ld). Nothing that takes a dl* lock is
 *    called from inside a dl_iterate_phdr callback: dl_iterate_phdr holds
 *    dl_load_write_lock, dlopen takes dl_load_lock then dl_load_write_lock.
 *  - glibc relocates the d_ptr values of the dynamic section in place for
 *    normal objects but not for the vDSO (or on a read-only .dynamic); other
 *    libcs never do. dyn_addr() accepts both forms by checking which one lies
 *    inside the object's mapped extent.
 *  - Page protection: ld.so makes [ALIGN_DOWN(relro start), ALIGN_DOWN(relro
 *    end)) read-only after relocation. Rather than trusting that arithmetic
 *    we read the page's current protection from /proc/self/maps (open/read
 *    into a stack buffer: no malloc) and restore exactly it. If /proc is not
 *    readable we fall back to the ld.so arithmetic.
 *  - A slot is written with a compare-and-swap (an atomic 8-byte locked
 *    store on x86_64): a reader (a thread calling through the slot) sees
 *    either the old or the new pointer, never a torn one, and a value that
 *    changed since we read it (lazy binding resolving the slot concurrently)
 *    is noticed and becomes the recorded previous value.
 */
#include "gothook.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__linux__)

#include <elf.h>

#define NRA_GOT_MAX_WSEGS 8   /* writable PT_LOAD segments we remember */
#define NRA_GOT_PROT_CACHE 8  /* pages whose protection one call remembers */

struct objinfo {
    uintptr_t base;           /* l_addr / dlpi_addr */
    uintptr_t dyn;            /* address of PT_DYNAMIC */
    uintptr_t lo, hi;         /* mapped extent (all PT_LOAD) */
    uintptr_t relro_lo, relro_hi; /* what ld.so mprotects (page aligned), may be empty */
    uintptr_t wlo[NRA_GOT_MAX_WSEGS], whi[NRA_GOT_MAX_WSEGS];
    unsigned nw;
    bool found;
};

struct dyninfo {
    const ElfW(Sym) *symtab;
    const char *strtab;
    size_t strsz;
    const ElfW(Rela) *jmprel;
    size_t pltrelsz;
    const ElfW(Rela) *rela;
    size_t relasz;
    size_t soname;
    bool has_soname;
};

static pthread_mutex_t got_lock = PTHREAD_MUTEX_INITIALIZER;

static uintptr_t page_size(void)
{
    static uintptr_t ps;
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (uintptr_t)v : 4096;
    }
    return ps;
}

/* ---- program headers -------------------------------------------------- */

static void fill_objinfo(struct dl_phdr_info *info, struct objinfo *oi)
{
    uintptr_t ps = page_size();
    oi->base = info->dlpi_addr;
    oi->lo = UINTPTR_MAX;
    oi->hi = 0;
    oi->nw = 0;
    oi->relro_lo = oi->relro_hi = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (ph->p_type == PT_LOAD) {
            if (s < oi->lo)
                oi->lo = s;
            if (e > oi->hi)
                oi->hi = e;
            if ((ph->p_flags & PF_W) && oi->nw < NRA_GOT_MAX_WSEGS) {
                oi->wlo[oi->nw] = s;
                oi->whi[oi->nw] = e;
                oi->nw++;
            }
        } else if (ph->p_type == PT_GNU_RELRO) {
            oi->relro_lo = s & ~(ps - 1);
            oi->relro_hi = e & ~(ps - 1);
        } else if (ph->p_type == PT_DYNAMIC) {
            oi->dyn = s;
        }
    }
    if (oi->lo > oi->hi)
        oi->lo = oi->hi = 0;
}

static int find_objinfo_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct objinfo *oi = arg;
    (void)size;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC && info->dlpi_addr + ph->p_vaddr == oi->dyn) {
            fill_objinfo(info, oi);
            oi->found = true;
            return 1;
        }
    }
    return 0;
}

static int find_objinfo(const struct link_map *lm, struct objinfo *oi)
{
    memset(oi, 0, sizeof *oi);
    if (!lm->l_ld)
        return -ENOENT;
    oi->dyn = (uintptr_t)lm->l_ld;
    dl_iterate_phdr(find_objinfo_cb, oi);
    if (!oi->found || oi->base != lm->l_addr)
        return -ENOENT;
    return 0;
}

/* ---- dynamic section -------------------------------------------------- */

/* Turn a d_ptr into an address, whether or not ld.so relocated it. The two
 * readings can only both be inside the object if it is mapped below its own
 * size (base < hi - base), which does not happen for loaded objects. */
static uintptr_t dyn_addr(const struct objinfo *oi, ElfW(Addr) p)
{
    if (p >= oi->lo && p < oi->hi)
        return p;
    if (oi->base + p >= oi->lo && oi->base + p < oi->hi)
        return oi->base + p;
    return 0;
}

static int parse_dyn(const struct objinfo *oi, struct dyninfo *d)
{
    const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)oi->dyn;
    ElfW(Sxword) pltrel = DT_RELA;
    size_t relaent = sizeof(ElfW(Rela)), syment = sizeof(ElfW(Sym));
    uintptr_t symtab = 0, strtab = 0, jmprel = 0, rela = 0;

    memset(d, 0, sizeof *d);
    for (size_t i = 0; dyn[i].d_tag != DT_NULL; i++) {
        if (i > 4096)
            return -ENOEXEC;
        const ElfW(Dyn) *e = &dyn[i];
        switch (e->d_tag) {
        case DT_SYMTAB: symtab = dyn_addr(oi, e->d_un.d_ptr); if (!symtab) return -ENOEXEC; break;
        case DT_STRTAB: strtab = dyn_addr(oi, e->d_un.d_ptr); if (!strtab) return -ENOEXEC; break;
        case DT_STRSZ: d->strsz = e->d_un.d_val; break;
        case DT_JMPREL: jmprel = dyn_addr(oi, e->d_un.d_ptr); if (!jmprel) return -ENOEXEC; break;
        case DT_PLTRELSZ: d->pltrelsz = e->d_un.d_val; break;
        case DT_PLTREL: pltrel = (ElfW(Sxword))e->d_un.d_val; break;
        case DT_RELA: rela = dyn_addr(oi, e->d_un.d_ptr); if (!rela) return -ENOEXEC; break;
        case DT_RELASZ: d->relasz = e->d_un.d_val; break;
        case DT_RELAENT: relaent = e->d_un.d_val; break;
        case DT_SYMENT: syment = e->d_un.d_val; break;
        case DT_SONAME: d->soname = e->d_un.d_val; d->has_soname = true; break;
        default: break;
        }
    }
    if (relaent != sizeof(ElfW(Rela)) || syment != sizeof(ElfW(Sym)))
        return -ENOEXEC;
    if (jmprel && d->pltrelsz && pltrel != DT_RELA)
        return -ENOEXEC;
    d->symtab = (const ElfW(Sym) *)symtab;
    d->strtab = (const char *)strtab;
    d->jmprel = jmprel ? (const ElfW(Rela) *)jmprel : NULL;
    d->rela = rela ? (const ElfW(Rela) *)rela : NULL;
    if (!d->jmprel)
        d->pltrelsz = 0;
    if (!d->rela)
        d->relasz = 0;
    if (!d->strtab)
        d->strsz = 0;
    /* Some linkers let DT_RELA's range include .rela.plt (glibc tolerates it):
     * cut the overlap so no slot is visited twice. */
    if (d->rela && d->jmprel) {
        uintptr_t rs = (uintptr_t)d->rela, re = rs + d->relasz;
        uintptr_t js = (uintptr_t)d->jmprel, je = js + d->pltrelsz;
        if (js >= rs && js < re && je >= re)
            d->relasz = js - rs;
    }
    if ((d->pltrelsz || d->relasz) && (!d->symtab || !d->strtab))
        return -ENOEXEC;
    return 0;
}

/* Name of a string-table entry, NULL if out of bounds / unterminated. */
static const char *dyn_str(const struct dyninfo *d, size_t off)
{
    if (!d->strtab || off >= d->strsz)
        return NULL;
    if (!memchr(d->strtab + off, '\0', d->strsz - off))
        return NULL;
    return d->strtab + off;
}

/* ---- pinning ------------------------------------------------------------ */

/* Keep lm mapped: take a reference with dlopen(RTLD_NOLOAD) on its own name
 * and check the handle is this very link_map (glibc handles are link_maps;
 * dlinfo says so portably). The main program and the vDSO cannot be
 * unloaded; dlopen(NULL) covers the main program. */
static void *pin_by_name(const char *name, const struct link_map **out)
{
    void *h = dlopen((name && name[0]) ? name : NULL, RTLD_LAZY | RTLD_NOLOAD);
    struct link_map *m = NULL;
    if (!h)
        return NULL;
    if (dlinfo(h, RTLD_DI_LINKMAP, &m) != 0 || !m) {
        dlclose(h);
        return NULL;
    }
    *out = m;
    return h;
}

static void *pin(const struct link_map *lm)
{
    const struct link_map *m = NULL;
    void *h = pin_by_name(lm->l_name, &m);
    if (h && m != lm) {
        dlclose(h);
        return NULL;
    }
    return h;
}

/* ---- page protection (no malloc) ------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parse "start-end perms" at the start of a maps line. */
static bool parse_maps_line(const char *s, const char *end, uintptr_t *lo, uintptr_t *hi, int *prot)
{
    uintptr_t a = 0, b = 0;
    int v;
    while (s < end && (v = hexval(*s)) >= 0) { a = a * 16 + (uintptr_t)v; s++; }
    if (s >= end || *s != '-')
        return false;
    s++;
    while (s < end && (v = hexval(*s)) >= 0) { b = b * 16 + (uintptr_t)v; s++; }
    if (s >= end || *s != ' ' || end - s < 4)
        return false;
    s++;
    *prot = (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) |
            (s[2] == 'x' ? PROT_EXEC : 0);
    *lo = a;
    *hi = b;
    return true;
}

/* Current protection of the page at addr from /proc/self/maps; -errno.
 * Streams the file through a stack buffer and keeps only the first bytes of
 * each line ("start-end perms"), so long paths cost nothing. */
static int maps_prot(uintptr_t addr)
{
    char buf[2048], line[64];
    size_t ll = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? -errno : -ENOENT;
            close(fd);
            return e;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != '\n') {
                if (ll < sizeof line)
                    line[ll++] = buf[i];
                continue;
            }
            uintptr_t lo, hi;
            int prot;
            if (parse_maps_line(line, line + ll, &lo, &hi, &prot) && addr >= lo && addr < hi) {
                close(fd);
                return prot;
            }
            ll = 0;
        }
    }
}

struct prot_cache {
    uintptr_t page[NRA_GOT_PROT_CACHE];
    int prot[NRA_GOT_PROT_CACHE];
    unsigned n;
};

static int page_prot(struct prot_cache *pc, const struct objinfo *oi, uintptr_t page)
{
    for (unsigned i = 0; i < pc->n; i++)
        if (pc->page[i] == page)
            return pc->prot[i];
    int prot = maps_prot(page);
    if (prot < 0) /* no /proc: what ld.so does */
        prot = (page >= oi->relro_lo && page < oi->relro_hi) ? PROT_READ
                                                              : (PROT_READ | PROT_WRITE);
    if (pc->n < NRA_GOT_PROT_CACHE) {
        pc->page[pc->n] = page;
        pc->prot[pc->n] = prot;
        pc->n++;
    }
    return prot;
}

/* ---- the walk ------------------------------------------------------------ */

enum walk_mode { WALK_PATCH, WALK_RECHECK, WALK_UNPATCH };

struct walk {
    enum walk_mode mode;
    const struct objinfo *oi;
    const struct dyninfo *d;
    const struct nra_got_hook *hooks;
    size_t n;
    size_t hooklen[NRA_GOT_MAX_HOOKS];
    uintptr_t fallback[NRA_GOT_MAX_HOOKS]; /* unpatch: nra_got_real(symbol) */
    struct nra_got_result *res;
    struct prot_cache pc;
};

static bool slot_ok(const struct objinfo *oi, uintptr_t slot)
{
    if (slot & 7)
        return false;
    for (unsigned i = 0; i < oi->nw; i++)
        if (slot >= oi->wlo[i] && slot + 8 <= oi->whi[i])
            return true;
    return false;
}

/* Store val into *slot (only if it holds expect, when only_if_equal).
 * *stored tells whether this call changed the slot, *old what it held
 * before (val if it already held val). The page is made writable for the
 * store only if it is not. */
static int store_slot(struct walk *w, uintptr_t slot, uintptr_t val, bool only_if_equal,
                      uintptr_t expect, uintptr_t *old, bool *stored, bool *relro)
{
    uintptr_t *p = (uintptr_t *)slot;
    uintptr_t cur = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    *relro = false;
    *stored = false;
    *old = cur;
    if (cur == val || (only_if_equal && cur != expect))
        return 0;

    uintptr_t ps = page_size(), page = slot & ~(ps - 1);
    int prot = page_prot(&w->pc, w->oi, page);
    bool need = !(prot & PROT_WRITE);
    if (need) {
        if (mprotect((void *)page, ps, prot | PROT_WRITE) != 0)
            return -errno;
        *relro = true;
    }
    /* ---- half-patched window: no calls that may allocate ---- */
    for (int tries = 0; tries < 1000; tries++) {
        if (__atomic_compare_exchange_n(p, &cur, val, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            *stored = true;
            break;
        }
        if (cur == val || (only_if_equal && cur != expect))
            break;
    }
    *old = cur;
    if (need && mprotect((void *)page, ps, prot) != 0)
        return -errno; /* stays writable: harmless for correctness */
    return 0;
}

static int visit_rela(struct walk *w, const ElfW(Rela) *r, size_t bytes)
{
    size_t count = bytes / sizeof(ElfW(Rela));
    const struct dyninfo *d = w->d;
    int rc = 0;

    for (size_t k = 0; k < count; k++) {
        unsigned long type = ELF64_R_TYPE(r[k].r_info);
        size_t symi = ELF64_R_SYM(r[k].r_info);
        if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || symi == 0)
            continue;
        const char *name = dyn_str(d, d->symtab[symi].st_name);
        if (!name)
            continue;
        size_t h;
        for (h = 0; h < w->n; h++)
            if (memcmp(name, w->hooks[h].symbol, w->hooklen[h] + 1) == 0)
                break;
        if (h == w->n)
            continue;
        uintptr_t slot = w->oi->base + r[k].r_offset;
        if (!slot_ok(w->oi, slot))
            continue;

        struct nra_got_hook_result *hr = &w->res->hook[h];
        uintptr_t repl = (uintptr_t)w->hooks[h].replacement, old;
        void **prevp = type == R_X86_64_JUMP_SLOT ? &hr->prev_jump_slot : &hr->prev_glob_dat;
        bool relro, stored;
        int e;

        if (w->mode == WALK_UNPATCH) {
            uintptr_t to = *prevp ? (uintptr_t)*prevp : w->fallback[h];
            if (!to || to == repl)
                continue;
            e = store_slot(w, slot, to, true, repl, &old, &stored, &relro);
            if (e == 0 && stored) {
                hr->restored++;
                w->res->total_restored++;
            }
        } else {
            e = store_slot(w, slot, repl, false, 0, &old, &stored, &relro);
            if (e == 0) {
                if (!stored) {
                    if (w->mode == WALK_PATCH && old == repl) {
                        hr->already++;
                        w->res->total_already++;
                    }
                } else {
                    if (!*prevp)
                        *prevp = (void *)old;
                    if (w->mode == WALK_PATCH) {
                        hr->patched++;
                        w->res->total_patched++;
                        hr->relro += relro;
                    }
                }
            }
        }
        if (e != 0 && rc == 0)
            rc = e;
    }
    return rc;
}

static int walk_object(struct walk *w)
{
    int rc = 0, e;
    if (w->d->jmprel && (e = visit_rela(w, w->d->jmprel, w->d->pltrelsz)) != 0)
        rc = e;
    if (w->d->rela && (e = visit_rela(w, w->d->rela, w->d->relasz)) != 0 && rc == 0)
        rc = e;
    return rc;
}

static int patch_common(enum walk_mode mode, const struct link_map *lm,
                        const struct nra_got_hook *hooks, size_t n, struct nra_got_result *res)
{
    struct objinfo oi;
    struct dyninfo d;
    struct walk w;
    void *h;
    int rc;

    if (!lm || !res || (n && !hooks) || n > NRA_GOT_MAX_HOOKS)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!hooks[i].symbol || !hooks[i].replacement)
            return -EINVAL;

    if (res->n != n) {
        memset(res, 0, sizeof *res);
        res->n = n;
    }
    /* reset this call's counters, keep the other call's */
    if (mode == WALK_UNPATCH) {
        res->total_restored = 0;
        for (size_t i = 0; i < NRA_GOT_MAX_HOOKS; i++)
            res->hook[i].restored = 0;
    } else {
        res->total_patched = res->total_already = 0;
        for (size_t i = 0; i < NRA_GOT_MAX_HOOKS; i++)
            res->hook[i].patched = res->hook[i].already = res->hook[i].relro = 0;
    }
    if (n == 0)
        return 0;

    memset(&w, 0, sizeof w);
    w.mode = mode;
    w.oi = &oi;
    w.d = &d;
    w.hooks = hooks;
    w.n = n;
    w.res = res;
    for (size_t i = 0; i < n; i++) {
        w.hooklen[i] = strlen(hooks[i].symbol);
        /* dlsym takes ld.so's lock (and may allocate): never under ours */
        if (mode == WALK_UNPATCH && (!res->hook[i].prev_jump_slot || !res->hook[i].prev_glob_dat))
            w.fallback[i] = (uintptr_t)nra_got_real(hooks[i].symbol);
    }

    /* pin before taking our lock: dlopen takes dl_load_lock, and a caller
     * inside an ELF constructor already holds it (lock order dl -> ours) */
    h = pin(lm);
    if (!h)
        return -ESTALE;
    pthread_mutex_lock(&got_lock);
    rc = find_objinfo(lm, &oi);
    if (rc == 0)
        rc = parse_dyn(&oi, &d);
    if (rc == 0) {
        rc = walk_object(&w);
        if (rc == 0 && mode == WALK_PATCH && res->total_patched) {
            /* A lazy-binding fixup that was in flight may have overwritten
             * a slot after our store: give it a moment and re-apply. */
            sched_yield();
            w.mode = WALK_RECHECK;
            rc = walk_object(&w);
        }
    }
    pthread_mutex_unlock(&got_lock);
    dlclose(h);
    return rc;
}

int nra_got_patch_object(const struct link_map *lm, const struct nra_got_hook *hooks, size_t n,
                         struct nra_got_result *res)
{
    return patch_common(WALK_PATCH, lm, hooks, n, res);
}

int nra_got_unpatch_object(const struct link_map *lm, const struct nra_got_hook *hooks,
                           size_t n, struct nra_got_result *res)
{
    return patch_common(WALK_UNPATCH, lm, hooks, n, res);
}

struct link_map *nra_got_object_for_addr(const void *addr)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1(addr, &info, (void **)&lm, RTLD_DL_LINKMAP))
        return NULL;
    return lm;
}

void *nra_got_real(const char *symbol)
{
    if (!symbol)
        return NULL;
    return dlsym(RTLD_DEFAULT, symbol);
}

/* ---- enumeration ------------------------------------------------------- */

struct objent {
    uintptr_t dyn;
    size_t name_off;
};

struct collect {
    struct objent *ents;
    size_t cap, n, total; /* total: objects seen (may exceed cap) */
    char *names;
    size_t names_cap, names_len, names_need;
    uintptr_t vdso, ldso;
};

static int collect_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct collect *c = arg;
    uintptr_t dyn = 0, ehdr = 0;
    (void)size;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = info->dlpi_addr + ph->p_vaddr;
        else if (ph->p_type == PT_LOAD && ph->p_offset == 0)
            ehdr = info->dlpi_addr + ph->p_vaddr;
    }
    if (!dyn)
        return 0;
    if (c->vdso && ehdr == c->vdso)
        return 0;
    if (c->ldso && info->dlpi_addr == c->ldso)
        return 0;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    size_t len = strlen(name) + 1;
    c->total++;
    c->names_need += len;
    if (c->n < c->cap && c->names_len + len <= c->names_cap) {
        c->ents[c->n].dyn = dyn;
        c->ents[c->n].name_off = c->names_len;
        memcpy(c->names + c->names_len, name, len);
        c->names_len += len;
        c->n++;
    }
    return 0;
}

typedef int (*obj_filter)(const struct link_map *lm, void *farg);

static int for_each_filtered(obj_filter filter, void *farg,
                             int (*cb)(const struct link_map *lm, void *arg), void *arg)
{
    struct collect c;
    int rc = 0;

    memset(&c, 0, sizeof c);
    c.vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    c.ldso = (uintptr_t)getauxval(AT_BASE);
    /* size the arrays, then fill; objects loaded in between are dropped */
    dl_iterate_phdr(collect_cb, &c);
    c.cap = c.total + 16;
    c.names_cap = c.names_need + 4096;
    c.ents = malloc(c.cap * sizeof *c.ents);
    c.names = malloc(c.names_cap);
    if (!c.ents || !c.names) {
        free(c.ents);
        free(c.names);
        return -ENOMEM;
    }
    c.n = c.total = c.names_len = c.names_need = 0;
    dl_iterate_phdr(collect_cb, &c);

    for (size_t i = 0; i < c.n && rc == 0; i++) {
        const struct link_map *lm = NULL;
        void *h = pin_by_name(c.names + c.ents[i].name_off, &lm);
        if (!h)
            continue;
        if ((uintptr_t)lm->l_ld == c.ents[i].dyn && (!filter || filter(lm, farg)))
            rc = cb(lm, arg);
        dlclose(h);
    }
    free(c.ents);
    free(c.names);
    return rc;
}

int nra_got_for_each_object(int (*cb)(const struct link_map *lm, void *arg), void *arg)
{
    if (!cb)
        return -EINVAL;
    return for_each_filtered(NULL, NULL, cb, arg);
}

struct needed {
    char *names; /* NUL-separated */
    size_t len;
    const struct link_map *self;
};

static int needed_filter(const struct link_map *lm, void *farg)
{
    struct needed *nd = farg;
    struct objinfo oi;
    struct dyninfo d;
    const char *soname = NULL, *base = NULL;

    if (lm == nd->self)
        return 0;
    if (find_objinfo(lm, &oi) == 0 && parse_dyn(&oi, &d) == 0 && d.has_soname)
        soname = dyn_str(&d, d.soname);
    if (lm->l_name && lm->l_name[0]) {
        base = strrchr(lm->l_name, '/');
        base = base ? base + 1 : lm->l_name;
    }
    for (size_t off = 0; off < nd->len; off += strlen(nd->names + off) + 1) {
        const char *need = nd->names + off;
        if ((soname && strcmp(soname, need) == 0) || (base && strcmp(base, need) == 0))
            return 1;
    }
    return 0;
}

int nra_got_for_each_dependency(const struct link_map *lm,
                                int (*cb)(const struct link_map *dep, void *arg), void *arg)
{
    struct objinfo oi;
    struct dyninfo d;
    struct needed nd;
    void *h;
    int rc;

    if (!lm || !cb)
        return -EINVAL;
    h = pin(lm);
    if (!h)
        return -ESTALE;
    rc = find_objinfo(lm, &oi);
    if (rc == 0)
        rc = parse_dyn(&oi, &d);
    memset(&nd, 0, sizeof nd);
    nd.self = lm;
    if (rc == 0) {
        const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)oi.dyn;
        size_t need = 0;
        for (size_t i = 0; dyn[i].d_tag != DT_NULL; i++) {
            const char *s;
            if (dyn[i].d_tag == DT_NEEDED && (s = dyn_str(&d, dyn[i].d_un.d_val)) != NULL)
                need += strlen(s) + 1;
        }
        nd.names = malloc(need ? need : 1);
        if (!nd.names)
            rc = -ENOMEM;
        for (size_t i = 0; rc == 0 && dyn[i].d_tag != DT_NULL; i++) {
            const char *s;
            if (dyn[i].d_tag == DT_NEEDED && (s = dyn_str(&d, dyn[i].d_un.d_val)) != NULL) {
                size_t l = strlen(s) + 1;
                memcpy(nd.names + nd.len, s, l);
                nd.len += l;
            }
        }
    }
    dlclose(h);
    if (rc == 0 && nd.len)
        rc = for_each_filtered(needed_filter, &nd, cb, arg);
    free(nd.names);
    return rc;
}

#else /* not x86_64 Linux */

int nra_got_patch_object(const struct link_map *lm, const struct nra_got_hook *hooks, size_t n,
                         struct nra_got_result *res)
{
    (void)lm; (void)hooks; (void)n; (void)res;
    return -ENOTSUP;
}

int nra_got_unpatch_object(const struct link_map *lm, const struct nra_got_hook *hooks,
                           size_t n, struct nra_got_result *res)
{
    (void)lm; (void)hooks; (void)n; (void)res;
    return -ENOTSUP;
}

struct link_map *nra_got_object_for_addr(const void *addr)
{
    (void)addr;
    return NULL;
}

int nra_got_for_each_object(int (*cb)(const struct link_map *lm, void *arg), void *arg)
{
    (void)cb; (void)arg;
    return -ENOTSUP;
}

int nra_got_for_each_dependency(const struct link_map *lm,
                                int (*cb)(const struct link_map *dep, void *arg), void *arg)
{
    (void)lm; (void)cb; (void)arg;
    return -ENOTSUP;
}

void *nra_got_real(const char *symbol)
{
    (void)symbol;
    return NULL;
}

#endif
