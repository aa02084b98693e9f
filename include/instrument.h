/* instrument — ClassFileLoadHook glue: rewrites owner classes so their
 * constructors report `this` (Hooks.constructed<k>) and finalize() methods
 * report entry (Hooks.finalizing); defines nraudit/Hooks in the boot loader
 * and implements its natives; follows owners through ObjectFree.
 *
 * Owns: the owner tags (tag = record id) and the per-rule handle field
 * cache. Must not: hold global references to owners (they would become GC
 * roots), call GetLocalInstance/GetLocalObject, or let an exception escape
 * into application code.
 */
#ifndef NRA_INSTRUMENT_H
#define NRA_INSTRUMENT_H

#include <jvmti.h>
#include <stdbool.h>
#include <stdint.h>

/* Tags at or above this value mark classes, not owners (heapwalk.c). */
#define NRA_TAG_CLASS_MARK ((jlong)1 << 62)

/* An owner's tag: its record id, with the rule in bits 48..55 so the rule
 * is known even after the record retired (freed). */
#define NRA_TAG_ID_BITS 48
static inline jlong nra_owner_tag(int rule, uint64_t id)
{
    return (jlong)(((uint64_t)rule << NRA_TAG_ID_BITS) | id);
}
static inline bool nra_tag_is_owner(jlong tag)
{
    return tag > 0 && tag < NRA_TAG_CLASS_MARK;
}
static inline uint64_t nra_tag_id(jlong tag)
{
    return (uint64_t)tag & (((uint64_t)1 << NRA_TAG_ID_BITS) - 1);
}
static inline int nra_tag_rule(jlong tag)
{
    return (int)(((uint64_t)tag >> NRA_TAG_ID_BITS) & 0xff);
}

void JNICALL nra_instrument_on_class_load(jvmtiEnv *jvmti, JNIEnv *env, jclass redefined, jobject loader,
                                          const char *name, jobject protection_domain, jint len,
                                          const unsigned char *data, jint *new_len, unsigned char **new_data);

void JNICALL nra_instrument_on_object_free(jvmtiEnv *jvmti, jlong tag);

/* Defines nraudit/Hooks in the boot loader (VMInit). Returns 0 or -errno. */
int nra_instrument_define_hooks(JNIEnv *env);

/* True once the hooks are defined: owners are being tagged. */
bool nra_instrument_active(void);

/* Counters for reports. */
uint64_t nra_instrument_classes_rewritten(void);
uint64_t nra_instrument_owners_tagged(void);

#endif
