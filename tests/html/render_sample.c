/* render_sample — writes an HTML report of a made-up but realistic snapshot
 * (Debian tcnative 2.0.28: 32 bytes left per freed SSL*, engines retained
 * twice and finalized without free, a blocked Finalizer) with N time-series
 * samples, through nra_report_write_html() only: no JVM, no agent wiring.
 *
 *   render_sample OUT.html [N_SAMPLES (default 20)]
 *
 * Built by tests/integration/test_html_chromium.sh against libnraudit_core.a.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_html.h"
#include "series.h"

#define SET(field, ...) snprintf((field), sizeof(field), __VA_ARGS__)

static void frame(struct nra_report_site *s, uintptr_t base, const char *lib, uintptr_t off, const char *sym)
{
    struct nra_report_frame *f = &s->native[s->n_native++];
    f->address = base + off;
    f->offset = off;
    SET(f->library, "%s", lib);
    SET(f->symbol, "%s", sym);
}

static void java(struct nra_report_stack *st, const char *const *frames)
{
    for (st->n = 0; frames[st->n]; st->n++)
        SET(st->frames[st->n], "%s", frames[st->n]);
}

static const char *const engine_stack[] = {
    "io.netty.internal.tcnative.SSL.newSSL(Native Method)",
    "io.netty.handler.ssl.ReferenceCountedOpenSslEngine.<init>(ReferenceCountedOpenSslEngine.java:325)",
    "io.netty.handler.ssl.OpenSslEngine.<init>(OpenSslEngine.java:32)",
    "io.netty.handler.ssl.OpenSslContext.newEngine0(OpenSslContext.java:49)",
    "io.netty.handler.ssl.ReferenceCountedOpenSslContext.newEngine(ReferenceCountedOpenSslContext.java:386)",
    "nraudit.demo.Scenarios$1.run(Scenarios.java:185)",
    "java.lang.Thread.run(Thread.java:840)",
    NULL,
};

static const char *const ctx_stack[] = {
    "io.netty.internal.tcnative.SSLContext.make(Native Method)",
    "io.netty.handler.ssl.OpenSsl.<clinit>(OpenSsl.java:182)",
    "nraudit.demo.Tls.requireOpenSsl(Tls.java:49)",
    "nraudit.demo.Scenarios.main(Scenarios.java:96)",
    NULL,
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT.html [N_SAMPLES]\n", argv[0]);
        return 2;
    }
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 20;
    const uintptr_t tcn = 0x7f004322e000, crypto = 0x7effe6a00000;

    struct nra_report *r = calloc(1, sizeof(*r));
    if (!r)
        return 1;
    SET(r->trigger, "exit");
    r->pid = 4242;
    r->timestamp_ms = 1750000000000ull + 21000;
    r->uptime_ms = 21000;
    SET(r->version, "0.1.0");
    SET(r->options, "file=/tmp/nraudit-%%p.html,format=html,interval=1");
    r->reachability_done = true;
    r->reachability_ms = 12.5;
    r->stats.attributed = 1650;
    r->stats.stack_captures = 1650;
    r->stats.stacks_interned = 42;
    r->stats.owners_claimed = 1201;
    r->stats.classes_instrumented = 3;
    r->n_hooked = 2;
    SET(r->hooked[0], "libnetty_tcnative.so");
    SET(r->hooked[1], "libcrypto.so.3");
    r->n_notes = 2;
    SET(r->notes[0], "Java stacks sampled (java_sample=1): 0 records took the last stack captured on their thread");
    SET(r->notes[1], "3 unreachable owners not yet collected were counted as collected_not_freed <garbage>");

    r->n_rules = 2;
    r->rules = calloc(2, sizeof(*r->rules));
    if (!r->rules)
        return 1;

    struct nra_report_rule *ssl = &r->rules[0];
    SET(ssl->rule, "netty-tcnative-ssl");
    SET(ssl->owner_class, "io.netty.handler.ssl.ReferenceCountedOpenSslEngine");
    SET(ssl->alloc_native, "io.netty.internal.tcnative.SSL.newSSL(JZ)J");
    SET(ssl->free_native, "io.netty.internal.tcnative.SSL.freeSSL(J)V");
    ssl->wrapped_use = 37;
    ssl->counts = (struct nra_report_counts){.allocated = 1201, .freed = 1001, .outstanding = 200,
                                             .freed_by_finalizer = 0, .live = 0, .finalized_not_freed = 200,
                                             .freed_with_residue = 1001};
    ssl->residue_bytes = 32032 + 4096;
    ssl->residue_allocations = 1001 + 2;
    ssl->repeating_bytes = ssl->leak_bytes = 32032;
    ssl->n_sites = 2;
    struct nra_report_site *s = &ssl->sites[0];
    s->bytes = 32000, s->allocations = 1000, s->owners = 1000, s->size_each = 32, s->owners_met = 1201;
    s->repeating = true;
    SET(s->scope, "alloc");
    SET(s->scope_native, "io.netty.internal.tcnative.SSL.newSSL");
    frame(s, tcn, "libnetty_tcnative.so", 0xef17, "io.netty.internal.tcnative.SSL.newSSL (native)+0x46");
    java(&s->java, engine_stack);
    s = &ssl->sites[1];
    s->bytes = 4096, s->allocations = 2, s->owners = 1, s->size_each = 2048, s->owners_met = 1;
    SET(s->scope, "use");
    SET(s->scope_native, "io.netty.internal.tcnative.SSL.readFromSSL");
    frame(s, crypto, "libcrypto.so.3", 0x2333e9, "CRYPTO_zalloc+0x8");
    frame(s, crypto, "libcrypto.so.3", 0x23f9c3, "");
    frame(s, tcn, "libnetty_tcnative.so", 0x1198d,
          "io.netty.internal.tcnative.SSL.readFromSSL (native) (entry, reached by tail call)");
    java(&s->java, engine_stack);
    ssl->n_groups = 1;
    ssl->groups[0].count = 200;
    ssl->groups[0].oldest_ms = r->timestamp_ms - 15000;
    java(&ssl->groups[0].java, engine_stack);
    ssl->n_findings = 2;
    ssl->audited = true;
    r->audited = true;
    snprintf(r->verdict, sizeof(r->verdict), "2 native leak findings.");
    SET(ssl->findings[0].kind, "residue");
    ssl->findings[0].owners = 1001, ssl->findings[0].bytes = 32000;
    SET(ssl->findings[0].summary, "1001 freed handles left native memory behind: 1000 allocations of 32 bytes made "
                                  "in io.netty.internal.tcnative.SSL.newSSL (native)+0x46 (libnetty_tcnative.so+0xef17) "
                                  "in the alloc native, never freed");
    SET(ssl->findings[0].known_leak, "netty-tcnative-532");
    SET(ssl->findings[0].known_version, "2.0.28.Final");
    SET(ssl->findings[0].known_fix, "fixed in netty-tcnative 2.0.29.Final: upgrade");
    SET(ssl->findings[1].kind, "finalized_not_freed");
    ssl->findings[1].owners = 200;
    SET(ssl->findings[1].summary, "200 netty-tcnative-ssl handles belong to owners whose finalize() has run without "
                                  "freeing them (leak)");

    struct nra_report_rule *ctx = &r->rules[1];
    SET(ctx->rule, "netty-tcnative-ctx");
    SET(ctx->owner_class, "io.netty.handler.ssl.ReferenceCountedOpenSslContext");
    SET(ctx->alloc_native, "io.netty.internal.tcnative.SSLContext.make(II)J");
    SET(ctx->free_native, "io.netty.internal.tcnative.SSLContext.free(J)I");
    ctx->counts = (struct nra_report_counts){.allocated = 8, .freed = 7, .outstanding = 1, .live = 1};
    ctx->held_bytes = 65536, ctx->held_allocations = 380;
    ctx->residue_bytes = 32896, ctx->residue_allocations = 257;
    ctx->n_sites = 1;
    s = &ctx->sites[0];
    s->bytes = 32896, s->allocations = 257, s->owners = 1, s->size_each = 128, s->owners_met = 1;
    SET(s->scope, "alloc");
    SET(s->scope_native, "io.netty.internal.tcnative.SSLContext.make");
    frame(s, crypto, "libcrypto.so.3", 0x2333e9, "CRYPTO_zalloc+0x8");
    frame(s, crypto, "libcrypto.so.3", 0x209e9a, "EVP_CIPHER_fetch+0x29");
    frame(s, crypto, "libssl.so.3", 0x3c27f, "SSL_CTX_new_ex+0x15e");
    frame(s, tcn, "libnetty_tcnative.so", 0x1198d, "io.netty.internal.tcnative.SSLContext.make (native)+0x24c");
    java(&s->java, ctx_stack);
    ctx->n_groups = 1;
    ctx->groups[0].count = 1;
    ctx->groups[0].oldest_ms = r->timestamp_ms - 20500;
    java(&ctx->groups[0].java, ctx_stack);

    r->finalizer.known = true;
    r->finalizer.enabled = true;
    r->finalizer.queue_length = 0;
    SET(r->finalizer.thread_state, "WAITING");
    static const char *const fin[] = {"java.lang.Object.wait(Native Method)",
                                      "java.lang.ref.ReferenceQueue.remove(ReferenceQueue.java:155)",
                                      "java.lang.ref.Finalizer$FinalizerThread.run(Finalizer.java:172)", NULL};
    java(&r->finalizer.stack, fin);

    struct nra_sample *series = calloc(n ? n : 1, sizeof(*series));
    if (!series)
        return 1;
    for (size_t i = 0; i < n; i++) {
        struct nra_sample *x = &series[i];
        x->uptime_ms = 1000 * (i + 1);
        x->timestamp_ms = r->timestamp_ms - r->uptime_ms + x->uptime_ms;
        x->rss_bytes = (int64_t)(180 + 3 * i + (i % 4)) << 20;
        x->heap_used_bytes = (int64_t)(40 + (i * 7) % 30) << 20;
        x->finalizer_queue = (int64_t)((i * 13) % 9);
        x->n_rules = 2;
        x->rule[0].allocated = 60 * (i + 1);
        x->rule[0].freed = 50 * (i + 1);
        x->rule[0].outstanding = 10 * (i + 1);
        x->rule[0].residue_bytes = 32 * 50 * (i + 1);
        x->rule[0].residue_allocations = 50 * (i + 1);
        x->rule[0].finalized_not_freed = 10 * i;
        x->rule[1].allocated = 8;
        x->rule[1].freed = i < n / 2 ? 2 : 7;
        x->rule[1].outstanding = x->rule[1].allocated - x->rule[1].freed;
        x->rule[1].residue_bytes = 32896;
        x->rule[1].residue_allocations = 257;
    }

    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    int rc = nra_report_write_html(r, series, n, out);
    if (fclose(out) != 0 || rc != 0) {
        fprintf(stderr, "render_sample: writing %s failed (%d)\n", argv[1], rc);
        return 1;
    }
    free(series);
    free(r->rules);
    free(r);
    return 0;
}
