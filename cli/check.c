/* check.c — nraudit check: a pass/fail gate over a JSON report. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void finding_line(const char *tag, json_object *res, json_object *f)
{
    printf("%s [%s] %s owners=%" PRId64 " bytes=%" PRId64 ": %s\n", tag, cli_str(res, "rule"),
           cli_str(f, "kind"), cli_int(f, "owners"), cli_int(f, "bytes"), cli_str(f, "summary"));
}

/* Lines that say the report may under-count (printed, never failing). */
static void caveats(json_object *r)
{
    json_object *agent = cli_get(r, "agent");
    json_object *reach = cli_get(agent, "reachability");
    json_object *done = cli_get(reach, "done");
    if (done && json_object_is_type(done, json_type_boolean) && !json_object_get_boolean(done))
        printf("note: the report ran no reachability walk: outstanding handles count as live, so "
               "finalized_not_freed, collected_not_freed and pending_finalization read 0\n");
    json_object *bounds = cli_get(agent, "bounds");
    if (!bounds) {   /* a report from before bounds were listed */
        int64_t dropped = cli_count(agent, "dropped");
        if (dropped > 0)
            printf("note: the agent dropped %" PRId64 " entries at its bounds: counts are lower bounds\n", dropped);
        return;
    }
    for (size_t i = 0; i < cli_len(bounds); i++) {
        json_object *b = cli_at(bounds, i);
        int64_t dropped = cli_count(b, "dropped"), degraded = cli_count(b, "degraded");
        const char *option = cli_str(b, "option");
        /* the scope budget only leaves sites unnamed: no number changes */
        if (dropped <= 0 && (degraded <= 0 || strcmp(cli_str(b, "table"), "scope budget") == 0))
            continue;
        printf("note: bound %s%s%s%s: %" PRId64 " dropped, %" PRId64 " degraded: %s\n", cli_str(b, "table"),
               option[0] ? " (" : "", option, option[0] ? ")" : "", dropped > 0 ? dropped : 0,
               degraded > 0 ? degraded : 0, cli_str(b, "effect"));
    }
}

int cli_check(int argc, char **argv)
{
    const char *path = NULL, *v = NULL;
    unsigned fail_on = CLI_KINDS_DEFAULT;
    bool have_max = false, allow_unaudited = false;
    uint64_t max_bytes = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && cli_is_help(a)) {
            cli_help(cli_usage_check);
        } else if (!opts_done && cli_opt_value(a, "fail-on", &i, argc, argv, &v)) {
            char err[256];
            if (cli_parse_kinds(v, &fail_on, err, sizeof(err)) != 0)
                cli_die("%s", err);
        } else if (!opts_done && strcmp(a, "--allow-unaudited") == 0) {
            allow_unaudited = true;
        } else if (!opts_done && cli_opt_value(a, "max-bytes", &i, argc, argv, &v)) {
            if (cli_parse_u64(v, &max_bytes) != 0)
                cli_die("--max-bytes '%s': expected a whole number of bytes (e.g. 65536)", v);
            have_max = true;
        } else {
            if (!opts_done)
                cli_reject_option("check", a);
            if (path)
                cli_die("check takes one report, got '%s' and '%s' (try 'nraudit check --help')", path, a);
            path = a;
        }
    }
    if (!path)
        cli_die("check needs a report file (try 'nraudit check --help')");

    json_object *r = cli_load_report(path);
    char kinds[160];
    cli_kinds_str(fail_on, kinds, sizeof(kinds));
    printf("nraudit check: %s (pid %" PRId64 ", trigger %s, uptime %.1f s)\n", path, cli_int(r, "pid"),
           cli_str(r, "trigger"), (double)cli_int(r, "uptime_ms") / 1000.0);
    caveats(r);

    uint64_t n = 0, bytes = 0;
    json_object *res = cli_get(r, "resources");
    /* Failing findings first, then the ignored ones. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cli_len(res); i++) {
            json_object *one = cli_at(res, i);
            json_object *lists[2] = {cli_get(one, "findings"), cli_get(one, "retained_findings")};
            for (size_t j = 0; j < cli_len(lists[0]) + cli_len(lists[1]); j++) {
                json_object *f = j < cli_len(lists[0]) ? cli_at(lists[0], j) : cli_at(lists[1], j - cli_len(lists[0]));
                bool counted = (cli_kind_bit(cli_str(f, "kind")) & fail_on) != 0;
                if (pass == 0 && counted) {
                    finding_line("finding", one, f);
                    n++;
                    bytes = (uint64_t)cli_add((int64_t)bytes, cli_int(f, "bytes"));
                } else if (pass == 1 && !counted) {
                    finding_line("ignored", one, f);
                }
            }
        }
    }

    int rc;
    const char *s = n == 1 ? "" : "s";
    json_object *audited = cli_get(cli_get(r, "agent"), "audited");
    bool nothing_audited = audited && json_object_is_type(audited, json_type_boolean) &&
                           !json_object_get_boolean(audited);
    for (size_t i = 0; nothing_audited && i < cli_len(res); i++)
        printf("not audited [%s]: %s\n", cli_str(cli_at(res, i), "rule"),
               cli_str(cli_at(res, i), "unaudited_reason"));
    if (n == 0 && nothing_audited && !allow_unaudited) {
        printf("INCONCLUSIVE: nothing audited: no native of any rule was bound "
               "(--allow-unaudited makes this a pass)\n");
        rc = CLI_EXIT_INCONCLUSIVE;
    } else if (n == 0) {
        printf("PASS: no findings of kinds %s\n", kinds);
        rc = CLI_EXIT_OK;
    } else if (have_max && bytes <= max_bytes) {
        printf("PASS: %" PRIu64 " finding%s, %" PRIu64 " bytes, within --max-bytes %" PRIu64 " (kinds %s)\n", n, s,
               bytes, max_bytes, kinds);
        rc = CLI_EXIT_OK;
    } else if (have_max) {
        printf("FAIL: %" PRIu64 " finding%s, %" PRIu64 " bytes, over --max-bytes %" PRIu64 " (kinds %s)\n", n, s,
               bytes, max_bytes, kinds);
        rc = CLI_EXIT_FAIL;
    } else {
        printf("FAIL: %" PRIu64 " finding%s, %" PRIu64 " bytes (kinds %s)\n", n, s, bytes, kinds);
        rc = CLI_EXIT_FAIL;
    }
    json_object_put(r);
    if (fflush(stdout) != 0)
        cli_die("cannot write the result to stdout");
    return rc;
}
