/* report_text.c — the report people read: the verdict first, then per rule
 * the counts, the residue sites and the oldest outstanding handles grouped
 * by the Java code that created them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static void human_bytes(uint64_t b, char *out, size_t len)
{
    if (b >= 10u << 20)
        snprintf(out, len, "%.1f MiB", (double)b / (1 << 20));
    else if (b >= 10u << 10)
        snprintf(out, len, "%.1f KiB", (double)b / (1 << 10));
    else
        snprintf(out, len, "%" PRIu64 " bytes", b);
}

/* The three questions of a native-memory investigation, answered per rule
 * in the order an on-call person asks them. */
static void hypotheses(const struct nra_report *r, const struct nra_report_rule *rr, FILE *o)
{
    const struct nra_report_counts *c = &rr->counts;
    char held[32], residue[32];
    human_bytes(rr->held_bytes, held, sizeof(held));
    human_bytes(rr->leak_bytes, residue, sizeof(residue));
    fprintf(o, "  %s (%s): %" PRIu64 " handle%s allocated, %" PRIu64 " freed, %" PRIu64 " outstanding\n", rr->rule,
            rr->owner_class, c->allocated, c->allocated == 1 ? "" : "s", c->freed, c->outstanding);
    if (r->reachability_done)
        fprintf(o, "    1. still in use?      %" PRIu64 " of them with owners the application still holds "
                   "(strongly reachable)\n", c->live);
    else
        fprintf(o, "    1. still in use?      unknown: the reachability walk did not run; %" PRIu64
                   " handles outstanding\n", c->outstanding);
    if (rr->held_allocations)
        fprintf(o, "       outstanding handles hold %s of native memory made in their natives\n", held);
    fprintf(o, "    2. waiting to be finalized? %" PRIu64 " unreachable owners not yet finalized; %" PRIu64
               " owners already freed still fill the heap (zombies)", c->pending_finalization, c->zombies);
    if (r->finalizer.known)
        fprintf(o, "; Finalizer %s, queue %" PRId64, r->finalizer.thread_state, r->finalizer.queue_length);
    fputs("\n", o);
    uint64_t leaked = c->finalized_not_freed + c->collected_not_freed;
    fprintf(o, "    3. gone but not freed? %s%" PRIu64 " finalized and %" PRIu64 " collected without a free; %" PRIu64
               " freed with residue (%s left behind; one-time initialisation and retained state excluded)\n",
            (leaked || c->freed_with_residue) ? "YES: " : "no: ", c->finalized_not_freed, c->collected_not_freed,
            c->freed_with_residue, residue);
}

/* One block per finding: what, how many, where, what to do; lines short. */
static void finding_block(const char *rule, const struct nra_report_finding *f, unsigned n, FILE *o)
{
    char total[32], each[48] = "";
    human_bytes(f->bytes, total, sizeof(total));
    if (f->bytes_per_owner)
        snprintf(each, sizeof(each), ", %llu bytes each", (unsigned long long)f->bytes_per_owner);
    fprintf(o, "\n  %s %u [%s] %s\n", strcmp(f->kind, "retained") == 0 ? "RETAINED" : "FINDING", n, rule, f->what);
    fprintf(o, "    owners: %s%llu handle%s%s; %s in all%s\n", f->estimated ? "~" : "", (unsigned long long)f->owners,
            f->owners == 1 ? "" : "s", each, total, f->estimated ? " (estimated)" : "");
    if (f->rate[0])
        fprintf(o, "    rate:   %s\n", f->rate);
    if (f->where_native[0])
        fprintf(o, "    where:  %s\n", f->where_native);
    if (f->where_java[0])
        fprintf(o, "    from:   %s\n", f->where_java);
    fprintf(o, "    to do:  %s\n", f->todo);
}

static void verdict(const struct nra_report *r, FILE *o)
{
    fprintf(o, "VERDICT: %s\n", r->verdict);
    unsigned n = 0;
    for (int i = 0; i < r->n_rules; i++)
        for (unsigned k = 0; k < r->rules[i].n_findings; k++)
            fprintf(o, "  * [%s] %s: %s\n", r->rules[i].rule, r->rules[i].findings[k].kind,
                    r->rules[i].findings[k].summary);
    for (int i = 0; i < r->n_rules; i++)
        for (unsigned k = 0; k < r->rules[i].n_findings; k++)
            finding_block(r->rules[i].rule, &r->rules[i].findings[k], ++n, o);
    for (int i = 0; i < r->n_rules; i++)
        for (unsigned k = 0; k < r->rules[i].n_retained; k++)
            finding_block(r->rules[i].rule, &r->rules[i].retained[k], ++n, o);
    if (n)
        fputs("\n", o);
    for (int i = 0; i < r->n_rules; i++)
        if (!r->rules[i].audited)
            fprintf(o, "  - [%s] not audited: %s\n", r->rules[i].rule, r->rules[i].unaudited_reason);
    for (int i = 0; i < r->n_rules; i++)
        if (r->rules[i].counts.allocated)
            hypotheses(r, &r->rules[i], o);
    if (r->finalizer.known && r->finalizer.diagnosis[0])
        fprintf(o, "  Finalizer: %s\n", r->finalizer.diagnosis);
    fputs("\n", o);
}

static void counts(const struct nra_report_rule *rr, bool classified, FILE *o)
{
    const struct nra_report_counts *c = &rr->counts;
    fprintf(o, "  allocated %" PRIu64 "   freed %" PRIu64 " (by finalizer %" PRIu64 ")   outstanding %" PRIu64 "\n",
            c->allocated, c->freed, c->freed_by_finalizer, c->outstanding);
    if (classified)
        fprintf(o, "  outstanding: live %" PRIu64 ", pending finalization %" PRIu64 ", finalized not freed %" PRIu64
                   ", collected not freed %" PRIu64 ", orphans %" PRIu64 "\n",
                c->live, c->pending_finalization, c->finalized_not_freed, c->collected_not_freed, c->orphans);
    else
        fprintf(o, "  outstanding handles not classified by reachability (reachability walk not run)\n");
    fprintf(o, "  freed with residue %" PRIu64 ", zombies %" PRIu64 "\n", c->freed_with_residue, c->zombies);
    if (c->unknown_frees || c->reused_unfreed || c->dropped)
        fprintf(o, "  unknown frees %" PRIu64 ", reused without free %" PRIu64 ", dropped %" PRIu64 "\n",
                c->unknown_frees, c->reused_unfreed, c->dropped);
    if (rr->held_allocations)
        fprintf(o, "  native memory held by outstanding handles: %" PRIu64 " bytes in %" PRIu64 " allocations\n",
                rr->held_bytes, rr->held_allocations);
}

static void java_lines(const struct nra_report_stack *s, const char *indent, FILE *o)
{
    if (s->n == 0)
        fprintf(o, "%s(no Java stack)\n", indent);
    for (unsigned i = 0; i < s->n; i++)
        fprintf(o, "%sat %s\n", indent, s->frames[i]);
}

static void path(const struct nra_report_native_site *ns, const struct nra_report_path *p, FILE *o)
{
    if (!p->sampled) {
        fprintf(o, "      %s%" PRIu64 " owner%s with no Java stack (not sampled: java_sample=1 captures every one)\n",
                ns->estimated ? "~" : "", p->owners, p->owners == 1 ? "" : "s");
        return;
    }
    fprintf(o, "      %s%" PRIu64 " owner%s", ns->estimated ? "~" : "", p->owners, p->owners == 1 ? "" : "s");
    if (ns->owners_sampled && ns->owners_sampled != ns->owners)
        fprintf(o, " (%.0f%% of the owners with a Java stack)", 100.0 * (double)p->owners / (double)ns->owners_sampled);
    fputs(" created at:\n", o);
    java_lines(&p->java, "        ", o);
}

static void native_site(const struct nra_report_native_site *ns, FILE *o)
{
    const char *approx = ns->estimated ? "~" : "";
    fprintf(o, "    %s%" PRIu64 " bytes in %s%" PRIu64 " allocations", approx, ns->bytes, approx, ns->allocations);
    if (ns->size_each)
        fprintf(o, " of %" PRIu64 " bytes", ns->size_each);
    fprintf(o, ", %s%" PRIu64 " freed owner%s, made in the %s native %s", approx, ns->owners,
            ns->owners == 1 ? "" : "s", ns->scope, ns->scope_native);
    if (ns->estimated)
        fprintf(o, " (estimated: 1 in %u tracked)", ns->sample_rate);
    fputs("\n", o);
    if (ns->retained)
        fprintf(o, "      retained, not leaked: %s\n", ns->retained_reason);
    for (unsigned i = 0; i < ns->n_native; i++) {
        const struct nra_report_frame *f = &ns->native[i];
        fprintf(o, "      #%u 0x%" PRIxPTR " %s+0x%" PRIxPTR " %s\n", i, f->address, f->library, f->offset, f->symbol);
    }
    for (unsigned i = 0; i < ns->n_paths; i++)
        path(ns, &ns->paths[i], o);
    if (ns->paths_omitted)
        fprintf(o, "      (%" PRIu64 " owners on other Java paths)\n", ns->paths_omitted);
}

static void residue(const struct nra_report_rule *rr, FILE *o)
{
    if (rr->n_native_sites == 0)
        return;
    fprintf(o, "  residue: %s%" PRIu64 " bytes in %s%" PRIu64 " allocations left by freed handles\n",
            rr->residue_estimated ? "~" : "", rr->residue_bytes, rr->residue_estimated ? "~" : "",
            rr->residue_allocations);
    bool header_once = false;
    for (unsigned i = 0; i < rr->n_native_sites; i++) {
        if (!rr->native_sites[i].repeating)
            continue;
        if (!header_once)
            fputs("  repeating sites (met by many owners: leaks, unless marked retained), by native site and the Java "
                  "paths to it:\n", o),
                header_once = true;
        native_site(&rr->native_sites[i], o);
    }
    /* One-time sites are context, not findings: a line each, the largest
     * few only (the JSON report lists them in full). */
    unsigned shown = 0, one_time = 0;
    uint64_t one_time_bytes = 0;
    for (unsigned i = 0; i < rr->n_native_sites; i++) {
        const struct nra_report_native_site *s = &rr->native_sites[i];
        if (s->repeating)
            continue;
        one_time++;
        one_time_bytes += s->bytes;
        if (shown == 0)
            fputs("  one-time sites (met by a single owner: initialisation, not per-owner):\n", o);
        if (shown++ < 5)
            fprintf(o, "    %" PRIu64 " bytes in %" PRIu64 " allocations in the %s native %s, from %s+0x%" PRIxPTR "%s\n",
                    s->bytes, s->allocations, s->scope, s->scope_native, s->n_native ? s->native[0].library : "?",
                    s->n_native ? s->native[0].offset : 0, s->unnamed ? " (stack not unwound)" : "");
    }
    if (one_time > 5)
        fprintf(o, "    (%u one-time sites, %" PRIu64 " bytes in all)\n", one_time, one_time_bytes);
    if (rr->native_sites_omitted)
        fprintf(o, "  (%" PRIu64 " smaller native sites not listed)\n", rr->native_sites_omitted);
}

static void groups(const struct nra_report *r, const struct nra_report_rule *rr, FILE *o)
{
    if (rr->n_groups == 0)
        return;
    fputs("  oldest outstanding handles, by the Java code that created them:\n", o);
    for (unsigned i = 0; i < rr->n_groups; i++) {
        uint64_t age = r->timestamp_ms > rr->groups[i].oldest_ms ? r->timestamp_ms - rr->groups[i].oldest_ms : 0;
        fprintf(o, "    %" PRIu64 " handle%s, the oldest created %.1f s before this report\n", rr->groups[i].count,
                rr->groups[i].count == 1 ? "" : "s", (double)age / 1000.0);
        java_lines(&rr->groups[i].java, "      ", o);
    }
    if (rr->groups_omitted)
        fprintf(o, "    (%" PRIu64 " more handles in other groups)\n", rr->groups_omitted);
}

static void rule(const struct nra_report *r, const struct nra_report_rule *rr, FILE *o)
{
    fprintf(o, "== %s: %s ==\n", rr->rule, rr->owner_class);
    fprintf(o, "  alloc %s, free %s\n", rr->alloc_native, rr->free_native);
    counts(rr, r->reachability_done, o);
    residue(rr, o);
    groups(r, rr, o);
    for (unsigned i = 0; i < rr->n_skipped; i++)
        fprintf(o, "  not wrapped: %s\n", rr->skipped[i]);
    fputs("\n", o);
}

static void finalizer(const struct nra_report_finalizer *f, FILE *o)
{
    if (!f->known)
        return;
    fprintf(o, "== Finalizer ==\n  finalization %s, queue length %" PRId64 ", thread %s\n",
            f->enabled ? "enabled" : "disabled", f->queue_length, f->thread_state);
    if (f->diagnosis[0])
        fprintf(o, "  %s\n", f->diagnosis);
    java_lines(&f->stack, "    ", o);
    fputs("\n", o);
}

int nra_report_write_text(const struct nra_report *r, FILE *o)
{
    fprintf(o, "nraudit %s report (%s) pid %ld, uptime %.1f s\n\n", r->version, r->trigger, r->pid,
            (double)r->uptime_ms / 1000.0);
    verdict(r, o);
    for (int i = 0; i < r->n_rules; i++)
        rule(r, &r->rules[i], o);
    finalizer(&r->finalizer, o);
    fprintf(o, "agent: options '%s', dropped %" PRIu64 "\n", r->options, r->dropped);
    for (unsigned i = 0; i < r->n_bounds; i++) {
        const struct nra_report_bound *b = &r->bounds[i];
        if (b->dropped || b->degraded)
            fprintf(o, "bound: %s (%s%s%" PRIu64 "): %" PRIu64 " dropped, %" PRIu64 " degraded: %s\n", b->table,
                    b->option, b->option[0] ? "=" : "", b->size, b->dropped, b->degraded, b->effect);
    }
    for (unsigned i = 0; i < r->n_notes; i++)
        fprintf(o, "note: %s\n", r->notes[i]);
    return ferror(o) ? -EIO : 0;
}
