package nraudit.demo;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageBuilders;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;

import java.io.File;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bounded MQTT-over-TLS load generator for MqttTlsServer. Connects to the
 * loopback address only.
 *
 * <pre>
 * MqttLoadClient --certs DIR (--port N | --port-file PATH) [--host 127.0.0.1]
 *                [--connections N] [--concurrency C] [--long-lived M] [--hold-file PATH]
 *                [--provider openssl|refcnt|jdk] [--timeout S] [--ping-interval S]
 *                [--protocols TLSv1.3,TLSv1.2] [--publish P] [--threads T] [--pid-file PATH]
 * </pre>
 *
 * Short-lived connections: TLS handshake (client certificate), CONNECT/CONNACK,
 * PINGREQ/PINGRESP, DISCONNECT, close; at most C at a time. With --publish P
 * each short connection also does SUBSCRIBE/SUBACK and P QoS-1
 * PUBLISH/PUBACK exchanges before its PINGREQ. Long-lived
 * connections are opened first, CONNECT and then PINGREQ every
 * --ping-interval seconds; they stay open until the short ones are done and,
 * with --hold-file, until that file appears; then they DISCONNECT.
 * Prints "DONE short=N long=M failed=F elapsed_ms=T" (N short connections
 * completed, M long-lived connections that stayed up to the end, F failures)
 * and exits 0 when nothing failed and nothing timed out, 1 otherwise.
 */
public final class MqttLoadClient {
    private static final int MAX_REPORTED_FAILURES = 10;
    static final AtomicInteger reportedFailures = new AtomicInteger();

    private MqttLoadClient() {
    }

    public static void main(String[] args) throws Exception {
        long t0 = System.nanoTime();
        Cli cli = Cli.parse("MqttLoadClient", args,
                new String[] {"host", "port", "port-file", "connections", "concurrency", "long-lived",
                    "hold-file", "provider", "certs", "timeout", "ping-interval", "threads", "pid-file",
                    "publish", "protocols"},
                new String[0]);
        if (!cli.positional().isEmpty()) {
            cli.usageError("unexpected argument " + cli.positional().get(0));
        }
        String hostName = cli.opt("host", "127.0.0.1");
        int connections = cli.intOpt("connections", 100, 0, 10000000);
        int concurrency = cli.intOpt("concurrency", 8, 1, 10000);
        int longLived = cli.intOpt("long-lived", 0, 0, 100000);
        int timeoutSec = cli.intOpt("timeout", 120, 1, 86400);
        int pingInterval = cli.intOpt("ping-interval", 3, 1, 3600);
        int threads = cli.intOpt("threads", 2, 1, 64);
        final int publish = cli.intOpt("publish", 0, 0, 1000000);
        String holdFile = cli.opt("hold-file", null);
        InetAddress host = InetAddress.getByName(hostName);
        if (!host.isLoopbackAddress()) {
            cli.usageError("--host " + hostName + " is not a loopback address; this client only connects to loopback");
        }
        File certs = cli.certsDir();
        SslProvider provider = Tls.provider(cli, "openssl");
        cli.writePidFile();
        final long deadline = t0 + timeoutSec * 1000000000L;
        int port;
        if (cli.opt("port", null) != null) {
            port = cli.intOpt("port", 0, 1, 65535);
        } else if (cli.opt("port-file", null) != null) {
            String pf = cli.opt("port-file", null);
            if (!Cli.waitForFile(pf, remainingMillis(deadline))) {
                cli.usageError("--port-file " + pf + " did not appear within the timeout");
            }
            port = cli.toInt("--port-file", new String(Files.readAllBytes(new File(pf).toPath()),
                    StandardCharsets.UTF_8), 1, 65535);
        } else {
            cli.usageError("--port N or --port-file PATH is required");
            return;
        }

        final SslContext sslCtx = Tls.client(certs, provider, Tls.protocols(cli));
        EventLoopGroup group = new NioEventLoopGroup(threads);
        final String peerHost = host.getHostAddress();
        final int peerPort = port;
        Bootstrap b = new Bootstrap()
                .group(group)
                .channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10000);

        boolean timedOut = false;
        int shortOk = 0;
        int shortFailed = 0;
        int longOk = 0;
        int longFailed = 0;
        try {
            // Long-lived connections first, so they are up while the short ones run.
            final CountDownLatch longReady = new CountDownLatch(longLived);
            List<Session> longSessions = new ArrayList<Session>();
            for (int i = 0; i < longLived; i++) {
                Session s = new Session("nraudit-long-" + i, true, pingInterval, 0, new Session.Listener() {
                    public void ready(Session s) {
                        longReady.countDown();
                    }

                    public void done(Session s) {
                    }
                });
                longSessions.add(s);
                s.start(b, sslCtx, host, peerHost, peerPort, 0);
            }
            if (!longReady.await(remainingMillis(deadline), TimeUnit.MILLISECONDS)) {
                timedOut = true;
            }

            // Short-lived connections, at most `concurrency` at a time.
            final Semaphore permits = new Semaphore(concurrency);
            final CountDownLatch shortDone = new CountDownLatch(connections);
            final List<Session> shortSessions = new ArrayList<Session>(connections);
            Session.Listener shortListener = new Session.Listener() {
                public void ready(Session s) {
                }

                public void done(Session s) {
                    permits.release();
                    shortDone.countDown();
                }
            };
            int started = 0;
            for (; started < connections && !timedOut; started++) {
                if (!permits.tryAcquire(remainingMillis(deadline), TimeUnit.MILLISECONDS)) {
                    timedOut = true;
                    break;
                }
                Session s = new Session("nraudit-short-" + started, false, pingInterval, publish,
                        shortListener);
                shortSessions.add(s);
                s.start(b, sslCtx, host, peerHost, peerPort, Math.min(30000L, remainingMillis(deadline)));
            }
            if (!timedOut && !shortDone.await(remainingMillis(deadline), TimeUnit.MILLISECONDS)) {
                timedOut = true;
            }
            for (Session s : shortSessions) {
                if (s.succeeded()) {
                    shortOk++;
                } else {
                    shortFailed++;
                }
            }
            shortFailed += connections - started;

            if (holdFile != null && !timedOut) {
                if (!Cli.waitForFile(holdFile, Math.max(1, remainingMillis(deadline)))) {
                    timedOut = true;
                }
            }
            List<ChannelFuture> closing = new ArrayList<ChannelFuture>();
            for (Session s : longSessions) {
                if (s.established() && s.isOpen()) {
                    longOk++;
                } else {
                    longFailed++;
                    if (s.failure() != null) {
                        reportFailure(s.id + ": " + s.failure());
                    } else {
                        reportFailure(s.id + ": not established or closed early");
                    }
                }
                ChannelFuture f = s.disconnect();
                if (f != null) {
                    closing.add(f);
                }
            }
            for (ChannelFuture f : closing) {
                f.awaitUninterruptibly(5000);
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5000);
            ReferenceCountUtil.release(sslCtx);
        }
        int failed = shortFailed + longFailed;
        long elapsedMs = (System.nanoTime() - t0) / 1000000L;
        if (timedOut) {
            System.err.println("MqttLoadClient: timeout of " + timeoutSec + " s reached");
        }
        Cli.say("DONE short=" + shortOk + " long=" + longOk + " failed=" + failed + " elapsed_ms=" + elapsedMs);
        System.exit(failed == 0 && !timedOut ? 0 : 1);
    }

    static long remainingMillis(long deadline) {
        return Math.max(0, (deadline - System.nanoTime()) / 1000000L);
    }

    static void reportFailure(String what) {
        int n = reportedFailures.incrementAndGet();
        if (n <= MAX_REPORTED_FAILURES) {
            System.err.println("MqttLoadClient: failed: " + what);
        } else if (n == MAX_REPORTED_FAILURES + 1) {
            System.err.println("MqttLoadClient: (further failures not shown)");
        }
    }

    static final String TOPIC = "nraudit/demo";

    static MqttMessage simple(MqttMessageType type) {
        return new MqttMessage(new MqttFixedHeader(type, false, MqttQoS.AT_MOST_ONCE, false, 0));
    }

    /** One MQTT connection and its state machine; all state changes on its event loop. */
    static final class Session extends SimpleChannelInboundHandler<MqttMessage> {
        interface Listener {
            void ready(Session s);

            void done(Session s);
        }

        final String id;
        final boolean longLived;
        final int pingIntervalSec;
        final int publish;
        final Listener listener;
        private int published;
        private final AtomicBoolean finished = new AtomicBoolean();
        private final AtomicBoolean readySignalled = new AtomicBoolean();
        private volatile Channel channel;
        private volatile boolean established;
        private volatile boolean succeeded;
        private volatile boolean closing;
        private volatile String failure;
        private ScheduledFuture<?> pinger;
        private ScheduledFuture<?> watchdog;

        Session(String id, boolean longLived, int pingIntervalSec, int publish, Listener listener) {
            this.id = id;
            this.longLived = longLived;
            this.pingIntervalSec = pingIntervalSec;
            this.publish = publish;
            this.listener = listener;
        }

        boolean succeeded() {
            return succeeded;
        }

        boolean established() {
            return established;
        }

        boolean isOpen() {
            Channel c = channel;
            return c != null && c.isActive() && failure == null;
        }

        String failure() {
            return failure;
        }

        void start(Bootstrap bootstrap, final SslContext sslCtx, InetAddress host, final String peerHost,
                final int peerPort, final long timeoutMillis) {
            final Session self = this;
            Bootstrap b = bootstrap.clone().handler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast("ssl", sslCtx.newHandler(ch.alloc(), peerHost, peerPort));
                    ch.pipeline().addLast("mqtt-decoder", new MqttDecoder());
                    ch.pipeline().addLast("mqtt-encoder", MqttEncoder.INSTANCE);
                    ch.pipeline().addLast("session", self);
                }
            });
            ChannelFuture cf = b.connect(host, peerPort);
            channel = cf.channel();
            cf.addListener(new ChannelFutureListener() {
                public void operationComplete(ChannelFuture f) {
                    if (!f.isSuccess()) {
                        fail("connect: " + f.cause());
                        finish();
                    } else if (timeoutMillis > 0) {
                        watchdog = f.channel().eventLoop().schedule(new Runnable() {
                            public void run() {
                                fail("no completion within " + timeoutMillis + " ms");
                                channel.close();
                            }
                        }, timeoutMillis, TimeUnit.MILLISECONDS);
                    }
                }
            });
        }

        /** Long-lived: stop pinging, send DISCONNECT, close. Returns the close future. */
        ChannelFuture disconnect() {
            final Channel c = channel;
            if (c == null) {
                return null;
            }
            closing = true;
            c.eventLoop().execute(new Runnable() {
                public void run() {
                    if (pinger != null) {
                        pinger.cancel(false);
                    }
                    if (c.isActive() && established) {
                        c.writeAndFlush(simple(MqttMessageType.DISCONNECT)).addListener(ChannelFutureListener.CLOSE);
                    } else {
                        c.close();
                    }
                }
            });
            return c.closeFuture();
        }

        private void fail(String why) {
            if (failure == null && !succeeded) {
                failure = why;
                if (!longLived) {
                    reportFailure(id + ": " + why);
                }
            }
        }

        private void finish() {
            if (watchdog != null) {
                watchdog.cancel(false);
            }
            if (pinger != null) {
                pinger.cancel(false);
            }
            signalReady();
            if (finished.compareAndSet(false, true)) {
                listener.done(this);
            }
        }

        private void signalReady() {
            if (readySignalled.compareAndSet(false, true)) {
                listener.ready(this);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent) {
                SslHandshakeCompletionEvent e = (SslHandshakeCompletionEvent) evt;
                if (e.isSuccess()) {
                    ctx.writeAndFlush(MqttMessageBuilders.connect()
                            .clientId(id)
                            .protocolVersion(MqttVersion.MQTT_3_1_1)
                            .cleanSession(true)
                            .keepAlive(longLived ? 4 * pingIntervalSec : 30)
                            .build());
                } else {
                    fail("TLS handshake: " + e.cause());
                    ctx.close();
                }
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        protected void channelRead0(final ChannelHandlerContext ctx, MqttMessage msg) {
            if (msg.decoderResult().isFailure() || msg.fixedHeader() == null) {
                fail("bad MQTT message: " + msg.decoderResult().cause());
                ctx.close();
                return;
            }
            switch (msg.fixedHeader().messageType()) {
            case CONNACK: {
                MqttConnectReturnCode rc = ((MqttConnAckMessage) msg).variableHeader().connectReturnCode();
                if (rc != MqttConnectReturnCode.CONNECTION_ACCEPTED) {
                    fail("CONNACK " + rc);
                    ctx.close();
                } else if (longLived) {
                    established = true;
                    pinger = ctx.executor().scheduleAtFixedRate(new Runnable() {
                        public void run() {
                            ctx.writeAndFlush(simple(MqttMessageType.PINGREQ));
                        }
                    }, pingIntervalSec, pingIntervalSec, TimeUnit.SECONDS);
                    signalReady();
                } else {
                    established = true;
                    if (publish > 0) {
                        ctx.writeAndFlush(MqttMessageBuilders.subscribe()
                                .messageId(1)
                                .addSubscription(MqttQoS.AT_LEAST_ONCE, TOPIC)
                                .build());
                    } else {
                        ctx.writeAndFlush(simple(MqttMessageType.PINGREQ));
                    }
                }
                break;
            }
            case SUBACK:
            case PUBACK:
                if (longLived || !established || published >= publish) {
                    fail("unexpected " + msg.fixedHeader().messageType());
                    ctx.close();
                } else {
                    if (msg.fixedHeader().messageType() == MqttMessageType.PUBACK) {
                        published++;
                    }
                    if (published < publish) {
                        ctx.writeAndFlush(MqttMessageBuilders.publish()
                                .topicName(TOPIC)
                                .qos(MqttQoS.AT_LEAST_ONCE)
                                .messageId(2 + published % 60000)
                                .payload(Unpooled.copiedBuffer(id + " #" + published, StandardCharsets.UTF_8))
                                .build());
                    } else {
                        ctx.writeAndFlush(simple(MqttMessageType.PINGREQ));
                    }
                }
                break;
            case PINGRESP:
                if (!longLived && established && published == publish && !succeeded && failure == null) {
                    succeeded = true;
                    ctx.writeAndFlush(simple(MqttMessageType.DISCONNECT)).addListener(ChannelFutureListener.CLOSE);
                }
                break;
            default:
                fail("unexpected " + msg.fixedHeader().messageType());
                ctx.close();
                break;
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            if (!succeeded && !(longLived && closing)) {
                fail(longLived ? "connection lost" : "closed before completion");
            }
            finish();
            super.channelInactive(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(String.valueOf(cause));
            ctx.close();
        }
    }
}
