/*
 * gothook — redirect a loaded object's calls to imported functions by
 * rewriting its GOT slots.
 *
 * What this module owns:
 *   - reading the ELF dynamic section of objects that ld.so has already
 *     loaded (DT_JMPREL/DT_PLTRELSZ, DT_RELA/DT_RELASZ, DT_SYMTAB/DT_STRTAB,
 *     DT_NEEDED, DT_SONAME) and the program headers (PT_DYNAMIC, PT_LOAD,
 *     PT_GNU_RELRO) that dl_iterate_phdr reports for them;
 *   - writing GOT slots (R_X86_64_JUMP_SLOT and R_X86_64_GLOB_DAT relocation
 *     targets) with one atomic 8-byte store each (a compare-and-swap, so a
 *     concurrent change is seen, never lost silently), making a page writable with
 *     mprotect for the duration of the store when it is read-only (RELRO after
 *     BIND_NOW) and restoring exactly the protection it had before;
 *   - pinning an object (dlopen RTLD_NOLOAD) while it is read or written so a
 *     concurrent dlclose cannot unmap it under us;
 *   - enumerating loaded objects and an object's DT_NEEDED dependencies.
 *
 * What it must not touch / do:
 *   - no JVMTI/JNI, no knowledge of what the replacements do (that is alloc.c);
 *   - no malloc (or anything that may malloc: stdio, dlopen, dlsym) between
 *     making a page writable and restoring it, i.e. while a slot is
 *     half-patched — a replacement may itself be a malloc hook;
 *   - never writes outside the object's own relocation targets, never writes
 *     code (.text/.plt stubs), never changes the protection of any page it
 *     does not store into;
 *   - does not skip any object on its own in nra_got_patch_object: the caller
 *     decides which objects to patch (it must not patch nraudit itself, nor
 *     ld.so; libc has its own malloc/free GLOB_DAT and realloc/calloc
 *     JUMP_SLOT slots, used by strdup & co — patch it only on purpose).
 *
 * Cost (measured, 2-core dev VM, libgotfix_now.so): a malloc+free pair
 * through the patched GOT and a trivial forwarding hook costs ~2 ns more
 * per call than through the unpatched GOT (11.1 -> 15.6 ns per pair, best
 * of 31 runs); one patch call (2 hooks, RELRO) takes 60-150 us.
 *
 * Thread-safety: every function may be called while other threads run (and
 * call through the slots being patched). Patching and unpatching are
 * serialised by a module mutex. Callers of nra_got_patch_object must hold a
 * valid link_map (e.g. from nra_got_object_for_addr or a callback below) at
 * the moment of the call; the object is pinned from then on until return.
 *
 * Architecture: x86_64 Linux (glibc) only. Elsewhere every function returns
 * -ENOTSUP / NULL.
 *
 * Errors: functions returning int return 0 or a negative errno value.
 */
#ifndef NRAUDIT_GOTHOOK_H
#define NRAUDIT_GOTHOOK_H

#include <link.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum number of hooks per patch call (the result is fixed-size: the
 * module allocates nothing while patching; only the pinning dlopen, before
 * any slot is touched, may). */
#define NRA_GOT_MAX_HOOKS 16

struct nra_got_hook {
    /* Dynamic symbol name without version ("malloc", not "malloc@GLIBC_2.2.5");
     * every version of the symbol matches. */
    const char *symbol;
    /* Value stored into every matching GOT slot. */
    void *replacement;
};

/* Per-hook outcome; hook[i] belongs to hooks[i]. */
struct nra_got_hook_result {
    unsigned patched;  /* slots this call changed to replacement */
    unsigned already;  /* slots that already held replacement (idempotence) */
    unsigned restored; /* nra_got_unpatch_object: slots set back */
    unsigned relro;    /* of patched: slots whose page needed mprotect */
    /* Value found in the first R_X86_64_JUMP_SLOT / R_X86_64_GLOB_DAT slot
     * that was changed (NULL if none was changed). For a lazily bound slot
     * that was never called this is the object's PLT stub, not the function:
     * restore it, do not call it. Kept (not overwritten) when the same result
     * is passed to a second patch call that finds the slots already patched. */
    void *prev_jump_slot;
    void *prev_glob_dat;
};

struct nra_got_result {
    size_t n; /* number of hooks this result describes */
    struct nra_got_hook_result hook[NRA_GOT_MAX_HOOKS];
    unsigned total_patched;
    unsigned total_already;
    unsigned total_restored;
};

/*
 * Store hooks[i].replacement into every R_X86_64_JUMP_SLOT and
 * R_X86_64_GLOB_DAT slot of lm whose symbol name is hooks[i].symbol.
 *
 * res is in/out: if res->n == n, the prev_* values already in it are kept
 * (so one result can accumulate across calls on the same object); otherwise
 * it is cleared first. patched/already/relro (and totals) are reset and
 * describe this call; restored is left alone.
 *
 * Returns 0 (also when nothing matched: check res->total_patched), or
 * -EINVAL (bad arguments, n > NRA_GOT_MAX_HOOKS), -ENOENT (lm is not a
 * loaded object), -ESTALE (lm could not be pinned), -ENOEXEC (malformed or
 * unsupported dynamic section), -ENOTSUP (not x86_64), or -errno of mprotect
 * (slots before the failure stay patched and are counted in res).
 *
 * Caveats:
 *  - Only calls that go through the GOT are redirected. Calls inside the
 *    object that defines the symbol (libc calling its own malloc) and
 *    function pointers stored by R_X86_64_64 relocations in data (e.g.
 *    "static void (*f)(void *) = free;") are not.
 *  - A GLOB_DAT slot is also what "&malloc" evaluates to in that object, so
 *    after patching, "fp == malloc" comparisons in the object see the
 *    replacement.
 *  - Lazy binding: if another thread is inside ld.so's lazy resolver for
 *    the same slot, ld.so's write may land after ours and undo it. Each call
 *    re-checks its slots once after a yield; callers that must be certain can
 *    call again later (idempotent: res->total_patched == 0 means all held).
 */
int nra_got_patch_object(const struct link_map *lm, const struct nra_got_hook *hooks,
                         size_t n, struct nra_got_result *res);

/*
 * Undo nra_got_patch_object: every matching slot that still holds
 * hooks[i].replacement gets res->hook[i].prev_jump_slot / prev_glob_dat (by
 * relocation type), or nra_got_real(symbol) when that is NULL. res must be
 * the result of the patch (res->n == n) or zero-initialised with n set.
 * Counts restored slots in res->hook[i].restored / res->total_restored
 * (reset by this call); the patch counters are left alone.
 */
int nra_got_unpatch_object(const struct link_map *lm, const struct nra_got_hook *hooks,
                           size_t n, struct nra_got_result *res);

/* The loaded object containing addr (dladdr1 RTLD_DL_LINKMAP), or NULL. */
struct link_map *nra_got_object_for_addr(const void *addr);

/*
 * Call cb for every loaded object of the default namespace, in load order,
 * skipping the vDSO and the dynamic linker. Each object is pinned during its
 * callback. A nonzero return from cb stops the walk and is returned.
 * Objects that cannot be pinned (unloaded meanwhile, or in another dlmopen
 * namespace) are skipped. Returns 0, cb's value, or -errno. The caller skips
 * itself by comparing with nra_got_object_for_addr(<one of its functions>).
 * May allocate (not callable from inside an allocation hook).
 */
int nra_got_for_each_object(int (*cb)(const struct link_map *lm, void *arg), void *arg);

/*
 * Call cb for every loaded object named by a DT_NEEDED entry of lm (matched
 * by DT_SONAME, else by the basename of its path), in load order; each is
 * pinned during its callback. Direct dependencies only; a needed library
 * that is not loaded is silently absent. Same return convention as above.
 */
int nra_got_for_each_dependency(const struct link_map *lm,
                                int (*cb)(const struct link_map *dep, void *arg), void *arg);

/*
 * The function a hook should forward to: dlsym(RTLD_DEFAULT, symbol), i.e.
 * the first definition in the global lookup scope. An LD_PRELOADed allocator
 * (jemalloc, tcmalloc) therefore stays in effect. Resolve once at start-up,
 * before installing hooks: dlsym may allocate (on failure it always does).
 * Note an object may be bound to a different definition (RTLD_DEEPBIND,
 * dlmopen, symbol versions); res->hook[i].prev_glob_dat shows what it used.
 */
void *nra_got_real(const char *symbol);

#ifdef __cplusplus
}
#endif

#endif /* NRAUDIT_GOTHOOK_H */
