/* rules — what the agent audits: owner classes, their handle field and the
 * JNI natives that allocate, free and use the handle. Rules are data.
 *
 * Owns: the rule table (built-ins plus an optional rules file) and the
 * matching of bound natives and loaded classes against it.
 * Must not: call JVMTI/JNI or allocate after nra_rules_load (the table is
 * read from hot paths without locks once loading is done).
 */
#ifndef NRA_RULES_H
#define NRA_RULES_H

#include <stdbool.h>
#include <stddef.h>

#define NRA_MAX_RULES 16
#define NRA_RULE_STR 128

struct nra_rule {
    char name[NRA_RULE_STR];          /* e.g. "netty-tcnative-ssl" */
    char owner_class[NRA_RULE_STR];   /* internal form, matched by suffix */
    char handle_field[NRA_RULE_STR];  /* long field of the owner holding the handle */
    char native_class[NRA_RULE_STR];  /* class declaring the natives, by suffix */
    char alloc_method[NRA_RULE_STR], alloc_sig[NRA_RULE_STR];
    char free_method[NRA_RULE_STR], free_sig[NRA_RULE_STR];
    bool use_natives;   /* other natives of native_class taking the handle first */
    bool finalizable;   /* the owner (or a subclass) may free from finalize() */
};

struct nra_ruleset {
    struct nra_rule rule[NRA_MAX_RULES];
    int count;
};

enum nra_role {
    NRA_ROLE_NONE = 0,
    NRA_ROLE_ALLOC,   /* returns the handle */
    NRA_ROLE_FREE,    /* takes the handle as its first argument */
    NRA_ROLE_USE,     /* takes the handle as its first argument */
    NRA_ROLE_SKIPPED, /* would be a use native, but cannot be wrapped */
};

/* Most integer-class Java parameters a wrapped native may have (the
 * generic wrapper forwards this many argument registers and stack slots). */
#define NRA_MAX_WRAPPED_PARAMS 8

struct nra_match {
    int rule;
    enum nra_role role;
    const char *skip_reason; /* for NRA_ROLE_SKIPPED */
};

/* The built-in netty-tcnative rules. */
void nra_rules_builtin(struct nra_ruleset *rs);

/* Appends the rules of a rules file (see docs/usage.md). Returns 0, or
 * -errno / -EINVAL with a one-line message naming the file and line. */
int nra_rules_load_file(struct nra_ruleset *rs, const char *path, char *err, size_t err_len);

/* True when the internal class name `name` ends with `suffix` at a package
 * boundary ("shaded/io/netty/X" matches "io/netty/X"; "io/netty/YX" does not).
 * Accepts the JVM signature form "Lname;" too. */
bool nra_class_matches(const char *name, const char *suffix);

/* Classifies a native being bound. class_sig is a JVM type signature or an
 * internal name. Returns true when the native belongs to a rule. */
bool nra_rules_match_native(const struct nra_ruleset *rs, const char *class_sig,
                            const char *method, const char *method_sig, struct nra_match *m);

/* The rule whose owner class is `class_name` (suffix match), or -1. */
int nra_rules_owner_rule(const struct nra_ruleset *rs, const char *class_name);

/* Counts the parameters of a method descriptor: integer-class ones and
 * float/double ones. Returns -EINVAL on a malformed descriptor. */
int nra_descriptor_params(const char *desc, int *n_int, int *n_float, char *first, char *ret);

#endif
