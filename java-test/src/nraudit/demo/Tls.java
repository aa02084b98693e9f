package nraudit.demo;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;

import java.io.File;
import javax.net.ssl.SSLException;

/**
 * Builds the netty SslContexts of the demo from a certificate directory made
 * by scripts/demo-certs.sh: ca.pem, server.pem/server.key, client.pem/client.key.
 */
public final class Tls {
    private Tls() {
    }

    /** openssl | refcnt (OPENSSL_REFCNT) | jdk; null for anything else. */
    public static SslProvider provider(String name) {
        String n = name.trim().toLowerCase(java.util.Locale.ROOT);
        if (n.equals("openssl")) {
            return SslProvider.OPENSSL;
        }
        if (n.equals("refcnt") || n.equals("openssl_refcnt") || n.equals("openssl-refcnt")) {
            return SslProvider.OPENSSL_REFCNT;
        }
        if (n.equals("jdk")) {
            return SslProvider.JDK;
        }
        return null;
    }

    public static SslProvider provider(Cli cli, String dflt) {
        String name = cli.opt("provider", dflt);
        SslProvider p = provider(name);
        if (p == null) {
            cli.usageError("--provider must be openssl, refcnt or jdk, not " + name);
        }
        if (p != SslProvider.JDK) {
            requireOpenSsl();
        }
        return p;
    }

    /** Exits with status 1 and the cause when netty cannot load netty-tcnative. */
    public static void requireOpenSsl() {
        if (!OpenSsl.isAvailable()) {
            System.err.println("OpenSSL is not available to netty: " + OpenSsl.unavailabilityCause());
            System.err.println("java.library.path=" + System.getProperty("java.library.path"));
            System.err.println("hint: run with -Djava.library.path=BUILD/java-test/native, the directory with"
                    + " the copy of Debian's libnetty-tcnative.so named libnetty_tcnative.so"
                    + " (build target java_test_tcnative); -Dnraudit.verbose=true prints the whole cause");
            if (Boolean.getBoolean("nraudit.verbose") && OpenSsl.unavailabilityCause() != null) {
                OpenSsl.unavailabilityCause().printStackTrace();
            }
            System.exit(1);
        }
    }

    /**
     * The protocol list of --protocols (comma separated, e.g. TLSv1.3,TLSv1.2),
     * or null for netty's default (netty 4.1.48 with OpenSSL: up to TLSv1.2).
     */
    public static String[] protocols(Cli cli) {
        String list = cli.opt("protocols", null);
        if (list == null || list.trim().isEmpty()) {
            return null;
        }
        String[] p = list.split(",");
        for (int i = 0; i < p.length; i++) {
            p[i] = p[i].trim();
        }
        return p;
    }

    /** A server context: server cert, client auth REQUIRE, clients trusted through the CA. */
    public static SslContext server(File certs, SslProvider provider) throws SSLException {
        return serverBuilder(certs, provider).build();
    }

    public static SslContext server(File certs, SslProvider provider, String[] protocols) throws SSLException {
        SslContextBuilder b = serverBuilder(certs, provider);
        if (protocols != null) {
            b.protocols(protocols);
        }
        return b.build();
    }

    public static SslContext client(File certs, SslProvider provider, String[] protocols) throws SSLException {
        SslContextBuilder b = clientBuilder(certs, provider);
        if (protocols != null) {
            b.protocols(protocols);
        }
        return b.build();
    }

    public static SslContextBuilder serverBuilder(File certs, SslProvider provider) {
        return SslContextBuilder.forServer(new File(certs, "server.pem"), new File(certs, "server.key"))
                .sslProvider(provider)
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(new File(certs, "ca.pem"));
    }

    /** A client context: client cert for client auth, server trusted through the CA. */
    public static SslContext client(File certs, SslProvider provider) throws SSLException {
        return clientBuilder(certs, provider).build();
    }

    public static SslContextBuilder clientBuilder(File certs, SslProvider provider) {
        return SslContextBuilder.forClient()
                .sslProvider(provider)
                .keyManager(new File(certs, "client.pem"), new File(certs, "client.key"))
                .trustManager(new File(certs, "ca.pem"));
    }
}
