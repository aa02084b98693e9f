import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The Java side of the class-file rewriter corpus test.
 *
 * A class archive is one file of records: u2 path length, path (UTF-8, e.g.
 * "io/netty/Foo.class"), u4 length, class bytes; big-endian. One file instead
 * of tens of thousands keeps the test fast; corpus_rewrite.c rewrites one
 * archive into another.
 *
 *   java CorpusLoader pack OUT.cla SOURCE...
 *     SOURCE: a .jar, a directory, or "jrt" (this JDK's runtime image,
 *     without java.* which a custom class loader may not define, and without
 *     module-info).
 *   java -Xverify:all CorpusLoader link GROUP...
 *     GROUP is label=MIN_VERIFIED=REWRITTEN.cla=ORIGINAL.cla
 *
 * link: each group gets its own child-first class loader over its archive
 * (an unnamed module: packages of the JDK's named modules other than java.*
 * can be defined there under their own names). Class.forName(name, false,
 * loader) loads without linking; Class.getFields() then links the class
 * (HotSpot's JVM_GetClassDeclaredFields links before anything else, and
 * linking verifies) and resolves only public field types. No static
 * initializer runs.
 *
 * Outcome per class: verified; VerifyError (a failure, unless the original
 * class fails the same way in a fresh loader: then "pre-existing");
 * ClassFormatError (a failure); other LinkageError (a missing optional
 * dependency, an access rule of the split loader...: counted as skipped).
 * Exits 1 if there is any failure or fewer than MIN_VERIFIED verified.
 */
public final class CorpusLoader {
    /** Child-first loader over an archive's classes. */
    static final class MapLoader extends ClassLoader {
        private final Map<String, byte[]> classes;

        MapLoader(Map<String, byte[]> classes) {
            super("corpus", CorpusLoader.class.getClassLoader());
            this.classes = classes;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c != null)
                    return c;
                byte[] b = name.startsWith("java.") ? null
                        : classes.get(name.replace('.', '/') + ".class");
                if (b == null)
                    return super.loadClass(name, resolve); /* parent first for the rest */
                return defineClass(name, b, 0, b.length);
            }
        }
    }

    static Map<String, byte[]> readArchive(Path p) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(
                Files.newInputStream(p), 1 << 16))) {
            while (true) {
                int n;
                try {
                    n = in.readUnsignedShort();
                } catch (EOFException e) {
                    return m;
                }
                byte[] name = new byte[n];
                in.readFully(name);
                byte[] b = new byte[in.readInt()];
                in.readFully(b);
                m.put(new String(name, StandardCharsets.UTF_8), b);
            }
        }
    }

    static boolean wanted(String path) {
        return path.endsWith(".class") && !path.startsWith("META-INF/")
                && !path.endsWith("module-info.class");
    }

    static void pack(Path out, List<String> sources) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        for (String s : sources) {
            if (s.equals("jrt")) {
                FileSystem jrt = FileSystems.getFileSystem(URI.create("jrt:/"));
                try (Stream<Path> mods = Files.list(jrt.getPath("/modules"))) {
                    for (Path mod : (Iterable<Path>) mods::iterator)
                        try (Stream<Path> w = Files.walk(mod)) {
                            for (Path p : (Iterable<Path>) w::iterator) {
                                String rel = mod.relativize(p).toString();
                                if (wanted(rel) && !rel.startsWith("java/"))
                                    m.putIfAbsent(rel, Files.readAllBytes(p));
                            }
                        }
                }
            } else if (Files.isDirectory(Path.of(s))) {
                Path root = Path.of(s);
                try (Stream<Path> w = Files.walk(root)) {
                    for (Path p : (Iterable<Path>) w::iterator) {
                        String rel = root.relativize(p).toString();
                        if (wanted(rel))
                            m.putIfAbsent(rel, Files.readAllBytes(p));
                    }
                }
            } else {
                try (ZipFile z = new ZipFile(s)) {
                    for (Enumeration<? extends ZipEntry> e = z.entries(); e.hasMoreElements();) {
                        ZipEntry ze = e.nextElement();
                        if (!ze.isDirectory() && wanted(ze.getName()))
                            try (InputStream in = z.getInputStream(ze)) {
                                m.putIfAbsent(ze.getName(), in.readAllBytes());
                            }
                    }
                }
            }
        }
        try (DataOutputStream o = new DataOutputStream(new BufferedOutputStream(
                Files.newOutputStream(out), 1 << 16))) {
            for (Map.Entry<String, byte[]> e : m.entrySet()) {
                byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
                o.writeShort(name.length);
                o.write(name);
                o.writeInt(e.getValue().length);
                o.write(e.getValue());
            }
        }
        System.out.printf("packed %d classes into %s%n", m.size(), out);
    }

    static String firstLine(Throwable t) {
        String m = String.valueOf(t.getMessage());
        int nl = m.indexOf('\n');
        m = nl < 0 ? m : m.substring(0, nl);
        return m.length() > 160 ? m.substring(0, 160) + "..." : m;
    }

    /** Links name in loader; returns null on success, else the error. */
    static Throwable link(ClassLoader loader, String name) {
        try {
            Class.forName(name, false, loader).getFields();
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    static int linkGroup(String spec) throws IOException {
        String[] f = spec.split("=", 4);
        String label = f[0];
        long min = Long.parseLong(f[1]);
        Path originalArchive = Path.of(f[3]);
        long t0 = System.nanoTime();
        Map<String, byte[]> rewritten = readArchive(Path.of(f[2]));
        Map<String, byte[]> original = null; /* read on the first VerifyError */
        MapLoader loader = new MapLoader(rewritten);
        List<String> names = new ArrayList<>();
        for (String p : rewritten.keySet())
            names.add(p.substring(0, p.length() - 6).replace('/', '.'));
        int verified = 0, failed = 0, preexisting = 0, skipped = 0;
        Map<String, Integer> skipKinds = new TreeMap<>();
        Map<String, String> examples = new TreeMap<>(); /* first of each kind */
        for (String name : names) {
            Throwable t = link(loader, name);
            if (t == null) {
                verified++;
            } else if (t instanceof VerifyError || t instanceof ClassFormatError) {
                if (original == null)
                    original = readArchive(originalArchive);
                Throwable o = link(new MapLoader(original), name);
                if (t instanceof VerifyError && o instanceof VerifyError) {
                    preexisting++;
                    examples.putIfAbsent("pre-existing VerifyError", name + ": " + firstLine(t));
                } else {
                    failed++;
                    if (failed <= 20)
                        System.out.println("FAIL " + label + " " + name + ": " + t);
                }
            } else if (t instanceof LinkageError || t instanceof ClassNotFoundException
                    || t instanceof SecurityException) {
                skipped++;
                skipKinds.merge(t.getClass().getSimpleName(), 1, Integer::sum);
                examples.putIfAbsent(t.getClass().getSimpleName(), name + ": " + firstLine(t));
            } else {
                failed++;
                if (failed <= 20)
                    System.out.println("FAIL " + label + " " + name + ": unexpected " + t);
            }
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("%s: java %s: classes %d, verified %d, VerifyError/ClassFormatError %d,"
                + " pre-existing VerifyError %d, skipped %d %s, %d ms%n",
                label, Runtime.version(), names.size(), verified, failed, preexisting,
                skipped, skipKinds, ms);
        examples.forEach((k, v) -> System.out.printf("  e.g. %s: %s%n", k, v));
        if (verified < min) {
            System.out.printf("FAIL %s: only %d classes verified, expected at least %d%n",
                    label, verified, min);
            return 1;
        }
        return failed == 0 ? 0 : 1;
    }

    public static void main(String[] args) throws IOException {
        if (args.length >= 2 && args[0].equals("pack")) {
            pack(Path.of(args[1]), List.of(args).subList(2, args.length));
            return;
        }
        if (args.length < 2 || !args[0].equals("link"))
            throw new IllegalArgumentException(
                    "usage: CorpusLoader pack OUT.cla SOURCE... | link GROUP...");
        int rc = 0;
        for (int i = 1; i < args.length; i++)
            rc |= linkGroup(args[i]);
        System.exit(rc);
    }
}
