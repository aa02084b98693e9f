/* natives.c — see include/natives.h.
 *
 * A wrapper cannot be generated at run time without writing machine code, so
 * the pool is NRA_MAX_SLOTS ordinary C functions, each knowing its slot
 * number. Every wrapper takes (env, class-or-object, eight jlongs): on
 * x86-64 System V all integer-class arguments travel in the same registers
 * and stack slots whatever their Java type, so forwarding eight of them
 * forwards any native with at most eight integer-class parameters
 * (rules.c refuses the others, and every native with float/double
 * parameters, since those travel in XMM registers). Reading argument slots
 * the caller did not fill only reads the caller's own frame.
 */
#include "natives.h"

#include <stdio.h>
#include <string.h>

#include "agent_state.h"
#include "alloc.h"
#include "hookset.h"
#include "java_stacks.h"
#include "log.h"
#include "registry.h"
#include "symbols.h"

#if !defined(__x86_64__)
#error "natives.c: the generic wrapper relies on the x86-64 System V calling convention"
#endif

typedef jlong (*native_fn)(JNIEnv *, jobject, jlong, jlong, jlong, jlong, jlong, jlong, jlong, jlong);

struct slot {
    native_fn original;
    int rule;
    enum nra_role role;
    char name[192];       /* pkg.Class.method */
    char signature[128];
};

#define MAX_SKIPPED 64

static struct {
    pthread_mutex_t lock;
    struct slot slots[NRA_MAX_SLOTS];
    unsigned used;         /* published with release after a slot is filled */
    uint64_t slots_exhausted;
    char skipped[MAX_SKIPPED][256];
    int skipped_rule[MAX_SKIPPED];
    unsigned n_skipped;
    unsigned wrapped[NRA_MAX_RULES][NRA_ROLE_SKIPPED + 1];
    char bound_name[NRA_MAX_RULES][3][384];
    jweak rule_class[NRA_MAX_RULES];   /* declaring class of the alloc native */
} nat = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- the calls ------------------------------------------------------------- */

#define ARGS a0, a1, a2, a3, a4, a5, a6, a7
#define PARAMS jlong a0, jlong a1, jlong a2, jlong a3, jlong a4, jlong a5, jlong a6, jlong a7

static jlong call_alloc(unsigned i, struct slot *s, JNIEnv *env, jobject self, PARAMS)
{
    uint64_t id = nra_reg_reserve_id();
    if (id == 0) {  /* registry full: not tracked, and counted */
        jlong handle = s->original(env, self, ARGS);
        if (handle != 0)
            nra_reg_count_dropped(s->rule);
        return handle;
    }
    uint32_t jsite = nra_java_site_for_record(s->rule);
    struct nra_scope scope = {.record_id = id, .java_site = jsite, .slot = (uint16_t)i, .rule = (uint16_t)s->rule};
    nra_alloc_scope_enter(&scope);
    jlong handle = s->original(env, self, ARGS);
    nra_alloc_scope_leave(&scope);
    if (handle != 0)
        nra_reg_alloc(s->rule, handle, id, nra_gettid(), nra_now_ns(), jsite);
    return handle;
}

/* Scopes only matter when allocations are hooked. */
static bool scopes_wanted(void)
{
    return nra_g.opts.hook != NRA_HOOK_NONE;
}

/* The record leaves the handle map before the native frees the handle (so
 * a handle the allocator hands to another thread meanwhile starts a new
 * record that this free cannot retire) and retires after it: what the free
 * native allocated and kept is attributed to the record and becomes its
 * residue. */
static jlong call_free(unsigned i, struct slot *s, JNIEnv *env, jobject self, PARAMS)
{
    struct nra_record_info rec = {0};
    uint64_t id = nra_reg_begin_free(s->rule, a0, &rec);
    struct nra_scope scope = {.record_id = id, .java_site = rec.java_site, .slot = (uint16_t)i, .rule = (uint16_t)s->rule};
    bool scoped = id && scopes_wanted();
    if (scoped)
        nra_alloc_scope_enter(&scope);
    jlong r = s->original(env, self, ARGS);
    if (scoped)
        nra_alloc_scope_leave(&scope);
    if (id)
        nra_reg_end_free(id, nra_gettid(), nra_now_ns());
    return r;
}

static jlong call_use(unsigned i, struct slot *s, JNIEnv *env, jobject self, PARAMS)
{
    struct nra_record_info rec;
    uint64_t id = nra_reg_lookup_handle(s->rule, a0, &rec);
    if (id == 0)
        return s->original(env, self, ARGS);
    struct nra_scope scope = {.record_id = id, .java_site = rec.java_site, .slot = (uint16_t)i, .rule = (uint16_t)s->rule};
    nra_alloc_scope_enter(&scope);
    jlong r = s->original(env, self, ARGS);
    nra_alloc_scope_leave(&scope);
    return r;
}

static jlong dispatch(unsigned i, JNIEnv *env, jobject self, PARAMS)
{
    struct slot *s = &nat.slots[i];
    switch (s->role) {
    case NRA_ROLE_ALLOC:
        return call_alloc(i, s, env, self, ARGS);
    case NRA_ROLE_FREE:
        return call_free(i, s, env, self, ARGS);
    case NRA_ROLE_USE:
        return call_use(i, s, env, self, ARGS);
    default:
        return s->original(env, self, ARGS);
    }
}

#define W1(n) static jlong wrap_##n(JNIEnv *e, jobject o, PARAMS) { return dispatch(0##n, e, o, ARGS); }
#define W8(n) W1(n##0) W1(n##1) W1(n##2) W1(n##3) W1(n##4) W1(n##5) W1(n##6) W1(n##7)
#define W64(n) W8(n##0) W8(n##1) W8(n##2) W8(n##3) W8(n##4) W8(n##5) W8(n##6) W8(n##7)
W64(0) W64(1) W64(2) W64(3) W64(4) W64(5) W64(6) W64(7)

#define R1(n) (void *)wrap_##n,
#define R8(n) R1(n##0) R1(n##1) R1(n##2) R1(n##3) R1(n##4) R1(n##5) R1(n##6) R1(n##7)
#define R64(n) R8(n##0) R8(n##1) R8(n##2) R8(n##3) R8(n##4) R8(n##5) R8(n##6) R8(n##7)
/* wrap_000 .. wrap_777: the slot number written in octal (0##n is an octal literal). */
static void *const wrappers[NRA_MAX_SLOTS] = {R64(0) R64(1) R64(2) R64(3) R64(4) R64(5) R64(6) R64(7)};

_Static_assert(sizeof(wrappers) / sizeof(wrappers[0]) == NRA_MAX_SLOTS, "one wrapper per slot");

/* ---- binding --------------------------------------------------------------- */

static void java_name(const char *class_sig, const char *method, char *out, size_t len)
{
    size_t n = strlen(class_sig);
    const char *c = class_sig;
    if (n >= 2 && c[0] == 'L' && c[n - 1] == ';') {
        c++;
        n -= 2;
    }
    if (n >= len)
        n = len - 1;
    size_t k = 0;
    for (; k < n; k++)
        out[k] = c[k] == '/' ? '.' : c[k];
    snprintf(out + k, len - k, ".%s", method);
}

/* Returns the slot already holding `original` or a fresh one; -1 if full.
 * Caller holds nat.lock. */
static int slot_for(void *original, const struct nra_match *m, const char *name, const char *sig)
{
    for (unsigned i = 0; i < nat.used; i++)
        if ((void *)nat.slots[i].original == original && nat.slots[i].rule == m->rule)
            return (int)i;
    if (nat.used == NRA_MAX_SLOTS)
        return -1;
    struct slot *s = &nat.slots[nat.used];
    s->original = (native_fn)original;
    s->rule = m->rule;
    s->role = m->role;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->signature, sizeof(s->signature), "%s", sig);
    __atomic_store_n(&nat.used, nat.used + 1, __ATOMIC_RELEASE);
    return (int)nat.used - 1;
}

static void note_skipped(const struct nra_match *m, const char *name, const char *sig)
{
    for (unsigned i = 0; i < nat.n_skipped; i++)
        if (strncmp(nat.skipped[i], name, strlen(name)) == 0 && nat.skipped[i][strlen(name)] == '(')
            return;
    if (nat.n_skipped == MAX_SKIPPED)
        return;
    snprintf(nat.skipped[nat.n_skipped], sizeof(nat.skipped[0]), "%s%s: %s", name, sig, m->skip_reason);
    nat.skipped_rule[nat.n_skipped++] = m->rule;
}

static bool describe_method(jvmtiEnv *jvmti, jmethodID method, jclass *declaring, char **class_sig, char **name,
                            char **sig)
{
    jclass cls = NULL;
    *class_sig = *name = *sig = NULL;
    jvmtiError err = (*jvmti)->GetMethodDeclaringClass(jvmti, method, &cls);
    *declaring = cls;
    if (err != JVMTI_ERROR_NONE)
        return false;  /* primordial phase: not our natives anyway */
    err = (*jvmti)->GetClassSignature(jvmti, cls, class_sig, NULL);
    if (err != JVMTI_ERROR_NONE)
        return false;
    err = (*jvmti)->GetMethodName(jvmti, method, name, sig, NULL);
    if (err != JVMTI_ERROR_NONE) {
        (*jvmti)->Deallocate(jvmti, (unsigned char *)*class_sig);
        *class_sig = NULL;
        return false;
    }
    return true;
}

static void release_strings(jvmtiEnv *jvmti, char *a, char *b, char *c)
{
    if (a)
        (*jvmti)->Deallocate(jvmti, (unsigned char *)a);
    if (b)
        (*jvmti)->Deallocate(jvmti, (unsigned char *)b);
    if (c)
        (*jvmti)->Deallocate(jvmti, (unsigned char *)c);
}

static void remember_bound_name(const struct nra_match *m, const char *name, const char *sig)
{
    int k = m->role == NRA_ROLE_ALLOC ? 0 : m->role == NRA_ROLE_FREE ? 1 : -1;
    if (k >= 0)
        snprintf(nat.bound_name[m->rule][k], sizeof(nat.bound_name[0][0]), "%s%s", name, sig);
}

static void bind_matched(const struct nra_match *m, const char *name, const char *sig,
                         void *address, void **new_address_ptr)
{
    pthread_mutex_lock(&nat.lock);
    if (m->role == NRA_ROLE_USE && !scopes_wanted()) {
        /* hook=none: a use native would only open a scope nothing reads */
        pthread_mutex_unlock(&nat.lock);
        return;
    }
    if (m->role == NRA_ROLE_SKIPPED) {
        note_skipped(m, name, sig);
        nat.wrapped[m->rule][NRA_ROLE_SKIPPED]++;
        pthread_mutex_unlock(&nat.lock);
        return;
    }
    int i = slot_for(address, m, name, sig);
    if (i < 0) {
        nat.slots_exhausted++;
        pthread_mutex_unlock(&nat.lock);
        nra_agent_note("wrapper slots exhausted: %s%s not wrapped", name, sig);
        return;
    }
    nat.wrapped[m->rule][m->role]++;
    remember_bound_name(m, name, sig);
    pthread_mutex_unlock(&nat.lock);
    char symbol[224];
    snprintf(symbol, sizeof(symbol), "%s (native)", name);
    nra_sym_register_name((uintptr_t)address, symbol);
    /* Hook the library before the first call of the native can happen. */
    nra_hookset_for_address(address, nra_g.opts.hook);
    *new_address_ptr = wrappers[i];
    nra_log(NRA_LOG_DEBUG, "wrapped %s%s (slot %d, %s)", name, sig, i,
            m->role == NRA_ROLE_ALLOC ? "alloc" : m->role == NRA_ROLE_FREE ? "free" : "use");
}

/* A weak reference: the agent must not keep classes (or their loaders)
 * alive. */
static void remember_rule_class(JNIEnv *env, int rule, jclass cls)
{
    jweak weak = (*env)->NewWeakGlobalRef(env, cls);
    pthread_mutex_lock(&nat.lock);
    jweak old = nat.rule_class[rule];
    nat.rule_class[rule] = weak;
    pthread_mutex_unlock(&nat.lock);
    if (old)
        (*env)->DeleteWeakGlobalRef(env, old);
}

void JNICALL nra_natives_on_bind(jvmtiEnv *jvmti, JNIEnv *env, jthread thread, jmethodID method,
                                 void *address, void **new_address_ptr)
{
    (void)thread;
    if (nra_vm_dead() || address == NULL || new_address_ptr == NULL)
        return;
    for (unsigned i = 0; i < NRA_MAX_SLOTS; i++)
        if (address == wrappers[i])
            return;  /* rebinding one of our own wrappers */
    if (nra_g.opts.hook == NRA_HOOK_ALL)
        nra_hookset_notice_code(address);
    char *class_sig, *name, *sig;
    jclass declaring = NULL;
    if (!describe_method(jvmti, method, &declaring, &class_sig, &name, &sig))
        return;
    struct nra_match m;
    if (nra_rules_match_native(&nra_g.rules, class_sig, name, sig, &m)) {
        char full[192];
        java_name(class_sig, name, full, sizeof(full));
        bind_matched(&m, full, sig, address, new_address_ptr);
        if (m.role == NRA_ROLE_ALLOC && env && declaring)
            remember_rule_class(env, m.rule, declaring);
    }
    if (env && declaring)
        (*env)->DeleteLocalRef(env, declaring);
    release_strings(jvmti, class_sig, name, sig);
}

/* ---- queries --------------------------------------------------------------- */

const char *nra_natives_slot_name(unsigned slot)
{
    unsigned used = __atomic_load_n(&nat.used, __ATOMIC_ACQUIRE);
    return slot < used ? nat.slots[slot].name : NULL;
}

enum nra_role nra_natives_slot_role(unsigned slot)
{
    unsigned used = __atomic_load_n(&nat.used, __ATOMIC_ACQUIRE);
    return slot < used ? nat.slots[slot].role : NRA_ROLE_NONE;
}

uintptr_t nra_natives_slot_address(unsigned slot)
{
    unsigned used = __atomic_load_n(&nat.used, __ATOMIC_ACQUIRE);
    return slot < used ? (uintptr_t)nat.slots[slot].original : 0;
}

int nra_natives_slot_rule(unsigned slot)
{
    unsigned used = __atomic_load_n(&nat.used, __ATOMIC_ACQUIRE);
    return slot < used ? nat.slots[slot].rule : -1;
}

unsigned nra_natives_skipped(int rule, const char **names, unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&nat.lock);
    for (unsigned i = 0; i < nat.n_skipped && n < max; i++)
        if (nat.skipped_rule[i] == rule)
            names[n++] = nat.skipped[i];
    pthread_mutex_unlock(&nat.lock);
    return n;
}

unsigned nra_natives_wrapped(int rule, enum nra_role role)
{
    if (rule < 0 || rule >= NRA_MAX_RULES || role > NRA_ROLE_SKIPPED)
        return 0;
    pthread_mutex_lock(&nat.lock);
    unsigned n = nat.wrapped[rule][role];
    pthread_mutex_unlock(&nat.lock);
    return n;
}

const char *nra_natives_bound_name(int rule, enum nra_role role)
{
    if (rule < 0 || rule >= NRA_MAX_RULES)
        return NULL;
    int k = role == NRA_ROLE_ALLOC ? 0 : role == NRA_ROLE_FREE ? 1 : -1;
    if (k < 0 || nat.bound_name[rule][k][0] == '\0')
        return NULL;
    return nat.bound_name[rule][k];
}

jclass nra_natives_rule_class(JNIEnv *env, int rule)
{
    if (rule < 0 || rule >= NRA_MAX_RULES)
        return NULL;
    pthread_mutex_lock(&nat.lock);
    jclass local = nat.rule_class[rule] ? (*env)->NewLocalRef(env, nat.rule_class[rule]) : NULL;
    pthread_mutex_unlock(&nat.lock);
    return local;
}
