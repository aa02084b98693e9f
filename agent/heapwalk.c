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
 *     reference). Only an owner met on a followed edge is tagged (REACHED):
 *     the work grows with the owners the application holds, never with the
 *     freed owners that wait for GC (zombies);
 *  3. IterateThroughHeap (stop-the-world) over objects of tagged classes,
 *     with a primitive-field callback alone: for each owner in the heap it
 *     reads the handle field and the REACHED tag, clears the tag, and either
 *     counts a zombie (handle 0, not reached: netty zeroes the field when it
 *     frees) or keeps (handle, rule, reached) in a vector sized before the
 *     walk from the snapshot;
 *  4. after the pause, the kept handles are matched to the snapshot's
 *     records and each record is classified once (docs/design.md says
 *     exactly when a record counts as a leak).
 *
 * Owner tags carry a walk generation, so a tag left behind by an
 * interrupted walk is never read as this walk's.
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

/* Class tags. */
#define TAG_REF_CLASS ((jlong)1 << 62)     /* | referent index */
#define TAG_OWNER_CLASS ((jlong)1 << 61)   /* | finalizable | handle index << 8 | rule */
#define REF_INDEX_MASK 0xffffll
#define OWNER_FINALIZABLE_CLASS ((jlong)1 << 40)
#define OWNER_RULE(tag) ((int)((tag) & 0xff))
#define OWNER_HANDLE_INDEX(tag) ((jint)(((tag) >> 8) & 0xffff))
/* Owner object tags, during one report: mark | generation << 16 | REACHED. */
#define TAG_OWNER ((jlong)1 << 59)
#define OWNER_REACHED 1

/* An owner in the heap holding a handle, as the walk saw it. */
struct seen {
    int64_t handle;
    int rule;
    uint8_t what;          /* SEEN_* */
};

/* What the walk saw of an owner (and so of its handle's record). */
enum { SEEN_IN_HEAP = 1, SEEN_REACHED = 2, SEEN_FINALIZABLE_CLASS = 4 };

struct walk {
    jlong generation;              /* this walk's, shifted into place */
    struct seen *seen;             /* sized before the walk: no allocation in callbacks */
    size_t n_seen, cap_seen;
    uint64_t seen_dropped;         /* more owners with handles than the vector holds */
    uint64_t zombies[NRA_MAX_RULES];
    uint64_t owners_in_heap;
    double follow_ms, iterate_ms;
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

static jlong reached_tag(const struct walk *w)
{
    return TAG_OWNER | w->generation | OWNER_REACHED;
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
            check_jvmti((*jvmti)->SetTag(jvmti, classes[i], TAG_REF_CLASS | (index & REF_INDEX_MASK)), "SetTag");
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
    if (kind == JVMTI_HEAP_REFERENCE_FIELD && (referrer_class_tag & TAG_REF_CLASS) &&
        info->field.index == (jint)(referrer_class_tag & REF_INDEX_MASK))
        return 0;  /* a referent is not a strong reference */
    if (is_owner_class_tag(class_tag))
        *tag_ptr = reached_tag(w);
    return JVMTI_VISIT_OBJECTS;
}

/* Called for every primitive field of every object of a tagged class; acts
 * on an owner's handle field only. Runs inside the pause: a few compares
 * and a store, no allocation, no lock. */
static jint JNICALL on_primitive_field(jvmtiHeapReferenceKind kind, const jvmtiHeapReferenceInfo *info,
                                       jlong class_tag, jlong *tag_ptr, jvalue value,
                                       jvmtiPrimitiveType type, void *user_data)
{
    if (kind != JVMTI_HEAP_REFERENCE_FIELD || !is_owner_class_tag(class_tag) ||
        info->field.index != OWNER_HANDLE_INDEX(class_tag) || type != JVMTI_PRIMITIVE_TYPE_LONG)
        return 0;
    struct walk *w = user_data;
    bool reached = *tag_ptr == reached_tag(w);
    *tag_ptr = 0;
    int rule = OWNER_RULE(class_tag);
    w->owners_in_heap++;
    if (value.j == 0) {
        if (!reached && rule < NRA_MAX_RULES)
            w->zombies[rule]++;
    } else if (w->n_seen < w->cap_seen) {
        uint8_t what = SEEN_IN_HEAP | (reached ? SEEN_REACHED : 0) |
                       ((class_tag & OWNER_FINALIZABLE_CLASS) ? SEEN_FINALIZABLE_CLASS : 0);
        w->seen[w->n_seen++] = (struct seen){.handle = value.j, .rule = rule, .what = what};
    } else {
        w->seen_dropped++;
    }
    return 0;
}

static int walk_heap(jvmtiEnv *jvmti, struct walk *w)
{
    struct timespec t0;
    jvmtiHeapCallbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.heap_reference_callback = on_reference;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    jvmtiError err = (*jvmti)->FollowReferences(jvmti, 0, NULL, NULL, &cb, w);
    w->follow_ms = ms_since(&t0);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "FollowReferences failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    memset(&cb, 0, sizeof(cb));
    cb.primitive_field_callback = on_primitive_field;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = (*jvmti)->IterateThroughHeap(jvmti, JVMTI_HEAP_FILTER_CLASS_UNTAGGED, NULL, &cb, w);
    w->iterate_ms = ms_since(&t0);
    if (err != JVMTI_ERROR_NONE) {
        nra_log(NRA_LOG_INFO, "IterateThroughHeap failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    return 0;
}

/* Owners the iteration did not visit keep their REACHED tag: only possible
 * when a handle field index was wrong. Clears them; returns how many. */
static jint clear_leftover_tags(jvmtiEnv *jvmti, JNIEnv *env, const struct walk *w)
{
    jlong tag = reached_tag(w);
    jint count = 0;
    jobject *objects = NULL;
    if ((*jvmti)->GetObjectsWithTags(jvmti, 1, &tag, &count, &objects, NULL) != JVMTI_ERROR_NONE)
        return 0;
    for (jint i = 0; i < count; i++) {
        check_jvmti((*jvmti)->SetTag(jvmti, objects[i], 0), "SetTag");
        (*env)->DeleteLocalRef(env, objects[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)objects);
    return count;
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

/* Tags every loaded class of each rule's owner type with the rule, its
 * handle field index and whether it is finalizable. Returns the classes
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
                jlong tag = TAG_OWNER_CLASS | ((jlong)index << 8) | rule;
                if (has_finalizer(jvmti, env, classes[i]))
                    tag |= OWNER_FINALIZABLE_CLASS;
                check_jvmti((*jvmti)->SetTag(jvmti, classes[i], tag), "SetTag");
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
    size_t index;          /* snapshot records: index; owners: their SEEN_* bits */
};

static int cmp_by_handle(const void *pa, const void *pb)
{
    const struct by_handle *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    return a->handle < b->handle ? -1 : a->handle > b->handle;
}

/* Marks, per snapshot record, what the walk saw of owners holding its
 * handle (a merge of two sorted lists: no lookup per owner). Owners whose
 * handle no snapshot record has belong to handles made after it. */
static int match_seen(const struct nra_reg_snapshot *snap, struct walk *w, uint8_t *seen)
{
    struct by_handle *recs = malloc((snap->n ? snap->n : 1) * sizeof(*recs));
    struct by_handle *owners = malloc((w->n_seen ? w->n_seen : 1) * sizeof(*owners));
    if (!recs || !owners) {
        free(recs);
        free(owners);
        return -ENOMEM;
    }
    for (size_t i = 0; i < snap->n; i++)
        recs[i] = (struct by_handle){.handle = snap->records[i].handle, .rule = snap->records[i].rule, .index = i};
    for (size_t i = 0; i < w->n_seen; i++)
        owners[i] = (struct by_handle){.handle = w->seen[i].handle, .rule = w->seen[i].rule,
                                       .index = w->seen[i].what};
    qsort(recs, snap->n, sizeof(*recs), cmp_by_handle);
    qsort(owners, w->n_seen, sizeof(*owners), cmp_by_handle);
    for (size_t i = 0, j = 0; i < snap->n && j < w->n_seen;) {
        int c = cmp_by_handle(&recs[i], &owners[j]);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            seen[recs[i].index] |= (uint8_t)owners[j].index;
            j++;
        }
    }
    free(recs);
    free(owners);
    return 0;
}

struct classify {
    struct nra_report *r;
    bool finalization_enabled;
    uint64_t garbage;          /* unreachable, no finalizer, not yet collected */
    uint64_t freed_meanwhile;  /* outstanding at the snapshot, freed by the time they were classified */
};

/* A leak is only called when the record is still outstanding after the
 * walk: one freed meanwhile was in use until its owner freed it. */
static bool still_outstanding(uint64_t id)
{
    struct nra_record_info now;
    return nra_reg_get(id, &now) == 0 && !(now.flags & NRA_REC_FREEING);
}

/* One outstanding record of the snapshot, classified once (the rules are
 * written out in docs/design.md, "When a handle counts as a leak"). */
static void classify_record(struct classify *k, const struct nra_record_info *rec, uint8_t seen)
{
    struct nra_report_counts *c = &k->r->rules[rec->rule].counts;
    if (!(rec->flags & NRA_REC_OWNER)) {
        c->orphans++;
    } else if ((rec->flags & NRA_REC_FREEING) || (seen & SEEN_REACHED)) {
        c->live++;
    } else if ((seen & SEEN_IN_HEAP) && (rec->flags & NRA_REC_FINALIZED)) {
        c->pending_finalization++;   /* finalize() began, the owner is not collected yet */
    } else if ((seen & SEEN_IN_HEAP) && (seen & SEEN_FINALIZABLE_CLASS) && k->finalization_enabled) {
        c->pending_finalization++;
    } else if (!still_outstanding(rec->id)) {
        c->live++;
        k->freed_meanwhile++;
    } else if (rec->flags & NRA_REC_FINALIZED) {
        c->finalized_not_freed++;    /* finalize() ran, the owner is gone, the handle is not freed */
    } else {
        /* Not in the heap: collected. In the heap, unreachable, with no
         * finalizer: garbage GC has not taken yet; it can only be collected. */
        c->collected_not_freed++;
        if (seen & SEEN_IN_HEAP)
            k->garbage++;
    }
}

static void classify_snapshot(struct nra_report *r, const struct nra_reg_snapshot *snap, const uint8_t *seen,
                              const struct walk *w)
{
    struct classify k = {.r = r, .finalization_enabled = !r->finalizer.known || r->finalizer.enabled};
    for (int i = 0; i < r->n_rules; i++) {
        struct nra_report_counts *c = &r->rules[i].counts;
        c->live = c->pending_finalization = c->finalized_not_freed = 0;
        c->collected_not_freed = c->orphans = 0;
        c->zombies = i < NRA_MAX_RULES ? w->zombies[i] : 0;
    }
    for (size_t i = 0; i < snap->n; i++)
        if (snap->records[i].rule >= 0 && snap->records[i].rule < r->n_rules)
            classify_record(&k, &snap->records[i], seen[i]);
    if (k.garbage)
        nra_report_add_note(r, "%llu owners are unreachable and not yet collected; counted as collected_not_freed",
                            (unsigned long long)k.garbage);
    if (k.freed_meanwhile)
        nra_report_add_note(r, "%llu handles outstanding at the snapshot were freed while the report ran: counted live",
                            (unsigned long long)k.freed_meanwhile);
}

int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r, const struct nra_reg_snapshot *snap)
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
    /* Owners with handles: those of the snapshot, and room for handles made
     * since (their owners are seen but belong to no snapshot record). */
    w.cap_seen = snap->n + snap->n / 4 + 4096;
    w.seen = malloc(w.cap_seen * sizeof(*w.seen));
    uint8_t *seen = calloc(snap->n ? snap->n : 1, 1);
    int rc = w.seen && seen ? 0 : -ENOMEM;
    unsigned unknown_index = 0;
    if (rc == 0) {
        unknown_index = mark_owner_classes(jvmti, env);
        rc = mark_reference_classes(jvmti, env);
    }
    if (rc == 0)
        rc = walk_heap(jvmti, &w);
    if (rc == 0 && clear_leftover_tags(jvmti, env, &w) > 0)
        rc = -EPROTO;   /* a handle field index was wrong: the counts would lie */
    if (rc == 0 && w.seen_dropped)
        rc = -ENOBUFS;  /* unseen owners would read as collected: no classification rather than a false leak */
    if (rc == 0)
        rc = match_seen(snap, &w, seen);
    if (rc == 0) {
        classify_snapshot(r, snap, seen, &w);
        r->reachability_done = true;
        r->reachability_ms = ms_since(&t0);
        r->reachability_pause_ms = w.follow_ms + w.iterate_ms;
        r->reachability_follow_ms = w.follow_ms;
        r->reachability_iterate_ms = w.iterate_ms;
        r->owners_in_heap = w.owners_in_heap;
        if (unknown_index)
            nra_report_add_note(r, "%u owner classes have no readable handle field: their owners are not seen",
                                unknown_index);
    }
    free(w.seen);
    free(seen);
    return rc;
}
