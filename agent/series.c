/* series.c — see include/series.h. */
#include "series.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    struct nra_sample ring[NRA_SERIES_CAP];
    size_t next, count;
} ser = {.lock = PTHREAD_MUTEX_INITIALIZER};

void nra_series_add(const struct nra_sample *s)
{
    pthread_mutex_lock(&ser.lock);
    ser.ring[ser.next] = *s;
    ser.next = (ser.next + 1) % NRA_SERIES_CAP;
    if (ser.count < NRA_SERIES_CAP)
        ser.count++;
    pthread_mutex_unlock(&ser.lock);
}

size_t nra_series_get(struct nra_sample *out, size_t max)
{
    pthread_mutex_lock(&ser.lock);
    size_t n = ser.count < max ? ser.count : max;
    size_t start = (ser.next + NRA_SERIES_CAP - n) % NRA_SERIES_CAP;
    for (size_t i = 0; i < n; i++)
        out[i] = ser.ring[(start + i) % NRA_SERIES_CAP];
    pthread_mutex_unlock(&ser.lock);
    return n;
}

int nra_series_write_line(const struct nra_sample *s, const struct nra_ruleset *rules, FILE *o)
{
    fprintf(o, "{\"schema\":\"nraudit/series-v1\",\"timestamp_ms\":%" PRIu64 ",\"uptime_ms\":%" PRIu64
               ",\"rss_bytes\":%" PRId64 ",\"heap_used_bytes\":%" PRId64 ",\"finalizer_queue\":%" PRId64
               ",\"rules\":{",
            s->timestamp_ms, s->uptime_ms, s->rss_bytes, s->heap_used_bytes, s->finalizer_queue);
    for (int i = 0; i < s->n_rules && i < rules->count; i++) {
        const struct nra_series_rule *r = &s->rule[i];
        /* rule names come from rules files: letters, digits, '-', '_' in
         * practice; quote defensively all the same */
        fprintf(o, "%s\"", i ? "," : "");
        for (const char *c = rules->rule[i].name; *c; c++)
            if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
                fputc(*c, o);
        fprintf(o, "\":{\"allocated\":%" PRIu64 ",\"freed\":%" PRIu64 ",\"outstanding\":%" PRIu64
                   ",\"residue_bytes\":%" PRIu64 ",\"residue_allocations\":%" PRIu64
                   ",\"finalized_not_freed\":%" PRIu64 "}",
                r->allocated, r->freed, r->outstanding, r->residue_bytes, r->residue_allocations,
                r->finalized_not_freed);
    }
    fputs("}}\n", o);
    return ferror(o) ? -EIO : 0;
}

int64_t nra_series_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return -1;
    long size = 0, resident = 0;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    if (n != 2)
        return -1;
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}
