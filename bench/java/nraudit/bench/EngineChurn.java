package nraudit.bench;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileReader;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * Engine churn micro-benchmark: creates and releases netty OpenSSL engines in
 * a loop (or runs in-memory handshakes, or builds contexts) and prints the
 * wall-clock and CPU nanoseconds per operation of the timed part only.
 *
 * <pre>
 * EngineChurn --certs DIR [--provider refcnt|openssl] [--threads 1,2] [--rounds R]
 *             [--warmup N] [--thread-warmup N] [--count N] [--side server|client]
 *             [--mode churn|handshake|build] [--trust ca|default] [--contexts N]
 * </pre>
 *
 * Modes (one operation each):
 * <ul>
 * <li>churn (default): ctx.newEngine() + ReferenceCountUtil.release(engine);
 * <li>handshake: a server engine (from the server contexts) and a client
 * engine (from one client context trusting certs/ca.pem, with the client
 * certificate when the server requires it) run a full TLS handshake in
 * memory (wrap/unwrap, delegated tasks on the same thread), the client sends
 * one small application record to the server, both engines are released;
 * <li>build: one SslContext of the chosen side and trust is built (the PEM
 * files are read, as a real builder does) and released.
 * </ul>
 *
 * --trust ca (default): the server context requires client certificates and
 * trusts certs/ca.pem (one CA), as the demo; a client context has the client
 * certificate and trusts ca.pem. --trust default: no trustManager and no
 * clientAuth, so netty loads the JVM's default trust store (~144 CAs) into
 * the server context (SSLContext.setCACertificateBio); a client context is
 * forClient() with nothing else.
 *
 * --contexts N (default 1; churn and handshake): N server (or --side client)
 * contexts are built first; engines are taken from them round-robin.
 *
 * Defaults per mode (--warmup / --thread-warmup / --count): churn 20000 /
 * 2000 / 50000 (count at least 64), handshake 1000 / 100 / 1000, build 5 / 2 /
 * 20 (count at least 1).
 *
 * The main thread first runs --warmup operations (the JIT compiles the loop).
 * Then, for each entry of --threads, one phase: T fresh threads each run
 * --thread-warmup operations, then R timed rounds (default 3, a full GC before
 * each): in a round the threads start together and run their share of --count
 * operations; the time from the common start to the end of the last thread,
 * divided by --count, is ns_per_engine (with T threads: the inverse
 * throughput); cpu_ns_per_engine is the CPU time of the working threads
 * (summed) per operation, which other processes on a noisy machine disturb
 * much less. (The names say "engine" for every mode: the unit is one
 * operation of the mode.)
 *
 * With --provider openssl (finalizable engines) finalize() runs later, on the
 * Finalizer thread: "drain" is the time of System.gc() + runFinalization()
 * right after the loop; ns_per_engine_drained includes it.
 *
 * Output (stdout): "BENCH-PHASE ..." lines with System.currentTimeMillis()
 * (so -Xlog:safepoint lines, also on stdout, can be counted per phase), and
 * one line per round:
 * "CHURN provider=P threads=T round=R count=N ns_per_engine=X cpu_ns_per_engine=C loop_ms=.. drain_ms=..
 * ns_per_engine_drained=Y mode=M trust=ca|default contexts=K side=server|client".
 * Handshake mode also prints "BENCH-INFO handshake protocol=.. cipher=..";
 * the last line, right before System.exit, is
 * "BENCH-PHASE exit wall_ms=.. vmhwm_kb=.. vmrss_kb=.." (/proc/self/status).
 */
public final class EngineChurn {
    private EngineChurn() {
    }

    private static String opt(String[] args, String name, String dflt) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--" + name) && i + 1 < args.length) {
                return args[i + 1];
            }
            if (args[i].startsWith("--" + name + "=")) {
                return args[i].substring(name.length() + 3);
            }
        }
        return dflt;
    }

    private static int intOpt(String[] args, String name, int dflt) {
        String v = opt(args, name, null);
        if (v == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v);
            if (n < 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            System.err.println("EngineChurn: --" + name + " expects a non-negative integer, not " + v);
            System.exit(2);
            return 0;
        }
    }

    private static void usage(String why) {
        if (why != null) {
            System.err.println("EngineChurn: " + why);
        }
        System.err.println("usage: EngineChurn --certs DIR [--provider refcnt|openssl] [--threads 1,2]"
                + " [--rounds R] [--warmup N] [--thread-warmup N] [--count N] [--side server|client]"
                + " [--mode churn|handshake|build] [--trust ca|default] [--contexts N]");
        System.exit(2);
    }

    /** The operation a thread repeats; one instance per thread (handshake buffers are not shared). */
    interface Work {
        void run(int n) throws Exception;
    }

    /** Contexts as the options ask for them. */
    static final class Contexts {
        final File certs;
        final SslProvider provider;
        final boolean defaultTrust;
        final boolean server;

        Contexts(File certs, SslProvider provider, boolean defaultTrust, boolean server) {
            this.certs = certs;
            this.provider = provider;
            this.defaultTrust = defaultTrust;
            this.server = server;
        }

        SslContext build() throws SSLException {
            return server ? server() : client();
        }

        SslContext server() throws SSLException {
            SslContextBuilder b = SslContextBuilder.forServer(new File(certs, "server.pem"),
                    new File(certs, "server.key")).sslProvider(provider);
            if (!defaultTrust) {
                b.clientAuth(ClientAuth.REQUIRE).trustManager(new File(certs, "ca.pem"));
            }
            return b.build();
        }

        SslContext client() throws SSLException {
            SslContextBuilder b = SslContextBuilder.forClient().sslProvider(provider);
            if (!defaultTrust) {
                b.keyManager(new File(certs, "client.pem"), new File(certs, "client.key"))
                        .trustManager(new File(certs, "ca.pem"));
            }
            return b.build();
        }

        /** The peer of the server contexts in a handshake: trusts ca.pem; client cert when required. */
        SslContext handshakeClient() throws SSLException {
            SslContextBuilder b = SslContextBuilder.forClient().sslProvider(provider)
                    .trustManager(new File(certs, "ca.pem"));
            if (!defaultTrust) {
                b.keyManager(new File(certs, "client.pem"), new File(certs, "client.key"));
            }
            return b.build();
        }
    }

    public static void main(String[] args) throws Exception {
        System.out.println("BENCH-PHASE main wall_ms=" + System.currentTimeMillis());
        String certsDir = opt(args, "certs", System.getenv("NRAUDIT_JT_CERTS"));
        if (certsDir == null) {
            usage(null);
        }
        String providerName = opt(args, "provider", "refcnt");
        SslProvider provider;
        if (providerName.equals("refcnt")) {
            provider = SslProvider.OPENSSL_REFCNT;
        } else if (providerName.equals("openssl")) {
            provider = SslProvider.OPENSSL;
        } else {
            usage("--provider must be refcnt or openssl");
            return;
        }
        final String mode = opt(args, "mode", "churn");
        if (!mode.equals("churn") && !mode.equals("handshake") && !mode.equals("build")) {
            usage("--mode must be churn, handshake or build, not " + mode);
        }
        String trust = opt(args, "trust", "ca");
        if (!trust.equals("ca") && !trust.equals("default")) {
            usage("--trust must be ca or default, not " + trust);
        }
        String side = opt(args, "side", "server");
        if (!side.equals("server") && !side.equals("client")) {
            usage("--side must be server or client, not " + side);
        }
        boolean server = side.equals("server");
        if (mode.equals("handshake") && !server) {
            usage("--mode handshake takes no --side client (it runs both sides)");
        }
        String[] tl = opt(args, "threads", "1").split(",");
        int[] threadCounts = new int[tl.length];
        for (int i = 0; i < tl.length; i++) {
            try {
                threadCounts[i] = Integer.parseInt(tl[i].trim());
            } catch (NumberFormatException e) {
                threadCounts[i] = 0;
            }
            if (threadCounts[i] < 1 || threadCounts[i] > 64) {
                usage("--threads expects a list of 1..64, not " + tl[i]);
            }
        }
        int dWarmup = 20000;
        int dThreadWarmup = 2000;
        int dCount = 50000;
        int minCount = 64;
        if (mode.equals("handshake")) {
            dWarmup = 1000;
            dThreadWarmup = 100;
            dCount = 1000;
            minCount = 1;
        } else if (mode.equals("build")) {
            dWarmup = 5;
            dThreadWarmup = 2;
            dCount = 20;
            minCount = 1;
        }
        final int warmup = intOpt(args, "warmup", dWarmup);
        final int count = Math.max(minCount, intOpt(args, "count", dCount));
        threadWarmup = intOpt(args, "thread-warmup", dThreadWarmup);
        final int rounds = Math.max(1, intOpt(args, "rounds", 3));
        final int nContexts = Math.max(1, intOpt(args, "contexts", 1));

        if (!OpenSsl.isAvailable()) {
            System.err.println("EngineChurn: OpenSSL not available to netty (java.library.path="
                    + System.getProperty("java.library.path") + "): " + OpenSsl.unavailabilityCause());
            System.exit(1);
        }
        final Contexts cx = new Contexts(new File(certsDir), provider, trust.equals("default"), server);
        final SslContext[] contexts;
        final SslContext peer;
        if (mode.equals("build")) {
            contexts = new SslContext[0];
            peer = null;
        } else {
            contexts = new SslContext[nContexts];
            for (int i = 0; i < nContexts; i++) {
                contexts[i] = cx.build();
            }
            peer = mode.equals("handshake") ? cx.handshakeClient() : null;
        }
        String tag = String.format(java.util.Locale.ROOT, " mode=%s trust=%s contexts=%d side=%s", mode, trust,
                mode.equals("build") ? 0 : nContexts, side);

        WorkFactory factory = new WorkFactory() {
            public Work create(int threadIndex) {
                if (mode.equals("build")) {
                    return new Build(cx);
                }
                if (mode.equals("handshake")) {
                    return new Handshakes(contexts, peer, threadIndex);
                }
                return new Churn(contexts, threadIndex);
            }
        };

        System.out.println("BENCH-PHASE warmup wall_ms=" + System.currentTimeMillis());
        factory.create(0).run(warmup);
        if (mode.equals("handshake")) {
            Handshakes h = new Handshakes(contexts, peer, 0);
            h.run(1);
            System.out.println("BENCH-INFO handshake protocol=" + h.protocol + " cipher=" + h.cipher);
        }
        for (int threads : threadCounts) {
            phase(factory, provider, threads, count, rounds, tag);
        }
        for (SslContext c : contexts) {
            ReferenceCountUtil.release(c);
        }
        if (peer != null) {
            ReferenceCountUtil.release(peer);
        }
        System.out.println("BENCH-PHASE exit wall_ms=" + System.currentTimeMillis() + procStatus());
        System.out.flush();
        System.exit(0);
    }

    /** " vmhwm_kb=.. vmrss_kb=.." from /proc/self/status (empty where it cannot be read). */
    static String procStatus() {
        String hwm = "-1";
        String rss = "-1";
        try (BufferedReader r = new BufferedReader(new FileReader("/proc/self/status"))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith("VmHWM:")) {
                    hwm = line.substring(6).trim().split("\\s+")[0];
                } else if (line.startsWith("VmRSS:")) {
                    rss = line.substring(6).trim().split("\\s+")[0];
                }
            }
        } catch (IOException e) {
            // not Linux: leave -1
        }
        return " vmhwm_kb=" + hwm + " vmrss_kb=" + rss;
    }

    interface WorkFactory {
        Work create(int threadIndex);
    }

    private static int threadWarmup;

    /**
     * One phase: T fresh threads each warm up, then run `rounds` timed rounds
     * together (count operations per round in all), with a GC between rounds.
     */
    static void phase(final WorkFactory factory, SslProvider provider, int threads, int count, int rounds,
            String tag) throws Exception {
        final CyclicBarrier barrier = new CyclicBarrier(threads + 1);
        final long[] cpu = new long[threads];
        final Throwable[] error = new Throwable[1];
        final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        final boolean cpuTime = mx.isCurrentThreadCpuTimeSupported();
        final int nRounds = rounds;
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int share = count / threads + (t < count % threads ? 1 : 0);
            final int me = t;
            workers[t] = new Thread(new Runnable() {
                public void run() {
                    try {
                        Work work = factory.create(me);
                        work.run(threadWarmup);
                        for (int r = 0; r < nRounds; r++) {
                            barrier.await();
                            long c0 = cpuTime ? mx.getCurrentThreadCpuTime() : 0;
                            work.run(share);
                            cpu[me] = cpuTime ? mx.getCurrentThreadCpuTime() - c0 : 0;
                            barrier.await();
                        }
                    } catch (Throwable e) {
                        synchronized (error) {
                            error[0] = e;
                        }
                        barrier.reset();
                    }
                }
            }, "churn-" + t);
            workers[t].start();
        }
        for (int r = 0; r < rounds; r++) {
            // Each round starts from a clean heap and an idle Finalizer.
            System.gc();
            System.runFinalization();
            System.gc();
            System.out.println("BENCH-PHASE start threads=" + threads + " round=" + r
                    + " wall_ms=" + System.currentTimeMillis());
            System.out.flush();
            long t0 = System.nanoTime();
            try {
                barrier.await();   // all workers warmed up (first round) and waiting: go
                barrier.await();   // all workers done
            } catch (BrokenBarrierException e) {
                break;
            }
            long t1 = System.nanoTime();
            System.out.println("BENCH-PHASE end threads=" + threads + " round=" + r
                    + " wall_ms=" + System.currentTimeMillis());
            System.out.flush();
            System.gc();
            System.runFinalization();
            long t2 = System.nanoTime();
            System.out.println("BENCH-PHASE drained threads=" + threads + " round=" + r
                    + " wall_ms=" + System.currentTimeMillis());
            long cpuSum = 0;
            for (long c : cpu) {
                cpuSum += c;
            }
            System.out.println(String.format(java.util.Locale.ROOT,
                    "CHURN provider=%s threads=%d round=%d count=%d ns_per_engine=%.0f cpu_ns_per_engine=%.0f "
                            + "loop_ms=%.1f drain_ms=%.1f ns_per_engine_drained=%.0f",
                    provider, threads, r, count, (double) (t1 - t0) / count,
                    cpuTime ? (double) cpuSum / count : -1.0, (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                    (double) (t2 - t0) / count) + tag);
            System.out.flush();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (error[0] != null) {
            System.err.println("EngineChurn: failed");
            error[0].printStackTrace();
            System.exit(1);
        }
    }

    /** newEngine + release, contexts taken round-robin (each thread starts at its own). */
    static final class Churn implements Work {
        private final SslContext[] contexts;
        private int next;

        Churn(SslContext[] contexts, int threadIndex) {
            this.contexts = contexts;
            this.next = threadIndex % contexts.length;
        }

        public void run(int n) {
            SslContext[] cs = contexts;
            if (cs.length == 1) {
                churn(cs[0], n);
                return;
            }
            int k = next;
            for (int i = 0; i < n; i++) {
                SSLEngine e = cs[k].newEngine(ByteBufAllocator.DEFAULT);
                ReferenceCountUtil.release(e);
                if (++k == cs.length) {
                    k = 0;
                }
            }
            next = k;
        }
    }

    static void churn(SslContext ctx, int n) {
        for (int i = 0; i < n; i++) {
            SSLEngine e = ctx.newEngine(ByteBufAllocator.DEFAULT);
            ReferenceCountUtil.release(e);
        }
    }

    /** One context built and released per operation. */
    static final class Build implements Work {
        private final Contexts cx;

        Build(Contexts cx) {
            this.cx = cx;
        }

        public void run(int n) throws SSLException {
            for (int i = 0; i < n; i++) {
                SslContext c = cx.build();
                ReferenceCountUtil.release(c);
            }
        }
    }

    /**
     * In-memory handshakes between a server engine (server contexts
     * round-robin) and a client engine; buffers reused across handshakes.
     */
    static final class Handshakes implements Work {
        private static final int CAP = 64 * 1024;
        private static final byte[] HELLO = "nraudit-hello".getBytes(StandardCharsets.US_ASCII);
        private final SslContext[] servers;
        private final SslContext client;
        private int next;
        private final ByteBuffer clientToServer = ByteBuffer.allocate(CAP);
        private final ByteBuffer serverToClient = ByteBuffer.allocate(CAP);
        private final ByteBuffer clientApp = ByteBuffer.allocate(CAP);
        private final ByteBuffer serverApp = ByteBuffer.allocate(CAP);
        private final ByteBuffer empty = ByteBuffer.allocate(0);
        private final byte[] got = new byte[HELLO.length];
        String protocol = "?";
        String cipher = "?";

        Handshakes(SslContext[] servers, SslContext client, int threadIndex) {
            this.servers = servers;
            this.client = client;
            this.next = threadIndex % servers.length;
        }

        public void run(int n) throws Exception {
            for (int i = 0; i < n; i++) {
                SslContext sctx = servers[next];
                if (++next == servers.length) {
                    next = 0;
                }
                SSLEngine c = client.newEngine(ByteBufAllocator.DEFAULT);
                SSLEngine s = null;
                try {
                    s = sctx.newEngine(ByteBufAllocator.DEFAULT);
                    handshake(c, s);
                    if (protocol.equals("?")) {
                        protocol = c.getSession().getProtocol();
                        cipher = c.getSession().getCipherSuite();
                    }
                } finally {
                    ReferenceCountUtil.release(c);
                    if (s != null) {
                        ReferenceCountUtil.release(s);
                    }
                }
            }
        }

        void handshake(SSLEngine c, SSLEngine s) throws Exception {
            clientToServer.clear();
            serverToClient.clear();
            clientApp.clear();
            serverApp.clear();
            c.beginHandshake();
            s.beginHandshake();
            boolean clientDone = false;
            boolean serverDone = false;
            for (int round = 0; round < 100 && !(clientDone && serverDone); round++) {
                clientDone |= step(c, clientToServer, serverToClient, clientApp);
                serverDone |= step(s, serverToClient, clientToServer, serverApp);
            }
            if (!clientDone || !serverDone) {
                throw new SSLException("handshake did not finish: client " + c.getHandshakeStatus()
                        + ", server " + s.getHandshakeStatus());
            }
            // One application record client -> server proves the keys agree.
            c.wrap(ByteBuffer.wrap(HELLO), clientToServer);
            serverApp.clear();
            for (int i = 0; i < 4 && serverApp.position() < HELLO.length; i++) {
                clientToServer.flip();
                s.unwrap(clientToServer, serverApp);
                clientToServer.compact();
                runTasks(s);
            }
            serverApp.flip();
            if (serverApp.remaining() != HELLO.length) {
                throw new SSLException("application data did not arrive (" + serverApp.remaining() + " bytes)");
            }
            serverApp.get(got);
            if (!Arrays.equals(got, HELLO)) {
                throw new SSLException("application data did not arrive intact");
            }
        }

        /**
         * One step of an engine: unwrap what the peer sent, wrap what it
         * wants to send. True once a result reported FINISHED.
         */
        private boolean step(SSLEngine e, ByteBuffer out, ByteBuffer in, ByteBuffer app) throws Exception {
            boolean finished = false;
            in.flip();
            while (in.hasRemaining()) {
                SSLEngineResult r = e.unwrap(in, app);
                app.clear();
                runTasks(e);
                finished |= r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.FINISHED;
                if (r.getStatus() != SSLEngineResult.Status.OK || r.bytesConsumed() == 0) {
                    break;
                }
            }
            in.compact();
            for (int i = 0; i < 8; i++) {
                SSLEngineResult r = e.wrap(empty, out);
                runTasks(e);
                finished |= r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.FINISHED;
                if (r.getStatus() != SSLEngineResult.Status.OK || r.bytesProduced() == 0) {
                    break;
                }
            }
            return finished;
        }

        private static void runTasks(SSLEngine e) {
            Runnable task;
            while ((task = e.getDelegatedTask()) != null) {
                task.run();
            }
        }
    }
}
