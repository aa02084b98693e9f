/* cli.h — the nraudit command-line tool (cli/): shared declarations.
 *
 * Exit status: 0 success / check passed, 1 check failed, 2 error. Every
 * error is exactly one line "nraudit: error: ..." on stderr. */
#ifndef NRAUDIT_CLI_H
#define NRAUDIT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_ERROR 2
#define CLI_EXIT_INCONCLUSIVE 3   /* check: nothing was audited */

#ifndef NRAUDIT_VERSION
#define NRAUDIT_VERSION "unknown"
#endif

/* ---- errors (main.c) ---------------------------------------------------- */

/* Prints "nraudit: error: <message>" as one line on stderr (newlines in the
 * message become "; ") and exits 2. */
_Noreturn void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs before cli_die exits (dump removes its temp directory). */
void cli_set_cleanup(void (*fn)(void));

/* ---- help (main.c) ------------------------------------------------------ */

extern const char cli_usage_main[], cli_usage_dump[], cli_usage_check[], cli_usage_diff[];
/* Prints a verb's help to stdout and exits 0. */
_Noreturn void cli_help(const char *text);

/* ---- arguments (args.c): pure functions, 0 on success, -1 on bad input -- */

/* A whole decimal number, digits only (no sign, no spaces, no suffix). */
int cli_parse_u64(const char *s, uint64_t *out);
/* A pid: 1 .. 2^31-1. */
int cli_parse_pid(const char *s, long *out);
/* Seconds: a decimal number, 0 < s <= 86400 (e.g. 30, 2.5). */
int cli_parse_seconds(const char *s, double *out);

/* Finding kinds known to the contract, as bits. */
enum cli_kind {
    CLI_KIND_RESIDUE = 1u << 0,
    CLI_KIND_FINALIZED_NOT_FREED = 1u << 1,
    CLI_KIND_COLLECTED_NOT_FREED = 1u << 2,
    CLI_KIND_PENDING_FINALIZATION = 1u << 3,
    CLI_KIND_RETAINED = 1u << 4,      /* residue that is bounded state, not a leak */
};
#define CLI_KINDS_DEFAULT (CLI_KIND_RESIDUE | CLI_KIND_FINALIZED_NOT_FREED | CLI_KIND_COLLECTED_NOT_FREED)
#define CLI_KINDS_ACCEPTED "residue, finalized_not_freed, collected_not_freed, pending_finalization, retained"
/* The bit of a kind name; 0 if unknown. */
unsigned cli_kind_bit(const char *name);
/* "a,b,c" -> bits. On error writes a message (without "nraudit: error:"). */
int cli_parse_kinds(const char *list, unsigned *out, char *err, size_t err_len);
/* Writes the names of the set bits, comma-joined. */
void cli_kinds_str(unsigned kinds, char *out, size_t out_len);

/* Option matching: if arg is "--name" or "--name=value", returns 1 and sets
 * *value (from "=value", else from the next argv item, advancing *i; dies if
 * there is none). Returns 0 if arg is not that option. */
int cli_opt_value(const char *arg, const char *name, int *i, int argc, char **argv, const char **value);
/* True for "-h" and "--help". */
bool cli_is_help(const char *arg);
/* Dies with "unknown option" if arg looks like an option ("-x", "--x"). */
void cli_reject_option(const char *verb, const char *arg);

/* ---- reports (report.c) ------------------------------------------------- */

/* Reads and parses PATH ("-" = stdin) and checks it is an nraudit report;
 * dies (exit 2) otherwise. The caller json_object_put()s it. */
json_object *cli_load_report(const char *path);
/* Checks the parts of the contract check and diff read. 0 or -1 + err. */
int cli_report_validate(json_object *r, char *err, size_t err_len);
/* Parses text as one JSON value (nothing but whitespace after it). */
json_object *cli_parse_json(const char *text, size_t len, char *err, size_t err_len);

/* Accessors for validated reports: a missing or mistyped key reads as
 * NULL / 0 / "". */
json_object *cli_get(json_object *o, const char *key);
int64_t cli_int(json_object *o, const char *key);
const char *cli_str(json_object *o, const char *key);
/* An optional (unvalidated) count, clamped into 0 .. CLI_COUNT_MAX. */
int64_t cli_count(json_object *o, const char *key);
size_t cli_len(json_object *array);
json_object *cli_at(json_object *array, size_t i);

/* Largest count a valid report holds (2^53). */
#define CLI_COUNT_MAX ((int64_t)1 << 53)
/* a + b, both >= 0, saturating at INT64_MAX / 2 (differences stay defined). */
static inline int64_t cli_add(int64_t a, int64_t b)
{
    const int64_t cap = INT64_MAX / 2;
    return a > cap - b ? cap : a + b;
}

/* The count keys of a resource, in report order. */
extern const char *const cli_count_keys[];
extern const size_t cli_n_count_keys;

/* ---- verbs -------------------------------------------------------------- */

int cli_dump(int argc, char **argv);  /* argv[0] == "dump" */
int cli_check(int argc, char **argv);
int cli_diff(int argc, char **argv);

#endif
