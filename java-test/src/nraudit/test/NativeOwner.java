package nraudit.test;

/**
 * A Java object that owns a native resource of libnratest (java-test/native/nratest.c),
 * shaped like netty's engine / tcnative's SSL*: the constructor stores the
 * handle returned by the alloc native in the field {@code handle}; "use"
 * natives and the free native take the handle as their first argument.
 *
 * <p>The native side can be told to leak an exact number of bytes:
 * <ul>
 * <li>{@link #CLEAN}: nothing survives {@link #free(long)};</li>
 * <li>{@link #LEAK_IN_FREE}: free mallocs k bytes and never frees them;</li>
 * <li>{@link #LEAK_IN_USE}: every {@link #use(long, int)} call leaks one malloc(k).</li>
 * </ul>
 * The natives are bound by RegisterNatives in the library's JNI_OnLoad, so the
 * library must be loaded (System.loadLibrary("nratest")) before the first owner.
 */
public class NativeOwner {
    public static final int CLEAN = 0;
    public static final int LEAK_IN_FREE = 1;
    public static final int LEAK_IN_USE = 2;

    /** The native handle (a pointer); 0 once released. */
    private long handle;

    public NativeOwner(int mode, int k) {
        handle = alloc(mode, k);
    }

    /** Calls the use native: n malloc(16)/free pairs (plus the mode's leak). */
    public void use(int n) {
        if (handle == 0) {
            throw new IllegalStateException("released");
        }
        use(handle, n);
    }

    /** Calls the float native (returns f * k); agents must not wrap it. */
    public double scale(double f) {
        if (handle == 0) {
            throw new IllegalStateException("released");
        }
        return scale(handle, f);
    }

    /** Frees the native resource once; later calls do nothing. */
    public void release() {
        long h = handle;
        if (h != 0) {
            handle = 0;
            free(h);
        }
    }

    public boolean isReleased() {
        return handle == 0;
    }

    /** Mode and k as recorded by the native side (mode * 2^32 + k), for checks. */
    public long describe() {
        return describe(handle);
    }

    static native long alloc(int mode, int k);

    static native void use(long handle, int n);

    static native void free(long handle);

    static native double scale(long handle, double f);

    static native long describe(long handle);
}
