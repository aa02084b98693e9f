package nraudit.demo;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.mqtt.MqttConnAckMessage;
import io.netty.handler.codec.mqtt.MqttConnAckVariableHeader;
import io.netty.handler.codec.mqtt.MqttConnectReturnCode;
import io.netty.handler.codec.mqtt.MqttDecoder;
import io.netty.handler.codec.mqtt.MqttEncoder;
import io.netty.handler.codec.mqtt.MqttFixedHeader;
import io.netty.handler.codec.mqtt.MqttMessage;
import io.netty.handler.codec.mqtt.MqttMessageIdVariableHeader;
import io.netty.handler.codec.mqtt.MqttMessageType;
import io.netty.handler.codec.mqtt.MqttPubAckMessage;
import io.netty.handler.codec.mqtt.MqttPublishMessage;
import io.netty.handler.codec.mqtt.MqttQoS;
import io.netty.handler.codec.mqtt.MqttSubAckMessage;
import io.netty.handler.codec.mqtt.MqttSubAckPayload;
import io.netty.handler.codec.mqtt.MqttSubscribeMessage;
import io.netty.handler.codec.mqtt.MqttTopicSubscription;
import io.netty.handler.codec.mqtt.MqttUnsubAckMessage;
import io.netty.handler.codec.mqtt.MqttUnsubscribeMessage;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An MQTT-over-TLS access server (MQTT 3.1.1 subset) on netty, TLS by
 * SslProvider.OPENSSL (netty-tcnative) with client authentication required.
 * It binds to the loopback address only.
 *
 * <pre>
 * MqttTlsServer --certs DIR [--port N] [--port-file PATH] [--provider openssl|refcnt|jdk]
 *               [--protocols TLSv1.3,TLSv1.2] [--threads T] [--stop-on-stdin-eof] [--exit-after-file PATH]
 *               [--max-seconds S] [--pid-file PATH]
 * </pre>
 *
 * Prints "READY port=N" once listening and "STOPPED ..." (counters) when it
 * stops; it stops cleanly (System.exit(0), so VM-death agents report) when
 * stdin reaches EOF (with --stop-on-stdin-eof), when the --exit-after-file
 * appears, or after --max-seconds.
 */
public final class MqttTlsServer {
    static final AtomicLong accepted = new AtomicLong();
    static final AtomicLong handshakes = new AtomicLong();
    static final AtomicLong tlsFailures = new AtomicLong();
    static final AtomicLong connects = new AtomicLong();
    static final AtomicLong pings = new AtomicLong();
    static final AtomicLong subscribes = new AtomicLong();
    static final AtomicLong publishes = new AtomicLong();
    static final AtomicLong disconnects = new AtomicLong();
    static final AtomicLong protocolErrors = new AtomicLong();

    private MqttTlsServer() {
    }

    public static void main(String[] args) throws Exception {
        Cli cli = Cli.parse("MqttTlsServer", args,
                new String[] {"port", "port-file", "provider", "certs", "threads", "exit-after-file",
                    "max-seconds", "pid-file", "protocols"},
                new String[] {"stop-on-stdin-eof"});
        if (!cli.positional().isEmpty()) {
            cli.usageError("unexpected argument " + cli.positional().get(0));
        }
        int port = cli.intOpt("port", 0, 0, 65535);
        int threads = cli.intOpt("threads", 2, 1, 64);
        int maxSeconds = cli.intOpt("max-seconds", 0, 0, Integer.MAX_VALUE);
        File certs = cli.certsDir();
        SslProvider provider = Tls.provider(cli, "openssl");
        cli.writePidFile();

        final SslContext sslCtx = Tls.server(certs, provider, Tls.protocols(cli));
        EventLoopGroup boss = new NioEventLoopGroup(1);
        EventLoopGroup workers = new NioEventLoopGroup(threads);
        final CountDownLatch stop = new CountDownLatch(1);
        int code = 0;
        try {
            ServerBootstrap b = new ServerBootstrap()
                    .group(boss, workers)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            accepted.incrementAndGet();
                            ch.pipeline().addLast("ssl", sslCtx.newHandler(ch.alloc()));
                            ch.pipeline().addLast("mqtt-decoder", new MqttDecoder());
                            ch.pipeline().addLast("mqtt-encoder", MqttEncoder.INSTANCE);
                            ch.pipeline().addLast("broker", new Handler());
                        }
                    });
            Channel server = b.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
                    .sync().channel();
            int bound = ((InetSocketAddress) server.localAddress()).getPort();
            String portFile = cli.opt("port-file", null);
            if (portFile != null) {
                Cli.writeAtomically(portFile, bound + "\n");
            }
            Cli.say("READY port=" + bound + " provider=" + provider);

            if (cli.flag("stop-on-stdin-eof")) {
                daemon("stdin-eof", new Runnable() {
                    public void run() {
                        byte[] buf = new byte[256];
                        try {
                            InputStream in = System.in;
                            while (in.read(buf) >= 0) {
                                // discard
                            }
                        } catch (IOException e) {
                            // treat as EOF
                        }
                        stop.countDown();
                    }
                });
            }
            final String exitFile = cli.opt("exit-after-file", null);
            if (exitFile != null) {
                daemon("exit-after-file", new Runnable() {
                    public void run() {
                        try {
                            Cli.waitForFile(exitFile, 0);
                            stop.countDown();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                });
            }
            if (maxSeconds > 0) {
                if (!stop.await(maxSeconds, TimeUnit.SECONDS)) {
                    System.err.println("MqttTlsServer: --max-seconds " + maxSeconds + " reached, stopping");
                }
            } else {
                stop.await();
            }
            server.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            e.printStackTrace();
            code = 1;
        } finally {
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            boss.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
            workers.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
            ReferenceCountUtil.release(sslCtx);
        }
        Cli.say("STOPPED accepted=" + accepted + " handshakes=" + handshakes + " tls_failures=" + tlsFailures
                + " connects=" + connects + " pings=" + pings + " subscribes=" + subscribes
                + " publishes=" + publishes + " disconnects=" + disconnects
                + " protocol_errors=" + protocolErrors);
        System.exit(code);
    }

    private static void daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }

    static MqttFixedHeader header(MqttMessageType type, MqttQoS qos) {
        return new MqttFixedHeader(type, false, qos, false, 0);
    }

    /** One connection's MQTT session: CONNECT first, then pings, subscribes, publishes. */
    static final class Handler extends SimpleChannelInboundHandler<MqttMessage> {
        private boolean connected;

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent) {
                if (((SslHandshakeCompletionEvent) evt).isSuccess()) {
                    handshakes.incrementAndGet();
                } else {
                    tlsFailures.incrementAndGet();
                    ctx.close();
                }
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, MqttMessage msg) {
            if (msg.decoderResult().isFailure() || msg.fixedHeader() == null) {
                protocolError(ctx);
                return;
            }
            MqttMessageType type = msg.fixedHeader().messageType();
            if (!connected && type != MqttMessageType.CONNECT) {
                protocolError(ctx);
                return;
            }
            switch (type) {
            case CONNECT:
                if (connected) {
                    protocolError(ctx);
                    return;
                }
                connected = true;
                connects.incrementAndGet();
                ctx.writeAndFlush(new MqttConnAckMessage(header(MqttMessageType.CONNACK, MqttQoS.AT_MOST_ONCE),
                        new MqttConnAckVariableHeader(MqttConnectReturnCode.CONNECTION_ACCEPTED, false)));
                break;
            case PINGREQ:
                pings.incrementAndGet();
                ctx.writeAndFlush(new MqttMessage(header(MqttMessageType.PINGRESP, MqttQoS.AT_MOST_ONCE)));
                break;
            case SUBSCRIBE: {
                subscribes.incrementAndGet();
                MqttSubscribeMessage sub = (MqttSubscribeMessage) msg;
                List<MqttTopicSubscription> topics = sub.payload().topicSubscriptions();
                int[] granted = new int[topics.size()];
                for (int i = 0; i < granted.length; i++) {
                    granted[i] = Math.min(topics.get(i).qualityOfService().value(), 1);
                }
                ctx.writeAndFlush(new MqttSubAckMessage(header(MqttMessageType.SUBACK, MqttQoS.AT_MOST_ONCE),
                        MqttMessageIdVariableHeader.from(sub.variableHeader().messageId()),
                        new MqttSubAckPayload(granted)));
                break;
            }
            case UNSUBSCRIBE: {
                MqttUnsubscribeMessage unsub = (MqttUnsubscribeMessage) msg;
                ctx.writeAndFlush(new MqttUnsubAckMessage(header(MqttMessageType.UNSUBACK, MqttQoS.AT_MOST_ONCE),
                        MqttMessageIdVariableHeader.from(unsub.variableHeader().messageId())));
                break;
            }
            case PUBLISH: {
                publishes.incrementAndGet();
                MqttPublishMessage pub = (MqttPublishMessage) msg;
                MqttQoS qos = pub.fixedHeader().qosLevel();
                if (qos == MqttQoS.AT_LEAST_ONCE) {
                    ctx.writeAndFlush(new MqttPubAckMessage(header(MqttMessageType.PUBACK, MqttQoS.AT_MOST_ONCE),
                            MqttMessageIdVariableHeader.from(pub.variableHeader().packetId())));
                } else if (qos != MqttQoS.AT_MOST_ONCE) {
                    protocolError(ctx); // QoS 2 is not supported: SUBACK grants at most QoS 1
                }
                break; // the payload is released by SimpleChannelInboundHandler
            }
            case DISCONNECT:
                disconnects.incrementAndGet();
                ctx.close();
                break;
            default:
                protocolError(ctx);
                break;
            }
        }

        private static void protocolError(ChannelHandlerContext ctx) {
            protocolErrors.incrementAndGet();
            ctx.close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
