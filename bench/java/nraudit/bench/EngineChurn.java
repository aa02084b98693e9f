package nraudit.bench;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import javax.net.ssl.SSLEngine;

/**
 * Engine churn micro-benchmark: creates and releases netty OpenSSL engines in
 * a loop and prints the wall-clock nanoseconds per engine of the timed part
 * only.
 *
 * <pre>
 * EngineChurn --certs DIR [--provider refcnt|openssl] [--threads 1,2] [--rounds R]
 *             [--warmup N] [--thread-warmup N] [--count N] [--side server|client]
 * </pre>
 *
 * The main thread first creates and releases --warmup engines (the JIT
 * compiles the loop). Then, for each entry of --threads, one phase: T fresh
 * threads each churn --thread-warmup engines, then R timed rounds (default 3,
 * a full GC before each): in a round the threads start together and churn
 * their share of --count engines; the time from the common start to the end
 * of the last thread, divided by --count, is ns_per_engine (with T threads:
 * the inverse throughput); cpu_ns_per_engine is the CPU time of the churning
 * threads (summed) per engine, which other processes on a noisy machine
 * disturb much less.
 *
 * With --provider openssl (finalizable engines) finalize() runs later, on the
 * Finalizer thread: "drain" is the time of System.gc() + runFinalization()
 * right after the loop; ns_per_engine_drained includes it.
 *
 * Output (stdout): "BENCH-PHASE ..." lines with System.currentTimeMillis()
 * (so -Xlog:safepoint lines, also on stdout, can be counted per phase), and
 * one line per round:
 * "CHURN provider=P threads=T round=R count=N ns_per_engine=X cpu_ns_per_engine=C loop_ms=.. drain_ms=..
 * ns_per_engine_drained=Y".
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

    public static void main(String[] args) throws Exception {
        System.out.println("BENCH-PHASE main wall_ms=" + System.currentTimeMillis());
        String certsDir = opt(args, "certs", System.getenv("NRAUDIT_JT_CERTS"));
        if (certsDir == null) {
            System.err.println("usage: EngineChurn --certs DIR [--provider refcnt|openssl] [--threads 1,2]"
                    + " [--rounds R] [--warmup N] [--thread-warmup N] [--count N] [--side server|client]");
            System.exit(2);
        }
        String providerName = opt(args, "provider", "refcnt");
        SslProvider provider;
        if (providerName.equals("refcnt")) {
            provider = SslProvider.OPENSSL_REFCNT;
        } else if (providerName.equals("openssl")) {
            provider = SslProvider.OPENSSL;
        } else {
            System.err.println("EngineChurn: --provider must be refcnt or openssl");
            System.exit(2);
            return;
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
                System.err.println("EngineChurn: --threads expects a list of 1..64, not " + tl[i]);
                System.exit(2);
            }
        }
        final int warmup = intOpt(args, "warmup", 20000);
        final int count = Math.max(64, intOpt(args, "count", 50000));
        threadWarmup = intOpt(args, "thread-warmup", 2000);
        final int rounds = Math.max(1, intOpt(args, "rounds", 3));
        boolean server = !opt(args, "side", "server").equals("client");

        if (!OpenSsl.isAvailable()) {
            System.err.println("EngineChurn: OpenSSL not available to netty (java.library.path="
                    + System.getProperty("java.library.path") + "): " + OpenSsl.unavailabilityCause());
            System.exit(1);
        }
        File certs = new File(certsDir);
        final SslContext ctx;
        if (server) {
            ctx = SslContextBuilder.forServer(new File(certs, "server.pem"), new File(certs, "server.key"))
                    .sslProvider(provider).clientAuth(ClientAuth.REQUIRE)
                    .trustManager(new File(certs, "ca.pem")).build();
        } else {
            ctx = SslContextBuilder.forClient().sslProvider(provider)
                    .keyManager(new File(certs, "client.pem"), new File(certs, "client.key"))
                    .trustManager(new File(certs, "ca.pem")).build();
        }

        System.out.println("BENCH-PHASE warmup wall_ms=" + System.currentTimeMillis());
        churn(ctx, warmup);
        for (int threads : threadCounts) {
            phase(ctx, provider, threads, count, rounds);
        }
        ReferenceCountUtil.release(ctx);
        System.exit(0);
    }

    private static int threadWarmup;

    /**
     * One phase: T fresh threads each warm up, then run `rounds` timed rounds
     * together (count engines per round in all), with a GC between rounds.
     */
    static void phase(final SslContext ctx, SslProvider provider, int threads, int count, int rounds)
            throws Exception {
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
                        churn(ctx, threadWarmup);
                        for (int r = 0; r < nRounds; r++) {
                            barrier.await();
                            long c0 = cpuTime ? mx.getCurrentThreadCpuTime() : 0;
                            churn(ctx, share);
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
                    (double) (t2 - t0) / count));
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

    static void churn(SslContext ctx, int n) {
        for (int i = 0; i < n; i++) {
            SSLEngine e = ctx.newEngine(ByteBufAllocator.DEFAULT);
            ReferenceCountUtil.release(e);
        }
    }
}
