/* agent_state — the one global-state struct of the agent (JVMTI side).
 *
 * Owns: the jvmtiEnv, the parsed options and rules, VM life-cycle flags and
 * the notes every report carries. Written during Agent_OnLoad and VMInit;
 * after that only the atomic flags and the notes (under notes_lock) change.
 */
#ifndef NRA_AGENT_STATE_H
#define NRA_AGENT_STATE_H

#include <jvmti.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "rules.h"

#define NRA_MAX_NOTES 32
#define NRA_NOTE_LEN 256

struct nra_agent {
    jvmtiEnv *jvmti;
    JavaVM *vm;
    struct nra_options opts;
    struct nra_ruleset rules;
    char options_text[1024];
    uint64_t start_ms;
    int vm_started;          /* atomic: VMInit seen */
    int vm_dead;             /* atomic: VMDeath seen; callbacks return early */
    bool loaded_late;        /* Agent_OnAttach without Agent_OnLoad */
    pthread_mutex_t notes_lock;
    char notes[NRA_MAX_NOTES][NRA_NOTE_LEN];
    int n_notes;
    uint64_t notes_dropped;
};

extern struct nra_agent nra_g;

/* Adds a note (deduplicated) that every later report lists. */
void nra_agent_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A JVMTI error's name, e.g. "JVMTI_ERROR_WRONG_PHASE". */
const char *nra_jvmti_error_name(jvmtiError err);

static inline bool nra_vm_dead(void)
{
    return __atomic_load_n(&nra_g.vm_dead, __ATOMIC_ACQUIRE) != 0;
}

uint64_t nra_now_ns(void);
uint32_t nra_gettid(void);

#endif
