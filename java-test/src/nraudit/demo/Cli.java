package nraudit.demo;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Small helpers shared by the demo and test programs: a strict command-line
 * parser ("--name value" options, "--flag" switches, positional arguments),
 * pid and port files written atomically, and bounded waits for trigger files.
 */
public final class Cli {
    private final String program;
    private final Map<String, String> options = new HashMap<String, String>();
    private final Set<String> flags = new HashSet<String>();
    private final List<String> positional = new ArrayList<String>();

    private Cli(String program) {
        this.program = program;
    }

    /**
     * Parses args. valueOptions are "--name value" (also "--name=value");
     * flagOptions are "--name" switches. Anything else starting with "--" is
     * an error (exit status 2).
     */
    public static Cli parse(String program, String[] args, String[] valueOptions, String[] flagOptions) {
        Cli cli = new Cli(program);
        Set<String> valued = new HashSet<String>();
        for (String v : valueOptions) {
            valued.add(v);
        }
        Set<String> switches = new HashSet<String>();
        for (String f : flagOptions) {
            switches.add(f);
        }
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("--") && a.length() > 2) {
                String name = a.substring(2);
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (switches.contains(name) && value == null) {
                    cli.flags.add(name);
                } else if (valued.contains(name)) {
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            cli.usageError("option --" + name + " needs a value");
                        }
                        value = args[++i];
                    }
                    cli.options.put(name, value);
                } else {
                    cli.usageError("unknown option " + a);
                }
            } else {
                cli.positional.add(a);
            }
        }
        return cli;
    }

    public void usageError(String message) {
        System.err.println(program + ": error: " + message);
        System.exit(2);
    }

    public boolean flag(String name) {
        return flags.contains(name);
    }

    public String opt(String name, String dflt) {
        String v = options.get(name);
        return v != null ? v : dflt;
    }

    public int intOpt(String name, int dflt, int min, int max) {
        String v = options.get(name);
        if (v == null) {
            return dflt;
        }
        return toInt("--" + name, v, min, max);
    }

    public List<String> positional() {
        return positional;
    }

    public int toInt(String what, String v, int min, int max) {
        int n = 0;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            usageError(what + ": not an integer: " + v);
        }
        if (n < min || n > max) {
            usageError(what + ": " + n + " is out of range [" + min + ", " + max + "]");
        }
        return n;
    }

    /** The certificate directory: --certs, else $NRAUDIT_JT_CERTS. */
    public File certsDir() {
        String dir = opt("certs", System.getenv("NRAUDIT_JT_CERTS"));
        if (dir == null) {
            usageError("--certs DIR is required (or set NRAUDIT_JT_CERTS)");
        }
        File f = new File(dir);
        if (!new File(f, "ca.pem").isFile()) {
            usageError("--certs " + dir + ": no ca.pem there (build target java_test_certs makes them)");
        }
        return f;
    }

    /** The pid of this JVM (works on JDK 8 too). */
    public static long pid() {
        String name = ManagementFactory.getRuntimeMXBean().getName();
        int at = name.indexOf('@');
        try {
            return Long.parseLong(at > 0 ? name.substring(0, at) : name);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Writes text to path atomically: a temporary file in the same directory, then rename. */
    public static void writeAtomically(String path, String text) throws IOException {
        Path target = new File(path).getAbsoluteFile().toPath();
        Path dir = target.getParent();
        Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
        try {
            Files.write(tmp, text.getBytes(StandardCharsets.UTF_8));
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Writes the pid file if --pid-file was given. */
    public void writePidFile() throws IOException {
        String p = opt("pid-file", null);
        if (p != null) {
            writeAtomically(p, pid() + "\n");
        }
    }

    /**
     * Waits until path exists, polling every 100 ms. Returns false on timeout
     * (timeoutMillis <= 0: wait forever).
     */
    public static boolean waitForFile(String path, long timeoutMillis) throws InterruptedException {
        File f = new File(path);
        long deadline = System.nanoTime() + timeoutMillis * 1000000L;
        while (!f.exists()) {
            if (timeoutMillis > 0 && System.nanoTime() - deadline >= 0) {
                return false;
            }
            Thread.sleep(100);
        }
        return true;
    }

    /** Prints a line to stdout and flushes at once (tests read stdout line by line). */
    public static void say(String line) {
        PrintStream out = System.out;
        out.println(line);
        out.flush();
    }

    /** Runs System.gc() a few times, optionally with System.runFinalization(), with small sleeps. */
    @SuppressWarnings({"deprecation", "removal"})
    public static void gc(int rounds, boolean runFinalization) throws InterruptedException {
        for (int i = 0; i < rounds; i++) {
            System.gc();
            Thread.sleep(50);
            if (runFinalization) {
                System.runFinalization();
            }
        }
    }
}
