/* stacks — interns call stacks (native PCs, or Java method/location pairs)
 * into small ids.
 *
 * Owns: the interned stack table (bounded; drops are counted).
 * Must not: call JVMTI/JNI, or allocate through a hooked allocator (it runs
 * inside the malloc hooks: the agent's own calls to malloc reach libc
 * directly because the agent's GOT is never patched).
 */
#ifndef NRA_STACKS_H
#define NRA_STACKS_H

#include <stddef.h>
#include <stdint.h>

#define NRA_STACK_MAX_FRAMES 64

enum nra_stack_kind { NRA_STACK_NATIVE = 0, NRA_STACK_JAVA = 1 };

/* Sets the bound on distinct stacks; clears the table. */
int nra_stacks_init(unsigned max_stacks);

/* Returns the id (>= 1) of this exact frame sequence, or 0 when the table is
 * full (counted in nra_stacks_dropped) or n is 0. Frames beyond
 * NRA_STACK_MAX_FRAMES are cut. */
uint32_t nra_stack_intern(enum nra_stack_kind kind, const uintptr_t *frames, unsigned n);

/* Copies up to max frames of stack `id` into out; returns the count, or 0. */
unsigned nra_stack_get(uint32_t id, uintptr_t *out, unsigned max);

uint64_t nra_stacks_dropped(void);
unsigned nra_stacks_count(void);

#endif
