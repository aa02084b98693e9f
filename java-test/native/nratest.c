/*
 * libnratest: the JNI side of nraudit.test.NativeOwner, a native resource
 * whose leaks are exact, for the agent's integration tests.
 *
 * Shaped like netty-tcnative: the natives are static functions registered
 * with RegisterNatives in JNI_OnLoad, and the library is built with
 * -fvisibility=hidden, so JNI_OnLoad is the only exported symbol.
 *
 *   alloc(mode, k)  malloc(struct owner) + CRYPTO_malloc(24) kept in it
 *   use(h, n)       n x (malloc(16) ... free); LEAK_IN_USE: one malloc(k) kept forever
 *   free(h)         frees everything; LEAK_IN_FREE: one malloc(k) kept forever
 *   scale(h, f)     f * k (a double parameter: agents must not wrap it)
 *   describe(h)     mode << 32 | k (0 for a 0 handle)
 *
 * Leaked blocks are never freed; k = 0 leaks nothing. The 24-byte buffer
 * comes from OPENSSL_malloc (CRYPTO_malloc), so it reaches libc through
 * libcrypto, like tcnative's own state.
 */
#include <jni.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_CLEAN = 0, MODE_LEAK_IN_FREE = 1, MODE_LEAK_IN_USE = 2 };

#define CRYPTO_BUF_SIZE 24
#define USE_BLOCK_SIZE 16

struct owner {
    int mode;
    int k;
    unsigned char *crypto_buf; /* OPENSSL_malloc'd, CRYPTO_BUF_SIZE bytes */
};

/* The newest intentionally leaked block: a volatile store keeps the compiler
 * from eliding the malloc; nothing ever frees it. The leaking malloc calls are
 * written directly in nt_use and nt_free (no helper that may or may not be
 * inlined), so the allocating function is the native itself at any -O level. */
static void *volatile leak_sink;

static void throw_oom(JNIEnv *env, const char *what)
{
    jclass c = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
    if (c != NULL)
        (*env)->ThrowNew(env, c, what);
}

static void throw_iae(JNIEnv *env, const char *what)
{
    jclass c = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
    if (c != NULL)
        (*env)->ThrowNew(env, c, what);
}

static struct owner *from_handle(jlong h)
{
    return (struct owner *)(uintptr_t)h;
}

static jlong nt_alloc(JNIEnv *env, jclass cls, jint mode, jint k)
{
    (void)cls;
    if (mode < MODE_CLEAN || mode > MODE_LEAK_IN_USE) {
        throw_iae(env, "NativeOwner.alloc: mode must be 0, 1 or 2");
        return 0;
    }
    if (k < 0) {
        throw_iae(env, "NativeOwner.alloc: k must be >= 0");
        return 0;
    }
    struct owner *o = malloc(sizeof *o);
    if (o == NULL) {
        throw_oom(env, "NativeOwner.alloc: malloc");
        return 0;
    }
    o->mode = mode;
    o->k = k;
    o->crypto_buf = OPENSSL_malloc(CRYPTO_BUF_SIZE);
    if (o->crypto_buf == NULL) {
        free(o);
        throw_oom(env, "NativeOwner.alloc: OPENSSL_malloc");
        return 0;
    }
    memset(o->crypto_buf, mode, CRYPTO_BUF_SIZE);
    return (jlong)(uintptr_t)o;
}

/* Keeps the malloc/free pairs of use() from being folded away by the compiler. */
static void *volatile use_sink;

static void nt_use(JNIEnv *env, jclass cls, jlong h, jint n)
{
    (void)cls;
    struct owner *o = from_handle(h);
    if (o == NULL) {
        throw_iae(env, "NativeOwner.use: null handle");
        return;
    }
    for (jint i = 0; i < n; i++) {
        unsigned char *p = malloc(USE_BLOCK_SIZE);
        if (p == NULL) {
            throw_oom(env, "NativeOwner.use: malloc");
            return;
        }
        memset(p, (int)i, USE_BLOCK_SIZE);
        use_sink = p;
        free(use_sink);
    }
    if (o->mode == MODE_LEAK_IN_USE && o->k > 0)
        leak_sink = malloc((size_t)o->k);
}

static void nt_free(JNIEnv *env, jclass cls, jlong h)
{
    (void)env;
    (void)cls;
    struct owner *o = from_handle(h);
    if (o == NULL)
        return;
    if (o->mode == MODE_LEAK_IN_FREE && o->k > 0)
        leak_sink = malloc((size_t)o->k);
    OPENSSL_free(o->crypto_buf);
    free(o);
}

static jdouble nt_scale(JNIEnv *env, jclass cls, jlong h, jdouble f)
{
    (void)cls;
    struct owner *o = from_handle(h);
    if (o == NULL) {
        throw_iae(env, "NativeOwner.scale: null handle");
        return 0.0;
    }
    return f * (jdouble)o->k;
}

static jlong nt_describe(JNIEnv *env, jclass cls, jlong h)
{
    (void)env;
    (void)cls;
    struct owner *o = from_handle(h);
    if (o == NULL)
        return 0;
    return ((jlong)o->mode << 32) | (jlong)(uint32_t)o->k;
}

static const JNINativeMethod methods[] = {
    {"alloc", "(II)J", (void *)nt_alloc},
    {"use", "(JI)V", (void *)nt_use},
    {"free", "(J)V", (void *)nt_free},
    {"scale", "(JD)D", (void *)nt_scale},
    {"describe", "(J)J", (void *)nt_describe},
};

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    (void)reserved;
    JNIEnv *env = NULL;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        return JNI_ERR;
    jclass cls = (*env)->FindClass(env, "nraudit/test/NativeOwner");
    if (cls == NULL)
        return JNI_ERR;
    if ((*env)->RegisterNatives(env, cls, methods, (jint)(sizeof methods / sizeof methods[0])) != 0)
        return JNI_ERR;
    (*env)->DeleteLocalRef(env, cls);
    return JNI_VERSION_1_6;
}
