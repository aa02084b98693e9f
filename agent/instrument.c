/* instrument.c — see include/instrument.h. */
#include "instrument.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent_state.h"
#include "classfile.h"
#include "hooks_class.h"
#include "log.h"
#include "registry.h"

#define FIELD_CACHE 8

struct field_cache {
    jweak cls[FIELD_CACHE];
    jfieldID field[FIELD_CACHE];
    unsigned n;                   /* published entries */
};

#define OWNER_CLASSES 4

static struct {
    int active;                   /* atomic: Hooks defined */
    pthread_mutex_t lock;         /* guards the writers of the caches below */
    struct field_cache cache[NRA_MAX_RULES];
    /* The rule's owner class itself (not a subclass), one per class loader
     * that loaded a copy; written once, published by n_owner_classes. */
    jweak owner_class[NRA_MAX_RULES][OWNER_CLASSES];
    unsigned n_owner_classes[NRA_MAX_RULES];
    uint64_t rewritten;
} ins = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool nra_instrument_active(void)
{
    return __atomic_load_n(&ins.active, __ATOMIC_ACQUIRE) != 0;
}

uint64_t nra_instrument_classes_rewritten(void)
{
    return __atomic_load_n(&ins.rewritten, __ATOMIC_RELAXED);
}


/* ---- class rewriting ------------------------------------------------------------ */

/* JDK classes live in named modules that cannot read the boot loader's
 * unnamed module where nraudit/Hooks is: never instrument them. */
static bool is_jdk_class(const char *name)
{
    static const char *const prefixes[] = {"java/", "javax/", "jdk/", "sun/", "com/sun/", NULL};
    for (const char *const *p = prefixes; *p; p++)
        if (strncmp(name, *p, strlen(*p)) == 0)
            return true;
    return false;
}

/* One rewrite pass; on success replaces *buf (malloc'd or the input). */
static int rewrite_pass(const uint8_t **buf, size_t *len, uint8_t **owned, const char *method,
                        const struct nra_cf_insertion *insertion)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    unsigned changed = 0;
    int rc = nra_cf_rewrite(*buf, *len, NRA_HOOKS_CLASS, method, insertion, 1, &out, &out_len, &changed);
    if (rc != 0 || changed == 0)
        return rc;
    free(*owned);
    *owned = out;
    *buf = out;
    *len = out_len;
    return 0;
}

static void hand_to_jvm(jvmtiEnv *jvmti, const uint8_t *buf, size_t len, jint *new_len, unsigned char **new_data)
{
    unsigned char *copy = NULL;
    if ((*jvmti)->Allocate(jvmti, (jlong)len, &copy) != JVMTI_ERROR_NONE)
        return;
    memcpy(copy, buf, len);
    *new_len = (jint)len;
    *new_data = copy;
}

static void rewrite_class(jvmtiEnv *jvmti, const char *name, int rule, bool finalize, const unsigned char *data,
                          jint len, jint *new_len, unsigned char **new_data)
{
    const uint8_t *buf = data;
    size_t size = (size_t)len;
    uint8_t *owned = NULL;
    int rc = 0;
    if (rule >= 0) {
        char hook[32];
        nra_hooks_constructed_name(rule, hook, sizeof(hook));
        struct nra_cf_insertion ctor = {.method_name = "<init>", .where = NRA_CF_BEFORE_RETURN};
        rc = rewrite_pass(&buf, &size, &owned, hook, &ctor);
    }
    if (rc == 0 && finalize) {
        struct nra_cf_insertion fin = {.method_name = "finalize", .method_desc = "()V", .where = NRA_CF_AT_ENTRY};
        rc = rewrite_pass(&buf, &size, &owned, NRA_HOOKS_FINALIZING, &fin);
    }
    if (rc != 0) {
        nra_agent_note("could not instrument %s (%s): its owners are not tracked", name, strerror(-rc));
    } else if (owned) {
        hand_to_jvm(jvmti, buf, size, new_len, new_data);
        __atomic_add_fetch(&ins.rewritten, 1, __ATOMIC_RELAXED);
        nra_log(NRA_LOG_DEBUG, "instrumented %s", name);
    }
    free(owned);
}

void JNICALL nra_instrument_on_class_load(jvmtiEnv *jvmti, JNIEnv *env, jclass redefined, jobject loader,
                                          const char *name, jobject protection_domain, jint len,
                                          const unsigned char *data, jint *new_len, unsigned char **new_data)
{
    (void)env;
    (void)protection_domain;
    if (!name || redefined || !loader || nra_vm_dead() || !nra_instrument_active() || is_jdk_class(name))
        return;
    int rule = nra_rules_owner_rule(&nra_g.rules, name);
    bool declares_finalize = false;
    if (nra_cf_class_info(data, (size_t)len, NULL, 0, NULL, 0, &declares_finalize) != 0)
        return;
    /* Any application class's finalize() is hooked: its superclass may not
     * be loaded yet, so whether it descends from an owner is unknown here.
     * The hook only acts on instances of a rule's owner class. */
    if (rule >= 0 || declares_finalize)
        rewrite_class(jvmti, name, rule, declares_finalize, data, len, new_len, new_data);
}

/* ---- the hooks' natives ------------------------------------------------------------ */

/* Field IDs by runtime class. Entries are written once, under the lock,
 * and published by the release store of `n`; readers scan without a lock.
 * When the cache is full (more than FIELD_CACHE owner subclasses), lookups
 * go to GetFieldID every time. */
static jfieldID cached_field(JNIEnv *env, const struct field_cache *c, unsigned n, jclass cls)
{
    for (unsigned i = 0; i < n; i++)
        if ((*env)->IsSameObject(env, c->cls[i], cls))
            return c->field[i];
    return NULL;
}

/* *fresh tells the caller it just cached a runtime class it had not seen:
 * the one time per class worth looking for the owner class above it.
 * *slot is the class's place in the cache, -1 when it is not cached. */
static jfieldID handle_field(JNIEnv *env, jclass cls, int rule, bool *fresh, int *slot)
{
    struct field_cache *c = &ins.cache[rule];
    *fresh = false;
    *slot = -1;
    unsigned n = __atomic_load_n(&c->n, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        if ((*env)->IsSameObject(env, c->cls[i], cls)) {
            *slot = (int)i;
            return c->field[i];
        }
    }
    jfieldID f = (*env)->GetFieldID(env, cls, nra_g.rules.rule[rule].handle_field, "J");
    if (!f) {
        (*env)->ExceptionClear(env);
        nra_agent_note("rule %s: owner has no long field '%s'", nra_g.rules.rule[rule].name,
                       nra_g.rules.rule[rule].handle_field);
        return NULL;
    }
    pthread_mutex_lock(&ins.lock);
    unsigned at = c->n;
    if (at < FIELD_CACHE && !cached_field(env, c, at, cls)) {
        c->cls[at] = (*env)->NewWeakGlobalRef(env, cls);
        c->field[at] = f;
        if (c->cls[at]) {
            __atomic_store_n(&c->n, at + 1, __ATOMIC_RELEASE);
            *fresh = true;
            *slot = (int)at;
        }
    }
    pthread_mutex_unlock(&ins.lock);
    return f;
}

jfieldID nra_instrument_handle_field(JNIEnv *env, jclass cls, int rule)
{
    bool fresh;
    int slot;
    return handle_field(env, cls, rule, &fresh, &slot);
}

jclass nra_instrument_runtime_class(JNIEnv *env, int rule, int slot)
{
    const struct field_cache *c = &ins.cache[rule];
    if (rule < 0 || rule >= NRA_MAX_RULES || slot < 0 || (unsigned)slot >= __atomic_load_n(&c->n, __ATOMIC_ACQUIRE))
        return NULL;
    return (*env)->NewLocalRef(env, c->cls[slot]);   /* NULL when the class was unloaded */
}

static bool is_known_owner_class(JNIEnv *env, int rule, jclass cls)
{
    unsigned n = __atomic_load_n(&ins.n_owner_classes[rule], __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if ((*env)->IsSameObject(env, ins.owner_class[rule][i], cls))
            return true;
    return false;
}

/* Finds the rule's owner class above (or at) the runtime class of a new
 * owner and remembers it: reports find owners in the heap through it. */
static void remember_owner_class(JNIEnv *env, int rule, jclass runtime)
{
    jclass c = (*env)->NewLocalRef(env, runtime);
    while (c) {
        char *sig = NULL;
        bool match = false;
        if ((*nra_g.jvmti)->GetClassSignature(nra_g.jvmti, c, &sig, NULL) == JVMTI_ERROR_NONE) {
            match = nra_class_matches(sig, nra_g.rules.rule[rule].owner_class);
            (*nra_g.jvmti)->Deallocate(nra_g.jvmti, (unsigned char *)sig);
        }
        if (match)
            break;
        jclass super = (*env)->GetSuperclass(env, c);
        (*env)->DeleteLocalRef(env, c);
        c = super;
    }
    if (!c)
        return;
    pthread_mutex_lock(&ins.lock);
    unsigned n = ins.n_owner_classes[rule];
    if (!is_known_owner_class(env, rule, c) && n < OWNER_CLASSES) {
        ins.owner_class[rule][n] = (*env)->NewWeakGlobalRef(env, c);
        if (ins.owner_class[rule][n])
            __atomic_store_n(&ins.n_owner_classes[rule], n + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ins.lock);
    (*env)->DeleteLocalRef(env, c);
}

/* An owner's constructor returned: mark its record OWNER. No JVMTI tag is
 * set here (SetTag cost more than everything else the hook does, and tags
 * make GC post ObjectFree work): reports find owners in the heap through
 * their class and read their handle field (heapwalk.c). */
static void constructed(JNIEnv *env, jobject owner, int rule)
{
    if (!owner || nra_vm_dead() || rule >= nra_g.rules.count)
        return;
    jclass cls = (*env)->GetObjectClass(env, owner);
    if (!cls)
        return;
    bool fresh;
    int slot;
    jfieldID f = handle_field(env, cls, rule, &fresh, &slot);
    if (fresh)
        remember_owner_class(env, rule, cls);
    (*env)->DeleteLocalRef(env, cls);
    if (!f)
        return;
    jlong handle = (*env)->GetLongField(env, owner, f);
    if (handle)
        nra_reg_claim_owner(rule, handle, slot);
}

#define CONSTRUCTED(k) \
    static void JNICALL constructed_##k(JNIEnv *env, jclass hooks, jobject owner) \
    { \
        (void)hooks; \
        constructed(env, owner, k); \
    }
CONSTRUCTED(0) CONSTRUCTED(1) CONSTRUCTED(2) CONSTRUCTED(3) CONSTRUCTED(4) CONSTRUCTED(5) CONSTRUCTED(6)
CONSTRUCTED(7) CONSTRUCTED(8) CONSTRUCTED(9) CONSTRUCTED(10) CONSTRUCTED(11) CONSTRUCTED(12) CONSTRUCTED(13)
CONSTRUCTED(14) CONSTRUCTED(15)

static void *const constructed_fns[NRA_MAX_RULES] = {
    (void *)constructed_0, (void *)constructed_1, (void *)constructed_2, (void *)constructed_3,
    (void *)constructed_4, (void *)constructed_5, (void *)constructed_6, (void *)constructed_7,
    (void *)constructed_8, (void *)constructed_9, (void *)constructed_10, (void *)constructed_11,
    (void *)constructed_12, (void *)constructed_13, (void *)constructed_14, (void *)constructed_15,
};

/* A finalize() began: if `this` is an owner of a rule, mark its record. */
static void JNICALL finalizing(JNIEnv *env, jclass hooks, jobject owner)
{
    (void)hooks;
    if (!owner || nra_vm_dead())
        return;
    for (int rule = 0; rule < nra_g.rules.count; rule++) {
        unsigned n = __atomic_load_n(&ins.n_owner_classes[rule], __ATOMIC_ACQUIRE);
        for (unsigned i = 0; i < n; i++) {
            if (!(*env)->IsInstanceOf(env, owner, ins.owner_class[rule][i]))
                continue;
            jclass cls = (*env)->GetObjectClass(env, owner);
            jfieldID f = cls ? nra_instrument_handle_field(env, cls, rule) : NULL;
            if (cls)
                (*env)->DeleteLocalRef(env, cls);
            jlong handle = f ? (*env)->GetLongField(env, owner, f) : 0;
            if (handle)
                nra_reg_flag_handle(rule, handle, NRA_REC_FINALIZED);
            return;
        }
    }
}

unsigned nra_instrument_owner_classes(JNIEnv *env, int rule, jclass *out, unsigned max)
{
    unsigned n = 0, have = __atomic_load_n(&ins.n_owner_classes[rule], __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < have && n < max; i++) {
        jclass c = (*env)->NewLocalRef(env, ins.owner_class[rule][i]);
        if (c)
            out[n++] = c;
    }
    return n;
}

int nra_instrument_define_hooks(JNIEnv *env)
{
    uint8_t bytes[1024];
    int n = nra_hooks_class_bytes(nra_g.rules.count, bytes, sizeof(bytes));
    if (n < 0)
        return n;
    jclass hooks = (*env)->DefineClass(env, NRA_HOOKS_CLASS, NULL, (const jbyte *)bytes, n);
    if (!hooks) {
        (*env)->ExceptionClear(env);
        return -EINVAL;
    }
    JNINativeMethod methods[NRA_MAX_RULES + 1];
    char names[NRA_MAX_RULES][32];
    int m = 0;
    for (int k = 0; k < nra_g.rules.count; k++) {
        nra_hooks_constructed_name(k, names[k], sizeof(names[k]));
        methods[m++] = (JNINativeMethod){names[k], "(Ljava/lang/Object;)V", constructed_fns[k]};
    }
    methods[m++] = (JNINativeMethod){NRA_HOOKS_FINALIZING, "(Ljava/lang/Object;)V", (void *)finalizing};
    jint rc = (*env)->RegisterNatives(env, hooks, methods, m);
    (*env)->DeleteLocalRef(env, hooks);
    if (rc != 0) {
        (*env)->ExceptionClear(env);
        return -EINVAL;
    }
    __atomic_store_n(&ins.active, 1, __ATOMIC_RELEASE);
    return 0;
}
