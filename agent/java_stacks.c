/* java_stacks.c — see include/java_stacks.h.
 *
 * Sampling policy (java_sample=N): the first 256 records of each rule get
 * their own captured stack; after that about one record in N per thread
 * does, and the records in between have none (0: "not sampled"). A record
 * never carries another record's stack: an event loop serving two handlers
 * alternately would otherwise give one path's owners the other's stack.
 * The gap between samples is drawn at random (uniform in 1..2N-1, mean N)
 * so that a thread alternating between code paths with a period dividing N
 * does not sample one path only. The default is N = 64; N = 1 captures
 * every record.
 */
#include "java_stacks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_state.h"
#include "stacks.h"

#define ALWAYS_FIRST 256
#define MAX_DEPTH 64

struct thread_sampling {
    uint32_t countdown[NRA_MAX_RULES];
    uint64_t rng;                /* xorshift state, seeded on first use */
};

static __thread struct thread_sampling ts __attribute__((tls_model("initial-exec")));
static uint64_t per_rule_records[NRA_MAX_RULES];
static uint64_t captured, not_sampled;

/* The records to skip before the next sample: uniform in 0..2N-2. */
static uint32_t next_gap(unsigned every)
{
    if (ts.rng == 0)
        ts.rng = ((uint64_t)(uintptr_t)&ts * 0x9e3779b97f4a7c15ull) | 1;
    ts.rng ^= ts.rng << 13;
    ts.rng ^= ts.rng >> 7;
    ts.rng ^= ts.rng << 17;
    return (uint32_t)(ts.rng % (2ull * every - 1));
}

static uint32_t capture(void)
{
    jvmtiFrameInfo frames[MAX_DEPTH];
    jint count = 0;
    unsigned depth = nra_g.opts.java_depth < MAX_DEPTH ? nra_g.opts.java_depth : MAX_DEPTH;
    jvmtiEnv *jvmti = nra_g.jvmti;
    if (nra_vm_dead() || !__atomic_load_n(&nra_g.vm_started, __ATOMIC_ACQUIRE))
        return 0;
    if ((*jvmti)->GetStackTrace(jvmti, NULL, 0, (jint)depth, frames, &count) != JVMTI_ERROR_NONE)
        return 0;
    uintptr_t flat[2 * MAX_DEPTH];
    for (jint i = 0; i < count; i++) {
        flat[2 * i] = (uintptr_t)frames[i].method;
        flat[2 * i + 1] = (uintptr_t)frames[i].location;
    }
    __atomic_add_fetch(&captured, 1, __ATOMIC_RELAXED);
    return nra_stack_intern(NRA_STACK_JAVA, flat, (unsigned)(2 * count));
}

uint32_t nra_java_site_for_record(int rule)
{
    if (nra_g.opts.java_depth == 0 || rule < 0 || rule >= NRA_MAX_RULES)
        return 0;
    /* Counting stops at ALWAYS_FIRST: past it nobody reads the count, and
     * a shared counter written by every creating thread costs a cache-line
     * transfer per record. */
    uint64_t nth = __atomic_load_n(&per_rule_records[rule], __ATOMIC_RELAXED);
    if (nth < ALWAYS_FIRST)
        nth = __atomic_fetch_add(&per_rule_records[rule], 1, __ATOMIC_RELAXED);
    unsigned every = nra_g.opts.java_sample;
    if (nth < ALWAYS_FIRST || every <= 1 || ts.countdown[rule] == 0) {
        ts.countdown[rule] = every > 1 ? next_gap(every) : 0;
        return capture();
    }
    ts.countdown[rule]--;
    __atomic_add_fetch(&not_sampled, 1, __ATOMIC_RELAXED);
    return 0;
}

static void class_name_of(const char *sig, char *out, size_t len)
{
    size_t n = strlen(sig);
    if (n >= 2 && sig[0] == 'L' && sig[n - 1] == ';') {
        sig++;
        n -= 2;
    }
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = sig[i] == '/' ? '.' : sig[i];
    out[n] = '\0';
}

static int line_of(jvmtiEnv *jvmti, jmethodID m, jlocation loc)
{
    jint n = 0;
    jvmtiLineNumberEntry *table = NULL;
    if ((*jvmti)->GetLineNumberTable(jvmti, m, &n, &table) != JVMTI_ERROR_NONE)
        return -1;
    int line = -1;
    for (jint i = 0; i < n; i++)
        if (table[i].start_location <= loc)
            line = table[i].line_number;
    (*jvmti)->Deallocate(jvmti, (unsigned char *)table);
    return line;
}

int nra_java_frame_name(uintptr_t method, uintptr_t location, char *out, size_t out_len)
{
    jvmtiEnv *jvmti = nra_g.jvmti;
    jmethodID m = (jmethodID)method;
    jlocation loc = (jlocation)location;
    jclass cls = NULL;
    char *csig = NULL, *name = NULL, *src = NULL;
    if ((*jvmti)->GetMethodDeclaringClass(jvmti, m, &cls) != JVMTI_ERROR_NONE ||
        (*jvmti)->GetClassSignature(jvmti, cls, &csig, NULL) != JVMTI_ERROR_NONE) {
        snprintf(out, out_len, "<unloaded method>");
        return -ENOENT;
    }
    if ((*jvmti)->GetMethodName(jvmti, m, &name, NULL, NULL) != JVMTI_ERROR_NONE) {
        (*jvmti)->Deallocate(jvmti, (unsigned char *)csig);
        snprintf(out, out_len, "<unloaded method>");
        return -ENOENT;
    }
    char cname[256];
    class_name_of(csig, cname, sizeof(cname));
    if (loc < 0) {
        snprintf(out, out_len, "%s.%s(Native Method)", cname, name);
    } else {
        int line = line_of(jvmti, m, loc);
        bool have_src = (*jvmti)->GetSourceFileName(jvmti, cls, &src) == JVMTI_ERROR_NONE;
        if (have_src && line >= 0)
            snprintf(out, out_len, "%s.%s(%s:%d)", cname, name, src, line);
        else if (have_src)
            snprintf(out, out_len, "%s.%s(%s)", cname, name, src);
        else
            snprintf(out, out_len, "%s.%s(Unknown Source)", cname, name);
    }
    if (src)
        (*jvmti)->Deallocate(jvmti, (unsigned char *)src);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)name);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)csig);
    return 0;
}

uint64_t nra_java_stacks_captured(void)
{
    return __atomic_load_n(&captured, __ATOMIC_RELAXED);
}

uint64_t nra_java_stacks_not_sampled(void)
{
    return __atomic_load_n(&not_sampled, __ATOMIC_RELAXED);
}
