/* heapwalk.c — see include/heapwalk.h.
 *
 * Strong reachability is FollowReferences from the roots with one edge
 * pruned: Reference.referent. HotSpot reports the referent as an ordinary
 * FIELD reference, so without pruning every finalizable owner would look
 * reachable through its java.lang.ref.Finalizer (Finalizer.unfinalized
 * reaches them all). Reference subclasses are marked with class tags that
 * carry the referent's JVMTI field index; the callback returns 0 for that
 * edge (do not follow) and remembers what it pointed to.
 *
 * A second pass, IterateThroughHeap over tagged objects only, finds every
 * owner still in the heap — reachable or not yet collected.
 *
 * Field index (JVMTI spec, jvmtiHeapReferenceInfoField): fields of the
 * superinterfaces come first, then those of the superclasses from the top,
 * then the class's own. Reference has no superinterfaces, so the referent's
 * index is the count of fields in the class's interfaces plus its position
 * among Reference's declared fields.
 */
#include "heapwalk.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "agent_state.h"
#include "idset.h"
#include "instrument.h"
#include "log.h"
#include "registry.h"

#define REF_INDEX_MASK 0xffffll
#define REF_FINALIZER_BIT ((jlong)1 << 20)

struct walk {
    struct nra_idset reached;      /* owner tags strongly reachable */
    struct nra_idset finalizable;  /* owner tags a Finalizer refers to */
    struct nra_idset in_heap;      /* owner tags still in the heap */
};

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
            jlong tag = NRA_TAG_CLASS_MARK | (index & REF_INDEX_MASK);
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
    (void)class_tag;
    (void)size;
    (void)referrer_tag_ptr;
    (void)length;
    struct walk *w = user_data;
    jlong tag = *tag_ptr;
    if (kind == JVMTI_HEAP_REFERENCE_FIELD && referrer_class_tag >= NRA_TAG_CLASS_MARK &&
        info->field.index == (jint)(referrer_class_tag & REF_INDEX_MASK)) {
        if (nra_tag_is_owner(tag) && (referrer_class_tag & REF_FINALIZER_BIT))
            nra_idset_add(&w->finalizable, (uint64_t)tag);
        return 0;  /* a referent is not a strong reference */
    }
    if (nra_tag_is_owner(tag))
        nra_idset_add(&w->reached, (uint64_t)tag);
    return JVMTI_VISIT_OBJECTS;
}

static jint JNICALL on_tagged_object(jlong class_tag, jlong size, jlong *tag_ptr, jint length, void *user_data)
{
    (void)class_tag;
    (void)size;
    (void)length;
    struct walk *w = user_data;
    if (nra_tag_is_owner(*tag_ptr))
        nra_idset_add(&w->in_heap, (uint64_t)*tag_ptr);
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
    cb.heap_iteration_callback = on_tagged_object;
    err = (*jvmti)->IterateThroughHeap(jvmti, JVMTI_HEAP_FILTER_UNTAGGED, NULL, &cb, w);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "IterateThroughHeap failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
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
    uint64_t tag = (uint64_t)nra_owner_tag(rec->rule, rec->id);
    if (!(rec->flags & NRA_REC_OWNER))
        c->orphans++;
    else if (rec->flags & NRA_REC_FINALIZED)
        c->finalized_not_freed++;
    else if (rec->flags & NRA_REC_COLLECTED)
        c->collected_not_freed++;
    else if (nra_idset_has(&k->w->reached, tag))
        c->live++;
    else if (nra_idset_has(&k->w->finalizable, tag))
        c->pending_finalization++;
    else {
        /* Unreachable with no Finalizer: garbage GC has not taken yet, or
         * already taken with its ObjectFree event still queued. */
        c->collected_not_freed++;
        if (nra_idset_has(&k->w->in_heap, tag))
            k->garbage++;
    }
}

/* Zombies: owners still in the heap, not strongly reachable, whose handle
 * was freed (their record retired). */
static void count_zombies(struct walk *w, struct nra_report *r)
{
    uint64_t next = nra_reg_next_id();
    for (size_t i = 0; i < w->in_heap.cap; i++) {
        uint64_t tag = w->in_heap.slots[i];
        if (!tag || nra_idset_has(&w->reached, tag))
            continue;
        int rule = nra_tag_rule((jlong)tag);
        uint64_t id = nra_tag_id((jlong)tag);
        struct nra_record_info rec;
        if (rule < r->n_rules && id < next && nra_reg_get(id, &rec) != 0)
            r->rules[rule].counts.zombies++;
    }
}

int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r)
{
    jvmtiEnv *jvmti = nra_g.jvmti;
    if (!env || !nra_instrument_active())
        return -ENOTSUP;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct walk w;
    memset(&w, 0, sizeof(w));
    int rc = mark_reference_classes(jvmti, env);
    if (rc == 0)
        rc = walk_heap(jvmti, &w);
    if (rc == 0 && (w.reached.oom || w.finalizable.oom || w.in_heap.oom))
        rc = -ENOMEM;
    if (rc == 0) {
        struct classify k = {.w = &w, .r = r};
        for (int i = 0; i < r->n_rules; i++) {
            struct nra_report_counts *c = &r->rules[i].counts;
            c->live = c->pending_finalization = c->finalized_not_freed = 0;
            c->collected_not_freed = c->orphans = c->zombies = 0;
        }
        nra_reg_for_each(classify_record, &k);
        count_zombies(&w, r);
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
