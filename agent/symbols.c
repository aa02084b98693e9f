/*
 * symbols — address → library + offset + function name. Contract in
 * include/symbols.h. Implementation notes:
 *
 *  - Identity of a loaded object: _dl_find_object (glibc >= 2.35, looked up
 *    at run time) or dladdr1(RTLD_DL_LINKMAP) gives the link_map; its
 *    program headers come from dl_iterate_phdr (matched by the PT_DYNAMIC
 *    address == l_ld); the build-id is read from its PT_NOTE in memory.
 *    Cache key = (l_addr, l_name, build-id); whenever anything was loaded or
 *    unloaded since an entry was last validated, the mapping's (dev, inode)
 *    and a fingerprint of the image's first page must match too, so an
 *    object loaded again at the same base is only served from the cache if
 *    it is the same file.
 *  - The object is pinned (dlopen RTLD_NOLOAD) while its memory is read.
 *  - Symbol tables keep only defined STT_FUNC symbols with st_size > 0,
 *    sorted by start, duplicates of the same extent merged (GLOBAL > WEAK >
 *    LOCAL), with a running maximum of end addresses so nested/overlapping
 *    extents are still found without scanning.
 *  - Files are read with pread (never mmap: a file truncated under us would
 *    raise SIGBUS in the JVM).
 */
#include "symbols.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define NRA_SYM_MAX_SEGS 16
#define NRA_SYM_MAX_FILE_TABLE ((size_t)64 << 20) /* largest .symtab/.strtab read */
#define NRA_SYM_DEFAULT_OBJECTS 64
#define NRA_SYM_DEFAULT_BYTES ((size_t)64 << 20)

/* ---- data --------------------------------------------------------------- */

struct sym {
    uintptr_t start; /* st_value: ELF vaddr (relative to l_addr) */
    uint32_t size;
    uint32_t name;   /* offset into the table's name pool */
};

struct table {
    struct sym *syms;
    uintptr_t *maxend; /* maxend[i] = max(end of syms[0..i]) */
    size_t n, cap;
    char *names;
    size_t names_len, names_cap;
};

struct obj {
    struct obj *next;
    /* key */
    uintptr_t base;
    char *lname;
    char build_id[41];
    dev_t map_dev;
    ino_t map_ino;
    /* facts */
    char *path; /* from /proc/self/maps, without " (deleted)" */
    bool deleted;
    bool stat_ok;
    dev_t st_dev;
    ino_t st_ino;
    enum nra_sym_source source;
    struct table t;
    size_t bytes;
    unsigned long long used;
    unsigned long long adds, subs; /* dl generation when last validated */
    uint64_t fingerprint;          /* hash of the first bytes of the image */
};

struct jni_name {
    uintptr_t start;
    uintptr_t base;
    char build_id[41];
    char *lname;
    char *name;
};

/* What one look at the loaded object tells us (no allocation). */
struct objview {
    const struct link_map *lm;
    uintptr_t base, dyn;
    unsigned nseg;
    uintptr_t seg_lo[NRA_SYM_MAX_SEGS], seg_hi[NRA_SYM_MAX_SEGS]; /* PT_LOAD [vaddr, +filesz) */
    unsigned nnote;
    uintptr_t note_lo[NRA_SYM_MAX_SEGS], note_len[NRA_SYM_MAX_SEGS], note_align[NRA_SYM_MAX_SEGS];
    uintptr_t lo, hi; /* whole mapped extent */
    bool found;
    char build_id[41];
    unsigned long long adds, subs; /* dl_iterate_phdr load/unload counters */
};

struct mapinfo {
    uintptr_t start, end;
    dev_t dev;
    ino_t ino;
    bool deleted;
    char path[PATH_MAX];
};

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static struct obj *objs;
static size_t n_objs, n_bytes, n_builds, n_evictions;
static size_t max_objs = NRA_SYM_DEFAULT_OBJECTS, max_bytes = NRA_SYM_DEFAULT_BYTES;
static unsigned long long use_clock;
static char debug_root[PATH_MAX] = "/usr/lib/debug";
static struct jni_name *jni; /* sorted by start */
static size_t n_jni, cap_jni;

/* ---- small helpers ------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l >= cap)
        l = cap - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void hex_id(const unsigned char *id, size_t len, char out[41])
{
    static const char hx[] = "0123456789abcdef";
    if (len > 20)
        len = 20;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[id[i] >> 4];
        out[2 * i + 1] = hx[id[i] & 15];
    }
    out[2 * len] = '\0';
}

/* Find NT_GNU_BUILD_ID in a buffer of notes. */
static bool notes_build_id(const unsigned char *p, size_t len, size_t align, char out[41])
{
    size_t off = 0;
    if (align != 8)
        align = 4;
    while (off + sizeof(ElfW(Nhdr)) <= len) {
        ElfW(Nhdr) nh;
        memcpy(&nh, p + off, sizeof nh);
        size_t name_off = off + sizeof nh;
        size_t desc_off = name_off + ((nh.n_namesz + align - 1) & ~(align - 1));
        size_t next = desc_off + ((nh.n_descsz + align - 1) & ~(align - 1));
        if (desc_off > len || nh.n_descsz > len - desc_off || next <= off)
            return false;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp(p + name_off, "GNU", 4) == 0 && nh.n_descsz > 0) {
            hex_id(p + desc_off, nh.n_descsz, out);
            return true;
        }
        off = next;
    }
    return false;
}

/* ---- the loaded object -------------------------------------------------- */

static int view_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct objview *v = arg;
    bool match = false;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC && info->dlpi_addr + ph->p_vaddr == v->dyn)
            match = true;
    }
    if (!match)
        return 0;
    v->found = true;
    v->base = info->dlpi_addr;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        v->adds = info->dlpi_adds;
        v->subs = info->dlpi_subs;
    }
    v->lo = UINTPTR_MAX;
    v->hi = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            if (v->nseg < NRA_SYM_MAX_SEGS) {
                v->seg_lo[v->nseg] = s;
                v->seg_hi[v->nseg] = s + ph->p_filesz;
                v->nseg++;
            }
            if (s < v->lo)
                v->lo = s;
            if (s + ph->p_memsz > v->hi)
                v->hi = s + ph->p_memsz;
        } else if (ph->p_type == PT_NOTE && v->nnote < NRA_SYM_MAX_SEGS) {
            v->note_lo[v->nnote] = s;
            v->note_len[v->nnote] = ph->p_filesz;
            v->note_align[v->nnote] = ph->p_align;
            v->nnote++;
        }
    }
    if (v->lo > v->hi)
        v->lo = v->hi = 0;
    return 1;
}

/* Is [p, p+len) inside one loaded segment's file-backed part? */
static bool in_segment(const struct objview *v, uintptr_t p, size_t len)
{
    for (unsigned i = 0; i < v->nseg; i++)
        if (p >= v->seg_lo[i] && p <= v->seg_hi[i] && len <= v->seg_hi[i] - p)
            return true;
    return false;
}

static int view_object(const struct link_map *lm, struct objview *v)
{
    memset(v, 0, sizeof *v);
    v->lm = lm;
    v->dyn = (uintptr_t)lm->l_ld;
    if (!v->dyn)
        return -ENOENT;
    dl_iterate_phdr(view_cb, v);
    if (!v->found || v->base != lm->l_addr)
        return -ENOENT;
    for (unsigned i = 0; i < v->nnote && !v->build_id[0]; i++)
        if (in_segment(v, v->note_lo[i], v->note_len[i]))
            notes_build_id((const unsigned char *)v->note_lo[i], v->note_len[i],
                           v->note_align[i], v->build_id);
    return 0;
}

/* FNV-1a over the first page of the lowest segment: ELF header, program
 * headers, notes, hash and symbol tables — never relocated on x86_64, and
 * different for a different file even when the build-id is absent (or
 * equal, as for a stripped copy: e_shoff/e_shnum change). */
static uint64_t image_fingerprint(const struct objview *v)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (unsigned i = 0; i < v->nseg; i++)
        if (v->seg_lo[i] < lo) {
            lo = v->seg_lo[i];
            hi = v->seg_hi[i];
        }
    if (lo == UINTPTR_MAX)
        return 0;
    if (hi - lo > 4096)
        hi = lo + 4096;
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)lo; p < (const unsigned char *)hi; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static bool is_vdso(const struct objview *v)
{
    uintptr_t vd = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    return vd && vd >= v->lo && vd < v->hi;
}

/* Pin lm against dlclose while we read it; NULL if it cannot be pinned. */
static void *pin(const struct link_map *lm)
{
    const char *name = lm->l_name;
    void *h = dlopen((name && name[0]) ? name : NULL, RTLD_LAZY | RTLD_NOLOAD);
    struct link_map *m = NULL;
    if (!h)
        return NULL;
    if (dlinfo(h, RTLD_DI_LINKMAP, &m) != 0 || m != lm) {
        dlclose(h);
        return NULL;
    }
    return h;
}

/* The /proc/self/maps line containing addr. */
static int find_mapping(uintptr_t addr, struct mapinfo *mi)
{
    FILE *f = fopen("/proc/self/maps", "re");
    char *line = NULL;
    size_t cap = 0;
    int rc = -ENOENT;
    if (!f)
        return -errno;
    while (getline(&line, &cap, f) > 0) {
        unsigned long s, e, off, ino;
        unsigned maj, mn;
        char perms[8];
        int n = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &s, &e, perms, &off, &maj, &mn, &ino,
                   &n) < 7)
            continue;
        if (addr < s || addr >= e)
            continue;
        mi->start = s;
        mi->end = e;
        mi->dev = makedev(maj, mn);
        mi->ino = (ino_t)ino;
        char *p = line + n;
        size_t l = strlen(p);
        while (l && (p[l - 1] == '\n' || p[l - 1] == ' '))
            p[--l] = '\0';
        static const char del[] = " (deleted)";
        mi->deleted = false;
        if (l >= sizeof del - 1 && strcmp(p + l - (sizeof del - 1), del) == 0) {
            mi->deleted = true;
            p[l - (sizeof del - 1)] = '\0';
        }
        copy_str(mi->path, sizeof mi->path, p);
        rc = 0;
        break;
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- tables -------------------------------------------------------------- */

static void table_free(struct table *t)
{
    free(t->syms);
    free(t->maxend);
    free(t->names);
    memset(t, 0, sizeof *t);
}

static int table_add(struct table *t, uintptr_t start, uint64_t size, unsigned char bind,
                     const char *name, size_t name_len)
{
    if (size == 0 || size > UINT32_MAX)
        return 0;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        struct sym *ns = realloc(t->syms, nc * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        t->syms = ns;
        t->cap = nc;
    }
    if (t->names_len + name_len + 2 > t->names_cap) {
        size_t nc = t->names_cap ? t->names_cap * 2 : 4096;
        while (nc < t->names_len + name_len + 2)
            nc *= 2;
        char *nn = realloc(t->names, nc);
        if (!nn)
            return -ENOMEM;
        t->names = nn;
        t->names_cap = nc;
    }
    /* the byte before the name records the binding rank for dedup */
    t->names[t->names_len] = (char)(bind == STB_GLOBAL ? 3 : bind == STB_WEAK ? 2 : 1);
    memcpy(t->names + t->names_len + 1, name, name_len);
    t->names[t->names_len + 1 + name_len] = '\0';
    t->syms[t->n].start = start;
    t->syms[t->n].size = (uint32_t)size;
    t->syms[t->n].name = (uint32_t)(t->names_len + 1);
    t->names_len += name_len + 2;
    t->n++;
    return 0;
}

static int sym_cmp(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return x->name < y->name ? -1 : x->name > y->name;
}

/* Sort, merge same-extent aliases, shrink, build maxend. */
static int table_finish(struct table *t)
{
    if (t->n == 0)
        return 0;
    qsort(t->syms, t->n, sizeof *t->syms, sym_cmp);
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (w && t->syms[w - 1].start == t->syms[i].start &&
            t->syms[w - 1].size == t->syms[i].size) {
            unsigned char rw = (unsigned char)t->names[t->syms[w - 1].name - 1];
            unsigned char ri = (unsigned char)t->names[t->syms[i].name - 1];
            if (ri > rw)
                t->syms[w - 1].name = t->syms[i].name;
            continue;
        }
        t->syms[w++] = t->syms[i];
    }
    t->n = w;
    struct sym *ns = realloc(t->syms, t->n * sizeof *ns);
    if (ns) {
        t->syms = ns;
        t->cap = t->n;
    }
    char *nn = realloc(t->names, t->names_len);
    if (nn) {
        t->names = nn;
        t->names_cap = t->names_len;
    }
    t->maxend = malloc(t->n * sizeof *t->maxend);
    if (!t->maxend)
        return -ENOMEM;
    uintptr_t m = 0;
    for (size_t i = 0; i < t->n; i++) {
        uintptr_t e = t->syms[i].start + t->syms[i].size;
        if (e > m)
            m = e;
        t->maxend[i] = m;
    }
    return 0;
}

static size_t table_bytes(const struct table *t)
{
    return t->cap * sizeof(struct sym) + t->n * sizeof(uintptr_t) + t->names_cap;
}

/* Innermost symbol whose extent contains off; NULL if none. */
static const struct sym *table_find(const struct table *t, uintptr_t off)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) { /* first index with start > off */
        size_t mid = lo + (hi - lo) / 2;
        if (t->syms[mid].start <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct sym *best = NULL;
    for (size_t i = lo; i-- > 0;) {
        if (t->maxend[i] <= off)
            break;
        const struct sym *s = &t->syms[i];
        if (off < s->start + s->size && (!best || s->size < best->size))
            best = s;
    }
    return best;
}

/* ---- reading ELF files ------------------------------------------------- */

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO;
        got += (size_t)r;
    }
    return 0;
}

struct elf_file {
    int fd;
    off_t size;
    ElfW(Ehdr) eh;
    ElfW(Shdr) *sh;
    size_t shnum;
};

static void elf_close(struct elf_file *ef)
{
    free(ef->sh);
    ef->sh = NULL;
}

static int elf_open(int fd, struct elf_file *ef)
{
    struct stat st;
    memset(ef, 0, sizeof *ef);
    ef->fd = fd;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOEXEC;
    ef->size = st.st_size;
    if (pread_all(fd, &ef->eh, sizeof ef->eh, 0) != 0 ||
        memcmp(ef->eh.e_ident, ELFMAG, SELFMAG) != 0 || ef->eh.e_ident[EI_CLASS] != ELFCLASS64)
        return -ENOEXEC;
    if (ef->eh.e_shoff == 0 || ef->eh.e_shentsize != sizeof(ElfW(Shdr)))
        return 0; /* no section headers */
    ElfW(Shdr) sh0;
    if (pread_all(fd, &sh0, sizeof sh0, (off_t)ef->eh.e_shoff) != 0)
        return -ENOEXEC;
    size_t shnum = ef->eh.e_shnum ? ef->eh.e_shnum : sh0.sh_size;
    if (shnum == 0 || shnum > 1000000 ||
        ef->eh.e_shoff + shnum * sizeof(ElfW(Shdr)) > (uint64_t)ef->size)
        return -ENOEXEC;
    ef->sh = malloc(shnum * sizeof(ElfW(Shdr)));
    if (!ef->sh)
        return -ENOMEM;
    if (pread_all(fd, ef->sh, shnum * sizeof(ElfW(Shdr)), (off_t)ef->eh.e_shoff) != 0) {
        elf_close(ef);
        return -ENOEXEC;
    }
    ef->shnum = shnum;
    return 0;
}

static void *elf_read_section(const struct elf_file *ef, const ElfW(Shdr) *s, size_t max)
{
    if (s->sh_type == SHT_NOBITS || s->sh_size == 0 || s->sh_size > max ||
        s->sh_offset > (uint64_t)ef->size || s->sh_size > (uint64_t)ef->size - s->sh_offset)
        return NULL;
    void *buf = malloc(s->sh_size + 1);
    if (!buf)
        return NULL;
    if (pread_all(ef->fd, buf, s->sh_size, (off_t)s->sh_offset) != 0) {
        free(buf);
        return NULL;
    }
    ((char *)buf)[s->sh_size] = '\0';
    return buf;
}

static void elf_build_id(const struct elf_file *ef, char out[41])
{
    out[0] = '\0';
    for (size_t i = 0; i < ef->shnum; i++) {
        const ElfW(Shdr) *s = &ef->sh[i];
        if (s->sh_type != SHT_NOTE)
            continue;
        unsigned char *buf = elf_read_section(ef, s, 1 << 16);
        if (!buf)
            continue;
        bool ok = notes_build_id(buf, s->sh_size, s->sh_addralign, out);
        free(buf);
        if (ok)
            return;
    }
    /* no section headers: program headers */
    if (ef->eh.e_phentsize != sizeof(ElfW(Phdr)) || ef->eh.e_phnum == 0 ||
        ef->eh.e_phnum > 256)
        return;
    ElfW(Phdr) ph[256];
    if (pread_all(ef->fd, ph, ef->eh.e_phnum * sizeof(ElfW(Phdr)), (off_t)ef->eh.e_phoff) != 0)
        return;
    for (unsigned i = 0; i < ef->eh.e_phnum; i++) {
        if (ph[i].p_type != PT_NOTE || ph[i].p_filesz == 0 || ph[i].p_filesz > (1 << 16))
            continue;
        unsigned char *buf = malloc(ph[i].p_filesz);
        if (!buf)
            return;
        bool ok = pread_all(ef->fd, buf, ph[i].p_filesz, (off_t)ph[i].p_offset) == 0 &&
                  notes_build_id(buf, ph[i].p_filesz, ph[i].p_align, out);
        free(buf);
        if (ok)
            return;
    }
}

/* Load .symtab's function symbols; -ENOENT if the file has none. */
static int load_symtab(const struct elf_file *ef, struct table *t)
{
    const ElfW(Shdr) *ss = NULL, *strs;
    for (size_t i = 0; i < ef->shnum; i++)
        if (ef->sh[i].sh_type == SHT_SYMTAB) {
            ss = &ef->sh[i];
            break;
        }
    if (!ss || ss->sh_link >= ef->shnum || ss->sh_entsize != sizeof(ElfW(Sym)))
        return -ENOENT;
    strs = &ef->sh[ss->sh_link];
    if (strs->sh_type != SHT_STRTAB)
        return -ENOENT;
    ElfW(Sym) *syms = elf_read_section(ef, ss, NRA_SYM_MAX_FILE_TABLE);
    char *str = elf_read_section(ef, strs, NRA_SYM_MAX_FILE_TABLE);
    int rc = (syms && str) ? 0 : -ENOENT;
    size_t n = ss->sh_size / sizeof(ElfW(Sym));
    for (size_t i = 1; rc == 0 && i < n; i++) {
        const ElfW(Sym) *s = &syms[i];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
            s->st_size == 0 || s->st_name >= strs->sh_size)
            continue;
        const char *nm = str + s->st_name;
        size_t nl = strnlen(nm, strs->sh_size - s->st_name);
        if (nl == 0)
            continue;
        rc = table_add(t, s->st_value, s->st_size, ELF64_ST_BIND(s->st_info), nm, nl);
    }
    free(syms);
    free(str);
    if (rc == 0)
        rc = table_finish(t);
    if (rc != 0)
        table_free(t);
    return rc;
}

/* Does the open file hold the image we see in memory? */
static bool file_is_object(const struct elf_file *ef, const struct objview *v,
                           const struct mapinfo *mi)
{
    if (v->build_id[0]) {
        char id[41];
        elf_build_id(ef, id);
        return strcmp(id, v->build_id) == 0;
    }
    struct stat st;
    return mi && fstat(ef->fd, &st) == 0 && st.st_dev == mi->dev && st.st_ino == mi->ino;
}

static int try_symtab_fd(int fd, const struct objview *v, const struct mapinfo *mi,
                         struct table *t)
{
    struct elf_file ef;
    int rc = elf_open(fd, &ef);
    if (rc == 0)
        rc = file_is_object(&ef, v, mi) ? load_symtab(&ef, t) : -ESTALE;
    elf_close(&ef);
    return rc;
}

static int try_symtab_path(const char *path, const struct objview *v, const struct mapinfo *mi,
                           struct table *t)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = try_symtab_fd(fd, v, mi, t);
    close(fd);
    return rc;
}

/* A descriptor of ours that still refers to the (deleted) file. */
static int try_symtab_open_fds(const struct objview *v, const struct mapinfo *mi,
                               struct table *t)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int rc = -ENOENT;
    if (!d)
        return -errno;
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s (deleted)", mi->path);
    while (rc != 0 && (de = readdir(d)) != NULL) {
        char link[300], target[PATH_MAX + 16];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t l = readlink(link, target, sizeof target - 1);
        if (l <= 0)
            continue;
        target[l] = '\0';
        if (strcmp(target, want) != 0 && strcmp(target, mi->path) != 0)
            continue;
        rc = try_symtab_path(link, v, mi, t);
    }
    closedir(d);
    return rc;
}

static int try_debug_file(const struct objview *v, struct table *t)
{
    if (!debug_root[0] || strlen(v->build_id) < 4)
        return -ENOENT;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.build-id/%.2s/%s.debug", debug_root, v->build_id,
                 v->build_id + 2) >= (int)sizeof path)
        return -ENAMETOOLONG;
    return try_symtab_path(path, v, NULL, t);
}

/* .dynsym from memory. */
static uintptr_t dyn_addr(const struct objview *v, ElfW(Addr) p)
{
    if (p >= v->lo && p < v->hi)
        return p;
    if (v->base + p >= v->lo && v->base + p < v->hi)
        return v->base + p;
    return 0;
}

static size_t gnu_hash_count(const struct objview *v, const uint32_t *h)
{
    if (!in_segment(v, (uintptr_t)h, 16))
        return 0;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom = h[2];
    const uint32_t *buckets = h + 4 + (size_t)bloom * (sizeof(ElfW(Addr)) / 4);
    if (!in_segment(v, (uintptr_t)buckets, (size_t)nbuckets * 4))
        return 0;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > last)
            last = buckets[i];
    if (last < symoffset)
        return symoffset;
    const uint32_t *chain = buckets + nbuckets;
    for (;;) {
        const uint32_t *c = &chain[last - symoffset];
        if (!in_segment(v, (uintptr_t)c, 4))
            return 0;
        if (*c & 1)
            return (size_t)last + 1;
        last++;
    }
}

static int load_dynsym(const struct objview *v, struct table *t)
{
    const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)v->dyn;
    uintptr_t symtab = 0, strtab = 0, hash = 0, gnuhash = 0;
    size_t strsz = 0, syment = sizeof(ElfW(Sym)), count = 0;

    for (size_t i = 0; dyn[i].d_tag != DT_NULL && i < 4096; i++) {
        switch (dyn[i].d_tag) {
        case DT_SYMTAB: symtab = dyn_addr(v, dyn[i].d_un.d_ptr); break;
        case DT_STRTAB: strtab = dyn_addr(v, dyn[i].d_un.d_ptr); break;
        case DT_STRSZ: strsz = dyn[i].d_un.d_val; break;
        case DT_SYMENT: syment = dyn[i].d_un.d_val; break;
        case DT_HASH: hash = dyn_addr(v, dyn[i].d_un.d_ptr); break;
        case DT_GNU_HASH: gnuhash = dyn_addr(v, dyn[i].d_un.d_ptr); break;
        default: break;
        }
    }
    if (!symtab || !strtab || syment != sizeof(ElfW(Sym)) || !in_segment(v, strtab, strsz))
        return -ENOENT;
    if (hash && in_segment(v, hash, 8))
        count = ((const uint32_t *)hash)[1];
    else if (gnuhash)
        count = gnu_hash_count(v, (const uint32_t *)gnuhash);
    if (count == 0 || !in_segment(v, symtab, count * sizeof(ElfW(Sym))))
        return -ENOENT;

    const ElfW(Sym) *syms = (const ElfW(Sym) *)symtab;
    const char *str = (const char *)strtab;
    int rc = 0;
    for (size_t i = 1; rc == 0 && i < count; i++) {
        const ElfW(Sym) *s = &syms[i];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
            s->st_size == 0 || s->st_name >= strsz)
            continue;
        const char *nm = str + s->st_name;
        size_t nl = strnlen(nm, strsz - s->st_name);
        if (nl == 0)
            continue;
        rc = table_add(t, s->st_value, s->st_size, ELF64_ST_BIND(s->st_info), nm, nl);
    }
    if (rc == 0)
        rc = table_finish(t);
    if (rc != 0)
        table_free(t);
    return rc;
}

/* ---- cache ---------------------------------------------------------------- */

static void obj_free(struct obj *o)
{
    table_free(&o->t);
    free(o->lname);
    free(o->path);
    free(o);
}

static void evict_to(size_t objs_limit, size_t bytes_limit)
{
    while (objs && (n_objs > objs_limit || n_bytes > bytes_limit)) {
        struct obj **victim = NULL;
        for (struct obj **pp = &objs; *pp; pp = &(*pp)->next)
            if (!victim || (*pp)->used < (*victim)->used)
                victim = pp;
        struct obj *o = *victim;
        *victim = o->next;
        n_objs--;
        n_bytes -= o->bytes;
        n_evictions++;
        obj_free(o);
    }
}

static struct obj *build_obj(const struct objview *v, uintptr_t addr)
{
    struct mapinfo mi;
    struct obj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    const char *ln = v->lm->l_name ? v->lm->l_name : "";
    bool have_mi = find_mapping(addr, &mi) == 0;
    /* path: the kernel's view for files; otherwise l_name (vdso: "[vdso]") */
    const char *path = ln;
    char exe[PATH_MAX];
    if (have_mi && mi.path[0] == '/')
        path = mi.path;
    else if (!ln[0]) {
        ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[l > 0 ? l : 0] = '\0';
        path = exe;
    }
    o->base = v->base;
    o->lname = strdup(ln);
    o->path = strdup(path);
    copy_str(o->build_id, sizeof o->build_id, v->build_id);
    if (have_mi) {
        o->map_dev = mi.dev;
        o->map_ino = mi.ino;
        o->deleted = mi.deleted;
    }
    /* the kernel's " (deleted)" is the truth; stat only remembers what the
     * path showed, to notice cheaply when that changes */
    struct stat st;
    if (o->path && o->path[0] == '/' && stat(o->path, &st) == 0) {
        o->stat_ok = true;
        o->st_dev = st.st_dev;
        o->st_ino = st.st_ino;
    } else if (o->path && o->path[0] == '/' && !have_mi && errno == ENOENT) {
        o->deleted = true;
    }
    if (!o->lname || !o->path) {
        obj_free(o);
        return NULL;
    }

    int rc = -ENOENT;
    if (have_mi && mi.path[0] == '/') {
        if (!o->deleted)
            rc = try_symtab_path(o->path, v, &mi, &o->t);
        if (rc != 0) {
            char mf[96];
            snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", (unsigned long)mi.start,
                     (unsigned long)mi.end);
            rc = try_symtab_path(mf, v, &mi, &o->t);
        }
        if (rc != 0 && o->deleted)
            rc = try_symtab_open_fds(v, &mi, &o->t);
    } else if (!have_mi && path[0] == '/') {
        rc = try_symtab_path(path, v, NULL, &o->t);
    }
    if (rc == 0)
        o->source = NRA_SYM_SRC_SYMTAB;
    if (rc != 0 && (rc = try_debug_file(v, &o->t)) == 0)
        o->source = NRA_SYM_SRC_DEBUGFILE;
    if (rc == 0 && table_bytes(&o->t) > max_bytes / 2) {
        table_free(&o->t); /* too large to keep: settle for .dynsym */
        rc = -EFBIG;
    }
    if (rc != 0 && (rc = load_dynsym(v, &o->t)) == 0)
        o->source = NRA_SYM_SRC_DYNSYM;
    if (rc == 0 && table_bytes(&o->t) > max_bytes / 2)
        table_free(&o->t);
    if (o->t.n == 0)
        o->source = NRA_SYM_SRC_NONE;
    o->bytes = sizeof *o + table_bytes(&o->t) + strlen(o->path) + strlen(o->lname) + 2;
    n_builds++;
    return o;
}

/* Cache entry for the object v; refreshes the deleted flag. Lock held.
 * An entry matches on (base, l_name, build-id); if any object was loaded or
 * unloaded since it was last validated (dl_iterate_phdr's adds/subs
 * counters), the mapping's dev/inode must match as well, otherwise the
 * entry describes a file that is gone from this address and is dropped.
 * dev/inode alone are not enough: a file deleted and re-created at once
 * often gets the same inode number, hence the image fingerprint too. */
static struct obj *get_obj(const struct objview *v, uintptr_t addr)
{
    const char *ln = v->lm->l_name ? v->lm->l_name : "";
    for (struct obj **pp = &objs; *pp; pp = &(*pp)->next) {
        struct obj *o = *pp;
        if (o->base != v->base || strcmp(o->lname, ln) != 0 ||
            strcmp(o->build_id, v->build_id) != 0)
            continue;
        if (o->adds != v->adds || o->subs != v->subs) {
            struct mapinfo mi;
            if (find_mapping(addr, &mi) != 0 || mi.dev != o->map_dev || mi.ino != o->map_ino ||
                image_fingerprint(v) != o->fingerprint) {
                *pp = o->next;
                n_objs--;
                n_bytes -= o->bytes;
                obj_free(o);
                break;
            }
            o->adds = v->adds;
            o->subs = v->subs;
            if (mi.deleted)
                o->deleted = true;
        }
        o->used = ++use_clock;
        if (!o->deleted && o->path[0] == '/') {
            struct stat st;
            int r = stat(o->path, &st);
            if (r != 0 || !o->stat_ok || st.st_dev != o->st_dev || st.st_ino != o->st_ino) {
                int e = r != 0 ? errno : 0;
                struct mapinfo m2;
                if (find_mapping(addr, &m2) == 0)
                    o->deleted = m2.deleted;
                else
                    o->deleted = e == ENOENT;
                if (r == 0) { /* do not look again until it changes again */
                    o->stat_ok = true;
                    o->st_dev = st.st_dev;
                    o->st_ino = st.st_ino;
                }
            }
        }
        return o;
    }
    struct obj *o = build_obj(v, addr);
    if (!o)
        return NULL;
    o->adds = v->adds;
    o->subs = v->subs;
    o->fingerprint = image_fingerprint(v);
    /* make room first, so the new entry itself is never the victim */
    evict_to(max_objs > 0 ? max_objs - 1 : 0, max_bytes > o->bytes ? max_bytes - o->bytes : 0);
    o->used = ++use_clock;
    o->next = objs;
    objs = o;
    n_objs++;
    n_bytes += o->bytes;
    return o;
}

/* ---- JNI map ------------------------------------------------------------- */

static size_t jni_lower_bound(uintptr_t start)
{
    size_t lo = 0, hi = n_jni;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (jni[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *jni_lookup(const struct objview *v, uintptr_t start)
{
    size_t i = jni_lower_bound(start);
    if (i >= n_jni || jni[i].start != start)
        return NULL;
    const char *ln = v->lm->l_name ? v->lm->l_name : "";
    if (jni[i].base != v->base || strcmp(jni[i].build_id, v->build_id) != 0 ||
        strcmp(jni[i].lname, ln) != 0) {
        /* registered for an object no longer loaded there: drop it */
        free(jni[i].lname);
        free(jni[i].name);
        memmove(&jni[i], &jni[i + 1], (n_jni - i - 1) * sizeof *jni);
        n_jni--;
        return NULL;
    }
    return jni[i].name;
}

/* glibc >= 2.35 has _dl_find_object: lock-free and O(log n). dladdr1 also
 * scans the whole .dynsym for a name we do not use (~30 us for libcrypto).
 * Looked up at run time so the agent still loads on an older glibc. */
static struct link_map *object_for_addr(uintptr_t addr)
{
#ifdef DLFO_EH_SEGMENT_TYPE /* headers of glibc >= 2.35 */
    typedef int (*find_object_fn)(void *, struct dl_find_object *);
    static find_object_fn find_object;
    static int looked;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        find_object_fn f;
        *(void **)&f = dlvsym(RTLD_DEFAULT, "_dl_find_object", "GLIBC_2.35");
        __atomic_store_n(&find_object, f, __ATOMIC_RELAXED);
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    find_object_fn fo = __atomic_load_n(&find_object, __ATOMIC_RELAXED);
    struct dl_find_object r;
    if (fo && fo((void *)addr, &r) == 0 && r.dlfo_link_map)
        return r.dlfo_link_map;
    /* not found, or no _dl_find_object at run time: dladdr1 */
#endif
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)addr, &info, (void **)&lm, RTLD_DL_LINKMAP))
        return NULL;
    return lm;
}

static int view_for_addr(uintptr_t addr, struct objview *v, void **pin_handle)
{
    struct link_map *lm = object_for_addr(addr);
    *pin_handle = NULL;
    if (!lm)
        return -ENOENT;
    void *h = pin(lm);
    int rc = view_object(lm, v);
    if (rc == 0 && !h && !is_vdso(v))
        rc = -ENOENT; /* being unloaded: do not read it */
    if (rc != 0) {
        if (h)
            dlclose(h);
        return rc;
    }
    *pin_handle = h;
    return 0;
}

int nra_sym_register_name(uintptr_t func_start, const char *name)
{
    struct objview v;
    void *h;
    int rc;

    if (!func_start || !name || !name[0])
        return -EINVAL;
    rc = view_for_addr(func_start, &v, &h);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&sym_lock);
    size_t i = jni_lower_bound(func_start);
    const char *ln = v.lm->l_name ? v.lm->l_name : "";
    char *nname = strdup(name), *nln = strdup(ln);
    if (!nname || !nln) {
        rc = -ENOMEM;
    } else if (i < n_jni && jni[i].start == func_start) {
        free(jni[i].name);
        free(jni[i].lname);
        jni[i].name = nname;
        jni[i].lname = nln;
        nname = nln = NULL;
    } else if (n_jni >= NRA_SYM_MAX_NAMES) {
        rc = -ENOSPC;
    } else {
        if (n_jni == cap_jni) {
            size_t nc = cap_jni ? cap_jni * 2 : 64;
            struct jni_name *nj = realloc(jni, nc * sizeof *nj);
            if (!nj)
                rc = -ENOMEM;
            else {
                jni = nj;
                cap_jni = nc;
            }
        }
        if (rc == 0) {
            memmove(&jni[i + 1], &jni[i], (n_jni - i) * sizeof *jni);
            n_jni++;
            jni[i].start = func_start;
            jni[i].name = nname;
            jni[i].lname = nln;
            nname = nln = NULL;
        }
    }
    if (rc == 0) {
        jni[i].base = v.base;
        copy_str(jni[i].build_id, sizeof jni[i].build_id, v.build_id);
    }
    pthread_mutex_unlock(&sym_lock);
    free(nname);
    free(nln);
    if (h)
        dlclose(h);
    return rc;
}

/* ---- resolve -------------------------------------------------------------- */

int nra_sym_resolve(uintptr_t addr, struct nra_sym_frame *out)
{
    struct objview v;
    void *h;
    int rc;

    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->addr = addr;
    rc = view_for_addr(addr, &v, &h);
    if (rc != 0)
        return rc;
    out->load_base = v.base;
    out->offset = addr - v.base;
    copy_str(out->build_id, sizeof out->build_id, v.build_id);

    pthread_mutex_lock(&sym_lock);
    struct obj *o = get_obj(&v, addr);
    if (!o) {
        rc = -ENOMEM;
    } else {
        copy_str(out->library, sizeof out->library, o->path);
        copy_str(out->library_base, sizeof out->library_base, base_name(o->path));
        out->deleted = o->deleted;
        out->table = o->source;
        const struct sym *s = table_find(&o->t, out->offset);
        if (s) {
            out->has_symbol = true;
            out->source = o->source;
            copy_str(out->symbol, sizeof out->symbol, o->t.names + s->name);
            out->symbol_offset = out->offset - s->start;
        }
    }
    if (rc == 0 && !out->has_symbol && n_jni) {
        unw_proc_info_t pi;
        memset(&pi, 0, sizeof pi);
        if (unw_get_proc_info_by_ip(unw_local_addr_space, (unw_word_t)addr, &pi, NULL) == 0 &&
            pi.start_ip <= addr && addr < pi.end_ip) {
            const char *nm = jni_lookup(&v, (uintptr_t)pi.start_ip);
            if (nm) {
                out->has_symbol = true;
                out->source = NRA_SYM_SRC_JNI;
                copy_str(out->symbol, sizeof out->symbol, nm);
                out->symbol_offset = addr - (uintptr_t)pi.start_ip;
            }
        }
    }
    pthread_mutex_unlock(&sym_lock);
    if (h)
        dlclose(h);
    return rc;
}

int nra_sym_format(const struct nra_sym_frame *f, char *buf, size_t len)
{
    const char *lib = f->library_base[0] ? f->library_base : "?";
    const char *del = f->deleted ? " (deleted)" : "";
    if (!f->library[0])
        return snprintf(buf, len, "0x%lx", (unsigned long)f->addr);
    if (f->has_symbol)
        return snprintf(buf, len, "%s+0x%lx (%s+0x%lx%s)", f->symbol,
                        (unsigned long)f->symbol_offset, lib, (unsigned long)f->offset, del);
    return snprintf(buf, len, "%s+0x%lx%s", lib, (unsigned long)f->offset, del);
}

/* ---- configuration ------------------------------------------------------- */

void nra_sym_set_cache_limits(size_t max_objects, size_t max_b)
{
    pthread_mutex_lock(&sym_lock);
    if (max_objects)
        max_objs = max_objects;
    if (max_b)
        max_bytes = max_b;
    /* tables dropped under the old limits must be rebuilt under the new */
    evict_to(0, 0);
    pthread_mutex_unlock(&sym_lock);
}

void nra_sym_cache_clear(void)
{
    pthread_mutex_lock(&sym_lock);
    while (objs) {
        struct obj *o = objs;
        objs = o->next;
        obj_free(o);
    }
    n_objs = n_bytes = 0;
    pthread_mutex_unlock(&sym_lock);
}

int nra_sym_set_debug_root(const char *dir)
{
    if (dir && strlen(dir) >= sizeof debug_root)
        return -ENAMETOOLONG;
    pthread_mutex_lock(&sym_lock);
    copy_str(debug_root, sizeof debug_root, dir ? dir : "");
    pthread_mutex_unlock(&sym_lock);
    nra_sym_cache_clear();
    return 0;
}

void nra_sym_get_stats(struct nra_sym_stats *out)
{
    pthread_mutex_lock(&sym_lock);
    out->objects = n_objs;
    out->bytes = n_bytes;
    out->builds = n_builds;
    out->evictions = n_evictions;
    out->names = n_jni;
    pthread_mutex_unlock(&sym_lock);
}
