/*
 * classfile — parse and rewrite Java class files: pure bytes in, bytes out.
 *
 * Owns: reading a class file's names, and inserting
 * `aload_0; invokestatic <hook>(Ljava/lang/Object;)V` (4 bytes) at the entry
 * or before every `return` of chosen instance methods, with everything that
 * insertion must update (constant pool, code length, max_stack, branch and
 * switch offsets, exception table, StackMapTable, LineNumberTable,
 * LocalVariable(Type)Table; offset-bearing Code sub-attributes it does not
 * understand are dropped).
 * Must not touch: JVMTI/JNI (the ClassFileLoadHook glue is instrument.c), the
 * registry, or any global state. It is reentrant, allocates only what it
 * returns, and never reads outside the buffer it is given: malformed input
 * gives -EINVAL, never a crash, and on error nothing is returned.
 */
#ifndef NRAUDIT_CLASSFILE_H
#define NRAUDIT_CLASSFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The descriptor every hook method must have. */
#define NRA_CF_HOOK_DESC "(Ljava/lang/Object;)V"

enum nra_cf_where { NRA_CF_AT_ENTRY, NRA_CF_BEFORE_RETURN };

struct nra_cf_insertion {
    /* e.g. "<init>" or "finalize"; NULL matches every method, except that an
       AT_ENTRY insertion with a NULL name never applies to constructors. */
    const char *method_name;
    const char *method_desc; /* e.g. "()V", or NULL for any descriptor */
    enum nra_cf_where where;
};

/*
 * Inserts `aload_0; invokestatic hook_class.hook_method(Ljava/lang/Object;)V`
 * at method entry or before every `return` opcode (0xb1) of each matching
 * method. Static methods and methods without code are skipped (not counted).
 * A method matched by several insertions gets at most one entry insertion and
 * one insertion per `return`. A branch or exception handler that targets a
 * `return` lands on the inserted code; a branch to offset 0 lands after the
 * entry code (the entry hook runs once per call).
 *
 * On success returns 0, *out is malloc'd (caller frees), *n_changed counts
 * the methods changed (0: *out is NULL, *out_len 0, the class needs no change).
 * On any error *out is NULL and:
 *   -EINVAL   malformed class file, or bad arguments;
 *   -ENOTSUP  cannot be done safely: entry insertion into a constructor, the
 *             code would exceed 65535 bytes, a 16-bit branch would overflow,
 *             the constant pool would exceed 65535 entries, jsr/ret present,
 *             or (for code before a `return`) the method stores to local 0
 *             or a StackMapTable frame may not hold `this` there;
 *   -ENOMEM   out of memory.
 * Only methods that would change are checked for -ENOTSUP conditions.
 */
int nra_cf_rewrite(const uint8_t *in, size_t in_len,
                   const char *hook_class, const char *hook_method,
                   const struct nra_cf_insertion *ins, size_t n_ins,
                   uint8_t **out, size_t *out_len, unsigned *n_changed);

/*
 * Reads this_class and super_class names (internal form, with '/'; super is
 * "" for java/lang/Object and module-info) and whether the class declares a
 * non-static, non-abstract method `finalize()V`. name/super_name may be NULL
 * (with length 0) when not wanted; declares_finalize may be NULL.
 * Returns 0, -EINVAL (malformed) or -ERANGE (a buffer is too small; the
 * buffers then hold empty strings).
 */
int nra_cf_class_info(const uint8_t *in, size_t in_len,
                      char *name, size_t name_len,
                      char *super_name, size_t super_len,
                      bool *declares_finalize);

#endif /* NRAUDIT_CLASSFILE_H */
