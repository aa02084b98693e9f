/* known_leaks — the table of known native leaks (data/known-leaks.tsv,
 * compiled in) and matching a residue site against it.
 *
 * Owns: parsing the table and comparing versions. Must not: call JVMTI/JNI
 * (the artifact version is read by artifact_version.c).
 */
#ifndef NRA_KNOWN_LEAKS_H
#define NRA_KNOWN_LEAKS_H

#include <stddef.h>
#include <stdint.h>

struct nra_known_leak {
    char id[64];
    char artifact[64];
    char first[32], last[32];
    char native[192];
    uint64_t size;
    char scope[8];
    char fix[192];
};

/* The built-in table (parsed once). Returns the entry count. */
size_t nra_known_leaks(const struct nra_known_leak **out);

/* Parses TSV text into out (max entries). Returns the count or -EINVAL with
 * the bad line number in *bad_line. */
int nra_known_leaks_parse(const char *text, struct nra_known_leak *out, size_t max, int *bad_line);

/* Compares Maven-style versions ("2.0.28.Final"): numeric parts numerically,
 * then the qualifier as text. <0, 0, >0. */
int nra_version_compare(const char *a, const char *b);

/* The entry matching a site, or NULL. version may be NULL (unknown): then no
 * entry matches (a version outside the range must not be called a match). */
const struct nra_known_leak *nra_known_leak_match(const struct nra_known_leak *table, size_t n,
                                                  const char *native, uint64_t size_each, const char *scope,
                                                  const char *artifact, const char *version);

#endif
