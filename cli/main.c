/* main.c — nraudit: verb dispatch, help texts, the one-line error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_usage_main[] =
    "usage: nraudit <verb> [options] [arguments]\n"
    "\n"
    "Gets and reads the reports of the nraudit JVMTI agent (libnraudit.so).\n"
    "\n"
    "verbs:\n"
    "  dump <pid>                   ask the agent in a running JVM for a fresh report\n"
    "  check <report.json>          gate: exit 1 if the report has leak findings\n"
    "  diff <base.json> <new.json>  growth from base to new, per rule and per residue site\n"
    "  help [verb]                  this text, or a verb's\n"
    "\n"
    "'nraudit help <verb>' or 'nraudit <verb> --help' shows a verb's options.\n"
    "'nraudit --version' prints the version.\n"
    "\n"
    "exit status: 0 done (check: passed), 1 check failed, 2 error (one line\n"
    "'nraudit: error: ...' on stderr).\n";

const char cli_usage_dump[] =
    "usage: nraudit dump <pid> [--format text|json|html] [--out FILE] [--timeout S]\n"
    "\n"
    "Asks the nraudit agent in the running JVM <pid> for a fresh report (trigger\n"
    "\"command\") and prints it to stdout, or saves it to FILE. The JVM must have\n"
    "been started with -agentpath:/path/to/libnraudit.so. nraudit finds that path\n"
    "in /proc/<pid>/maps and runs\n"
    "\n"
    "  jcmd <pid> JVMTI.agent_load \"<agent path>\" \"report,format=F,file=<temp file>\"\n"
    "\n"
    "with jcmd from $JAVA_HOME/bin, else next to the JVM's java, else on PATH. The\n"
    "temp file is new and removed afterwards. jcmd must run as the JVM's user: run\n"
    "nraudit as that user (run as root, nraudit runs jcmd as that user itself).\n"
    "\n"
    "options:\n"
    "  --format F   text (default), json or html (html: only agents that write it)\n"
    "  --out FILE   write the report to FILE (mode 0600, replaced atomically), not stdout\n"
    "  --timeout S  give up after S seconds (default 60; decimals allowed)\n";

const char cli_usage_check[] =
    "usage: nraudit check <report.json> [--fail-on KINDS] [--max-bytes N] [--allow-unaudited]\n"
    "\n"
    "A gate for CI and staging over an nraudit JSON report (schema\n"
    "nraudit/report-v1; '-' reads stdin). Exit status: 0 pass; 1 findings of the\n"
    "given kinds; 2 bad arguments or report; 3 inconclusive: nothing was audited\n"
    "(no native of any rule was bound), unless --allow-unaudited.\n"
    "Prints one line per finding, then the verdict:\n"
    "\n"
    "  finding [rule] kind owners=N bytes=N: summary\n"
    "  ignored [rule] kind owners=N bytes=N: summary   (kind not in --fail-on)\n"
    "  FAIL: ... | PASS: ...\n"
    "\n"
    "options:\n"
    "  --fail-on KINDS  comma-separated finding kinds that fail the check, from\n"
    "                   residue, finalized_not_freed, collected_not_freed,\n"
    "                   pending_finalization (default:\n"
    "                   residue,finalized_not_freed,collected_not_freed)\n"
    "  --max-bytes N    pass while the bytes of those findings sum to at most N\n"
    "                   (findings of 0 bytes then pass too)\n"
    "  --allow-unaudited  a report that audited nothing passes (exit 0)\n";

const char cli_usage_diff[] =
    "usage: nraudit diff <base.json> <new.json>\n"
    "\n"
    "What grew from the base report to the new one (like pprof --base):\n"
    "  - per rule: allocated, freed, outstanding, each class count, residue\n"
    "    bytes and allocations: base, new and the difference;\n"
    "  - residue sites that are new or grew, most byte growth first, with their\n"
    "    native stack and the top of a Java stack that reached them.\n"
    "Sites match across reports by rule, scope and native stack (library+offset\n"
    "of each frame), so the reports may come from different runs of the same\n"
    "binaries. Exits 0 for two valid reports ('-' reads one of them from stdin).\n";

static void (*cleanup_fn)(void);

void cli_set_cleanup(void (*fn)(void))
{
    cleanup_fn = fn;
}

_Noreturn void cli_die(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cleanup_fn) {
        void (*fn)(void) = cleanup_fn;
        cleanup_fn = NULL;
        fn();
    }
    /* One line, whatever the message quotes (jcmd output, file contents). */
    char line[sizeof(msg) * 2];
    size_t n = 0;
    for (const char *p = msg; *p && n + 3 < sizeof(line); p++) {
        if (*p == '\n' || *p == '\r') {
            while (p[1] == '\n' || p[1] == '\r')
                p++;
            if (p[1] != '\0' && n > 0) {
                line[n++] = ';';
                line[n++] = ' ';
            }
        } else {
            line[n++] = (*p == '\t') ? ' ' : *p;
        }
    }
    line[n] = '\0';
    fflush(stdout);
    fprintf(stderr, "nraudit: error: %s\n", line);
    exit(CLI_EXIT_ERROR);
}

_Noreturn void cli_help(const char *text)
{
    fputs(text, stdout);
    exit(fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR);
}

static const char *verb_help(const char *verb)
{
    if (strcmp(verb, "dump") == 0)
        return cli_usage_dump;
    if (strcmp(verb, "check") == 0)
        return cli_usage_check;
    if (strcmp(verb, "diff") == 0)
        return cli_usage_diff;
    if (strcmp(verb, "help") == 0)
        return cli_usage_main;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        cli_die("no verb given; verbs: dump, check, diff, help (try 'nraudit --help')");
    const char *verb = argv[1];
    if (cli_is_help(verb))
        cli_help(cli_usage_main);
    if (strcmp(verb, "--version") == 0) {
        printf("nraudit %s\n", NRAUDIT_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(verb, "help") == 0) {
        if (argc > 3)
            cli_die("help takes at most one verb (try 'nraudit --help')");
        if (argc == 2)
            cli_help(cli_usage_main);
        const char *text = verb_help(argv[2]);
        if (!text)
            cli_die("unknown verb '%s'; verbs: dump, check, diff, help", argv[2]);
        cli_help(text);
    }
    if (strcmp(verb, "dump") == 0)
        return cli_dump(argc - 1, argv + 1);
    if (strcmp(verb, "check") == 0)
        return cli_check(argc - 1, argv + 1);
    if (strcmp(verb, "diff") == 0)
        return cli_diff(argc - 1, argv + 1);
    if (verb[0] == '-')
        cli_die("unknown option '%s' (options come after the verb; try 'nraudit --help')", verb);
    cli_die("unknown verb '%s'; verbs: dump, check, diff, help (try 'nraudit --help')", verb);
}
