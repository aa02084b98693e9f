/* report_collapsed.c — residue as folded stacks, the input of flamegraph.pl,
 * speedscope and async-profiler's converters: one line per (native site,
 * creating Java stack), frames from the root to the leaf joined by ';',
 * then a space and the bytes.
 *
 * The root frame is the rule, then "leak" or "retained" (one-time sites are
 * initialisation, not drawn), then the Java frames outermost first, then
 * the native frames outermost first. Frames never hold ';' or a newline
 * (replaced by '_'). Renders the model only: what is a leak was decided in
 * report_build.c. */
#include <errno.h>
#include <inttypes.h>

#include "report.h"

static void frame(FILE *o, const char *s)
{
    fputc(';', o);
    for (; *s; s++)
        fputc(*s == ';' || *s == '\n' || *s == '\r' ? '_' : *s, o);
}

static void site_line(FILE *o, const struct nra_report_rule *rr, const struct nra_report_site *s, const char *kind)
{
    fputs(rr->rule, o);
    frame(o, kind);
    for (unsigned i = s->java.n; i > 0; i--)
        frame(o, s->java.frames[i - 1]);
    if (s->java.n == 0)
        frame(o, s->java_sampled ? "(no Java frames)" : "(Java stack not sampled)");
    for (unsigned i = s->n_native; i > 0; i--) {
        const struct nra_report_frame *f = &s->native[i - 1];
        if (f->symbol[0]) {
            frame(o, f->symbol);
        } else {
            char where[192];
            snprintf(where, sizeof(where), "%s+0x%" PRIxPTR, f->library, f->offset);
            frame(o, where);
        }
    }
    fprintf(o, " %" PRIu64 "\n", s->bytes);
}

int nra_report_write_collapsed(const struct nra_report *r, FILE *o)
{
    for (int i = 0; i < r->n_rules; i++) {
        const struct nra_report_rule *rr = &r->rules[i];
        for (unsigned k = 0; k < rr->n_sites; k++) {
            const struct nra_report_site *s = &rr->sites[k];
            if (s->repeating && s->bytes)
                site_line(o, rr, s, s->retained ? "retained" : "leak");
        }
    }
    return ferror(o) ? -EIO : 0;
}
