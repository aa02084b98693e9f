/* rules.c — see include/rules.h. */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void set_rule(struct nra_rule *r, const char *name, const char *owner, const char *field,
                     const char *native_class, const char *am, const char *as,
                     const char *fm, const char *fs, bool use, bool finalizable)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->owner_class, sizeof(r->owner_class), "%s", owner);
    snprintf(r->handle_field, sizeof(r->handle_field), "%s", field);
    snprintf(r->native_class, sizeof(r->native_class), "%s", native_class);
    snprintf(r->alloc_method, sizeof(r->alloc_method), "%s", am);
    snprintf(r->alloc_sig, sizeof(r->alloc_sig), "%s", as);
    snprintf(r->free_method, sizeof(r->free_method), "%s", fm);
    snprintf(r->free_sig, sizeof(r->free_sig), "%s", fs);
    r->use_natives = use;
    r->finalizable = finalizable;
}

void nra_rules_builtin(struct nra_ruleset *rs)
{
    memset(rs, 0, sizeof(*rs));
    set_rule(&rs->rule[rs->count++], "netty-tcnative-ssl",
             "io/netty/handler/ssl/ReferenceCountedOpenSslEngine", "ssl",
             "io/netty/internal/tcnative/SSL", "newSSL", "(JZ)J", "freeSSL", "(J)V", true, true);
    set_rule(&rs->rule[rs->count++], "netty-tcnative-ctx",
             "io/netty/handler/ssl/ReferenceCountedOpenSslContext", "ctx",
             "io/netty/internal/tcnative/SSLContext", "make", "(II)J", "free", "(J)I", true, true);
}

bool nra_class_matches(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n >= 2 && name[0] == 'L' && name[n - 1] == ';') {
        name++;
        n -= 2;
    }
    if (s == 0 || n < s || strncmp(name + n - s, suffix, s) != 0)
        return false;
    return n == s || name[n - s - 1] == '/';
}

/* Skips one field type at *p; returns its first character or 0 if malformed. */
static char skip_type(const char **p)
{
    const char *q = *p;
    while (*q == '[')
        q++;
    char c = *q;
    if (c == 'L') {
        q = strchr(q, ';');
        if (!q)
            return 0;
    } else if (!strchr("BCDFIJSZ", c) || c == '\0') {
        return 0;
    }
    char first = **p == '[' ? '[' : c;
    *p = q + 1;
    return first;
}

int nra_descriptor_params(const char *desc, int *n_int, int *n_float, char *first, char *ret)
{
    const char *p = desc;
    int ni = 0, nf = 0;
    char f = 0;
    if (*p++ != '(')
        return -EINVAL;
    while (*p && *p != ')') {
        char t = skip_type(&p);
        if (t == 0)
            return -EINVAL;
        if (!f)
            f = t;
        if (t == 'F' || t == 'D')
            nf++;
        else
            ni++;
    }
    if (*p++ != ')')
        return -EINVAL;
    char r = *p;
    if (r == 'V')
        p++;
    else if (skip_type(&p) == 0)
        return -EINVAL;
    if (*p != '\0')
        return -EINVAL;
    *n_int = ni;
    *n_float = nf;
    *first = f;
    *ret = r;
    return 0;
}

static enum nra_role use_role(const char *sig, const char **reason)
{
    int ni, nf;
    char first, ret;
    if (nra_descriptor_params(sig, &ni, &nf, &first, &ret) != 0 || first != 'J')
        return NRA_ROLE_NONE;
    if (nf > 0 || ret == 'F' || ret == 'D') {
        *reason = "float/double parameter or result";
        return NRA_ROLE_SKIPPED;
    }
    if (ni > NRA_MAX_WRAPPED_PARAMS) {
        *reason = "more than 8 parameters";
        return NRA_ROLE_SKIPPED;
    }
    return NRA_ROLE_USE;
}

bool nra_rules_match_native(const struct nra_ruleset *rs, const char *class_sig,
                            const char *method, const char *method_sig, struct nra_match *m)
{
    for (int i = 0; i < rs->count; i++) {
        const struct nra_rule *r = &rs->rule[i];
        if (!nra_class_matches(class_sig, r->native_class))
            continue;
        m->rule = i;
        m->skip_reason = NULL;
        if (strcmp(method, r->alloc_method) == 0 && strcmp(method_sig, r->alloc_sig) == 0)
            m->role = NRA_ROLE_ALLOC;
        else if (strcmp(method, r->free_method) == 0 && strcmp(method_sig, r->free_sig) == 0)
            m->role = NRA_ROLE_FREE;
        else if (r->use_natives)
            m->role = use_role(method_sig, &m->skip_reason);
        else
            m->role = NRA_ROLE_NONE;
        if (m->role != NRA_ROLE_NONE)
            return true;
    }
    return false;
}

int nra_rules_owner_rule(const struct nra_ruleset *rs, const char *class_name)
{
    for (int i = 0; i < rs->count; i++)
        if (nra_class_matches(class_name, rs->rule[i].owner_class))
            return i;
    return -1;
}

/* ---- rules file -----------------------------------------------------------
 * One rule per line, whitespace-separated fields, '#' starts a comment:
 *   name owner_class handle_field native_class alloc_method alloc_sig
 *   free_method free_sig use=yes|no finalizable=yes|no
 */
static int parse_flag(const char *tok, const char *key, bool *out)
{
    size_t k = strlen(key);
    if (strncmp(tok, key, k) != 0 || tok[k] != '=')
        return -EINVAL;
    if (strcmp(tok + k + 1, "yes") == 0)
        *out = true;
    else if (strcmp(tok + k + 1, "no") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

static int parse_rule_line(char *line, struct nra_rule *r)
{
    char *tok[10];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == 10)
            return -EINVAL;
        if (strlen(t) >= NRA_RULE_STR)
            return -EINVAL;
        tok[n++] = t;
    }
    if (n != 10)
        return -EINVAL;
    bool use, fin;
    if (parse_flag(tok[8], "use", &use) || parse_flag(tok[9], "finalizable", &fin))
        return -EINVAL;
    for (int i = 1; i < 8; i++)
        for (char *c = tok[i]; *c; c++)
            if (*c == '.' && i != 5 && i != 7)
                *c = '/';
    int ni, nf;
    char first, ret;
    if (nra_descriptor_params(tok[5], &ni, &nf, &first, &ret) || ret != 'J' ||
        nra_descriptor_params(tok[7], &ni, &nf, &first, &ret) || first != 'J')
        return -EINVAL;
    set_rule(r, tok[0], tok[1], tok[2], tok[3], tok[4], tok[5], tok[6], tok[7], use, fin);
    return 0;
}

int nra_rules_load_file(struct nra_ruleset *rs, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, err_len, "rules=%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            continue;
        if (rs->count == NRA_MAX_RULES) {
            snprintf(err, err_len, "rules=%s:%d: more than %d rules", path, lineno, NRA_MAX_RULES);
            rc = -EINVAL;
            break;
        }
        if (parse_rule_line(p, &rs->rule[rs->count]) != 0) {
            snprintf(err, err_len,
                     "rules=%s:%d: expected 'name owner_class handle_field native_class alloc_method "
                     "alloc_sig(returns J) free_method free_sig(J first) use=yes|no finalizable=yes|no'",
                     path, lineno);
            rc = -EINVAL;
            break;
        }
        rs->count++;
    }
    fclose(f);
    return rc;
}
