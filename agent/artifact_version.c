/* artifact_version.c — see include/artifact_version.h. */
#include "artifact_version.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "natives.h"
#include "rules.h"

static struct {
    pthread_mutex_t lock;
    bool done[NRA_MAX_RULES];
    int rc[NRA_MAX_RULES];
    char artifact[NRA_MAX_RULES][64];
    char version[NRA_MAX_RULES][64];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool failed(JNIEnv *env)
{
    if ((*env)->ExceptionCheck(env)) {
        (*env)->ExceptionClear(env);
        return true;
    }
    return false;
}

/* obj.name() for a no-argument method returning an object. */
static jobject call0(JNIEnv *env, jobject obj, const char *name, const char *sig)
{
    if (!obj)
        return NULL;
    jclass c = (*env)->GetObjectClass(env, obj);
    jmethodID m = (*env)->GetMethodID(env, c, name, sig);
    (*env)->DeleteLocalRef(env, c);
    if (!m || failed(env))
        return NULL;
    jobject r = (*env)->CallObjectMethod(env, obj, m);
    return failed(env) ? NULL : r;
}

/* The jar path of cls, or false. */
static bool jar_path(JNIEnv *env, jclass cls, char *out, size_t len)
{
    jobject pd = call0(env, cls, "getProtectionDomain", "()Ljava/security/ProtectionDomain;");
    jobject cs = call0(env, pd, "getCodeSource", "()Ljava/security/CodeSource;");
    jobject url = call0(env, cs, "getLocation", "()Ljava/net/URL;");
    jobject path = call0(env, url, "getPath", "()Ljava/lang/String;");
    bool ok = false;
    if (path) {
        const char *s = (*env)->GetStringUTFChars(env, path, NULL);
        if (s) {
            snprintf(out, len, "%s", s);
            (*env)->ReleaseStringUTFChars(env, path, s);
            ok = strlen(out) > 4 && strcmp(out + strlen(out) - 4, ".jar") == 0;
        }
    }
    jobject refs[] = {pd, cs, url, path};
    for (size_t i = 0; i < 4; i++)
        if (refs[i])
            (*env)->DeleteLocalRef(env, refs[i]);
    return ok;
}

/* Reads "key=value" from a pom.properties text. */
static void property(const char *text, const char *key, char *out, size_t len)
{
    size_t k = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, k) == 0 && p[k] == '=') {
            const char *v = p + k + 1;
            size_t n = strcspn(v, "\r\n");
            snprintf(out, len, "%.*s", (int)n, v);
            return;
        }
    }
}

static bool is_pom_properties(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "META-INF/maven/", 15) == 0 && n > 15 && strcmp(name + n - 15, "/pom.properties") == 0;
}

/* Reads one jar entry's bytes into out (NUL-terminated). */
static bool read_entry(JNIEnv *env, jobject jar, jobject entry, char *out, size_t len)
{
    jclass jc = (*env)->GetObjectClass(env, jar);
    jmethodID get = (*env)->GetMethodID(env, jc, "getInputStream", "(Ljava/util/zip/ZipEntry;)Ljava/io/InputStream;");
    (*env)->DeleteLocalRef(env, jc);
    jobject in = get ? (*env)->CallObjectMethod(env, jar, get, entry) : NULL;
    if (failed(env) || !in)
        return false;
    jbyteArray bytes = call0(env, in, "readAllBytes", "()[B");
    bool ok = false;
    if (bytes) {
        jsize n = (*env)->GetArrayLength(env, bytes);
        if ((size_t)n >= len)
            n = (jsize)len - 1;
        (*env)->GetByteArrayRegion(env, bytes, 0, n, (jbyte *)out);
        out[n] = '\0';
        ok = !failed(env);
        (*env)->DeleteLocalRef(env, bytes);
    }
    jobject closed = call0(env, in, "close", "()V");
    (void)closed;
    (*env)->DeleteLocalRef(env, in);
    return ok;
}

/* Scans the jar's entries for a pom.properties; takes the first one. */
static int scan_jar(JNIEnv *env, const char *path, char *artifact, size_t alen, char *version, size_t vlen)
{
    jclass jf = (*env)->FindClass(env, "java/util/jar/JarFile");
    jmethodID ctor = jf ? (*env)->GetMethodID(env, jf, "<init>", "(Ljava/lang/String;)V") : NULL;
    jstring jpath = (*env)->NewStringUTF(env, path);
    jobject jar = (ctor && jpath) ? (*env)->NewObject(env, jf, ctor, jpath) : NULL;
    if (failed(env) || !jar)
        return -ENOENT;
    int rc = -ENOENT;
    jobject entries = call0(env, jar, "entries", "()Ljava/util/Enumeration;");
    jclass en = entries ? (*env)->GetObjectClass(env, entries) : NULL;
    jmethodID more = en ? (*env)->GetMethodID(env, en, "hasMoreElements", "()Z") : NULL;
    jmethodID next = en ? (*env)->GetMethodID(env, en, "nextElement", "()Ljava/lang/Object;") : NULL;
    for (int guard = 0; more && next && rc != 0 && guard < 200000; guard++) {
        if (!(*env)->CallBooleanMethod(env, entries, more) || failed(env))
            break;
        jobject e = (*env)->CallObjectMethod(env, entries, next);
        jobject name = call0(env, e, "getName", "()Ljava/lang/String;");
        const char *s = name ? (*env)->GetStringUTFChars(env, name, NULL) : NULL;
        char text[2048];
        if (s && is_pom_properties(s) && read_entry(env, jar, e, text, sizeof(text))) {
            property(text, "artifactId", artifact, alen);
            property(text, "version", version, vlen);
            rc = artifact[0] && version[0] ? 0 : -ENOENT;
        }
        if (s)
            (*env)->ReleaseStringUTFChars(env, name, s);
        if (name)
            (*env)->DeleteLocalRef(env, name);
        if (e)
            (*env)->DeleteLocalRef(env, e);
    }
    call0(env, jar, "close", "()V");
    jobject refs[] = {jf, jpath, jar, entries, en};
    for (size_t i = 0; i < 5; i++)
        if (refs[i])
            (*env)->DeleteLocalRef(env, refs[i]);
    return rc;
}

int nra_artifact_version(JNIEnv *env, int rule, char *artifact, size_t alen, char *version, size_t vlen)
{
    if (!env || rule < 0 || rule >= NRA_MAX_RULES)
        return -EINVAL;
    pthread_mutex_lock(&cache.lock);
    if (!cache.done[rule]) {
        cache.rc[rule] = -ENOENT;
        jclass cls = nra_natives_rule_class(env, rule);
        char path[4096];
        if (cls && jar_path(env, cls, path, sizeof(path)))
            cache.rc[rule] = scan_jar(env, path, cache.artifact[rule], sizeof(cache.artifact[rule]),
                                      cache.version[rule], sizeof(cache.version[rule]));
        if (cls)
            (*env)->DeleteLocalRef(env, cls);
        cache.done[rule] = cls != NULL;  /* not bound yet: try again next time */
    }
    int rc = cache.rc[rule];
    snprintf(artifact, alen, "%s", cache.artifact[rule]);
    snprintf(version, vlen, "%s", cache.version[rule]);
    pthread_mutex_unlock(&cache.lock);
    return rc;
}
