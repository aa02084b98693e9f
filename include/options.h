/* options — parses the agent's option string ("key=value,key=value").
 *
 * Owns: struct nra_options and the expansion of report path templates.
 * Must not: call JVMTI/JNI, print (errors go to the caller's buffer), or
 * keep pointers into the input string.
 */
#ifndef NRA_OPTIONS_H
#define NRA_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nra_format {
    NRA_FMT_TEXT = 1u << 0,
    NRA_FMT_JSON = 1u << 1,
    NRA_FMT_PPROF = 1u << 2,   /* two files: .heap (gperftools text) and .pb.gz */
    NRA_FMT_HTML = 1u << 3,
    NRA_FMT_COLLAPSED = 1u << 4,  /* folded stacks for flame graphs */
};
#define NRA_FMT_ALL (NRA_FMT_TEXT | NRA_FMT_JSON | NRA_FMT_PPROF | NRA_FMT_HTML | NRA_FMT_COLLAPSED)

enum nra_log_level { NRA_LOG_QUIET = 0, NRA_LOG_INFO = 1, NRA_LOG_DEBUG = 2 };
enum nra_hook_mode { NRA_HOOK_RULE_LIBS = 0, NRA_HOOK_ALL = 1, NRA_HOOK_NONE = 2 };

#define NRA_PATH_MAX 4096

struct nra_options {
    char file[NRA_PATH_MAX];    /* report path template: %p pid, %t ms timestamp, %n report number */
    unsigned formats;           /* bit set of enum nra_format */
    enum nra_log_level log;
    unsigned java_depth;        /* frames kept per creating Java stack */
    unsigned java_sample;       /* 1 = every record; N = see docs/usage.md */
    enum nra_hook_mode hook;
    bool reachability;
    unsigned max_records;       /* registry bound */
    unsigned max_allocs;        /* attributed-allocation table bound */
    unsigned max_sites;         /* allocation-signature cache bound */
    unsigned max_stacks;        /* interned-stack table bound (native + Java) */
    char rules_file[NRA_PATH_MAX]; /* extra rules (docs/usage.md), "" = none */
    unsigned interval;          /* seconds between time-series samples, 0 = off */
    unsigned series_max_kb;     /* the .jsonl file rotates at this size (KiB) */
    bool report_now;            /* "report": command-channel request (Agent_OnAttach) */
};

/* Fills *opts with defaults. */
void nra_options_defaults(struct nra_options *opts);

/* Parses `text` (may be NULL or empty) over the defaults already in *opts.
 * Returns 0, or -EINVAL with a one-line message (without the "nraudit:
 * error:" prefix) in err. */
int nra_options_parse(const char *text, struct nra_options *opts, char *err, size_t err_len);

/* Expands %p, %t, %n (the report's sequence number, from 1) and %% of the
 * template, then appends ext (e.g. ".json").
 * Returns 0 or -ENAMETOOLONG / -EINVAL (unknown % sequence). */
int nra_options_expand_path(const char *tmpl, long pid, uint64_t timestamp_ms, uint64_t seq,
                            const char *ext, char *out, size_t out_len);

/* The path of the report in format f: with one format, a template that
 * already has an extension is used as is; otherwise (and always with several
 * formats, and always for pprof, which writes two files) a known extension
 * (.txt, .json, .heap, .html) is replaced by the format's; alt selects the
 * second file of a format (pprof: .pb.gz). */
int nra_options_report_path(const struct nra_options *opts, enum nra_format f, bool alt, long pid,
                            uint64_t timestamp_ms, uint64_t seq, char *out, size_t out_len);

/* The file template with a known report extension replaced by ext (e.g.
 * ".jsonl" for the time series), expanded. */
int nra_options_path_with_ext(const struct nra_options *opts, const char *ext, long pid,
                              uint64_t timestamp_ms, uint64_t seq, char *out, size_t out_len);

/* The file extension of one format (".txt", ".json", ".heap", ".html"); the
 * pprof format's second file takes nra_format_extension_alt (".pb.gz"). */
const char *nra_format_extension(enum nra_format f);
const char *nra_format_extension_alt(enum nra_format f);

#endif
