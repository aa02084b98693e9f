package nraudit.demo;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ReferenceCounted;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * Engine life-cycle scenarios on the real netty / netty-tcnative, for the
 * integration tests of the agent. One scenario per run:
 *
 * <pre>
 * Scenarios SCENARIO COUNT --certs DIR [--wait-file PATH] [--wait-timeout S] [--pid-file PATH]
 *           [--provider openssl|refcnt|jdk] [--threads T] [--side server|client]
 *           [--protocols TLSv1.3,TLSv1.2] [--trust ca|default] [--contexts N] [--netty-warnings]
 *
 *   churn N            create N engines and release each (every SSL* is freed)
 *   storm N            --threads T for --seconds S (or N engines each, whichever ends
 *                      first): OPENSSL_REFCNT engines released, and OPENSSL engines
 *                      dropped unreleased so that finalize() frees them; prints
 *                      released= and dropped= (the engines the Finalizer frees)
 *   handshakes N       N in-memory TLS handshakes (client + server engine, mutual
 *                      auth, wrap/unwrap over ByteBuffers), then release both
 *   hold K             keep K engines reachable from a static list
 *   retain-twice K     OPENSSL engines retained once more, then dropped: finalize()
 *                      releases once, the SSL* is never freed
 *   drop-refcnt K      OPENSSL_REFCNT engines dropped without release (no finalizer)
 *   block-finalizer K  an object whose finalize() sleeps blocks the Finalizer
 *                      thread, then K OPENSSL engines are dropped without release:
 *                      they stay pending finalization
 *   zombies K          as block-finalizer, but each engine is released (freed)
 *                      before it is dropped: freed engines wait in the heap
 *   fail-construct K   K engines whose constructor throws after SSL.newSSL (an
 *                      unsupported protocol in the context: setEnabledProtocols
 *                      throws; the constructor frees the SSL* and rethrows;
 *                      with OPENSSL the half-built engines are still finalized,
 *                      and netty logs an NPE warning for each: hidden unless
 *                      --netty-warnings)
 *   jdk-provider N     N handshakes with SslProvider.JDK engines (no native SSL*)
 * </pre>
 *
 * Afterwards: System.gc() (and System.runFinalization() where it cannot block)
 * a few times, print "SCENARIO-DONE", wait for --wait-file if given (so a test
 * can run jcmd PID JVMTI.data_dump while the objects still exist), exit 0.
 * --provider applies to churn, handshakes, hold, fail-construct (default
 * openssl); --threads to churn; --side (default server) to churn and hold;
 * --protocols to every context except fail-construct's (netty 4.1.48 enables
 * at most TLSv1.2 by default; --protocols TLSv1.3,TLSv1.2 allows TLS 1.3).
 * --trust default builds server contexts as most services do, forServer(cert,
 * key) alone, so the JVM's default trust store (~140 CAs) is loaded into each;
 * --contexts N makes churn build N contexts and take engines from them in turn.
 */
public final class Scenarios {
    /** Engines of the hold scenario and contexts: reachable until exit. */
    static final List<Object> HELD = new ArrayList<Object>();
    static final List<SslContext> CONTEXTS = new ArrayList<SslContext>();

    private static File certs;
    private static String[] protocols;
    /** --trust default: server contexts as most services build them, forServer(cert, key) and nothing
     * else, so the JVM's default trust store is loaded into each context. */
    private static boolean defaultTrust;
    /** --contexts N: churn builds N contexts and takes engines from them in turn. */
    private static int contexts;

    private Scenarios() {
    }

    public static void main(String[] args) throws Exception {
        Cli cli = Cli.parse("Scenarios", args,
                new String[] {"certs", "wait-file", "wait-timeout", "pid-file", "provider", "threads", "side",
                    "protocols", "trust", "contexts", "seconds"},
                new String[] {"netty-warnings"});
        List<String> pos = cli.positional();
        if (pos.size() != 2) {
            cli.usageError("usage: Scenarios SCENARIO COUNT [options] (see the class comment)");
        }
        String scenario = pos.get(0);
        int n = cli.toInt("COUNT", pos.get(1), 0, 100000000);
        int waitTimeout = cli.intOpt("wait-timeout", 120, 0, 86400);
        int threads = cli.intOpt("threads", 1, 1, 256);
        String side = cli.opt("side", "server");
        if (!side.equals("server") && !side.equals("client")) {
            cli.usageError("--side must be server or client");
        }
        boolean serverSide = side.equals("server");
        certs = cli.certsDir();
        protocols = Tls.protocols(cli);
        String trust = cli.opt("trust", "ca");
        if (!trust.equals("ca") && !trust.equals("default")) {
            cli.usageError("--trust must be ca or default");
        }
        defaultTrust = trust.equals("default");
        contexts = cli.intOpt("contexts", 1, 1, 1000);
        cli.writePidFile();

        long t0 = System.nanoTime();
        String summary;
        if (scenario.equals("churn")) {
            summary = churn(n, Tls.provider(cli, "openssl"), threads, serverSide);
            Cli.gc(3, true);
        } else if (scenario.equals("storm")) {
            summary = storm(n, threads, cli.intOpt("seconds", 10, 1, 3600));
            Cli.gc(6, true);
        } else if (scenario.equals("handshakes")) {
            summary = handshakes(n, Tls.provider(cli, "openssl"));
            Cli.gc(3, true);
        } else if (scenario.equals("hold")) {
            summary = hold(n, Tls.provider(cli, "openssl"), serverSide);
            Cli.gc(3, true);
        } else if (scenario.equals("retain-twice")) {
            summary = retainTwice(n);
            Cli.gc(3, true);
            Thread.sleep(200);
            Cli.gc(2, true);
        } else if (scenario.equals("drop-refcnt")) {
            summary = dropRefcnt(n);
            Cli.gc(3, true);
        } else if (scenario.equals("block-finalizer")) {
            summary = blockFinalizer(n, false);
            Cli.gc(3, false); // runFinalization() would wait for the blocked finalizer
        } else if (scenario.equals("zombies")) {
            summary = blockFinalizer(n, true);
            Cli.gc(3, false);
        } else if (scenario.equals("fail-construct")) {
            if (!cli.flag("netty-warnings")) {
                quietReleaseWarnings();
            }
            summary = failConstruct(n, Tls.provider(cli, "openssl"));
            Cli.gc(3, true);
        } else if (scenario.equals("jdk-provider")) {
            summary = handshakes(n, SslProvider.JDK);
            Cli.gc(3, true);
        } else {
            cli.usageError("unknown scenario " + scenario + " (churn, storm, handshakes, hold, retain-twice, "
                    + "drop-refcnt, block-finalizer, zombies, fail-construct, jdk-provider)");
            return;
        }
        long ms = (System.nanoTime() - t0) / 1000000L;
        Cli.say("SCENARIO " + scenario + " n=" + n + " " + summary + " elapsed_ms=" + ms);
        Cli.say("SCENARIO-DONE");

        String waitFile = cli.opt("wait-file", null);
        if (waitFile != null && !Cli.waitForFile(waitFile, waitTimeout * 1000L)) {
            System.err.println("Scenarios: --wait-file " + waitFile + " did not appear within " + waitTimeout + " s");
            System.exit(3);
        }
        // Contexts are released last; engines still holding them keep them alive.
        for (SslContext ctx : CONTEXTS) {
            ReferenceCountUtil.release(ctx);
        }
        System.exit(0);
    }

    static SslContext serverContext(SslProvider p) throws SSLException {
        SslContext ctx = defaultTrust
                ? SslContextBuilder.forServer(new File(certs, "server.pem"), new File(certs, "server.key"))
                        .sslProvider(p).build()
                : Tls.server(certs, p, protocols);
        CONTEXTS.add(ctx);
        return ctx;
    }

    static SslContext clientContext(SslProvider p) throws SSLException {
        SslContext ctx = Tls.client(certs, p, protocols);
        CONTEXTS.add(ctx);
        return ctx;
    }

    /** Releases an engine so that its native SSL* is freed (or closes a JDK engine). */
    static void release(SSLEngine engine) {
        if (engine instanceof ReferenceCounted) {
            ReferenceCountUtil.release(engine);
        } else {
            engine.closeOutbound();
            try {
                engine.closeInbound();
            } catch (SSLException e) {
                // no close_notify from the peer: expected here
            }
        }
    }

    static String churn(final int n, SslProvider p, int threads, boolean serverSide) throws Exception {
        final SslContext[] ctxs = new SslContext[contexts];
        for (int c = 0; c < contexts; c++) {
            ctxs[c] = serverSide ? serverContext(p) : clientContext(p);
        }
        final AtomicInteger done = new AtomicInteger();
        Thread[] workers = new Thread[threads];
        final Throwable[] error = new Throwable[1];
        for (int t = 0; t < threads; t++) {
            final int share = n / threads + (t < n % threads ? 1 : 0);
            workers[t] = new Thread(new Runnable() {
                public void run() {
                    try {
                        for (int i = 0; i < share; i++) {
                            SSLEngine e = ctxs[i % ctxs.length].newEngine(ByteBufAllocator.DEFAULT);
                            release(e);
                            done.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        synchronized (error) {
                            error[0] = e;
                        }
                    }
                }
            }, "churn-" + t);
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (error[0] != null) {
            throw new RuntimeException("churn failed", error[0]);
        }
        return "provider=" + p + " threads=" + threads + " contexts=" + contexts + " trust="
                + (defaultTrust ? "default" : "ca") + " released=" + done.get();
    }

    /**
     * Engines churned the two ways a correct service frees them, on several
     * threads at once: released (OPENSSL_REFCNT) or dropped for finalize()
     * to free (OPENSSL). Nothing leaks a handle.
     */
    static String storm(final int perThread, int threads, int seconds) throws Exception {
        final SslContext refcnt = serverContext(SslProvider.OPENSSL_REFCNT);
        final SslContext finalized = serverContext(SslProvider.OPENSSL);
        final long deadline = System.nanoTime() + seconds * 1000000000L;
        final AtomicInteger released = new AtomicInteger();
        final AtomicInteger dropped = new AtomicInteger();
        final Throwable[] error = new Throwable[1];
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            workers[t] = new Thread(new Runnable() {
                public void run() {
                    try {
                        for (int i = 0; i < perThread && System.nanoTime() - deadline < 0; i++) {
                            if ((i & 1) == 0) {
                                release(refcnt.newEngine(ByteBufAllocator.DEFAULT));
                                released.incrementAndGet();
                            } else {
                                finalized.newEngine(ByteBufAllocator.DEFAULT);   // finalize() frees it
                                dropped.incrementAndGet();
                            }
                        }
                    } catch (Throwable e) {
                        synchronized (error) {
                            error[0] = e;
                        }
                    }
                }
            }, "storm-" + t);
            workers[t].start();
        }
        Cli.say("STORM-RUNNING threads=" + threads);
        for (Thread w : workers) {
            w.join();
        }
        if (error[0] != null) {
            throw new RuntimeException("storm failed", error[0]);
        }
        return "threads=" + threads + " released=" + released.get() + " dropped=" + dropped.get();
    }

    static String handshakes(int n, SslProvider p) throws Exception {
        SslContext clientCtx = clientContext(p);
        SslContext serverCtx = serverContext(p);
        Pipe pipe = new Pipe();
        String protocol = "?";
        String cipher = "?";
        for (int i = 0; i < n; i++) {
            SSLEngine client = clientCtx.newEngine(ByteBufAllocator.DEFAULT);
            SSLEngine server = serverCtx.newEngine(ByteBufAllocator.DEFAULT);
            try {
                pipe.handshake(client, server);
                if (i == 0) {
                    protocol = client.getSession().getProtocol();
                    cipher = client.getSession().getCipherSuite();
                }
            } finally {
                release(client);
                release(server);
            }
        }
        return "provider=" + p + " handshakes=" + n + " protocol=" + protocol + " cipher=" + cipher;
    }

    static String hold(int k, SslProvider p, boolean serverSide) throws Exception {
        SslContext ctx = serverSide ? serverContext(p) : clientContext(p);
        for (int i = 0; i < k; i++) {
            HELD.add(ctx.newEngine(ByteBufAllocator.DEFAULT));
        }
        return "provider=" + p + " held=" + HELD.size();
    }

    static String retainTwice(int k) throws Exception {
        SslContext ctx = serverContext(SslProvider.OPENSSL);
        for (int i = 0; i < k; i++) {
            SSLEngine e = ctx.newEngine(ByteBufAllocator.DEFAULT);
            ((ReferenceCounted) e).retain(); // refCnt 2; finalize() releases only once
        }
        return "provider=OPENSSL dropped_with_refcnt_2=" + k;
    }

    static String dropRefcnt(int k) throws Exception {
        SslContext ctx = serverContext(SslProvider.OPENSSL_REFCNT);
        for (int i = 0; i < k; i++) {
            ctx.newEngine(ByteBufAllocator.DEFAULT); // dropped, never released
        }
        return "provider=OPENSSL_REFCNT dropped_unreleased=" + k;
    }

    /** Blocks the Finalizer thread for the rest of the run once finalized. */
    static final class FinalizerBlocker {
        static final CountDownLatch STARTED = new CountDownLatch(1);

        @Override
        @SuppressWarnings({"deprecation", "removal"})
        protected void finalize() throws Throwable {
            STARTED.countDown();
            while (true) {
                Thread.sleep(60000);
            }
        }
    }

    /**
     * With the Finalizer blocked, creates k OPENSSL engines and drops them;
     * with release they are released first (native SSL freed, destroyed=true)
     * and wait in the heap as zombies behind the blocked finalizer.
     */
    static String blockFinalizer(int k, boolean release) throws Exception {
        SslContext ctx = serverContext(SslProvider.OPENSSL);
        new FinalizerBlocker(); // dropped at once
        boolean blocked = false;
        for (int i = 0; i < 100 && !blocked; i++) {
            System.gc();
            blocked = FinalizerBlocker.STARTED.await(100, TimeUnit.MILLISECONDS);
        }
        if (!blocked) {
            System.err.println("Scenarios: the blocker was not finalized within 10 s"
                    + " (finalization disabled?); continuing");
        }
        for (int i = 0; i < k; i++) {
            SSLEngine e = ctx.newEngine(ByteBufAllocator.DEFAULT); // dropped
            if (release) {
                release(e);
            }
        }
        return "provider=OPENSSL finalizer_blocked=" + blocked + (release ? " dropped_released=" : " dropped_unreleased=") + k;
    }

    static String failConstruct(int k, SslProvider p) throws Exception {
        if (p == SslProvider.JDK) {
            throw new IllegalArgumentException("fail-construct needs an OpenSSL provider");
        }
        // The context keeps the protocol list unchecked; the engine constructor
        // calls SSL.newSSL, then setEnabledProtocols, which throws
        // IllegalArgumentException("Protocol ... is not supported."); the
        // constructor's catch calls shutdown() (SSL.freeSSL) and rethrows.
        SslContext ctx = Tls.serverBuilder(certs, p).protocols("TLSv1.2", "nraudit-no-such-protocol").build();
        CONTEXTS.add(ctx);
        int failed = 0;
        String message = null;
        for (int i = 0; i < k; i++) {
            try {
                SSLEngine e = ctx.newEngine(ByteBufAllocator.DEFAULT);
                release(e);
            } catch (IllegalArgumentException e) {
                if (!thrownInEngineConstructor(e)) {
                    throw new IllegalStateException("fail-construct: unexpected failure site", e);
                }
                failed++;
                message = e.getMessage();
            }
        }
        if (failed != k) {
            throw new IllegalStateException("fail-construct: only " + failed + " of " + k
                    + " engine constructions failed");
        }
        return "provider=" + p + " failed_constructions=" + failed
                + (message != null ? " message=\"" + message + "\"" : "");
    }

    /** Keeps the logger (java.util.logging holds loggers weakly). */
    private static java.util.logging.Logger quietLogger;

    /**
     * netty 4.1.48 finalizes each half-built OpenSslEngine: finalize() releases
     * it, deallocate() finds no parent context and ReferenceCountUtil logs a
     * NullPointerException warning with a stack trace per engine. The SSL* was
     * already freed by the constructor. Silence that logger (netty logs
     * through java.util.logging when no SLF4J/Log4j is on the class path);
     * --netty-warnings shows them.
     */
    static void quietReleaseWarnings() {
        quietLogger = java.util.logging.Logger.getLogger("io.netty.util.ReferenceCountUtil");
        quietLogger.setLevel(java.util.logging.Level.SEVERE);
    }

    /** True when e comes from setEnabledProtocols called by the engine constructor (after SSL.newSSL). */
    static boolean thrownInEngineConstructor(Throwable e) {
        StackTraceElement[] st = e.getStackTrace();
        for (int i = 0; i + 1 < st.length; i++) {
            if (st[i].getClassName().endsWith("ReferenceCountedOpenSslEngine")
                    && st[i].getMethodName().equals("setEnabledProtocols")
                    && st[i + 1].getClassName().endsWith("ReferenceCountedOpenSslEngine")
                    && st[i + 1].getMethodName().equals("<init>")) {
                return true;
            }
        }
        return false;
    }

    /** In-memory transport between two engines (buffers reused across handshakes). */
    static final class Pipe {
        private static final int CAP = 64 * 1024;
        private final ByteBuffer clientToServer = ByteBuffer.allocate(CAP);
        private final ByteBuffer serverToClient = ByteBuffer.allocate(CAP);
        private final ByteBuffer clientApp = ByteBuffer.allocate(CAP);
        private final ByteBuffer serverApp = ByteBuffer.allocate(CAP);
        private final ByteBuffer empty = ByteBuffer.allocate(0);
        private static final byte[] HELLO = "nraudit-hello".getBytes(StandardCharsets.US_ASCII);

        void handshake(SSLEngine client, SSLEngine server) throws Exception {
            clientToServer.clear();
            serverToClient.clear();
            clientApp.clear();
            serverApp.clear();
            client.setUseClientMode(true);
            server.setUseClientMode(false);
            client.beginHandshake();
            server.beginHandshake();
            boolean clientDone = false;
            boolean serverDone = false;
            for (int round = 0; round < 100 && !(clientDone && serverDone); round++) {
                clientDone |= step(client, clientToServer, serverToClient, clientApp);
                serverDone |= step(server, serverToClient, clientToServer, serverApp);
            }
            if (!clientDone || !serverDone) {
                throw new SSLException("handshake did not finish: client " + client.getHandshakeStatus()
                        + ", server " + server.getHandshakeStatus());
            }
            // One application record client -> server proves the keys agree.
            client.wrap(ByteBuffer.wrap(HELLO), clientToServer);
            serverApp.clear();
            for (int i = 0; i < 4 && serverApp.position() < HELLO.length; i++) {
                clientToServer.flip();
                server.unwrap(clientToServer, serverApp);
                clientToServer.compact();
                runTasks(server);
            }
            serverApp.flip();
            byte[] got = new byte[serverApp.remaining()];
            serverApp.get(got);
            if (!Arrays.equals(got, HELLO)) {
                throw new SSLException("application data did not arrive intact (" + got.length + " bytes)");
            }
        }

        /**
         * One step of an engine: unwrap what the peer sent, wrap what it wants
         * to send. Returns true once a result reported FINISHED (or the engine
         * is past the handshake).
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
