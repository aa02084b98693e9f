package nraudit.test;

import java.util.ArrayList;
import java.util.List;

/**
 * Drives NativeOwner for the integration tests:
 *
 * <pre>
 * NativeOwnerMain MODE COUNT K [--uses U] [--allocs A] [--wait-file PATH]
 *                 [--wait-timeout S] [--pid-file PATH] [--hold | --drop]
 * </pre>
 *
 * MODE is CLEAN, LEAK_IN_FREE, LEAK_IN_USE or 0, 1, 2. Loads libnratest
 * (System.loadLibrary("nratest"): run with -Djava.library.path=the native dir),
 * creates COUNT owners, calls the use native U times on each (default 1; each
 * call makes A malloc(16)/free pairs, default 4), calls scale() and describe()
 * once on each, then releases each
 * (free native once). With --hold the owners are kept reachable instead of
 * released, with --drop they are dropped unreleased and collected. Then
 * System.gc(), prints "NATIVE-DONE", waits for --wait-file if given, exits 0.
 *
 * Native bytes left behind by a run: LEAK_IN_FREE COUNT*K, LEAK_IN_USE
 * COUNT*U*K, CLEAN 0 (released owners).
 */
public final class NativeOwnerMain {
    private static final List<NativeOwner> HELD = new ArrayList<NativeOwner>();

    private NativeOwnerMain() {
    }

    static void usage(String msg) {
        System.err.println("NativeOwnerMain: error: " + msg);
        System.err.println("usage: NativeOwnerMain CLEAN|LEAK_IN_FREE|LEAK_IN_USE COUNT K [--uses U] [--allocs A]"
                + " [--wait-file PATH] [--wait-timeout S] [--pid-file PATH] [--hold | --drop]");
        System.exit(2);
    }

    static int parseInt(String what, String s, int min) {
        try {
            int v = Integer.parseInt(s);
            if (v >= min) {
                return v;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        usage(what + " must be an integer >= " + min + ", not " + s);
        return 0;
    }

    static int parseMode(String s) {
        if (s.equals("CLEAN") || s.equals("0")) {
            return NativeOwner.CLEAN;
        }
        if (s.equals("LEAK_IN_FREE") || s.equals("1")) {
            return NativeOwner.LEAK_IN_FREE;
        }
        if (s.equals("LEAK_IN_USE") || s.equals("2")) {
            return NativeOwner.LEAK_IN_USE;
        }
        usage("unknown mode " + s);
        return -1;
    }

    public static void main(String[] args) throws Exception {
        List<String> pos = new ArrayList<String>();
        int uses = 1;
        int allocs = 4;
        int waitTimeout = 120;
        String waitFile = null;
        String pidFile = null;
        boolean hold = false;
        boolean drop = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--hold")) {
                hold = true;
            } else if (a.equals("--drop")) {
                drop = true;
            } else if (a.equals("--uses") || a.equals("--allocs") || a.equals("--wait-file")
                    || a.equals("--wait-timeout") || a.equals("--pid-file")) {
                if (i + 1 >= args.length) {
                    usage(a + " needs a value");
                }
                String v = args[++i];
                if (a.equals("--uses")) {
                    uses = parseInt("--uses", v, 0);
                } else if (a.equals("--allocs")) {
                    allocs = parseInt("--allocs", v, 0);
                } else if (a.equals("--wait-file")) {
                    waitFile = v;
                } else if (a.equals("--wait-timeout")) {
                    waitTimeout = parseInt("--wait-timeout", v, 0);
                } else {
                    pidFile = v;
                }
            } else if (a.startsWith("--")) {
                usage("unknown option " + a);
            } else {
                pos.add(a);
            }
        }
        if (pos.size() != 3) {
            usage("expected MODE COUNT K");
        }
        if (hold && drop) {
            usage("--hold and --drop exclude each other");
        }
        int mode = parseMode(pos.get(0));
        int count = parseInt("COUNT", pos.get(1), 0);
        int k = parseInt("K", pos.get(2), 0);
        if (pidFile != null) {
            nraudit.demo.Cli.writeAtomically(pidFile, nraudit.demo.Cli.pid() + "\n");
        }

        System.loadLibrary("nratest");

        long t0 = System.nanoTime();
        for (int i = 0; i < count; i++) {
            NativeOwner o = new NativeOwner(mode, k);
            for (int u = 0; u < uses; u++) {
                o.use(allocs);
            }
            double s = o.scale(0.5);
            if (s != 0.5 * k) {
                throw new IllegalStateException("scale returned " + s + ", expected " + 0.5 * k);
            }
            long d = o.describe();
            if (d != (((long) mode << 32) | k)) {
                throw new IllegalStateException("describe returned " + d);
            }
            if (hold) {
                HELD.add(o);
            } else if (!drop) {
                o.release();
            }
        }
        nraudit.demo.Cli.gc(3, true);
        long ms = (System.nanoTime() - t0) / 1000000L;
        String fate = hold ? "held" : drop ? "dropped" : "released";
        System.out.println("NATIVE mode=" + pos.get(0) + " count=" + count + " k=" + k + " uses=" + uses
                + " allocs=" + allocs + " " + fate + "=" + count + " elapsed_ms=" + ms);
        System.out.println("NATIVE-DONE");
        System.out.flush();
        if (waitFile != null && !nraudit.demo.Cli.waitForFile(waitFile, waitTimeout * 1000L)) {
            System.err.println("NativeOwnerMain: --wait-file " + waitFile + " did not appear within "
                    + waitTimeout + " s");
            System.exit(3);
        }
        System.exit(0);
    }
}
