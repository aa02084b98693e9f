/* artifact_version — which library version owns a rule's natives: reads the
 * Maven pom.properties in the jar of the class that declares them (found
 * through its ProtectionDomain's CodeSource), so a residue site can be
 * matched against data/known-leaks.tsv.
 *
 * Owns: a per-rule cache of (artifactId, version). Runs at report time only,
 * on a thread where JNI calls are allowed; clears every exception it causes.
 */
#ifndef NRA_ARTIFACT_VERSION_H
#define NRA_ARTIFACT_VERSION_H

#include <jni.h>
#include <stddef.h>

/* Fills artifact and version for the class of rule's natives. Returns 0, or
 * -ENOENT when the class, its jar or a pom.properties is not found. */
int nra_artifact_version(JNIEnv *env, int rule, char *artifact, size_t alen, char *version, size_t vlen);

#endif
