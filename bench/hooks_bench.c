/* hooks_bench — ns per malloc+free pair through the agent's allocation hooks
 * (the functions gothook writes into GOT slots) against the real allocator,
 * plus the memory cost of one tracked (attributed) allocation.
 *
 * Not a test: run by hand (bench/hooks.sh or bench/run.sh). Prints a markdown
 * table. Real and hooked runs alternate within each case; median and min are
 * over --reps repetitions.
 *
 * Cases:
 *   A  outside any scope, attributed table empty (free: one relaxed load)
 *   B  outside any scope, --live attributed entries in the table (free must
 *      look the pointer up under a stripe lock)
 *   C  inside a scope, steady state: each iteration enters a scope, makes
 *      --per-scope allocations of different sizes, frees them, leaves. Every
 *      signature was seen in a warm-up iteration, so no stack is captured in
 *      the timed part (checked: "captures" column).
 *   D  as C, but each block lives on in a FIFO of --fifo blocks and is freed
 *      --fifo allocations later: addresses, and so the table's buckets and
 *      entries, are spread and mostly cold in the caches, as in a JVM whose
 *      allocation churn evicts the agent's table between two engines.
 *
 * Usage: hooks_bench [--case A|B|C|D|all] [--threads 1|2|both] [--pairs N]
 *                    [--reps R] [--live N] [--per-scope K] [--fifo N] [--no-mem] [--no-bench]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "stacks.h"

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);

#define MAX_REPS 64
#define MAX_PER_SCOPE 64

static struct {
    unsigned long pairs;
    unsigned reps;
    unsigned live;
    unsigned per_scope;
    unsigned fifo;
    const char *which_case;
    const char *which_threads;
    int mem, bench;
} cfg = {2000000, 7, 10000, 16, 65536, "all", "both", 1, 1};

static malloc_fn volatile real_m = nra_real_malloc;
static free_fn volatile real_f = nra_real_free;
static malloc_fn volatile hook_m;
static free_fn volatile hook_f;

static uint64_t next_record = 1;  /* record ids; atomics: threads share it */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- the timed loops --------------------------------------------------------- */

/* A and B: plain malloc+free pairs of a few sizes, outside any scope. */
static __attribute__((noinline)) void loop_outside(malloc_fn m, free_fn f, unsigned long pairs)
{
    for (unsigned long i = 0; i < pairs; i++) {
        void *p = m(16 + (i & 7) * 8);
        f(p);
    }
}

/* C: scopes of k allocations (sizes differ per order, like a native that
 * builds a struct), all freed before the scope is left. */
static __attribute__((noinline)) void loop_scope(malloc_fn m, free_fn f, unsigned long pairs, unsigned k,
                                                 uint16_t slot)
{
    void *p[MAX_PER_SCOPE];
    unsigned long iters = pairs / k;
    for (unsigned long i = 0; i < iters; i++) {
        struct nra_scope s = {
            .record_id = __atomic_fetch_add(&next_record, 1, __ATOMIC_RELAXED),
            .java_site = 0, .slot = slot, .rule = 0,
        };
        nra_alloc_scope_enter(&s);
        for (unsigned j = 0; j < k; j++)
            p[j] = m(24 + 8 * j);
        for (unsigned j = 0; j < k; j++)
            f(p[j]);
        nra_alloc_scope_leave(&s);
    }
}

/* D: like C, but each block is freed `fifo` allocations later (ring). */
static __attribute__((noinline)) void loop_fifo(malloc_fn m, free_fn f, unsigned long pairs, unsigned k,
                                                uint16_t slot, void **ring, unsigned fifo, unsigned *pos)
{
    unsigned long iters = pairs / k;
    unsigned at = *pos;
    for (unsigned long i = 0; i < iters; i++) {
        struct nra_scope s = {
            .record_id = __atomic_fetch_add(&next_record, 1, __ATOMIC_RELAXED),
            .java_site = 0, .slot = slot, .rule = 0,
        };
        nra_alloc_scope_enter(&s);
        for (unsigned j = 0; j < k; j++) {
            if (ring[at])
                f(ring[at]);
            ring[at] = m(24 + 8 * j);
            if (++at == fifo)
                at = 0;
        }
        nra_alloc_scope_leave(&s);
    }
    *pos = at;
}

/* ---- threads ----------------------------------------------------------------- */

enum which { REAL = 0, HOOK = 1 };

struct job {
    char kase;
    enum which w;
    unsigned long pairs;
    uint16_t slot;
    void **ring;        /* D: this thread's FIFO, one per allocator (REAL, HOOK) */
    unsigned *pos;
};

struct worker {
    pthread_t th;
    pthread_barrier_t *bar;
    const struct job *job;
    double ns;
};

static void run_job(const struct job *j)
{
    malloc_fn m = j->w == HOOK ? hook_m : real_m;
    free_fn f = j->w == HOOK ? hook_f : real_f;
    if (j->kase == 'C')
        loop_scope(m, f, j->pairs, cfg.per_scope, j->slot);
    else if (j->kase == 'D')
        loop_fifo(m, f, j->pairs, cfg.per_scope, j->slot, j->ring + (size_t)j->w * cfg.fifo, cfg.fifo,
                  j->pos + j->w);
    else
        loop_outside(m, f, j->pairs);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->bar);
    double t0 = now_ns();
    run_job(w->job);
    w->ns = now_ns() - t0;
    pthread_barrier_wait(w->bar);
    return NULL;
}

/* Runs the job on n threads at once; returns the mean ns per pair per thread. */
static double run_threads(const struct job *j, unsigned n)
{
    if (n == 1) {
        double t0 = now_ns();
        run_job(j);
        return (now_ns() - t0) / (double)j->pairs;
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, n);
    struct worker w[8];
    struct job jobs[8];
    for (unsigned i = 0; i < n; i++) {
        jobs[i] = *j;
        jobs[i].slot = (uint16_t)(j->slot + i); /* each thread its own native, like distinct wrappers */
        if (j->ring) {
            jobs[i].ring = j->ring + (size_t)i * 2 * cfg.fifo;
            jobs[i].pos = j->pos + 2 * i;
        }
        w[i] = (struct worker){.bar = &bar, .job = &jobs[i]};
        pthread_create(&w[i].th, NULL, worker_main, &w[i]);
    }
    double sum = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(w[i].th, NULL);
        sum += w[i].ns / (double)j->pairs;
    }
    pthread_barrier_destroy(&bar);
    return sum / n;
}

/* The timed runs go through here (warm-ups do not), so that callgrind can
 * count exactly them: --zero-before=timed_run --dump-after=timed_run. */
static __attribute__((noinline)) double timed_run(const struct job *j, unsigned n)
{
    double ns = run_threads(j, n);
    __asm__ volatile("" ::: "memory");
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- set-up of the table state -------------------------------------------------- */

/* Attributes `n` blocks of `size` bytes, one per scope (one record each), and
 * keeps them: returned array owned by the caller. */
static void **populate(unsigned n, size_t size)
{
    void **keep = nra_real_malloc(sizeof(void *) * (n ? n : 1));
    if (!keep)
        return NULL;
    for (unsigned i = 0; i < n; i++) {
        struct nra_scope s = {
            .record_id = __atomic_fetch_add(&next_record, 1, __ATOMIC_RELAXED), .slot = 500,
        };
        nra_alloc_scope_enter(&s);
        keep[i] = hook_m(size);
        nra_alloc_scope_leave(&s);
    }
    return keep;
}

static void unpopulate(void **keep, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        hook_f(keep[i]);
    nra_real_free(keep);
}

/* ---- the cases ------------------------------------------------------------------- */

static const char *case_title(char k)
{
    switch (k) {
    case 'A': return "A outside scope, empty table";
    case 'B': return "B outside scope, table holds live entries";
    case 'C': return "C inside scope (signatures cached)";
    default: return "D inside scope, FIFO-freed (table cold in cache)";
    }
}

static void bench_case(char k, unsigned threads)
{
    double real[MAX_REPS], hook[MAX_REPS], diff[MAX_REPS];
    struct job j = {.kase = k, .pairs = cfg.pairs, .slot = (uint16_t)(k == 'C' ? 10 : k == 'D' ? 20 : 0)};
    unsigned pos[2 * 8] = {0};
    if (k == 'D') {
        /* Per thread: one ring for the real allocator, one for the hooks. */
        j.ring = calloc((size_t)threads * 2 * cfg.fifo, sizeof(void *));
        j.pos = pos;
        if (!j.ring) {
            fprintf(stderr, "hooks_bench: out of memory\n");
            exit(1);
        }
    }
    /* Warm-up: page in, fill malloc's caches, capture every signature once
     * (the first call per signature unwinds the stack: excluded by design). */
    struct job warm = j;
    warm.pairs = k == 'D' ? (unsigned long)cfg.fifo + cfg.per_scope * 64 : cfg.per_scope * 64;
    warm.w = REAL;
    run_threads(&warm, threads);
    warm.w = HOOK;
    run_threads(&warm, threads);
    struct nra_alloc_stats before, after;
    nra_alloc_get_stats(&before);
    for (unsigned r = 0; r < cfg.reps; r++) {
        j.w = REAL;
        real[r] = timed_run(&j, threads);
        j.w = HOOK;
        hook[r] = timed_run(&j, threads);
        diff[r] = hook[r] - real[r];
    }
    nra_alloc_get_stats(&after);
    if (k == 'D') {
        /* Release both rings (the real one with the real free). */
        for (unsigned t = 0; t < threads; t++) {
            void **r = j.ring + (size_t)t * 2 * cfg.fifo;
            for (unsigned i = 0; i < cfg.fifo; i++) {
                if (r[i])
                    real_f(r[i]);
                if (r[cfg.fifo + i])
                    hook_f(r[cfg.fifo + i]);
            }
        }
        free(j.ring);
    }
    double rmin = real[0], hmin = hook[0];
    for (unsigned r = 1; r < cfg.reps; r++) {
        if (real[r] < rmin) rmin = real[r];
        if (hook[r] < hmin) hmin = hook[r];
    }
    double rmed = median(real, cfg.reps), hmed = median(hook, cfg.reps), dmed = median(diff, cfg.reps);
    double target = k >= 'C' ? 200 : 30;
    unsigned long live = (unsigned long)after.live;
    printf("| %s | %u | %lu | %.1f / %.1f | %.1f / %.1f | %.1f | %.1f | %.0f | %s | %llu |\n",
           case_title(k), threads, live, rmed, rmin, hmed, hmin, dmed, hmin - rmin, target,
           dmed <= target ? "met" : "MISSED",
           (unsigned long long)(after.stack_captures - before.stack_captures));
    fflush(stdout);
}

/* ---- memory per tracked allocation ------------------------------------------------- */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* In a child (so the parent's table stays untouched): RSS growth when n
 * blocks of 32 bytes are attributed, minus the growth for the same blocks
 * made with the real malloc. Returns bytes per entry through a pipe. */
static double mem_per_entry(unsigned n, int hooked)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        void **keep = nra_real_malloc(sizeof(void *) * n);
        for (unsigned i = 0; i < n; i++)   /* page the pointer array in first */
            keep[i] = NULL;
        long r0 = rss_kib();
        if (hooked) {
            for (unsigned i = 0; i < n; i++) {
                struct nra_scope s = {.record_id = i + 1, .slot = 501};
                nra_alloc_scope_enter(&s);
                keep[i] = hook_m(32);
                nra_alloc_scope_leave(&s);
            }
        } else {
            for (unsigned i = 0; i < n; i++)
                keep[i] = nra_real_malloc(32);
        }
        long r1 = rss_kib();
        struct nra_alloc_stats st;
        nra_alloc_get_stats(&st);
        double v[2] = {(double)(r1 - r0) * 1024.0, (double)st.live};
        if (write(fd[1], v, sizeof(v)) != (ssize_t)sizeof(v))
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    double v[2] = {-1, 0};
    if (read(fd[0], v, sizeof(v)) != (ssize_t)sizeof(v))
        v[0] = -1;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    if (hooked && (unsigned)v[1] != n)
        fprintf(stderr, "hooks_bench: expected %u live entries, child had %.0f\n", n, v[1]);
    return v[0];
}

static void bench_memory(void)
{
    static const unsigned ns[] = {1000, 10000, 100000, 500000};
    double prev_n = 0, prev_extra = 0;
    printf("\n| tracked allocations (32 B each) | RSS growth, hooked | RSS growth, real malloc "
           "| agent bytes per entry (average) | agent bytes per entry (marginal, from the previous row) |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        double h = mem_per_entry(ns[i], 1);
        double r = mem_per_entry(ns[i], 0);
        double extra = h - r;
        char marginal[32] = "-";
        if (i > 0)
            snprintf(marginal, sizeof(marginal), "%.1f", (extra - prev_extra) / (ns[i] - prev_n));
        printf("| %u | %.0f KiB | %.0f KiB | %.1f | %s |\n", ns[i], h / 1024, r / 1024, extra / ns[i], marginal);
        fflush(stdout);
        prev_n = ns[i];
        prev_extra = extra;
    }
    printf("\nThe entry (agent/alloc.c `struct entry`) is 32 bytes; each stripe's bucket array (4 bytes per "
           "bucket, max_allocs/64 rounded up to a power of two per stripe: 4 MiB for max_allocs=1<<20) is "
           "MAP_NORESERVE but hashed at random, so a few thousand live entries page in most of it, and the "
           "first entry of each of the 64 stripes pages in 4 KiB of entries: a fixed ~3-5 MiB, then 32 bytes "
           "per entry.\n");
}

/* ---- main ------------------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr, "usage: hooks_bench [--case A|B|C|D|all] [--threads 1|2|both] [--pairs N] [--reps R]\n"
                    "                   [--live N] [--per-scope K] [--fifo N] [--no-mem] [--no-bench]\n");
    return 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-mem") == 0) {
            cfg.mem = 0;
        } else if (strcmp(a, "--no-bench") == 0) {
            cfg.bench = 0;
        } else if (!v) {
            return usage();
        } else if (strcmp(a, "--case") == 0) {
            cfg.which_case = v, i++;
        } else if (strcmp(a, "--threads") == 0) {
            cfg.which_threads = v, i++;
        } else if (strcmp(a, "--pairs") == 0) {
            cfg.pairs = strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--reps") == 0) {
            cfg.reps = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--live") == 0) {
            cfg.live = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--fifo") == 0) {
            cfg.fifo = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--per-scope") == 0) {
            cfg.per_scope = (unsigned)strtoul(v, NULL, 10), i++;
        } else {
            return usage();
        }
    }
    if (cfg.reps < 1 || cfg.reps > MAX_REPS || cfg.per_scope < 1 || cfg.per_scope > MAX_PER_SCOPE ||
        cfg.pairs < cfg.per_scope || cfg.fifo < cfg.per_scope)
        return usage();

    int rc;
    if ((rc = nra_stacks_init(65536)) != 0 || (rc = nra_alloc_init(1u << 20, 1u << 16)) != 0) {
        fprintf(stderr, "hooks_bench: init failed: %s\n", strerror(-rc));
        return 1;
    }
    hook_m = (malloc_fn)nra_alloc_hook_for("malloc");
    hook_f = (free_fn)nra_alloc_hook_for("free");
    if (!hook_m || !hook_f) {
        fprintf(stderr, "hooks_bench: no malloc/free hooks\n");
        return 1;
    }

    /* Memory first, in children, before the parent touches the table. */
    if (cfg.mem)
        bench_memory();
    if (!cfg.bench)
        return 0;

    int want_a = strchr(cfg.which_case, 'A') || strcmp(cfg.which_case, "all") == 0;
    int want_b = strchr(cfg.which_case, 'B') || strcmp(cfg.which_case, "all") == 0;
    int want_c = strchr(cfg.which_case, 'C') || strcmp(cfg.which_case, "all") == 0;
    int want_d = strchr(cfg.which_case, 'D') || strcmp(cfg.which_case, "all") == 0;
    unsigned tlist[2], nt = 0;
    if (strcmp(cfg.which_threads, "2") != 0)
        tlist[nt++] = 1;
    if (strcmp(cfg.which_threads, "1") != 0)
        tlist[nt++] = 2;

    printf("\nmalloc+free pairs: %lu per repetition, %u repetitions, real and hooked alternating; "
           "C, D: %u allocations per scope; D: FIFO of %u blocks per thread. ns per pair per thread, "
           "median / min.\n\n",
           cfg.pairs, cfg.reps, cfg.per_scope, cfg.fifo);
    printf("| case | threads | live entries | real ns | hooked ns | overhead ns (median of paired diffs) "
           "| overhead ns (min-min) | target ns | target | stack captures in timed part |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
    for (unsigned t = 0; t < nt; t++) {
        if (want_a)
            bench_case('A', tlist[t]);
        void **keep = NULL;
        if (want_b || want_c || want_d)
            keep = populate(cfg.live, 64);
        if (want_b)
            bench_case('B', tlist[t]);
        if (want_c)
            bench_case('C', tlist[t]);
        if (want_d)
            bench_case('D', tlist[t]);
        if (keep)
            unpopulate(keep, cfg.live);
    }
    return 0;
}
