/* sampler.c — see include/sampler.h. */
#include "sampler.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_state.h"
#include "alloc.h"
#include "finalizer_state.h"
#include "log.h"
#include "natives.h"
#include "stacks.h"
#include "registry.h"

struct residue_walk {
    struct nra_sample *s;
    const struct nra_reg_snapshot *snap;
    int8_t *rule_of_stack;   /* by native stack id: rule + 2 (1: no rule), 0 = not looked up */
};

/* The rule of an attributed allocation whose record retired is known from
 * the slot tag at the end of its native stack. */
static int rule_of(struct residue_walk *rw, uint32_t stack)
{
    if (stack > nra_g.opts.max_stacks)
        return -1;
    if (rw->rule_of_stack[stack] == 0) {
        int slot = nra_alloc_stack_slot(stack);
        int rule = slot >= 0 ? nra_natives_slot_rule((unsigned)slot) : -1;
        rw->rule_of_stack[stack] = (int8_t)(rule + 2);
    }
    return rw->rule_of_stack[stack] - 2;
}

static void add_residue(const struct nra_alloc_info *a, void *arg)
{
    struct residue_walk *rw = arg;
    /* residue: the record was freed before the snapshot (as in reports) */
    if (a->record_id >= rw->snap->epoch || nra_reg_snapshot_find(rw->snap, a->record_id) ||
        nra_reg_snapshot_in_flight(rw->snap, a->record_id))
        return;
    int rule = rule_of(rw, a->native_stack);
    if (rule >= 0 && rule < NRA_MAX_RULES) {
        rw->s->rule[rule].residue_bytes += a->size * a->weight;
        rw->s->rule[rule].residue_allocations += a->weight;
    }
}

int64_t nra_java_heap_used(JNIEnv *env)
{
    jclass rt = (*env)->FindClass(env, "java/lang/Runtime");
    if (!rt) {
        (*env)->ExceptionClear(env);
        return -1;
    }
    int64_t used = -1;
    jmethodID get = (*env)->GetStaticMethodID(env, rt, "getRuntime", "()Ljava/lang/Runtime;");
    jmethodID total = (*env)->GetMethodID(env, rt, "totalMemory", "()J");
    jmethodID free_mem = (*env)->GetMethodID(env, rt, "freeMemory", "()J");
    jobject runtime = get ? (*env)->CallStaticObjectMethod(env, rt, get) : NULL;
    if (runtime && total && free_mem && !(*env)->ExceptionCheck(env))
        used = (*env)->CallLongMethod(env, runtime, total) - (*env)->CallLongMethod(env, runtime, free_mem);
    if ((*env)->ExceptionCheck(env)) {
        (*env)->ExceptionClear(env);
        used = -1;
    }
    if (runtime)
        (*env)->DeleteLocalRef(env, runtime);
    (*env)->DeleteLocalRef(env, rt);
    return used;
}

void nra_sampler_take(JNIEnv *env, struct nra_sample *s)
{
    memset(s, 0, sizeof(*s));
    s->timestamp_ms = nra_now_ns() / 1000000ull;
    s->uptime_ms = s->timestamp_ms > nra_g.start_ms ? s->timestamp_ms - nra_g.start_ms : 0;
    s->n_rules = nra_g.rules.count;
    struct nra_reg_snapshot snap;
    if (nra_reg_snapshot(&snap) == 0) {
        for (int i = 0; i < s->n_rules && i < NRA_MAX_RULES; i++) {
            s->rule[i].allocated = snap.counts[i].allocated;
            s->rule[i].freed = snap.counts[i].freed;
            s->rule[i].outstanding = snap.counts[i].outstanding;
        }
        for (size_t k = 0; k < snap.n; k++)
            if (snap.records[k].rule >= 0 && snap.records[k].rule < NRA_MAX_RULES &&
                (snap.records[k].flags & NRA_REC_FINALIZED))
                s->rule[snap.records[k].rule].finalized_not_freed++;
        /* the residue walk reads the table under stripe locks: the lookup
         * table by stack is made before it */
        struct residue_walk rw = {.s = s, .snap = &snap,
                                  .rule_of_stack = calloc((size_t)nra_g.opts.max_stacks + 1, 1)};
        if (rw.rule_of_stack)
            nra_alloc_for_each(add_residue, &rw);
        free(rw.rule_of_stack);
        nra_reg_snapshot_free(&snap);
    }
    s->rss_bytes = nra_series_rss();
    s->heap_used_bytes = env ? nra_java_heap_used(env) : -1;
    s->finalizer_queue = env ? nra_finalizer_queue_length(env) : -1;
}

/* ---- the thread ------------------------------------------------------------------ */

static struct {
    FILE *file;
    char path[NRA_PATH_MAX];
    uint64_t written;
    unsigned rotations;
} out;

static void open_series_file(void)
{
    if (nra_options_path_with_ext(&nra_g.opts, ".jsonl", (long)getpid(), nra_g.start_ms, 0, out.path,
                                  sizeof(out.path)) != 0) {
        nra_log_error("interval: cannot form the time-series path from file=%s", nra_g.opts.file);
        return;
    }
    out.file = fopen(out.path, "ae");
    if (!out.file)
        nra_log_error("interval: cannot open %s: %s", out.path, strerror(errno));
    else
        nra_log(NRA_LOG_INFO, "time series (every %u s) appended to %s", nra_g.opts.interval, out.path);
}

/* Past series_max_kb the file becomes <path>.1 (one previous file kept)
 * and the new file starts with a line that says so. */
static void rotate_if_full(void)
{
    if (out.written < (uint64_t)nra_g.opts.series_max_kb << 10)
        return;
    char old[NRA_PATH_MAX + 4];
    snprintf(old, sizeof(old), "%s.1", out.path);
    fclose(out.file);
    rename(out.path, old);
    out.file = fopen(out.path, "we");
    out.written = 0;
    out.rotations++;
    if (out.file)
        fprintf(out.file, "{\"schema\":\"nraudit/series-v1\",\"event\":\"rotated\",\"limit_kb\":%u,"
                          "\"rotations\":%u,\"previous\":\"%s.1\"}\n",
                nra_g.opts.series_max_kb, out.rotations, out.path);
}

static void write_sample(const struct nra_sample *s)
{
    if (!out.file)
        return;
    long before = ftell(out.file);
    nra_series_write_line(s, &nra_g.rules, out.file);
    fflush(out.file);
    long after = ftell(out.file);
    if (before >= 0 && after > before)
        out.written += (uint64_t)(after - before);
    rotate_if_full();
}

/* Sleeps one interval in short steps so VM death is noticed quickly. */
static bool sleep_interval(void)
{
    for (unsigned ms = 0; ms < nra_g.opts.interval * 1000u; ms += 100) {
        if (nra_vm_dead())
            return false;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !nra_vm_dead();
}

static void JNICALL sampler_main(jvmtiEnv *jvmti, JNIEnv *env, void *arg)
{
    (void)jvmti;
    (void)arg;
    open_series_file();
    struct nra_sample s;
    do {
        nra_sampler_take(env, &s);
        nra_series_add(&s);
        write_sample(&s);
    } while (sleep_interval());
    if (out.file) {
        fclose(out.file);
        out.file = NULL;
    }
}

int nra_sampler_start(JNIEnv *env)
{
    if (nra_g.opts.interval == 0)
        return 0;
    jclass thread_class = (*env)->FindClass(env, "java/lang/Thread");
    jmethodID ctor = thread_class ? (*env)->GetMethodID(env, thread_class, "<init>", "(Ljava/lang/String;)V") : NULL;
    jstring name = (*env)->NewStringUTF(env, "nraudit sampler");
    jobject thread = (ctor && name) ? (*env)->NewObject(env, thread_class, ctor, name) : NULL;
    if (!thread) {
        (*env)->ExceptionClear(env);
        nra_log_error("interval: cannot create the sampler thread");
        return -ENOMEM;
    }
    jvmtiError err = (*nra_g.jvmti)->RunAgentThread(nra_g.jvmti, thread, sampler_main, NULL,
                                                     JVMTI_THREAD_MIN_PRIORITY);
    if (err != JVMTI_ERROR_NONE) {
        nra_log_error("interval: RunAgentThread failed: %s", nra_jvmti_error_name(err));
        return -EIO;
    }
    return 0;
}
