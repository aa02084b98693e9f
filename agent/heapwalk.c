/* heapwalk.c — see include/heapwalk.h.
 *
 * Owners are not tagged while the application runs (SetTag on every owner
 * cost more than the rest of the agent's per-owner work). A report finds
 * them itself, against one registry snapshot taken before the walk:
 *
 *  1. class tags: every loaded subclass of java.lang.ref.Reference gets a tag
 *     carrying the JVMTI field index of `referent`; every class of a rule's
 *     owner type gets a tag naming the rule, the JVMTI field index of its
 *     handle field and whether it has a finalize() method;
 *  2. FollowReferences from the roots (stop-the-world), pruning
 *     Reference.referent (HotSpot reports it as an ordinary FIELD
 *     reference) and the Finalizer's list of registered objects. A
 *     primitive-field callback reads the handle field of every owner the
 *     walk visits: those owners are strongly reachable. No object is
 *     tagged, so the work grows with the reachable heap, never with the
 *     freed owners that wait for GC;
 *  3. IterateThroughHeap (stop-the-world) over objects of tagged classes,
 *     one callback per object and no field callbacks, counts the owners
 *     still in the heap: zombies are the unreachable ones whose handle is
 *     freed;
 *  4. after the pause, the reachable handles are matched to the snapshot's
 *     records and each record is classified once (docs/design.md, "When a
 *     handle counts as a leak").
 *
 * Field index (JVMTI spec, jvmtiHeapReferenceInfoField): fields of the
 * superinterfaces come first, then those of the superclasses from the top,
 * then the class's own (GetClassFields order, statics included).
 */
#include "heapwalk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_state.h"
#include "instrument.h"
#include "log.h"
#include "registry.h"
#include "sampler.h"

/* Class tags. */
#define TAG_REF_CLASS ((jlong)1 << 62)     /* | finalizer list bit | referent index */
#define TAG_OWNER_CLASS ((jlong)1 << 61)   /* | handle index << 8 | rule */
#define REF_INDEX_MASK 0xffffll
#define REF_FINALIZER ((jlong)1 << 20)     /* java.lang.ref.Finalizer */
#define OWNER_RULE(tag) ((int)((tag) & 0xff))
#define OWNER_HANDLE_INDEX(tag) ((jint)(((tag) >> 8) & 0xffff))

/* A reachable owner's handle. */
struct seen {
    int64_t handle;
    int rule;
};

struct walk {
    struct seen *seen;             /* sized before the walk: no allocation in callbacks */
    size_t n_seen, cap_seen;
    uint64_t seen_dropped;         /* more reachable owners with handles than the vector holds */
    uint64_t reached[NRA_MAX_RULES];    /* reachable owners, handle or not */
    uint64_t in_heap[NRA_MAX_RULES];    /* owners in the heap, reachable or not */
    double follow_ms, iterate_ms;
    bool zombies_skipped;          /* the heap iteration did not run (too long a pause) */
    double iterate_predicted_ms;
};

static void check_jvmti(jvmtiError err, const char *what)
{
    if (err != JVMTI_ERROR_NONE)
        nra_log(NRA_LOG_DEBUG, "%s failed: %s", what, nra_jvmti_error_name(err));
}

static bool is_owner_class_tag(jlong class_tag)
{
    return (class_tag & TAG_OWNER_CLASS) && !(class_tag & TAG_REF_CLASS);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- marking Reference subclasses ----------------------------------------------- */

static jint field_count(jvmtiEnv *jvmti, jclass cls)
{
    jint n = 0;
    jfieldID *fields = NULL;
    if ((*jvmti)->GetClassFields(jvmti, cls, &n, &fields) != JVMTI_ERROR_NONE)
        return 0;
    (*jvmti)->Deallocate(jvmti, (unsigned char *)fields);
    return n;
}

/* Fields of all superinterfaces of cls and its superclasses (each counted
 * once: interfaces rarely repeat, and a duplicate would only shift an index
 * of a class that also has interface constants). */
static jint interface_fields(jvmtiEnv *jvmti, JNIEnv *env, jclass cls)
{
    jint total = 0;
    jclass c = (*env)->NewLocalRef(env, cls);
    while (c) {
        jint n = 0;
        jclass *ifaces = NULL;
        if ((*jvmti)->GetImplementedInterfaces(jvmti, c, &n, &ifaces) == JVMTI_ERROR_NONE) {
            for (jint i = 0; i < n; i++) {
                total += field_count(jvmti, ifaces[i]) + interface_fields(jvmti, env, ifaces[i]);
                (*env)->DeleteLocalRef(env, ifaces[i]);
            }
            (*jvmti)->Deallocate(jvmti, (unsigned char *)ifaces);
        }
        jclass super = (*env)->GetSuperclass(env, c);
        (*env)->DeleteLocalRef(env, c);
        c = super;
    }
    return total;
}

static jint referent_position(jvmtiEnv *jvmti, jclass reference)
{
    jint n = 0, pos = -1;
    jfieldID *fields = NULL;
    if ((*jvmti)->GetClassFields(jvmti, reference, &n, &fields) != JVMTI_ERROR_NONE)
        return -1;
    for (jint i = 0; i < n && pos < 0; i++) {
        char *name = NULL;
        if ((*jvmti)->GetFieldName(jvmti, reference, fields[i], &name, NULL, NULL) == JVMTI_ERROR_NONE) {
            if (strcmp(name, "referent") == 0)
                pos = i;
            (*jvmti)->Deallocate(jvmti, (unsigned char *)name);
        }
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)fields);
    return pos;
}

static bool is_finalizer_class(jvmtiEnv *jvmti, jclass cls)
{
    char *sig = NULL;
    bool yes = false;
    if ((*jvmti)->GetClassSignature(jvmti, cls, &sig, NULL) == JVMTI_ERROR_NONE) {
        yes = strcmp(sig, "Ljava/lang/ref/Finalizer;") == 0;
        (*jvmti)->Deallocate(jvmti, (unsigned char *)sig);
    }
    return yes;
}

static int mark_reference_classes(jvmtiEnv *jvmti, JNIEnv *env)
{
    jclass reference = (*env)->FindClass(env, "java/lang/ref/Reference");
    if (!reference) {
        (*env)->ExceptionClear(env);
        return -ENOENT;
    }
    jint base = referent_position(jvmti, reference);
    jint n = 0;
    jclass *classes = NULL;
    if (base < 0 || (*jvmti)->GetLoadedClasses(jvmti, &n, &classes) != JVMTI_ERROR_NONE) {
        (*env)->DeleteLocalRef(env, reference);
        return -EIO;
    }
    for (jint i = 0; i < n; i++) {
        if ((*env)->IsAssignableFrom(env, classes[i], reference)) {
            jlong index = base + interface_fields(jvmti, env, classes[i]);
            jlong tag = TAG_REF_CLASS | (index & REF_INDEX_MASK);
            if (is_finalizer_class(jvmti, classes[i]))
                tag |= REF_FINALIZER;
            check_jvmti((*jvmti)->SetTag(jvmti, classes[i], tag), "SetTag");
        }
        (*env)->DeleteLocalRef(env, classes[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
    (*env)->DeleteLocalRef(env, reference);
    return 0;
}

/* ---- the walks ----------------------------------------------------------------------- */

/* Called for references to objects of tagged classes only (the heap
 * filter): prunes the referent edge of every Reference, and the Finalizer
 * objects themselves (their only strong fields link the Finalizer's list;
 * following them would visit one object per registered finalizable). */
static jint JNICALL on_reference(jvmtiHeapReferenceKind kind, const jvmtiHeapReferenceInfo *info,
                                 jlong class_tag, jlong referrer_class_tag, jlong size, jlong *tag_ptr,
                                 jlong *referrer_tag_ptr, jint length, void *user_data)
{
    (void)size;
    (void)tag_ptr;
    (void)referrer_tag_ptr;
    (void)length;
    (void)user_data;
    if (kind == JVMTI_HEAP_REFERENCE_FIELD && (referrer_class_tag & TAG_REF_CLASS) &&
        info->field.index == (jint)(referrer_class_tag & REF_INDEX_MASK))
        return 0;  /* a referent is not a strong reference */
    if ((class_tag & TAG_REF_CLASS) && (class_tag & REF_FINALIZER))
        return 0;
    return JVMTI_VISIT_OBJECTS;
}

/* Called for every primitive field of every visited object of a tagged
 * class; acts on an owner's handle field. Inside the pause: a few
 * compares and a store, no allocation, no lock. */
static jint JNICALL on_reachable_field(jvmtiHeapReferenceKind kind, const jvmtiHeapReferenceInfo *info,
                                       jlong class_tag, jlong *tag_ptr, jvalue value,
                                       jvmtiPrimitiveType type, void *user_data)
{
    (void)tag_ptr;
    if (kind != JVMTI_HEAP_REFERENCE_FIELD || !is_owner_class_tag(class_tag) ||
        info->field.index != OWNER_HANDLE_INDEX(class_tag) || type != JVMTI_PRIMITIVE_TYPE_LONG)
        return 0;
    struct walk *w = user_data;
    int rule = OWNER_RULE(class_tag);
    if (rule >= NRA_MAX_RULES)
        return 0;
    w->reached[rule]++;
    if (value.j == 0)
        return 0;
    if (w->n_seen < w->cap_seen)
        w->seen[w->n_seen++] = (struct seen){.handle = value.j, .rule = rule};
    else
        w->seen_dropped++;
    return 0;
}

static jint JNICALL on_heap_object(jlong class_tag, jlong size, jlong *tag_ptr, jint length, void *user_data)
{
    (void)size;
    (void)tag_ptr;
    (void)length;
    struct walk *w = user_data;
    if (is_owner_class_tag(class_tag) && OWNER_RULE(class_tag) < NRA_MAX_RULES)
        w->in_heap[OWNER_RULE(class_tag)]++;
    return 0;
}

/* The heap iteration visits every object: its pause grows with the heap,
 * about 1 ms per MiB in use on the development machine, learnt from each
 * iteration that ran. A report other than the exit report skips it (and
 * so the zombie count) when it would pause the JVM longer than this. */
#define ITERATE_BUDGET_MS 100.0
static double iterate_ms_per_mib = 1.0;

static bool iterate_affordable(JNIEnv *env, double follow_ms, double *predicted_ms)
{
    int64_t used = nra_java_heap_used(env);
    double mib = used > 0 ? (double)used / (1 << 20) : 0;
    *predicted_ms = mib * iterate_ms_per_mib;
    return follow_ms + *predicted_ms <= ITERATE_BUDGET_MS;
}

static void learn_iterate_cost(JNIEnv *env, double ms)
{
    int64_t used = nra_java_heap_used(env);
    if (used > (64 << 20))
        iterate_ms_per_mib = ms / ((double)used / (1 << 20));
}

static int walk_heap(jvmtiEnv *jvmti, JNIEnv *env, struct walk *w, bool must_count)
{
    struct timespec t0;
    jvmtiHeapCallbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.heap_reference_callback = on_reference;
    cb.primitive_field_callback = on_reachable_field;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    jvmtiError err = (*jvmti)->FollowReferences(jvmti, JVMTI_HEAP_FILTER_CLASS_UNTAGGED, NULL, NULL, &cb, w);
    w->follow_ms = ms_since(&t0);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "FollowReferences failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    if (!must_count && !iterate_affordable(env, w->follow_ms, &w->iterate_predicted_ms)) {
        w->zombies_skipped = true;
        return 0;
    }
    memset(&cb, 0, sizeof(cb));
    cb.heap_iteration_callback = on_heap_object;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = (*jvmti)->IterateThroughHeap(jvmti, JVMTI_HEAP_FILTER_CLASS_UNTAGGED, NULL, &cb, w);
    w->iterate_ms = ms_since(&t0);
    learn_iterate_cost(env, w->iterate_ms);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "IterateThroughHeap failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    return 0;
}

/* ---- owner classes ----------------------------------------------------------------------- */

/* Whether cls or a superclass below Object declares an instance finalize(). */
static bool has_finalizer(jvmtiEnv *jvmti, JNIEnv *env, jclass cls)
{
    bool found = false;
    jclass c = (*env)->NewLocalRef(env, cls);
    while (c && !found) {
        jclass super = (*env)->GetSuperclass(env, c);
        if (!super) {           /* c is java.lang.Object: its finalize() does nothing */
            (*env)->DeleteLocalRef(env, c);
            break;
        }
        jint n = 0;
        jmethodID *methods = NULL;
        if ((*jvmti)->GetClassMethods(jvmti, c, &n, &methods) == JVMTI_ERROR_NONE) {
            for (jint i = 0; i < n && !found; i++) {
                char *name = NULL, *sig = NULL;
                if ((*jvmti)->GetMethodName(jvmti, methods[i], &name, &sig, NULL) != JVMTI_ERROR_NONE)
                    continue;
                found = strcmp(name, "finalize") == 0 && strcmp(sig, "()V") == 0;
                (*jvmti)->Deallocate(jvmti, (unsigned char *)name);
                (*jvmti)->Deallocate(jvmti, (unsigned char *)sig);
            }
            (*jvmti)->Deallocate(jvmti, (unsigned char *)methods);
        }
        (*env)->DeleteLocalRef(env, c);
        c = super;
    }
    if (c && found)
        (*env)->DeleteLocalRef(env, c);
    return found;
}

/* Position of field f among its declaring class's fields, or -1. */
static jint declared_position(jvmtiEnv *jvmti, jclass decl, jfieldID f)
{
    jint n = 0, pos = -1;
    jfieldID *fields = NULL;
    if ((*jvmti)->GetClassFields(jvmti, decl, &n, &fields) != JVMTI_ERROR_NONE)
        return -1;
    for (jint i = 0; i < n && pos < 0; i++)
        if (fields[i] == f)
            pos = i;
    (*jvmti)->Deallocate(jvmti, (unsigned char *)fields);
    return pos;
}

/* The JVMTI field index of the rule's handle field in objects of cls:
 * interface fields, then the fields of the superclasses above the declaring
 * class, then the position in it. Returns -1 when unknown. */
static jint handle_field_index(jvmtiEnv *jvmti, JNIEnv *env, jclass cls, int rule)
{
    jfieldID f = nra_instrument_handle_field(env, cls, rule);
    jclass decl = NULL;
    if (!f || (*jvmti)->GetFieldDeclaringClass(jvmti, cls, f, &decl) != JVMTI_ERROR_NONE)
        return -1;
    jint index = declared_position(jvmti, decl, f);
    if (index >= 0) {
        index += interface_fields(jvmti, env, cls);
        for (jclass c = (*env)->GetSuperclass(env, decl); c;) {
            index += field_count(jvmti, c);
            jclass super = (*env)->GetSuperclass(env, c);
            (*env)->DeleteLocalRef(env, c);
            c = super;
        }
    }
    (*env)->DeleteLocalRef(env, decl);
    return index >= 0 && index <= 0xffff ? index : -1;
}

/* Tags every loaded class of each rule's owner type with the rule and its
 * handle field index. Returns the classes
 * whose index is unknown (their owners are not seen: said in a note). */
static unsigned mark_owner_classes(jvmtiEnv *jvmti, JNIEnv *env)
{
    jint n = 0;
    jclass *classes = NULL;
    unsigned unknown = 0;
    if ((*jvmti)->GetLoadedClasses(jvmti, &n, &classes) != JVMTI_ERROR_NONE)
        return 0;
    for (int rule = 0; rule < nra_g.rules.count; rule++) {
        jclass owners[4];
        unsigned k = nra_instrument_owner_classes(env, rule, owners, 4);
        for (unsigned o = 0; o < k; o++) {
            for (jint i = 0; i < n; i++) {
                if (!(*env)->IsAssignableFrom(env, classes[i], owners[o]))
                    continue;
                jint index = handle_field_index(jvmti, env, classes[i], rule);
                if (index < 0) {
                    unknown++;
                    continue;
                }
                check_jvmti((*jvmti)->SetTag(jvmti, classes[i], TAG_OWNER_CLASS | ((jlong)index << 8) | rule),
                            "SetTag");
            }
            (*env)->DeleteLocalRef(env, owners[o]);
        }
    }
    for (jint i = 0; i < n; i++)
        (*env)->DeleteLocalRef(env, classes[i]);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
    return unknown;
}

/* ---- classification -------------------------------------------------------------------- */

struct by_handle {
    int64_t handle;
    int rule;
    size_t index;          /* in the snapshot */
};

static int cmp_by_handle(const void *pa, const void *pb)
{
    const struct by_handle *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->handle < b->handle ? -1 : a->handle > b->handle;
}

static int cmp_seen(const void *pa, const void *pb)
{
    const struct seen *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->handle < b->handle ? -1 : a->handle > b->handle;
}

/* Marks reached[i] for each snapshot record whose handle a reachable owner
 * held (a merge of two sorted lists). Handles no record of the snapshot
 * has were made after it. Returns the records matched, or -ENOMEM. */
static long match_reached(const struct nra_reg_snapshot *snap, struct walk *w, bool *reached)
{
    struct by_handle *recs = malloc((snap->n ? snap->n : 1) * sizeof(*recs));
    if (!recs)
        return -ENOMEM;
    for (size_t i = 0; i < snap->n; i++)
        recs[i] = (struct by_handle){.handle = snap->records[i].handle, .rule = snap->records[i].rule, .index = i};
    qsort(recs, snap->n, sizeof(*recs), cmp_by_handle);
    qsort(w->seen, w->n_seen, sizeof(*w->seen), cmp_seen);
    long matched = 0;
    for (size_t i = 0, j = 0; i < snap->n && j < w->n_seen;) {
        struct by_handle seen = {.handle = w->seen[j].handle, .rule = w->seen[j].rule};
        int c = cmp_by_handle(&recs[i], &seen);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            reached[recs[i].index] = true;
            matched++;
            i++;
        }
    }
    free(recs);
    return matched;
}

/* Whether the runtime class of each cached owner class slot has finalize(). */
struct finalizable {
    signed char by_slot[NRA_MAX_RULES][16];   /* 1 yes, 0 no, -1 unknown */
    bool any[NRA_MAX_RULES];
};

static void find_finalizable(jvmtiEnv *jvmti, JNIEnv *env, struct finalizable *f)
{
    memset(f->by_slot, -1, sizeof(f->by_slot));
    for (int rule = 0; rule < nra_g.rules.count && rule < NRA_MAX_RULES; rule++) {
        f->any[rule] = false;
        for (int slot = 0; slot < 16; slot++) {
            jclass cls = nra_instrument_runtime_class(env, rule, slot);
            if (!cls)
                continue;
            f->by_slot[rule][slot] = has_finalizer(jvmti, env, cls) ? 1 : 0;
            f->any[rule] |= f->by_slot[rule][slot] == 1;
            (*env)->DeleteLocalRef(env, cls);
        }
    }
}

/* While the Finalizer thread is busy, a finalize() that began less than
 * this long before the snapshot may still be freeing its handle. When the
 * thread is idle every finalize() that began has returned. */
#define FINALIZE_GRACE_NS 2000000000ull

struct classify {
    struct nra_report *r;
    const struct finalizable *fin;
    bool finalization_enabled;
    bool finalizer_idle;
    uint64_t snapshot_ns;
    uint64_t freed_meanwhile;  /* outstanding at the snapshot, freed by the time they were classified */
};

/* A leak is only called when the record is still outstanding after the
 * walk: one freed meanwhile was in use until its owner freed it. */
static bool still_outstanding(uint64_t id)
{
    struct nra_record_info now;
    return nra_reg_get(id, &now) == 0 && !(now.flags & NRA_REC_FREEING);
}

static bool owner_finalizable(const struct classify *k, const struct nra_record_info *rec)
{
    if (!k->finalization_enabled)
        return false;
    int slot = NRA_REC_CLASS(rec->flags);
    int known = slot >= 0 && slot < 16 ? k->fin->by_slot[rec->rule][slot] : -1;
    return known == 1 || (known == -1 && k->fin->any[rec->rule]);  /* unknown class: the careful answer */
}

/* One outstanding record of the snapshot, classified once (the rules are
 * written out in docs/design.md, "When a handle counts as a leak"). */
static void classify_record(struct classify *k, const struct nra_record_info *rec, bool reached)
{
    struct nra_report_counts *c = &k->r->rules[rec->rule].counts;
    if (!(rec->flags & NRA_REC_OWNER)) {
        c->orphans++;
    } else if ((rec->flags & NRA_REC_FREEING) || reached) {
        c->live++;
    } else if ((rec->flags & NRA_REC_FINALIZED) && !k->finalizer_idle &&
               rec->finalized_ns + FINALIZE_GRACE_NS > k->snapshot_ns) {
        c->pending_finalization++;   /* finalize() began moments ago: it may still free */
    } else if (!(rec->flags & NRA_REC_FINALIZED) && owner_finalizable(k, rec)) {
        c->pending_finalization++;   /* unreachable: only its Finalizer refers to it */
    } else if (!still_outstanding(rec->id)) {
        c->live++;
        k->freed_meanwhile++;
    } else if (rec->flags & NRA_REC_FINALIZED) {
        c->finalized_not_freed++;    /* finalize() ran and returned, the handle is not freed */
    } else {
        c->collected_not_freed++;    /* unreachable, no finalizer: collected, or garbage that can only be */
    }
}

static void classify_snapshot(struct nra_report *r, const struct nra_reg_snapshot *snap, const bool *reached,
                              const struct walk *w, const struct finalizable *fin)
{
    struct classify k = {.r = r, .fin = fin, .finalization_enabled = !r->finalizer.known || r->finalizer.enabled,
                         .finalizer_idle = r->finalizer.known && r->finalizer.idle, .snapshot_ns = snap->taken_ns};
    for (int i = 0; i < r->n_rules; i++) {
        struct nra_report_counts *c = &r->rules[i].counts;
        c->live = c->pending_finalization = c->finalized_not_freed = 0;
        c->collected_not_freed = c->orphans = 0;
    }
    for (size_t i = 0; i < snap->n; i++)
        if (snap->records[i].rule >= 0 && snap->records[i].rule < r->n_rules)
            classify_record(&k, &snap->records[i], reached[i]);
    /* Zombies: owners in the heap that are neither reachable nor waiting
     * for finalize(). Exact when no handle leaked (the leaked owners not
     * yet collected would count here too) and nothing was allocated since
     * the snapshot (new unreachable owners would). */
    for (int i = 0; i < r->n_rules && i < NRA_MAX_RULES && !w->zombies_skipped; i++) {
        struct nra_report_rule *rr = &r->rules[i];
        uint64_t unreachable = w->in_heap[i] > w->reached[i] ? w->in_heap[i] - w->reached[i] : 0;
        uint64_t pending = rr->counts.pending_finalization;
        rr->counts.zombies = unreachable > pending ? unreachable - pending : 0;
        rr->zombies_exact = rr->counts.finalized_not_freed + rr->counts.collected_not_freed == 0 &&
                            nra_reg_next_id() == snap->epoch;
    }
    if (k.freed_meanwhile)
        nra_report_add_note(r, "%llu handles outstanding at the snapshot were freed while the report ran: counted live",
                            (unsigned long long)k.freed_meanwhile);
}

static size_t outstanding_now(void)
{
    size_t n = 0;
    for (int i = 0; i < nra_g.rules.count && i < NRA_MAX_RULES; i++) {
        struct nra_rule_counts c;
        nra_reg_counts(i, &c);
        n += c.outstanding;
    }
    return n;
}

/* The walk, run again once with room for every reachable owner when the
 * first ran out (owners made between the snapshot and the pause, or a
 * library that keeps stale handles in freed owners). */
static int walk_with_room(jvmtiEnv *jvmti, JNIEnv *env, struct walk *w, bool must_count, double *extra_pause_ms)
{
    size_t cap = outstanding_now() + outstanding_now() / 4 + 4096;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        free(w->seen);
        memset(w, 0, sizeof(*w));
        if (!(w->seen = malloc(cap * sizeof(*w->seen))))
            return -ENOMEM;
        w->cap_seen = cap;
        rc = walk_heap(jvmti, env, w, must_count);
        if (rc != 0 || !w->seen_dropped)
            return rc;
        *extra_pause_ms += w->follow_ms + w->iterate_ms;
        cap = (w->n_seen + w->seen_dropped) * 2 + 4096;
    }
    return -ENOBUFS;   /* no classification rather than a false leak */
}

int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r, const struct nra_reg_snapshot *snap)
{
    jvmtiEnv *jvmti = nra_g.jvmti;
    if (!env || !nra_instrument_active())
        return -ENOTSUP;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct walk w = {0};
    struct finalizable fin;
    double extra_pause_ms = 0;
    bool *reached = calloc(snap->n ? snap->n : 1, sizeof(*reached));
    int rc = reached ? 0 : -ENOMEM;
    unsigned unknown_index = 0;
    if (rc == 0) {
        unknown_index = mark_owner_classes(jvmti, env);
        find_finalizable(jvmti, env, &fin);
        rc = mark_reference_classes(jvmti, env);
    }
    if (rc == 0)
        rc = walk_with_room(jvmti, env, &w, strcmp(r->trigger, "exit") == 0, &extra_pause_ms);
    long matched = rc == 0 ? match_reached(snap, &w, reached) : 0;
    if (matched < 0)
        rc = (int)matched;
    /* Reachable owners held handles, yet none is the snapshot's while it
     * lists some: the handle field was misread; better no classes than false leaks. */
    if (rc == 0 && matched == 0 && w.n_seen > 64 && snap->n > 64)
        rc = -EPROTO;
    if (rc == 0) {
        classify_snapshot(r, snap, reached, &w, &fin);
        r->reachability_done = true;
        r->reachability_ms = ms_since(&t0);
        r->reachability_pause_ms = extra_pause_ms + w.follow_ms + w.iterate_ms;
        r->reachability_follow_ms = w.follow_ms;
        r->reachability_iterate_ms = w.iterate_ms;
        for (int i = 0; i < NRA_MAX_RULES; i++)
            r->owners_in_heap += w.in_heap[i];
        r->zombies_counted = !w.zombies_skipped;
        if (w.zombies_skipped)
            nra_report_add_note(r, "zombies not counted: iterating the heap would have paused the JVM about %.0f ms "
                                   "(budget %.0f ms); the exit report counts them",
                                w.iterate_predicted_ms, ITERATE_BUDGET_MS);
        if (unknown_index)
            nra_report_add_note(r, "%u owner classes have no readable handle field: their owners are not seen",
                                unknown_index);
    }
    free(w.seen);
    free(reached);
    return rc;
}
