/* heapwalk.c — see include/heapwalk.h.
 *
 * Owners are not tagged while the application runs (SetTag on every owner
 * cost more than the rest of the agent's per-owner work). A report finds
 * them itself:
 *
 *  1. class tags: every loaded subclass of java.lang.ref.Reference gets a tag
 *     carrying the JVMTI field index of `referent`; every class of a rule's
 *     owner type gets a tag naming the rule;
 *  2. FollowReferences from the roots, pruning Reference.referent (HotSpot
 *     reports it as an ordinary FIELD reference: without pruning every
 *     finalizable owner would look reachable through its
 *     java.lang.ref.Finalizer). An owner met on a followed edge is tagged
 *     REACHED; one met as the referent of a Finalizer, FINALIZABLE;
 *  3. IterateThroughHeap over objects of tagged classes tags every owner
 *     still in the heap IN_HEAP, reachable or not;
 *  4. GetObjectsWithTags hands the tagged owners back as JNI references: each
 *     one's handle field names its record. The tags are cleared again.
 *
 * Owner tags carry a walk generation, so a tag left behind by an
 * interrupted walk is never read as this walk's.
 *
 * Field index (JVMTI spec, jvmtiHeapReferenceInfoField): fields of the
 * superinterfaces come first, then those of the superclasses from the top,
 * then the class's own. Reference has no superinterfaces, so the referent's
 * index is the count of fields in the class's interfaces plus its position
 * among Reference's declared fields.
 */
#include "heapwalk.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "agent_state.h"
#include "idset.h"
#include "instrument.h"
#include "log.h"
#include "registry.h"

/* Class tags. */
#define TAG_REF_CLASS ((jlong)1 << 62)     /* | referent index | finalizer bit */
#define TAG_OWNER_CLASS ((jlong)1 << 61)   /* | rule */
#define REF_INDEX_MASK 0xffffll
#define REF_FINALIZER_BIT ((jlong)1 << 20)
/* Owner object tags, during one report: mark | generation << 16 | rule << 8 | state. */
#define TAG_OWNER ((jlong)1 << 59)
#define OWNER_REACHED 1
#define OWNER_FINALIZABLE 2
#define OWNER_IN_HEAP 4

struct walk {
    jlong generation;              /* this walk's, shifted into place */
    struct nra_idset reached;      /* record ids: owner strongly reachable */
    struct nra_idset finalizable;  /* record ids: a Finalizer refers to the owner */
    struct nra_idset in_heap;      /* record ids: owner still in the heap */
    uint64_t zombies[NRA_MAX_RULES];
};

static jlong owner_tag(const struct walk *w, jlong class_tag, jlong old, int state)
{
    jlong base = TAG_OWNER | w->generation | ((class_tag & 0xff) << 8);
    jlong kept = (old & ~(jlong)0xff) == base ? (old & 0xff) : 0;  /* this walk's state only */
    return base | kept | state;
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
                tag |= REF_FINALIZER_BIT;
            (*jvmti)->SetTag(jvmti, classes[i], tag);
        }
        (*env)->DeleteLocalRef(env, classes[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
    (*env)->DeleteLocalRef(env, reference);
    return 0;
}

/* ---- the walks ----------------------------------------------------------------------- */

static jint JNICALL on_reference(jvmtiHeapReferenceKind kind, const jvmtiHeapReferenceInfo *info,
                                 jlong class_tag, jlong referrer_class_tag, jlong size, jlong *tag_ptr,
                                 jlong *referrer_tag_ptr, jint length, void *user_data)
{
    (void)size;
    (void)referrer_tag_ptr;
    (void)length;
    struct walk *w = user_data;
    bool owner = (class_tag & TAG_OWNER_CLASS) && !(class_tag & TAG_REF_CLASS);
    if (kind == JVMTI_HEAP_REFERENCE_FIELD && (referrer_class_tag & TAG_REF_CLASS) &&
        info->field.index == (jint)(referrer_class_tag & REF_INDEX_MASK)) {
        if (owner && (referrer_class_tag & REF_FINALIZER_BIT))
            *tag_ptr = owner_tag(w, class_tag, *tag_ptr, OWNER_FINALIZABLE);
        return 0;  /* a referent is not a strong reference */
    }
    if (owner)
        *tag_ptr = owner_tag(w, class_tag, *tag_ptr, OWNER_REACHED);
    return JVMTI_VISIT_OBJECTS;
}

static jint JNICALL on_owner_object(jlong class_tag, jlong size, jlong *tag_ptr, jint length, void *user_data)
{
    (void)size;
    (void)length;
    if ((class_tag & TAG_OWNER_CLASS) && !(class_tag & TAG_REF_CLASS))
        *tag_ptr = owner_tag(user_data, class_tag, *tag_ptr, OWNER_IN_HEAP);
    return 0;
}

static int walk_heap(jvmtiEnv *jvmti, struct walk *w)
{
    jvmtiHeapCallbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.heap_reference_callback = on_reference;
    jvmtiError err = (*jvmti)->FollowReferences(jvmti, 0, NULL, NULL, &cb, w);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "FollowReferences failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    memset(&cb, 0, sizeof(cb));
    cb.heap_iteration_callback = on_owner_object;
    err = (*jvmti)->IterateThroughHeap(jvmti, JVMTI_HEAP_FILTER_CLASS_UNTAGGED, NULL, &cb, w);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "IterateThroughHeap failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    return 0;
}

/* ---- owners: tagged objects back to records ------------------------------------------ */

/* Tags every loaded class of each rule's owner type with the rule. */
static void mark_owner_classes(jvmtiEnv *jvmti, JNIEnv *env)
{
    jint n = 0;
    jclass *classes = NULL;
    if ((*jvmti)->GetLoadedClasses(jvmti, &n, &classes) != JVMTI_ERROR_NONE)
        return;
    for (int rule = 0; rule < nra_g.rules.count; rule++) {
        jclass owners[4];
        unsigned k = nra_instrument_owner_classes(env, rule, owners, 4);
        for (unsigned o = 0; o < k; o++) {
            for (jint i = 0; i < n; i++)
                if ((*env)->IsAssignableFrom(env, classes[i], owners[o]))
                    (*jvmti)->SetTag(jvmti, classes[i], TAG_OWNER_CLASS | rule);
            (*env)->DeleteLocalRef(env, owners[o]);
        }
    }
    for (jint i = 0; i < n; i++)
        (*env)->DeleteLocalRef(env, classes[i]);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
}

/* One tagged owner: its handle names its record (or none: freed). */
static void collect_owner(JNIEnv *env, struct walk *w, jobject obj, jlong tag)
{
    int rule = (int)((tag >> 8) & 0xff);
    int state = (int)(tag & 0xff);
    if (rule >= nra_g.rules.count)
        return;
    jclass cls = (*env)->GetObjectClass(env, obj);
    jfieldID f = cls ? nra_instrument_handle_field(env, cls, rule) : NULL;
    jlong handle = f ? (*env)->GetLongField(env, obj, f) : 0;
    if (cls)
        (*env)->DeleteLocalRef(env, cls);
    struct nra_record_info rec;
    uint64_t id = handle ? nra_reg_lookup_handle(rule, handle, &rec) : 0;
    if (id == 0) {
        /* handle freed (netty zeroes it) or retired: a zombie unless reachable */
        if (!(state & OWNER_REACHED))
            w->zombies[rule]++;
        return;
    }
    nra_idset_add(&w->in_heap, id);
    if (state & OWNER_REACHED)
        nra_idset_add(&w->reached, id);
    if (state & OWNER_FINALIZABLE)
        nra_idset_add(&w->finalizable, id);
}

static int collect_owners(jvmtiEnv *jvmti, JNIEnv *env, struct walk *w)
{
    jlong tags[NRA_MAX_RULES * 4];
    jint n_tags = 0;
    for (int rule = 0; rule < nra_g.rules.count; rule++)
        for (int state = 0; state < 4; state++)
            tags[n_tags++] = TAG_OWNER | w->generation | ((jlong)rule << 8) | OWNER_IN_HEAP | state;
    jint count = 0;
    jobject *objects = NULL;
    jlong *found = NULL;
    jvmtiError err = (*jvmti)->GetObjectsWithTags(jvmti, n_tags, tags, &count, &objects, &found);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "GetObjectsWithTags failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    for (jint i = 0; i < count; i++) {
        collect_owner(env, w, objects[i], found[i]);
        (*jvmti)->SetTag(jvmti, objects[i], 0);
        (*env)->DeleteLocalRef(env, objects[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)objects);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)found);
    return 0;
}

/* ---- classification -------------------------------------------------------------------- */

struct classify {
    struct walk *w;
    struct nra_report *r;
    uint64_t garbage;     /* unreachable, no Finalizer, not yet collected */
};

static void classify_record(const struct nra_record_info *rec, void *arg)
{
    struct classify *k = arg;
    if (rec->rule < 0 || rec->rule >= k->r->n_rules)
        return;
    struct nra_report_counts *c = &k->r->rules[rec->rule].counts;
    if (!(rec->flags & NRA_REC_OWNER))
        c->orphans++;
    else if (rec->flags & NRA_REC_FINALIZED)
        c->finalized_not_freed++;
    else if (nra_idset_has(&k->w->reached, rec->id))
        c->live++;
    else if (nra_idset_has(&k->w->finalizable, rec->id))
        c->pending_finalization++;
    else {
        /* Not in the heap: collected. In the heap but unreachable with no
         * Finalizer: garbage GC has not taken yet, it can only be collected. */
        c->collected_not_freed++;
        if (nra_idset_has(&k->w->in_heap, rec->id))
            k->garbage++;
    }
}

int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r)
{
    static unsigned generation;
    jvmtiEnv *jvmti = nra_g.jvmti;
    if (!env || !nra_instrument_active())
        return -ENOTSUP;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct walk w;
    memset(&w, 0, sizeof(w));
    w.generation = (jlong)(++generation & 0xff) << 16;
    mark_owner_classes(jvmti, env);
    int rc = mark_reference_classes(jvmti, env);
    if (rc == 0)
        rc = walk_heap(jvmti, &w);
    if (rc == 0)
        rc = collect_owners(jvmti, env, &w);
    if (rc == 0 && (w.reached.oom || w.finalizable.oom || w.in_heap.oom))
        rc = -ENOMEM;
    if (rc == 0) {
        struct classify k = {.w = &w, .r = r};
        for (int i = 0; i < r->n_rules; i++) {
            struct nra_report_counts *c = &r->rules[i].counts;
            c->live = c->pending_finalization = c->finalized_not_freed = 0;
            c->collected_not_freed = c->orphans = 0;
            c->zombies = i < NRA_MAX_RULES ? w.zombies[i] : 0;
        }
        nra_reg_for_each(classify_record, &k);
        r->reachability_done = true;
        r->reachability_ms = ms_since(&t0);
        if (k.garbage)
            nra_report_add_note(r, "%llu owners are unreachable and not yet collected; counted as collected_not_freed",
                                (unsigned long long)k.garbage);
    }
    nra_idset_free(&w.reached);
    nra_idset_free(&w.finalizable);
    nra_idset_free(&w.in_heap);
    return rc;
}
