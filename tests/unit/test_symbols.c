/*
 * cmocka tests for symbols: naming addresses in a fixture library with and
 * without .symtab, deleted from disk, through a build-id debug file, the JNI
 * map, and the real (stripped) Debian libnetty-tcnative.so, where the static
 * newSSL must not be named after the nearest export.
 *
 * Fixtures are found in $NRAUDIT_FIXTURES, else <dir of this executable>/fixtures.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cmocka.h>

#include "symbols.h"

/* ---- helpers ----------------------------------------------------------------- */

static void fixture_path(const char *file, char *out, size_t len)
{
    const char *env = getenv("NRAUDIT_FIXTURES");
    int r;
    if (env && env[0]) {
        r = snprintf(out, len, "%s/%s", env, file);
    } else {
        char exe[PATH_MAX];
        ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
        assert_true(l > 0);
        exe[l] = '\0';
        *strrchr(exe, '/') = '\0';
        r = snprintf(out, len, "%s/fixtures/%s", exe, file);
    }
    assert_true(r > 0 && (size_t)r < len);
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out;
    assert_true(in >= 0);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    assert_true(out >= 0);
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        assert_true(r >= 0);
        if (r == 0)
            break;
        assert_int_equal(write(out, buf, (size_t)r), r);
    }
    close(in);
    assert_int_equal(close(out), 0);
}

struct lib {
    void *h;
    struct link_map *lm;
    int (*export_before)(int);
    uintptr_t (*static_address)(void);
    uintptr_t (*hidden_address)(void);
};

static void open_lib(struct lib *l, const char *path)
{
    memset(l, 0, sizeof *l);
    l->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!l->h)
        fail_msg("dlopen %s: %s", path, dlerror());
    assert_int_equal(dlinfo(l->h, RTLD_DI_LINKMAP, &l->lm), 0);
    *(void **)&l->export_before = dlsym(l->h, "symfix_export_before");
    *(void **)&l->static_address = dlsym(l->h, "symfix_static_address");
    *(void **)&l->hidden_address = dlsym(l->h, "symfix_hidden_address");
    assert_non_null(l->export_before);
    assert_non_null(l->static_address);
    assert_non_null(l->hidden_address);
}

/* st_value of a symbol in a file, from nm; 0 when nm is not available. */
static uintptr_t nm_value(const char *file, const char *sym)
{
    char cmd[PATH_MAX + 64], line[512];
    uintptr_t v = 0;
    snprintf(cmd, sizeof cmd, "nm --defined-only '%s' 2>/dev/null", file);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    while (fgets(line, sizeof line, p)) {
        unsigned long val;
        char type, name[256];
        if (sscanf(line, "%lx %c %255s", &val, &type, name) == 3 && strcmp(name, sym) == 0)
            v = val;
    }
    pclose(p);
    return v;
}

/* The bytes the file holds at ELF virtual address vaddr (via its PT_LOADs). */
static bool file_bytes_at(const char *path, uintptr_t vaddr, void *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    ElfW(Ehdr) eh;
    bool ok = false;
    if (fd < 0)
        return false;
    if (pread(fd, &eh, sizeof eh, 0) == sizeof eh && eh.e_phnum <= 64) {
        ElfW(Phdr) ph[64];
        size_t sz = eh.e_phnum * sizeof(ElfW(Phdr));
        if (pread(fd, ph, sz, (off_t)eh.e_phoff) == (ssize_t)sz)
            for (int i = 0; i < eh.e_phnum && !ok; i++)
                if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
                    vaddr + n <= ph[i].p_vaddr + ph[i].p_filesz)
                    ok = pread(fd, buf, n, (off_t)(ph[i].p_offset + vaddr - ph[i].p_vaddr)) ==
                         (ssize_t)n;
    }
    close(fd);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    nra_sym_set_debug_root(NULL); /* no system debug files in these tests */
    return 0;
}

/* ---- fixture library ----------------------------------------------------- */

static void test_exported_function_named_from_dynsym(void **state)
{
    (void)state;
    char path[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix-stripped.so", path, sizeof path);
    open_lib(&l, path);
    uintptr_t a = (uintptr_t)l.export_before + 4;
    assert_int_equal(nra_sym_resolve(a, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "symfix_export_before");
    assert_int_equal(f.symbol_offset, 4);
    assert_int_equal(f.source, NRA_SYM_SRC_DYNSYM);
    assert_int_equal(f.table, NRA_SYM_SRC_DYNSYM);
    assert_string_equal(f.library_base, "libsymfix-stripped.so");
    assert_string_equal(f.library, path);
    assert_false(f.deleted);
    assert_int_equal(f.load_base, l.lm->l_addr);
    assert_int_equal(f.offset, a - l.lm->l_addr);
    assert_int_equal(strlen(f.build_id), 40);
    dlclose(l.h);
}

static void test_static_function_in_stripped_library_has_no_name(void **state)
{
    (void)state;
    char path[PATH_MAX], full[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix-stripped.so", path, sizeof path);
    fixture_path("libsymfix.so", full, sizeof full);
    open_lib(&l, path);
    uintptr_t start = l.static_address();
    uintptr_t a = start + 4;
    /* the trap: an export precedes the static function */
    assert_true((uintptr_t)l.export_before < start);

    assert_int_equal(nra_sym_resolve(a, &f), 0);
    assert_false(f.has_symbol);
    assert_string_equal(f.symbol, "");
    assert_int_equal(f.source, NRA_SYM_SRC_NONE);
    assert_int_equal(f.offset, a - l.lm->l_addr);
    /* the offset is the file's virtual address: same bytes on disk */
    unsigned char disk[16];
    assert_true(file_bytes_at(path, f.offset, disk, sizeof disk));
    assert_memory_equal(disk, (void *)a, sizeof disk);
    /* and it is what nm says for the unstripped build (+4) */
    uintptr_t nmv = nm_value(full, "symfix_static_work");
    if (nmv)
        assert_int_equal(f.offset, nmv + 4);
    else
        print_message("nm not available: offset checked against file bytes only\n");

    /* same for the hidden-visibility function */
    assert_int_equal(nra_sym_resolve(l.hidden_address() + 2, &f), 0);
    assert_false(f.has_symbol);

    char buf[512];
    nra_sym_format(&f, buf, sizeof buf);
    char want[512];
    snprintf(want, sizeof want, "libsymfix-stripped.so+0x%lx", (unsigned long)f.offset);
    assert_string_equal(buf, want);
    dlclose(l.h);
}

static void test_symtab_names_static_and_hidden(void **state)
{
    (void)state;
    char path[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix.so", path, sizeof path);
    open_lib(&l, path);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "symfix_static_work");
    assert_int_equal(f.symbol_offset, 4);
    assert_int_equal(f.source, NRA_SYM_SRC_SYMTAB);
    assert_int_equal(nra_sym_resolve(l.hidden_address() + 1, &f), 0);
    assert_string_equal(f.symbol, "symfix_hidden_work");
    assert_int_equal(f.symbol_offset, 1);
    assert_int_equal(nra_sym_resolve((uintptr_t)l.export_before, &f), 0);
    assert_string_equal(f.symbol, "symfix_export_before");
    assert_int_equal(f.symbol_offset, 0);

    char buf[512], want[512];
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    nra_sym_format(&f, buf, sizeof buf);
    snprintf(want, sizeof want, "symfix_static_work+0x4 (libsymfix.so+0x%lx)",
             (unsigned long)f.offset);
    assert_string_equal(buf, want);
    dlclose(l.h);
}

static void test_deleted_library_named_via_map_files(void **state)
{
    (void)state;
    char src[PATH_MAX], dir[] = "/tmp/nra_symtest_XXXXXX", path[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix.so", src, sizeof src);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/libnetty_tcnative_deleted.so", dir);
    copy_file(src, path);
    open_lib(&l, path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);

    char mf[128];
    bool map_files_ok;
    {
        /* can this process open map_files? (root or CAP_CHECKPOINT_RESTORE) */
        Dl_info di;
        assert_true(dladdr((void *)l.export_before, &di));
        FILE *m = fopen("/proc/self/maps", "r");
        char line[PATH_MAX + 128];
        mf[0] = '\0';
        while (fgets(line, sizeof line, m))
            if (strstr(line, path)) {
                unsigned long s, e;
                sscanf(line, "%lx-%lx", &s, &e);
                snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", s, e);
                break;
            }
        fclose(m);
        int fd = open(mf, O_RDONLY);
        map_files_ok = fd >= 0;
        if (fd >= 0)
            close(fd);
    }

    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_true(f.deleted);
    assert_string_equal(f.library, path);
    assert_string_equal(f.library_base, "libnetty_tcnative_deleted.so");
    assert_int_equal(f.offset, l.static_address() + 4 - l.lm->l_addr);
    if (map_files_ok) {
        assert_true(f.has_symbol);
        assert_string_equal(f.symbol, "symfix_static_work");
        assert_int_equal(f.source, NRA_SYM_SRC_SYMTAB);
    } else {
        print_message("map_files not openable here: checked the .dynsym fallback\n");
        assert_false(f.has_symbol);
    }
    char buf[512];
    nra_sym_format(&f, buf, sizeof buf);
    assert_non_null(strstr(buf, " (deleted)"));
    dlclose(l.h);
}

static void test_deleted_after_first_resolve(void **state)
{
    (void)state;
    char src[PATH_MAX], dir[] = "/tmp/nra_symtest_XXXXXX", path[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix.so", src, sizeof src);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/libdeletedlater.so", dir);
    copy_file(src, path);
    open_lib(&l, path);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_false(f.deleted);
    assert_string_equal(f.symbol, "symfix_static_work");
    /* deleted while cached: noticed, names kept */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_true(f.deleted);
    assert_string_equal(f.symbol, "symfix_static_work");
    /* replaced by another file at the same path: still the deleted one */
    copy_file(src, path);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_true(f.deleted);
    unlink(path);
    rmdir(dir);
    dlclose(l.h);
}

/* The same without privileges (as a production JVM runs): map_files is
 * refused; a still-open descriptor is used, else .dynsym. Runs in a child
 * that drops root; skipped when not root. */
static int child_unprivileged(const char *src, bool keep_fd)
{
    char dir[] = "/tmp/nra_symtest_XXXXXX", path[PATH_MAX];
    if (!mkdtemp(dir))
        return 10;
    snprintf(path, sizeof path, "%s/libsymfix_copy.so", dir);
    copy_file(src, path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return 11;
    uintptr_t (*static_address)(void);
    int (*export_before)(int);
    *(void **)&static_address = dlsym(h, "symfix_static_address");
    *(void **)&export_before = dlsym(h, "symfix_export_before");
    int fd = keep_fd ? open(path, O_RDONLY) : -1;
    unlink(path);
    rmdir(dir);
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
        return 12;
    prctl(PR_SET_DUMPABLE, 1);
    /* map_files must be refused now, or this test proves nothing */
    FILE *m = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 128], mf[128] = "";
    while (m && fgets(line, sizeof line, m))
        if (strstr(line, path)) {
            unsigned long s, e;
            sscanf(line, "%lx-%lx", &s, &e);
            snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", s, e);
            break;
        }
    if (m)
        fclose(m);
    int probe = open(mf, O_RDONLY);
    if (probe >= 0)
        return 13;
    struct nra_sym_frame f;
    if (nra_sym_resolve(static_address() + 4, &f) != 0)
        return 14;
    if (!f.deleted)
        return 15;
    if (keep_fd) {
        if (!f.has_symbol || strcmp(f.symbol, "symfix_static_work") != 0 ||
            f.source != NRA_SYM_SRC_SYMTAB)
            return 16;
    } else {
        if (f.has_symbol || f.table != NRA_SYM_SRC_DYNSYM)
            return 17;
        if (nra_sym_resolve((uintptr_t)export_before + 3, &f) != 0 || !f.has_symbol ||
            strcmp(f.symbol, "symfix_export_before") != 0)
            return 18;
    }
    if (fd >= 0)
        close(fd);
    return 0;
}

static void run_unprivileged(bool keep_fd)
{
    char src[PATH_MAX];
    if (geteuid() != 0) {
        print_message("not root: cannot drop privileges in a child\n");
        skip();
    }
    fixture_path("libsymfix.so", src, sizeof src);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_unprivileged(src, keep_fd));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_deleted_unprivileged_uses_open_fd(void **state)
{
    (void)state;
    run_unprivileged(true);
}

static void test_deleted_unprivileged_falls_back_to_dynsym(void **state)
{
    (void)state;
    run_unprivileged(false);
}

static void test_debug_file_by_build_id(void **state)
{
    (void)state;
    char src[PATH_MAX], dbg[PATH_MAX], root[] = "/tmp/nra_symdbg_XXXXXX", p[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix-stripped.so", src, sizeof src);
    fixture_path("libsymfix.debug", dbg, sizeof dbg);
    open_lib(&l, src);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_false(f.has_symbol);
    assert_int_equal(strlen(f.build_id), 40);

    assert_non_null(mkdtemp(root));
    snprintf(p, sizeof p, "%s/.build-id", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/.build-id/%.2s", root, f.build_id);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/.build-id/%.2s/%s.debug", root, f.build_id, f.build_id + 2);
    copy_file(dbg, p);

    assert_int_equal(nra_sym_set_debug_root(root), 0);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "symfix_static_work");
    assert_int_equal(f.source, NRA_SYM_SRC_DEBUGFILE);

    /* a debug file with another build-id is not used */
    nra_sym_set_debug_root(NULL);
    unlink(p);
    char other[PATH_MAX];
    fixture_path("libgotfix_now.so", other, sizeof other);
    copy_file(other, p);
    assert_int_equal(nra_sym_set_debug_root(root), 0);
    assert_int_equal(nra_sym_resolve(l.static_address() + 4, &f), 0);
    assert_false(f.has_symbol);

    nra_sym_set_debug_root(NULL);
    unlink(p);
    snprintf(p, sizeof p, "%s/.build-id/%.2s", root, f.build_id);
    rmdir(p);
    snprintf(p, sizeof p, "%s/.build-id", root);
    rmdir(p);
    rmdir(root);
    dlclose(l.h);
}

static void test_jni_map_names_registered_start(void **state)
{
    (void)state;
    char path[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix-stripped.so", path, sizeof path);
    open_lib(&l, path);
    uintptr_t start = l.static_address();
    assert_int_equal(nra_sym_register_name(start, "SymFix.staticWork(I)I"), 0);
    assert_int_equal(nra_sym_resolve(start + 6, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "SymFix.staticWork(I)I");
    assert_int_equal(f.symbol_offset, 6);
    assert_int_equal(f.source, NRA_SYM_SRC_JNI);
    /* the next function (hidden) is not covered by that name */
    assert_int_equal(nra_sym_resolve(l.hidden_address() + 2, &f), 0);
    assert_false(f.has_symbol);
    /* symbol tables win over the JNI map */
    assert_int_equal(nra_sym_register_name((uintptr_t)l.export_before, "Other"), 0);
    assert_int_equal(nra_sym_resolve((uintptr_t)l.export_before + 1, &f), 0);
    assert_string_equal(f.symbol, "symfix_export_before");
    /* re-registering replaces */
    assert_int_equal(nra_sym_register_name(start, "SymFix.renamed"), 0);
    assert_int_equal(nra_sym_resolve(start + 6, &f), 0);
    assert_string_equal(f.symbol, "SymFix.renamed");
    int on_stack;
    assert_int_equal(nra_sym_register_name((uintptr_t)&on_stack, "x"), -ENOENT);
    assert_int_equal(nra_sym_register_name(start, ""), -EINVAL);
    dlclose(l.h);
}

static void test_reload_at_same_base_is_not_stale(void **state)
{
    (void)state;
    char full[PATH_MAX], stripped[PATH_MAX], dir[] = "/tmp/nra_symtest_XXXXXX", path[PATH_MAX];
    struct lib l;
    struct nra_sym_frame f;
    fixture_path("libsymfix.so", full, sizeof full);
    fixture_path("libsymfix-stripped.so", stripped, sizeof stripped);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/libreload.so", dir);

    copy_file(full, path);
    open_lib(&l, path);
    uintptr_t base1 = l.lm->l_addr, off = l.static_address() + 4 - base1;
    assert_int_equal(nra_sym_resolve(base1 + off, &f), 0);
    assert_string_equal(f.symbol, "symfix_static_work");
    assert_int_equal(dlclose(l.h), 0);
    assert_null(dlopen(path, RTLD_NOW | RTLD_NOLOAD)); /* really unloaded */

    /* another file (no .symtab), same path, same build-id */
    unlink(path);
    copy_file(stripped, path);
    open_lib(&l, path);
    if (l.lm->l_addr != base1)
        print_message("reloaded at another base (%#lx vs %#lx): weaker check\n",
                      (unsigned long)l.lm->l_addr, (unsigned long)base1);
    assert_int_equal(nra_sym_resolve(l.lm->l_addr + off, &f), 0);
    assert_false(f.has_symbol);
    assert_int_equal(f.table, NRA_SYM_SRC_DYNSYM);
    dlclose(l.h);
    unlink(path);
    rmdir(dir);
}

/* ---- other objects ---------------------------------------------------------- */

static __attribute__((noinline)) int local_function_in_test(int x)
{
    volatile int y = x;
    return y * 3 + 1;
}

static void test_main_program_symtab(void **state)
{
    (void)state;
    struct nra_sym_frame f;
    assert_int_equal(local_function_in_test(1), 4);
    assert_int_equal(nra_sym_resolve((uintptr_t)local_function_in_test + 1, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "local_function_in_test");
    assert_int_equal(f.symbol_offset, 1);
    assert_int_equal(f.source, NRA_SYM_SRC_SYMTAB);
    assert_string_equal(f.library_base, "test_symbols");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    assert_string_equal(f.library, exe);
}

static void test_libc_and_vdso(void **state)
{
    (void)state;
    struct nra_sym_frame f;
    void *fn = dlsym(RTLD_DEFAULT, "getpid");
    assert_non_null(fn);
    assert_int_equal(nra_sym_resolve((uintptr_t)fn + 1, &f), 0);
    assert_true(f.has_symbol);
    assert_non_null(strstr(f.library_base, "libc.so"));
    /* glibc's own dladdr agrees (it is extent-checked too) */
    Dl_info di;
    assert_true(dladdr(fn, &di));
    assert_string_equal(f.symbol, di.dli_sname);

    /* the vDSO: its dynamic section is not relocated by ld.so */
    void *vh = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
    void *cg = vh ? dlsym(vh, "__vdso_clock_gettime") : NULL;
    if (!cg) {
        print_message("vDSO symbols not reachable with dlsym: skipped that part\n");
        return;
    }
    assert_int_equal(nra_sym_resolve((uintptr_t)cg + 2, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "__vdso_clock_gettime");
    assert_int_equal(f.symbol_offset, 2);
    dlclose(vh);
}

static void test_address_outside_objects(void **state)
{
    (void)state;
    struct nra_sym_frame f;
    int on_stack = 0;
    void *heap = malloc(64);
    assert_int_equal(nra_sym_resolve((uintptr_t)&on_stack, &f), -ENOENT);
    assert_int_equal(f.addr, (uintptr_t)&on_stack);
    assert_string_equal(f.library, "");
    assert_false(f.has_symbol);
    assert_int_equal(nra_sym_resolve((uintptr_t)heap, &f), -ENOENT);
    assert_int_equal(nra_sym_resolve(0, &f), -ENOENT);
    assert_int_equal(nra_sym_resolve(1, NULL), -EINVAL);
    char buf[64];
    nra_sym_format(&f, buf, sizeof buf);
    assert_string_equal(buf, "0x0");
    free(heap);
}

static void test_cache_is_bounded(void **state)
{
    (void)state;
    struct nra_sym_frame f;
    struct nra_sym_stats st;
    char path[PATH_MAX];
    struct lib l;
    fixture_path("libsymfix.so", path, sizeof path);
    open_lib(&l, path);
    nra_sym_cache_clear();
    nra_sym_set_cache_limits(2, 0);
    uintptr_t addrs[] = {
        (uintptr_t)dlsym(RTLD_DEFAULT, "getpid"),
        (uintptr_t)local_function_in_test,
        l.static_address(),
        (uintptr_t)dlsym(RTLD_DEFAULT, "_cmocka_run_group_tests"),
        (uintptr_t)dlsym(RTLD_DEFAULT, "unw_backtrace"),
    };
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
            if (!addrs[i])
                continue;
            assert_int_equal(nra_sym_resolve(addrs[i], &f), 0);
            assert_true(f.has_symbol);
            nra_sym_get_stats(&st);
            assert_true(st.objects <= 2);
        }
    assert_string_equal((nra_sym_resolve(l.static_address(), &f), f.symbol), "symfix_static_work");
    nra_sym_get_stats(&st);
    assert_true(st.evictions > 0);
    /* a byte limit smaller than one table: the table is not kept, the
     * frame still has library + offset */
    nra_sym_set_cache_limits(64, 512);
    assert_int_equal(nra_sym_resolve(l.static_address() + 1, &f), 0);
    assert_false(f.has_symbol);
    assert_string_equal(f.library_base, "libsymfix.so");
    assert_int_equal(f.offset, l.static_address() + 1 - l.lm->l_addr);
    nra_sym_get_stats(&st);
    assert_true(st.bytes <= 512);
    /* raising the limits rebuilds it */
    nra_sym_set_cache_limits(64, (size_t)64 << 20);
    assert_int_equal(nra_sym_resolve(l.static_address() + 1, &f), 0);
    assert_string_equal(f.symbol, "symfix_static_work");
    dlclose(l.h);
}

struct resolver_arg {
    uintptr_t a, b;
    int bad;
};

static void *resolver(void *p)
{
    struct resolver_arg *ra = p;
    for (int i = 0; i < 2000; i++) {
        struct nra_sym_frame f;
        if (i % 100 == 0)
            nra_sym_cache_clear();
        if (nra_sym_resolve(ra->a, &f) != 0 || strcmp(f.symbol, "symfix_static_work") != 0)
            ra->bad++;
        if (nra_sym_resolve(ra->b, &f) != 0 || strcmp(f.symbol, "local_function_in_test") != 0)
            ra->bad++;
    }
    return NULL;
}

static void test_concurrent_resolve(void **state)
{
    (void)state;
    char path[PATH_MAX];
    struct lib l;
    pthread_t t[4];
    struct resolver_arg ra[4];
    fixture_path("libsymfix.so", path, sizeof path);
    open_lib(&l, path);
    for (int i = 0; i < 4; i++) {
        ra[i] = (struct resolver_arg){l.static_address() + 3, (uintptr_t)local_function_in_test, 0};
        assert_int_equal(pthread_create(&t[i], NULL, resolver, &ra[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(ra[i].bad, 0);
    }
    dlclose(l.h);
}

/* ---- the real netty-tcnative (Debian, stripped: .dynsym only) --------------- */

#define TCNATIVE "/usr/lib/x86_64-linux-gnu/jni/libnetty-tcnative.so"

struct segs {
    uintptr_t base, dyn;
    uintptr_t lo[16], hi[16];
    int flags[16];
    int n;
};

static int segs_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct segs *s = arg;
    (void)size;
    if (info->dlpi_addr != s->base)
        return 0;
    s->n = 0;
    for (int i = 0; i < info->dlpi_phnum && s->n < 16; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD) {
            s->lo[s->n] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            s->hi[s->n] = s->lo[s->n] + info->dlpi_phdr[i].p_filesz;
            s->flags[s->n] = (int)info->dlpi_phdr[i].p_flags;
            s->n++;
        }
    return 1;
}

/* The C function tcnative registers for SSL.newSSL: find its
 * JNINativeMethod {"newSSL", "(JZ)J", fn} in the loaded image. */
static uintptr_t find_native(const struct segs *s, const char *name, const char *sig)
{
    size_t nl = strlen(name) + 1;
    for (int i = 0; i < s->n; i++) {
        if (s->flags[i] & PF_W)
            continue;
        for (uintptr_t p = s->lo[i] + 1; p + nl <= s->hi[i]; p++) {
            if (((const char *)p)[-1] != '\0' || memcmp((const void *)p, name, nl) != 0)
                continue;
            for (int j = 0; j < s->n; j++) {
                if (!(s->flags[j] & PF_W))
                    continue;
                for (uintptr_t q = (s->lo[j] + 7) & ~(uintptr_t)7; q + 24 <= s->hi[j]; q += 8) {
                    const uintptr_t *e = (const uintptr_t *)q;
                    if (e[0] != p)
                        continue;
                    if (strcmp((const char *)e[1], sig) == 0)
                        return e[2];
                }
            }
        }
    }
    return 0;
}

static void test_tcnative_static_newssl_not_misnamed(void **state)
{
    (void)state;
    void *h = dlopen(TCNATIVE, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        print_message("%s not loadable: %s\n", TCNATIVE, dlerror());
        skip();
    }
    struct link_map *lm;
    assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
    struct segs s;
    memset(&s, 0, sizeof s);
    s.base = lm->l_addr;
    dl_iterate_phdr(segs_cb, &s);
    assert_true(s.n >= 2);

    uintptr_t newssl = find_native(&s, "newSSL", "(JZ)J");
    assert_true(newssl != 0);
    /* newSSL is static: no export names it, glibc's extent-checked dladdr agrees */
    Dl_info di;
    assert_true(dladdr((void *)newssl, &di));
    assert_null(di.dli_sname);

    struct nra_sym_frame f;
    assert_int_equal(nra_sym_resolve(newssl + 0x10, &f), 0);
    assert_false(f.has_symbol); /* pprof says "..._JNI_OnUnLoad" here */
    assert_int_equal(f.table, NRA_SYM_SRC_DYNSYM);
    assert_string_equal(f.library_base, "libnetty-tcnative.so");
    assert_string_equal(f.library, TCNATIVE);
    assert_int_equal(f.offset, newssl + 0x10 - lm->l_addr);
    char buf[256], want[256];
    nra_sym_format(&f, buf, sizeof buf);
    snprintf(want, sizeof want, "libnetty-tcnative.so+0x%lx", (unsigned long)f.offset);
    assert_string_equal(buf, want);

    /* just after an exported function that is in no other symbol */
    const char *exp = "netty_internal_tcnative_NativeStaticallyReferencedJniMethods_JNI_OnUnLoad";
    void *ef = dlsym(h, exp);
    assert_non_null(ef);
    const ElfW(Sym) *es = NULL;
    assert_true(dladdr1(ef, &di, (void **)&es, RTLD_DL_SYMENT));
    assert_non_null(es);
    assert_int_equal(nra_sym_resolve((uintptr_t)ef, &f), 0);
    assert_string_equal(f.symbol, exp);
    uintptr_t after = (uintptr_t)ef + es->st_size;
    assert_int_equal(nra_sym_resolve(after, &f), 0);
    assert_true(!f.has_symbol || strcmp(f.symbol, exp) != 0);

    /* sweep the whole text segment: agree with glibc's dladdr at every 8 bytes */
    unsigned named = 0, unnamed = 0;
    for (int i = 0; i < s.n; i++) {
        if (!(s.flags[i] & PF_X))
            continue;
        for (uintptr_t a = s.lo[i]; a < s.hi[i]; a += 8) {
            const ElfW(Sym) *ds = NULL;
            Dl_info d2;
            bool dl_named = dladdr1((void *)a, &d2, (void **)&ds, RTLD_DL_SYMENT) &&
                            d2.dli_sname && ds && ELF64_ST_TYPE(ds->st_info) == STT_FUNC &&
                            ds->st_size > 0;
            assert_int_equal(nra_sym_resolve(a, &f), 0);
            if (f.has_symbol && f.source != NRA_SYM_SRC_DYNSYM)
                continue; /* JNI map from an earlier registration */
            if (dl_named != f.has_symbol)
                fail_msg("%#lx: dladdr %s, nra %s", (unsigned long)(a - lm->l_addr),
                         dl_named ? d2.dli_sname : "-", f.has_symbol ? f.symbol : "-");
            if (dl_named)
                assert_string_equal(f.symbol, d2.dli_sname);
            if (f.has_symbol)
                named++;
            else
                unnamed++;
        }
    }
    print_message("tcnative text: %u addresses named from .dynsym, %u left unnamed\n", named,
                  unnamed);
    assert_true(named > 100 && unnamed > 100);

    /* the JNI map names newSSL exactly over its .eh_frame extent */
    assert_int_equal(nra_sym_register_name(newssl, "io.netty.internal.tcnative.SSL.newSSL"), 0);
    assert_int_equal(nra_sym_resolve(newssl + 0x10, &f), 0);
    assert_true(f.has_symbol);
    assert_string_equal(f.symbol, "io.netty.internal.tcnative.SSL.newSSL");
    assert_int_equal(f.symbol_offset, 0x10);
    assert_int_equal(f.source, NRA_SYM_SRC_JNI);
    unw_proc_info_t pi;
    memset(&pi, 0, sizeof pi);
    assert_int_equal(unw_get_proc_info_by_ip(unw_local_addr_space, newssl + 0x10, &pi, NULL), 0);
    assert_int_equal(pi.start_ip, newssl);
    assert_int_equal(nra_sym_resolve(pi.end_ip - 1, &f), 0);
    assert_string_equal(f.symbol, "io.netty.internal.tcnative.SSL.newSSL");
    assert_int_equal(nra_sym_resolve(pi.end_ip + 0x20, &f), 0);
    assert_true(!f.has_symbol || strcmp(f.symbol, "io.netty.internal.tcnative.SSL.newSSL") != 0);
    dlclose(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exported_function_named_from_dynsym),
        cmocka_unit_test(test_static_function_in_stripped_library_has_no_name),
        cmocka_unit_test(test_symtab_names_static_and_hidden),
        cmocka_unit_test(test_deleted_library_named_via_map_files),
        cmocka_unit_test(test_deleted_after_first_resolve),
        cmocka_unit_test(test_deleted_unprivileged_uses_open_fd),
        cmocka_unit_test(test_deleted_unprivileged_falls_back_to_dynsym),
        cmocka_unit_test(test_debug_file_by_build_id),
        cmocka_unit_test(test_jni_map_names_registered_start),
        cmocka_unit_test(test_reload_at_same_base_is_not_stale),
        cmocka_unit_test(test_main_program_symtab),
        cmocka_unit_test(test_libc_and_vdso),
        cmocka_unit_test(test_address_outside_objects),
        cmocka_unit_test(test_cache_is_bounded),
        cmocka_unit_test(test_concurrent_resolve),
        cmocka_unit_test(test_tcnative_static_newssl_not_misnamed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
