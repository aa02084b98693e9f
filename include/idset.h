/* idset — a growable set of non-zero 64-bit ids (open addressing), used at
 * report time to remember which owner tags a heap walk met.
 *
 * Owns: its table. Must not: be used on hot paths (it may allocate).
 */
#ifndef NRA_IDSET_H
#define NRA_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nra_idset {
    uint64_t *slots;
    size_t cap, count;
    bool oom;       /* an insert failed for lack of memory */
};

/* Adds id (non-zero). Returns true if it was new. */
bool nra_idset_add(struct nra_idset *s, uint64_t id);
bool nra_idset_has(const struct nra_idset *s, uint64_t id);
void nra_idset_free(struct nra_idset *s);

#endif
