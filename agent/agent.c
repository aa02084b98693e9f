/* agent.c — Agent_OnLoad / Agent_OnAttach / Agent_OnUnload, capabilities
 * and event wiring. Thin on purpose: every concern lives in its module.
 *
 * Callbacks return early once VMDeath has been seen (nra_vm_dead()).
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "agent_state.h"
#include "alloc.h"
#include "hookset.h"
#include "instrument.h"
#include "log.h"
#include "natives.h"
#include "registry.h"
#include "sampler.h"
#include "report_trigger.h"
#include "stacks.h"

#define EXPORT __attribute__((visibility("default")))

struct nra_agent nra_g = {.notes_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- shared helpers (agent_state.h) ------------------------------------------ */

void nra_agent_note(const char *fmt, ...)
{
    char line[NRA_NOTE_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&nra_g.notes_lock);
    bool dup = false;
    for (int i = 0; i < nra_g.n_notes && !dup; i++)
        dup = strcmp(nra_g.notes[i], line) == 0;
    if (!dup && nra_g.n_notes < NRA_MAX_NOTES)
        memcpy(nra_g.notes[nra_g.n_notes++], line, sizeof(line));
    else if (!dup)
        nra_g.notes_dropped++;
    pthread_mutex_unlock(&nra_g.notes_lock);
}

const char *nra_jvmti_error_name(jvmtiError err)
{
    char *name = NULL;
    static __thread char buf[64];
    if (nra_g.jvmti && (*nra_g.jvmti)->GetErrorName(nra_g.jvmti, err, &name) == JVMTI_ERROR_NONE && name) {
        snprintf(buf, sizeof(buf), "%s", name);
        (*nra_g.jvmti)->Deallocate(nra_g.jvmti, (unsigned char *)name);
    } else {
        snprintf(buf, sizeof(buf), "JVMTI error %d", (int)err);
    }
    return buf;
}

/* Wall clock at the kernel tick's resolution (a few ms): records only need
 * it for "oldest" and report times, and the coarse clock is several times
 * cheaper than CLOCK_REALTIME on the allocation path. */
uint64_t nra_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t nra_gettid(void)
{
    static __thread uint32_t tid __attribute__((tls_model("initial-exec")));
    if (tid == 0)
        tid = (uint32_t)syscall(SYS_gettid);
    return tid;
}

/* ---- events -------------------------------------------------------------------- */

static void JNICALL on_vm_init(jvmtiEnv *jvmti, JNIEnv *env, jthread thread)
{
    (void)jvmti;
    (void)thread;
    __atomic_store_n(&nra_g.vm_started, 1, __ATOMIC_RELEASE);
    int rc = nra_instrument_define_hooks(env);
    if (rc != 0) {
        nra_log_error("cannot define the nraudit/Hooks class (%s): owner objects will not be tracked", strerror(-rc));
        nra_agent_note("owner objects not tracked: nraudit/Hooks could not be defined");
    }
    if (nra_g.opts.hook == NRA_HOOK_ALL)
        nra_hookset_all();
    nra_sampler_start(env);
}

static void JNICALL on_vm_death(jvmtiEnv *jvmti, JNIEnv *env)
{
    (void)jvmti;
    if (nra_vm_dead())
        return;
    nra_report_now(env, "exit", &nra_g.opts);
    __atomic_store_n(&nra_g.vm_dead, 1, __ATOMIC_RELEASE);
}

static void JNICALL on_data_dump(jvmtiEnv *jvmti)
{
    (void)jvmti;
    if (nra_vm_dead())
        return;
    JNIEnv *env = NULL;
    if ((*nra_g.vm)->GetEnv(nra_g.vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        env = NULL;
    nra_report_now(env, "datadump", &nra_g.opts);
}

/* ---- set-up ------------------------------------------------------------------------ */

static int self_range_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    Dl_info *self = arg;
    if ((void *)info->dlpi_addr != self->dli_fbase)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            nra_alloc_set_self_range(lo, lo + ph->p_memsz);
        }
    }
    return 1;
}

static void find_self_range(void)
{
    Dl_info self;
    if (dladdr((void *)find_self_range, &self) != 0)
        dl_iterate_phdr(self_range_cb, &self);
}

static bool check(jvmtiError err, const char *what)
{
    if (err == JVMTI_ERROR_NONE)
        return true;
    nra_log_error("%s failed: %s", what, nra_jvmti_error_name(err));
    return false;
}

static bool add_capabilities(jvmtiEnv *jvmti)
{
    jvmtiCapabilities caps;
    memset(&caps, 0, sizeof(caps));
    caps.can_generate_native_method_bind_events = 1;
    caps.can_get_line_numbers = 1;
    caps.can_get_source_file_name = 1;
    caps.can_tag_objects = 1;
    caps.can_generate_all_class_hook_events = 1;
    return check((*jvmti)->AddCapabilities(jvmti, &caps), "AddCapabilities");
}

static bool enable_events(jvmtiEnv *jvmti)
{
    jvmtiEventCallbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.VMInit = on_vm_init;
    cb.VMDeath = on_vm_death;
    cb.NativeMethodBind = nra_natives_on_bind;
    cb.DataDumpRequest = on_data_dump;
    cb.ClassFileLoadHook = nra_instrument_on_class_load;
    if (!check((*jvmti)->SetEventCallbacks(jvmti, &cb, (jint)sizeof(cb)), "SetEventCallbacks"))
        return false;
    static const jvmtiEvent events[] = {JVMTI_EVENT_VM_INIT, JVMTI_EVENT_VM_DEATH,
                                        JVMTI_EVENT_NATIVE_METHOD_BIND, JVMTI_EVENT_DATA_DUMP_REQUEST,
                                        JVMTI_EVENT_CLASS_FILE_LOAD_HOOK};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (!check((*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, events[i], NULL), "SetEventNotificationMode"))
            return false;
    return true;
}

static bool load_rules(void)
{
    nra_rules_builtin(&nra_g.rules);
    if (nra_g.opts.rules_file[0] == '\0')
        return true;
    char err[512];
    if (nra_rules_load_file(&nra_g.rules, nra_g.opts.rules_file, err, sizeof(err)) != 0) {
        nra_log_error("%s", err);
        return false;
    }
    return true;
}

static bool init_tables(void)
{
    int rc;
    if ((rc = nra_reg_init(nra_g.opts.max_records)) != 0 || (rc = nra_stacks_init(nra_g.opts.max_stacks)) != 0 ||
        (rc = nra_alloc_init(nra_g.opts.max_allocs, nra_g.opts.max_sites)) != 0) {
        nra_log_error("cannot set up tables: %s", strerror(-rc));
        return false;
    }
    find_self_range();
    return true;
}

static uint64_t wall_ms(void)
{
    return nra_now_ns() / 1000000ull;
}

EXPORT JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved)
{
    (void)reserved;
    char err[512];
    nra_g.start_ms = wall_ms();
    nra_options_defaults(&nra_g.opts);
    if (nra_options_parse(options, &nra_g.opts, err, sizeof(err)) != 0) {
        nra_log_error("%s", err);
        return JNI_ERR;
    }
    snprintf(nra_g.options_text, sizeof(nra_g.options_text), "%s", options ? options : "");
    nra_log_set_level(nra_g.opts.log);
    if (!load_rules())
        return JNI_ERR;
    jvmtiEnv *jvmti = NULL;
    if ((*vm)->GetEnv(vm, (void **)&jvmti, JVMTI_VERSION_1_2) != JNI_OK || !jvmti) {
        nra_log_error("this JVM offers no JVMTI 1.2 environment");
        return JNI_ERR;
    }
    nra_g.vm = vm;
    nra_g.jvmti = jvmti;
    if (!init_tables() || !add_capabilities(jvmti) || !enable_events(jvmti))
        return JNI_ERR;
    nra_log(NRA_LOG_DEBUG, "loaded with options '%s'", nra_g.options_text);
    return JNI_OK;
}

/* jcmd <pid> JVMTI.agent_load <this library> <options>: on a JVM that loaded
 * the agent at start-up this is a command channel ("report,..."). */
EXPORT JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved)
{
    (void)reserved;
    if (!nra_g.jvmti) {
        nra_log_error("nraudit must be loaded at JVM start-up (-agentpath:...libnraudit.so) to see the natives "
                      "it audits; loaded late it would miss them, so it does nothing");
        return JNI_ERR;
    }
    struct nra_options cmd = nra_g.opts;
    cmd.report_now = false;
    char err[512];
    if (nra_options_parse(options, &cmd, err, sizeof(err)) != 0) {
        nra_log_error("%s", err);
        return JNI_ERR;
    }
    if (!cmd.report_now) {
        nra_log_error("agent already loaded; as a command it accepts 'report[,file=...,format=...]'");
        return JNI_ERR;
    }
    JNIEnv *env = NULL;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        env = NULL;
    return nra_report_now(env, "command", &cmd) == 0 ? JNI_OK : JNI_ERR;
}

EXPORT JNIEXPORT void JNICALL Agent_OnUnload(JavaVM *vm)
{
    (void)vm;
    __atomic_store_n(&nra_g.vm_dead, 1, __ATOMIC_RELEASE);
}
