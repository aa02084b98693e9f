/* report_trigger.c — see include/report_trigger.h. */
#include "report_trigger.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent_state.h"
#include "artifact_version.h"
#include "finalizer_state.h"
#include "heapwalk.h"
#include "hookset.h"
#include "instrument.h"
#include "java_stacks.h"
#include "log.h"
#include "natives.h"
#include "report.h"
#include "report_html.h"
#include "report_pprof.h"
#include "series.h"

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static int artifact_of(int rule, char *artifact, size_t alen, char *version, size_t vlen);

static struct nra_report_sources sources = {   /* bounds set per report, under report_lock */
    .rules = &nra_g.rules,
    .java_frame = nra_java_frame_name,
    .slot_name = nra_natives_slot_name,
    .slot_role = nra_natives_slot_role,
    .slot_rule = nra_natives_slot_rule,
    .slot_address = nra_natives_slot_address,
    .bound_name = nra_natives_bound_name,
    .skipped = nra_natives_skipped,
    .wrapped = nra_natives_wrapped,
    .artifact = artifact_of,
};

/* Reports written so far: %n of the file template (report_lock held). */
static uint64_t report_seq;

/* The JNIEnv of the report being written (report_lock held). */
static JNIEnv *report_env;

static int artifact_of(int rule, char *artifact, size_t alen, char *version, size_t vlen)
{
    return nra_artifact_version(report_env, rule, artifact, alen, version, vlen);
}


static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void add_agent_notes(struct nra_report *r)
{
    pthread_mutex_lock(&nra_g.notes_lock);
    for (int i = 0; i < nra_g.n_notes; i++)
        nra_report_add_note(r, "%s", nra_g.notes[i]);
    if (nra_g.notes_dropped)
        nra_report_add_note(r, "%llu further agent notes were dropped (at most %d are kept)",
                            (unsigned long long)nra_g.notes_dropped, NRA_MAX_NOTES);
    pthread_mutex_unlock(&nra_g.notes_lock);
    r->n_hooked = nra_hookset_hooked(r->hooked, 16);
    r->stats.java_stacks_captured = nra_java_stacks_captured();
    r->stats.java_stacks_not_sampled = nra_java_stacks_not_sampled();
    r->stats.classes_instrumented = nra_instrument_classes_rewritten();
    char lines[16][256];
    unsigned failed = 0;
    unsigned n = nra_hookset_describe(lines, 16, &failed);
    for (unsigned i = 0; i < n; i++)
        if (strncmp(lines[i], "hooked", 6) != 0 || nra_g.opts.log == NRA_LOG_DEBUG)
            nra_report_add_note(r, "%s", lines[i]);
    if (nra_report_coalesced())
        nra_report_add_note(r, "%llu data dumps were answered by a report already running",
                            (unsigned long long)nra_report_coalesced());
    uint64_t not_sampled = nra_java_stacks_not_sampled();
    if (not_sampled)
        nra_report_add_note(r, "Java stacks sampled (java_sample=%u): %llu records have no Java stack; "
                               "per-path counts are of sampled owners (java_sample=1 makes them exact)",
                            nra_g.opts.java_sample, (unsigned long long)not_sampled);
}

static void fill_header(struct nra_report *r, const char *trigger)
{
    snprintf(r->trigger, sizeof(r->trigger), "%s", trigger);
    r->pid = (long)getpid();
    r->timestamp_ms = wall_ms();
    r->uptime_ms = r->timestamp_ms > nra_g.start_ms ? r->timestamp_ms - nra_g.start_ms : 0;
    snprintf(r->version, sizeof(r->version), "%s", NRAUDIT_VERSION);
    snprintf(r->options, sizeof(r->options), "%s", nra_g.options_text);
}

/* One output file of a format: pprof has two (its heap text, its .pb.gz). */
static int render(const struct nra_report *r, enum nra_format f, bool alt, FILE *out)
{
    switch (f) {
    case NRA_FMT_TEXT:
        return nra_report_write_text(r, out);
    case NRA_FMT_JSON:
        return nra_report_write_json(r, out);
    case NRA_FMT_PPROF:
        return alt ? nra_report_write_pprof_proto(r, out) : nra_report_write_pprof_heap(r, out);
    case NRA_FMT_COLLAPSED:
        return nra_report_write_collapsed(r, out);
    case NRA_FMT_HTML: {
        static struct nra_sample series[NRA_SERIES_CAP];  /* report_lock held */
        size_t n = nra_series_get(series, NRA_SERIES_CAP);
        return nra_report_write_html(r, series, n, out);
    }
    }
    return -EINVAL;
}

static int render_and_save(const struct nra_report *r, enum nra_format f, bool alt, const struct nra_options *opts)
{
    char path[NRA_PATH_MAX];
    int rc = nra_options_report_path(opts, f, alt, r->pid, r->timestamp_ms, r->seq, path, sizeof(path));
    if (rc != 0) {
        nra_log_error("report path from file=%s: %s", opts->file, strerror(-rc));
        return rc;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return -ENOMEM;
    rc = render(r, f, alt, mem);
    fclose(mem);
    if (rc == 0)
        rc = nra_report_save(path, buf, len);
    free(buf);
    if (rc == 0)
        nra_log(NRA_LOG_INFO, "report (%s) written to %s", r->trigger, path);
    else
        nra_log_error("cannot write report %s: %s", path, strerror(rc < 0 ? -rc : EIO));
    return rc;
}

static int save_all_formats(const struct nra_report *r, const struct nra_options *opts)
{
    static const enum nra_format order[] = {NRA_FMT_TEXT, NRA_FMT_JSON, NRA_FMT_PPROF, NRA_FMT_HTML,
                                            NRA_FMT_COLLAPSED};
    int rc = 0;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(opts->formats & order[i]))
            continue;
        int one = render_and_save(r, order[i], false, opts);
        if (order[i] == NRA_FMT_PPROF) {
            int two = render_and_save(r, order[i], true, opts);
            one = one ? one : two;
        }
        rc = rc ? rc : one;
    }
    return rc;
}

static void classify(JNIEnv *env, struct nra_report *r, const struct nra_options *opts,
                     const struct nra_reg_snapshot *snap)
{
    if (!opts->reachability) {
        nra_report_add_note(r, "reachability=off: outstanding handles are not classified; 'live' holds them all");
        return;
    }
    int rc = nra_heapwalk_classify(env, r, snap);
    if (rc != 0)
        nra_report_add_note(r, "reachability walk not run (%s): 'live' holds every outstanding handle",
                            rc == -ENOTSUP ? "owner objects are not tracked" : strerror(-rc));
}

/* One report: a registry snapshot first, then everything else described
 * against it (report_lock held). */
static int report_once(JNIEnv *env, const char *trigger, const struct nra_options *opts)
{
    report_env = env;
    struct nra_report *r = calloc(1, sizeof(*r));
    struct nra_reg_snapshot snap;
    int rc = r ? nra_reg_snapshot(&snap) : -ENOMEM;
    if (rc == 0) {
        fill_header(r, trigger);
        r->seq = ++report_seq;   /* report_lock held */
        sources.max_records = nra_g.opts.max_records;
        sources.max_stacks = nra_g.opts.max_stacks;
        rc = nra_report_build(r, &sources, &snap);
        if (rc == 0) {
            nra_finalizer_state(env, &r->finalizer);
            classify(env, r, opts, &snap);
            nra_report_findings(r, &sources);
            add_agent_notes(r);
            rc = save_all_formats(r, opts);
        }
        nra_reg_snapshot_free(&snap);
    }
    if (r)
        nra_report_free(r);
    free(r);
    return rc;
}

/* Reports run one at a time. A data dump asked for while one with the same
 * options runs is answered by that report when it ends: requests coalesce
 * instead of queueing walks, so a requester waits for one report at most
 * and one that gave up leaves no work behind. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool running;
    const char *running_trigger;
    const struct nra_options *running_opts;
    uint64_t started, finished;   /* report generations */
    int last_rc;
    uint64_t coalesced;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

uint64_t nra_report_coalesced(void)
{
    pthread_mutex_lock(&queue.lock);
    uint64_t n = queue.coalesced;
    pthread_mutex_unlock(&queue.lock);
    return n;
}

int nra_report_now(JNIEnv *env, const char *trigger, const struct nra_options *opts)
{
    pthread_mutex_lock(&queue.lock);
    if (queue.running && strcmp(trigger, "datadump") == 0 && strcmp(queue.running_trigger, "datadump") == 0 &&
        queue.running_opts == opts) {
        uint64_t gen = queue.started;
        queue.coalesced++;
        while (queue.finished < gen)
            pthread_cond_wait(&queue.done, &queue.lock);
        int rc = queue.last_rc;
        pthread_mutex_unlock(&queue.lock);
        return rc;
    }
    while (queue.running)
        pthread_cond_wait(&queue.done, &queue.lock);
    queue.running = true;
    queue.running_trigger = trigger;
    queue.running_opts = opts;
    uint64_t gen = ++queue.started;
    pthread_mutex_unlock(&queue.lock);

    pthread_mutex_lock(&report_lock);
    int rc = report_once(env, trigger, opts);
    pthread_mutex_unlock(&report_lock);

    pthread_mutex_lock(&queue.lock);
    queue.running = false;
    queue.finished = gen;
    queue.last_rc = rc;
    pthread_cond_broadcast(&queue.done);
    pthread_mutex_unlock(&queue.lock);
    return rc;
}
