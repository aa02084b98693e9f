/* args.c — argument parsing helpers (pure; see cli.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "cli.h"

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cli_parse_pid(const char *s, long *out)
{
    uint64_t v;
    if (cli_parse_u64(s, &v) != 0 || v == 0 || v > INT_MAX)
        return -1;
    *out = (long)v;
    return 0;
}

int cli_parse_seconds(const char *s, double *out)
{
    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0 || v > 86400)
        return -1;
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} kinds[] = {
    {"residue", CLI_KIND_RESIDUE},
    {"finalized_not_freed", CLI_KIND_FINALIZED_NOT_FREED},
    {"collected_not_freed", CLI_KIND_COLLECTED_NOT_FREED},
    {"pending_finalization", CLI_KIND_PENDING_FINALIZATION},
    {"retained", CLI_KIND_RETAINED},
};

unsigned cli_kind_bit(const char *name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(name, kinds[i].name) == 0)
            return kinds[i].bit;
    return 0;
}

int cli_parse_kinds(const char *list, unsigned *out, char *err, size_t err_len)
{
    unsigned set = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char name[64];
        if (n == 0) {
            snprintf(err, err_len, "--fail-on '%s': empty kind; accepted: %s", list, CLI_KINDS_ACCEPTED);
            return -1;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) - 1 ? n : sizeof(name) - 1), p);
        unsigned bit = n < sizeof(name) ? cli_kind_bit(name) : 0;
        if (bit == 0) {
            snprintf(err, err_len, "--fail-on: unknown finding kind '%.*s'; accepted: %s", (int)n, p,
                     CLI_KINDS_ACCEPTED);
            return -1;
        }
        set |= bit;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = set;
    return 0;
}

void cli_kinds_str(unsigned set, char *out, size_t out_len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!(set & kinds[i].bit))
            continue;
        int w = snprintf(out + n, out_len - n, "%s%s", n ? "," : "", kinds[i].name);
        if (w < 0 || (size_t)w >= out_len - n)
            return;
        n += (size_t)w;
    }
}

int cli_opt_value(const char *arg, const char *name, int *i, int argc, char **argv, const char **value)
{
    if (arg[0] != '-' || arg[1] != '-')
        return 0;
    size_t n = strlen(name);
    if (strncmp(arg + 2, name, n) != 0)
        return 0;
    const char *rest = arg + 2 + n;
    if (*rest == '=') {
        *value = rest + 1;
        return 1;
    }
    if (*rest != '\0')
        return 0;
    if (*i + 1 >= argc)
        cli_die("option --%s needs a value", name);
    *i += 1;
    *value = argv[*i];
    return 1;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void cli_reject_option(const char *verb, const char *arg)
{
    if (arg[0] == '-' && arg[1] != '\0')
        cli_die("%s: unknown option '%s' (try 'nraudit %s --help')", verb, arg, verb);
}
