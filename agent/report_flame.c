/* report_flame.c — see include/report_flame.h.
 *
 * The sites are merged into a tree of frames (first child / next sibling,
 * in a fixed array: at most NRA_REPORT_MAX_SITES sites of at most 65
 * frames), then laid out top-down: a node is as wide as its bytes and
 * starts where its previous siblings end. */
#include "report_flame.h"

#include <inttypes.h>
#include <string.h>

#define MAX_NODES 2048
#define WIDTH 1000.0
#define ROW 18
#define CHAR_PX 6.5

struct node {
    const char *name;
    uint64_t bytes;
    int child, sibling;      /* -1: none */
    unsigned depth;
    bool retained;
};

struct tree {
    struct node n[MAX_NODES];
    unsigned used, max_depth;
};

static int add_child(struct tree *t, int parent, const char *name, uint64_t bytes, bool retained)
{
    for (int c = t->n[parent].child; c >= 0; c = t->n[c].sibling) {
        if (strcmp(t->n[c].name, name) == 0) {
            t->n[c].bytes += bytes;
            t->n[c].retained &= retained;
            return c;
        }
    }
    if (t->used == MAX_NODES)
        return -1;
    int i = (int)t->used++;
    t->n[i] = (struct node){.name = name, .bytes = bytes, .child = -1, .sibling = t->n[parent].child,
                            .depth = t->n[parent].depth + 1, .retained = retained};
    t->n[parent].child = i;
    if (t->n[i].depth > t->max_depth)
        t->max_depth = t->n[i].depth;
    return i;
}

static const char *native_name(const struct nra_report_frame *f)
{
    return f->symbol[0] ? f->symbol : f->library;
}

static void add_site(struct tree *t, const struct nra_report_site *s)
{
    bool retained = s->retained;
    int at = 0;
    t->n[0].bytes += s->bytes;
    for (unsigned i = s->java.n; i > 0 && at >= 0; i--)
        at = add_child(t, at, s->java.frames[i - 1], s->bytes, retained);
    if (s->java.n == 0 && at >= 0)
        at = add_child(t, at, "(Java stack not sampled)", s->bytes, retained);
    for (unsigned i = s->n_native; i > 0 && at >= 0; i--)
        at = add_child(t, at, native_name(&s->native[i - 1]), s->bytes, retained);
}

static void text_escaped(FILE *o, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max; i++) {
        switch (s[i]) {
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '&': fputs("&amp;", o); break;
        case '"': fputs("&quot;", o); break;
        default: fputc(s[i], o);
        }
    }
}

static void draw(const struct tree *t, int i, double x, double scale, FILE *o, unsigned *drawn)
{
    const struct node *n = &t->n[i];
    double w = (double)n->bytes * scale;
    if (w < 0.5)
        return;
    double y = (double)n->depth * ROW;
    const char *fill = n->depth == 0 ? "#bab0ab" : n->retained ? "#76b7b2" : "#e15759";
    fputs("<g><title>", o);
    text_escaped(o, n->name, 512);
    fprintf(o, " (%" PRIu64 " bytes)</title><rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
               "stroke=\"#fff\"/>", n->bytes, x, y, w, ROW - 1, fill);
    size_t fits = (size_t)(w / CHAR_PX);
    if (fits >= 4) {
        fprintf(o, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\">", x + 3, y + ROW - 5);
        text_escaped(o, n->name, fits - 1);
        fputs("</text>", o);
    }
    fputs("</g>\n", o);
    (*drawn)++;
    double cx = x;
    for (int c = n->child; c >= 0; c = t->n[c].sibling) {
        draw(t, c, cx, scale, o, drawn);
        cx += (double)t->n[c].bytes * scale;
    }
}

unsigned nra_report_write_flame(const struct nra_report_rule *rr, FILE *o)
{
    static struct tree t;   /* reports are written one at a time */
    memset(&t, 0, sizeof(t));
    t.used = 1;
    t.n[0] = (struct node){.name = rr->rule, .child = -1, .sibling = -1};
    unsigned n = rr->n_sites < NRA_REPORT_MAX_SITES ? rr->n_sites : NRA_REPORT_MAX_SITES;
    for (unsigned i = 0; i < n; i++)
        if (rr->sites[i].repeating && rr->sites[i].bytes)
            add_site(&t, &rr->sites[i]);
    if (t.n[0].bytes == 0)
        return 0;
    unsigned drawn = 0;
    fprintf(o, "<svg class=\"flame\" role=\"img\" aria-label=\"residue flame graph of %s\" viewBox=\"0 0 %.0f %u\" "
               "width=\"100%%\">\n", rr->rule, WIDTH, (t.max_depth + 1) * ROW);
    draw(&t, 0, 0, WIDTH / (double)t.n[0].bytes, o, &drawn);
    fputs("</svg>\n", o);
    return drawn;
}
