/* finalizer_state.c — see include/finalizer_state.h.
 *
 * java.lang.ref.Finalizer keeps its queue in a static field `queue`; the
 * queue counts its entries in `queueLength` (JDK 8 to 25). JDK 18+ has a
 * static boolean `ENABLED` (false under --finalization=disabled); before
 * that, finalization is always on.
 */
#include "finalizer_state.h"

#include <stdio.h>
#include <string.h>

#include "agent_state.h"
#include "java_stacks.h"

static void clear(JNIEnv *env)
{
    if ((*env)->ExceptionCheck(env))
        (*env)->ExceptionClear(env);
}

static void read_fields(JNIEnv *env, struct nra_report_finalizer *out)
{
    out->enabled = true;
    out->queue_length = -1;
    jclass fin = (*env)->FindClass(env, "java/lang/ref/Finalizer");
    if (!fin) {
        clear(env);
        return;
    }
    jfieldID enabled = (*env)->GetStaticFieldID(env, fin, "ENABLED", "Z");
    if (enabled)
        out->enabled = (*env)->GetStaticBooleanField(env, fin, enabled) == JNI_TRUE;
    clear(env);
    jfieldID qf = (*env)->GetStaticFieldID(env, fin, "queue", "Ljava/lang/ref/ReferenceQueue;");
    jobject queue = qf ? (*env)->GetStaticObjectField(env, fin, qf) : NULL;
    clear(env);
    if (queue) {
        jclass qc = (*env)->FindClass(env, "java/lang/ref/ReferenceQueue");
        jfieldID len = qc ? (*env)->GetFieldID(env, qc, "queueLength", "J") : NULL;
        if (len)
            out->queue_length = (*env)->GetLongField(env, queue, len);
        clear(env);
        if (qc)
            (*env)->DeleteLocalRef(env, qc);
        (*env)->DeleteLocalRef(env, queue);
    }
    (*env)->DeleteLocalRef(env, fin);
}

static const char *state_word(jint s)
{
    if (s & JVMTI_THREAD_STATE_BLOCKED_ON_MONITOR_ENTER)
        return "BLOCKED";
    if (s & JVMTI_THREAD_STATE_WAITING_WITH_TIMEOUT)
        return "TIMED_WAITING";
    if (s & JVMTI_THREAD_STATE_WAITING_INDEFINITELY)
        return "WAITING";
    if (s & JVMTI_THREAD_STATE_RUNNABLE)
        return "RUNNABLE";
    if (s & JVMTI_THREAD_STATE_TERMINATED)
        return "TERMINATED";
    return "NEW";
}

static jthread find_finalizer_thread(jvmtiEnv *jvmti, JNIEnv *env)
{
    jint n = 0;
    jthread *threads = NULL;
    jthread found = NULL;
    if ((*jvmti)->GetAllThreads(jvmti, &n, &threads) != JVMTI_ERROR_NONE)
        return NULL;
    for (jint i = 0; i < n; i++) {
        jvmtiThreadInfo info;
        memset(&info, 0, sizeof(info));
        if (!found && (*jvmti)->GetThreadInfo(jvmti, threads[i], &info) == JVMTI_ERROR_NONE) {
            if (info.name && strcmp(info.name, "Finalizer") == 0)
                found = (*env)->NewLocalRef(env, threads[i]);
            (*jvmti)->Deallocate(jvmti, (unsigned char *)info.name);
            if (info.thread_group)
                (*env)->DeleteLocalRef(env, info.thread_group);
            if (info.context_class_loader)
                (*env)->DeleteLocalRef(env, info.context_class_loader);
        }
        (*env)->DeleteLocalRef(env, threads[i]);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)threads);
    return found;
}

/* The first frame that runs a finalize() other than the JDK's own
 * machinery tells what the Finalizer thread is busy with. */
static void diagnose(struct nra_report_finalizer *out)
{
    for (unsigned i = 0; i < out->stack.n; i++) {
        const char *f = out->stack.frames[i];
        if (strstr(f, ".finalize(") && strncmp(f, "java.lang.ref.", 14) != 0) {
            snprintf(out->diagnosis, sizeof(out->diagnosis),
                     "the Finalizer thread is %s inside %s: every object queued behind it waits "
                     "(a slow or blocked finalize() of another class causes a finalization backlog)",
                     out->thread_state, f);
            return;
        }
    }
    if (out->stack.n > 0 && strstr(out->stack.frames[0], "Object.wait")) {
        out->idle = true;
        snprintf(out->diagnosis, sizeof(out->diagnosis), "the Finalizer thread is idle, waiting for work");
    }
}

static void read_thread(jvmtiEnv *jvmti, JNIEnv *env, struct nra_report_finalizer *out)
{
    snprintf(out->thread_state, sizeof(out->thread_state), "UNKNOWN");
    jthread t = find_finalizer_thread(jvmti, env);
    if (!t) {
        snprintf(out->thread_state, sizeof(out->thread_state), "ABSENT");
        return;
    }
    jint state = 0;
    if ((*jvmti)->GetThreadState(jvmti, t, &state) == JVMTI_ERROR_NONE)
        snprintf(out->thread_state, sizeof(out->thread_state), "%s", state_word(state));
    jvmtiFrameInfo frames[NRA_REPORT_JAVA_FRAMES];
    jint count = 0;
    if ((*jvmti)->GetStackTrace(jvmti, t, 0, NRA_REPORT_JAVA_FRAMES, frames, &count) == JVMTI_ERROR_NONE) {
        for (jint i = 0; i < count; i++)
            nra_java_frame_name((uintptr_t)frames[i].method, (uintptr_t)frames[i].location,
                                out->stack.frames[out->stack.n++], NRA_REPORT_FRAME_LEN);
    }
    (*env)->DeleteLocalRef(env, t);
}

void nra_finalizer_state(JNIEnv *env, struct nra_report_finalizer *out)
{
    memset(out, 0, sizeof(*out));
    if (!env)
        return;
    out->known = true;
    read_fields(env, out);
    read_thread(nra_g.jvmti, env, out);
    diagnose(out);
}

int64_t nra_finalizer_queue_length(JNIEnv *env)
{
    struct nra_report_finalizer f;
    memset(&f, 0, sizeof(f));
    if (!env)
        return -1;
    read_fields(env, &f);
    return f.queue_length;
}
