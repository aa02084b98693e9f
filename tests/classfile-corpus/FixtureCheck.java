import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Path;

/**
 * Runs the rewritten unit-test fixtures (tests/unit/fixtures/Fx*.java, every
 * method hooked the corpus way) and checks that each call hit the hook the
 * expected number of times (entry + the one `return` taken) and that the
 * methods still compute what they did.
 *
 * Usage: java -Xverify:all FixtureCheck REWRITTEN.cla
 */
public final class FixtureCheck {
    static ClassLoader loader;
    static int failures, checks;

    static Class<?> cls(String n) throws Exception {
        return Class.forName(n, true, loader);
    }

    static Object make(String n, Class<?>[] types, Object... args) throws Exception {
        Constructor<?> c = cls(n).getDeclaredConstructor(types);
        c.setAccessible(true);
        return c.newInstance(args);
    }

    static Object call(Object o, String m, Class<?>[] types, Object... args) throws Exception {
        Method me = o.getClass().getDeclaredMethod(m, types);
        me.setAccessible(true);
        try {
            return me.invoke(o, args);
        } catch (InvocationTargetException e) {
            throw new AssertionError(m + " threw", e.getCause());
        }
    }

    static Object get(Object o, String f) throws Exception {
        Field fi = o.getClass().getDeclaredField(f);
        fi.setAccessible(true);
        return fi.get(o);
    }

    static void set(Object o, String f, Object v) throws Exception {
        Field fi = o.getClass().getDeclaredField(f);
        fi.setAccessible(true);
        fi.set(o, v);
    }

    interface Step {
        Object run() throws Exception;
    }

    /** Runs step; expects `hits` hook calls and (if expect != null) that result. */
    static Object check(String what, int hits, Object expect, Step step) throws Exception {
        int before = nratest.CorpusHook.hits;
        Object r;
        checks++;
        try {
            r = step.run();
        } catch (Throwable t) {
            failures++;
            System.out.printf("FAIL fixture %s: %s%n", what, t);
            return null;
        }
        int got = nratest.CorpusHook.hits - before;
        if (got != hits || (expect != null && !expect.equals(r))) {
            failures++;
            System.out.printf("FAIL fixture %s: hook calls %d (want %d), result %s (want %s)%n",
                    what, got, hits, r, expect);
        }
        return r;
    }

    static final Class<?>[] NONE = {}, INT = { int.class }, BOOL = { boolean.class };

    public static void main(String[] args) throws Exception {
        if (args.length != 1)
            throw new IllegalArgumentException("usage: FixtureCheck REWRITTEN.cla");
        loader = new CorpusLoader.MapLoader(CorpusLoader.readArchive(Path.of(args[0])));

        Object c = check("new FxCtor(-1)", 1, null, () -> make("FxCtor", INT, -1));
        check("FxCtor(-1).x", 0, -1, () -> get(c, "x"));
        Object c3 = check("new FxCtor(3)", 1, null, () -> make("FxCtor", INT, 3));
        check("FxCtor(3).x", 0, 3, () -> get(c3, "x"));
        Object c10 = check("new FxCtor(10)", 1, null, () -> make("FxCtor", INT, 10));
        check("FxCtor(10).x", 0, 10, () -> get(c10, "x"));
        Object c0 = check("new FxCtor()", 2, null, () -> make("FxCtor", NONE));
        check("FxCtor().x", 0, 1, () -> get(c0, "x"));
        check("FxCtor.empty()", 2, null, () -> call(c0, "empty", NONE));
        check("FxCtor.spin(5)", 2, null, () -> call(c0, "spin", INT, 5));

        Object f = check("new FxFinalize()", 1, null, () -> make("FxFinalize", NONE));
        check("FxFinalize.finalize()", 2, null, () -> call(f, "finalize", NONE));
        check("FxFinalize.finalized", 0, 1, () -> {
            Field fi = cls("FxFinalize").getDeclaredField("finalized");
            fi.setAccessible(true);
            return fi.get(null);
        });

        Object s = check("new FxSwitch()", 1, null, () -> make("FxSwitch", NONE));
        int[] table = { 1, 3, 3, 3, 10 };
        for (int k = 0; k < table.length; k++) {
            int kk = k;
            check("FxSwitch.table(" + k + ")", 2, null, () -> call(s, "table", INT, kk));
            check("FxSwitch.table(" + k + ").v", 0, table[k], () -> get(s, "v"));
        }
        int[][] lookup = { { 10, 1 }, { 1000, 1 }, { -5000, 42 }, { 7, 41 } };
        for (int[] l : lookup) {
            set(s, "v", 42);
            check("FxSwitch.lookup(" + l[0] + ")", 2, null, () -> call(s, "lookup", INT, l[0]));
            check("FxSwitch.lookup(" + l[0] + ").v", 0, l[1], () -> get(s, "v"));
        }

        Object h = check("new FxHandlers()", 1, null, () -> make("FxHandlers", NONE));
        check("FxHandlers.m(1)", 2, null, () -> call(h, "m", INT, 1));
        check("FxHandlers.m(1).v", 0, 1, () -> get(h, "v"));
        check("FxHandlers.m(2)", 2, null, () -> call(h, "m", INT, 2));
        check("FxHandlers.m(2).v", 0, 6, () -> get(h, "v"));
        check("FxHandlers.m(0)", 2, null, () -> call(h, "m", INT, 0));
        check("FxHandlers.m(0).v", 0, 0, () -> get(h, "v"));
        Object lock = new Object();
        Class<?>[] obj = { Object.class };
        check("FxHandlers.sync()", 2, null, () -> call(h, "sync", obj, lock));
        check("FxHandlers.sync().v", 0, 0, () -> get(h, "v"));
        check("FxHandlers.sum(4)", 1, 6, () -> call(h, "sum", INT, 4));

        Object u = check("new FxUninit(true)", 2, null, () -> make("FxUninit", BOOL, true));
        check("FxUninit(true).o", 0, "x", () -> String.valueOf(get(u, "o")));
        check("FxUninit.make(false)", 1, "b", () -> String.valueOf(call(u, "make", BOOL, false)));
        check("FxUninit.set(true)", 2, null, () -> call(u, "set", BOOL, true));
        check("FxUninit.set(true).o", 0, "a", () -> String.valueOf(get(u, "o")));

        System.out.printf("fixtures: java %s: %d checks, %d failed%n", Runtime.version(), checks,
                failures);
        System.exit(failures == 0 ? 0 : 1);
    }
}
