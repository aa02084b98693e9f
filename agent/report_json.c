/* report_json.c — writes a report as JSON (schema nraudit/report-v1, see
 * docs/report-format.md). Keys of ../shared/report-contract.md keep their
 * meaning; additions are documented. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "report.h"

static void str(FILE *o, const char *s)
{
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", o); break;
        case '\\': fputs("\\\\", o); break;
        case '\n': fputs("\\n", o); break;
        case '\r': fputs("\\r", o); break;
        case '\t': fputs("\\t", o); break;
        default:
            if (*p < 0x20)
                fprintf(o, "\\u%04x", *p);
            else
                fputc(*p, o);
        }
    }
    fputc('"', o);
}

static void key(FILE *o, const char *k)
{
    str(o, k);
    fputc(':', o);
}

static void kv_u64(FILE *o, const char *k, uint64_t v, const char *sep)
{
    key(o, k);
    fprintf(o, "%" PRIu64 "%s", v, sep);
}

static void kv_str(FILE *o, const char *k, const char *v, const char *sep)
{
    key(o, k);
    str(o, v);
    fputs(sep, o);
}

static void stack_array(FILE *o, const struct nra_report_stack *s)
{
    fputc('[', o);
    for (unsigned i = 0; i < s->n; i++) {
        if (i)
            fputc(',', o);
        str(o, s->frames[i]);
    }
    fputc(']', o);
}

static void counts(FILE *o, const struct nra_report_counts *c)
{
    key(o, "counts");
    fputc('{', o);
    kv_u64(o, "allocated", c->allocated, ",");
    kv_u64(o, "freed", c->freed, ",");
    kv_u64(o, "outstanding", c->outstanding, ",");
    kv_u64(o, "freed_by_finalizer", c->freed_by_finalizer, ",");
    kv_u64(o, "live", c->live, ",");
    kv_u64(o, "pending_finalization", c->pending_finalization, ",");
    kv_u64(o, "finalized_not_freed", c->finalized_not_freed, ",");
    kv_u64(o, "collected_not_freed", c->collected_not_freed, ",");
    kv_u64(o, "freed_with_residue", c->freed_with_residue, ",");
    kv_u64(o, "zombies", c->zombies, ",");
    kv_u64(o, "orphans", c->orphans, ",");
    kv_u64(o, "unknown_frees", c->unknown_frees, ",");
    kv_u64(o, "reused_unfreed", c->reused_unfreed, ",");
    kv_u64(o, "dropped", c->dropped, "");
    fputs("},", o);
}

static void kv_bool(FILE *o, const char *k, bool v, const char *after)
{
    key(o, k);
    fprintf(o, "%s%s", v ? "true" : "false", after);
}

static void native_frames(FILE *o, const struct nra_report_frame *frames, unsigned n)
{
    key(o, "native_stack");
    fputc('[', o);
    for (unsigned i = 0; i < n; i++) {
        const struct nra_report_frame *f = &frames[i];
        char addr[32], off[32];
        snprintf(addr, sizeof(addr), "0x%" PRIxPTR, f->address);
        snprintf(off, sizeof(off), "0x%" PRIxPTR, f->offset);
        fprintf(o, "%s{", i ? "," : "");
        kv_str(o, "address", addr, ",");
        kv_str(o, "library", f->library, ",");
        kv_str(o, "offset", off, ",");
        kv_str(o, "symbol", f->symbol, "");
        fputc('}', o);
    }
    fputs("],", o);
}

static void site(FILE *o, const struct nra_report_site *s)
{
    fputc('{', o);
    kv_u64(o, "bytes", s->bytes, ",");
    kv_u64(o, "allocations", s->allocations, ",");
    kv_u64(o, "owners", s->owners, ",");
    kv_u64(o, "size_each", s->size_each, ",");
    kv_u64(o, "owners_met", s->owners_met, ",");
    kv_bool(o, "repeating", s->repeating, ",");
    kv_bool(o, "estimated", s->estimated, ",");
    kv_u64(o, "sample_rate", s->sample_rate, ",");
    kv_bool(o, "unnamed", s->unnamed, ",");
    kv_bool(o, "java_sampled", s->java_sampled, ",");
    kv_str(o, "scope", s->scope, ",");
    kv_bool(o, "truncated", s->truncated, ",");
    kv_str(o, "scope_native", s->scope_native, ",");
    native_frames(o, s->native, s->n_native);
    key(o, "java_stack");
    stack_array(o, &s->java);
    fputc('}', o);
}

static void native_site(FILE *o, const struct nra_report_native_site *ns)
{
    fputc('{', o);
    kv_u64(o, "bytes", ns->bytes, ",");
    kv_u64(o, "allocations", ns->allocations, ",");
    kv_u64(o, "owners", ns->owners, ",");
    kv_u64(o, "size_each", ns->size_each, ",");
    kv_u64(o, "owners_met", ns->owners_met, ",");
    kv_u64(o, "owners_with_java_stack", ns->owners_sampled, ",");
    kv_bool(o, "repeating", ns->repeating, ",");
    kv_bool(o, "retained", ns->retained, ",");
    kv_str(o, "retained_reason", ns->retained_reason, ",");
    kv_bool(o, "estimated", ns->estimated, ",");
    kv_u64(o, "sample_rate", ns->sample_rate, ",");
    kv_bool(o, "unnamed", ns->unnamed, ",");
    kv_str(o, "scope", ns->scope, ",");
    kv_str(o, "scope_native", ns->scope_native, ",");
    native_frames(o, ns->native, ns->n_native);
    key(o, "java_paths");
    fputc('[', o);
    for (unsigned i = 0; i < ns->n_paths; i++) {
        const struct nra_report_path *p = &ns->paths[i];
        fprintf(o, "%s{", i ? "," : "");
        kv_u64(o, "owners", p->owners, ",");
        kv_u64(o, "allocations", p->allocations, ",");
        kv_u64(o, "bytes", p->bytes, ",");
        kv_bool(o, "sampled", p->sampled, ",");
        key(o, "java_stack");
        stack_array(o, &p->java);
        fputc('}', o);
    }
    fputs("],", o);
    kv_u64(o, "java_paths_omitted_owners", ns->paths_omitted, "");
    fputc('}', o);
}

static void residue(FILE *o, const struct nra_report_rule *rr)
{
    key(o, "residue");
    fputc('{', o);
    kv_u64(o, "bytes", rr->residue_bytes, ",");
    kv_u64(o, "allocations", rr->residue_allocations, ",");
    kv_u64(o, "repeating_bytes", rr->repeating_bytes, ",");
    kv_u64(o, "leak_bytes", rr->leak_bytes, ",");
    kv_u64(o, "retained_bytes", rr->retained_bytes, ",");
    kv_bool(o, "estimated", rr->residue_estimated, ",");
    kv_u64(o, "sites_omitted", rr->sites_omitted, ",");
    key(o, "sites");
    fputc('[', o);
    for (unsigned i = 0; i < rr->n_sites; i++) {
        if (i)
            fputc(',', o);
        site(o, &rr->sites[i]);
    }
    fputs("],", o);
    kv_u64(o, "native_sites_omitted", rr->native_sites_omitted, ",");
    key(o, "native_sites");
    fputc('[', o);
    for (unsigned i = 0; i < rr->n_native_sites; i++) {
        if (i)
            fputc(',', o);
        native_site(o, &rr->native_sites[i]);
    }
    fputs("]},", o);
}

static void groups(FILE *o, const struct nra_report_rule *rr)
{
    key(o, "outstanding_groups");
    fputc('[', o);
    for (unsigned i = 0; i < rr->n_groups; i++) {
        fprintf(o, "%s{", i ? "," : "");
        kv_u64(o, "count", rr->groups[i].count, ",");
        kv_u64(o, "oldest_ms", rr->groups[i].oldest_ms, ",");
        key(o, "java_stack");
        stack_array(o, &rr->groups[i].java);
        fputc('}', o);
    }
    fputs("],", o);
    kv_u64(o, "outstanding_groups_omitted", rr->groups_omitted, ",");
}

static void finding_list(FILE *o, const char *name, const struct nra_report_rule *rr,
                         const struct nra_report_finding *list, unsigned n)
{
    key(o, name);
    fputc('[', o);
    for (unsigned i = 0; i < n; i++) {
        const struct nra_report_finding *f = &list[i];
        fprintf(o, "%s{", i ? "," : "");
        kv_str(o, "kind", f->kind, ",");
        kv_u64(o, "owners", f->owners, ",");
        kv_u64(o, "bytes", f->bytes, ",");
        kv_bool(o, "estimated", f->estimated, ",");
        kv_u64(o, "bytes_per_owner", f->bytes_per_owner, ",");
        key(o, "owners_per_hour");
        fprintf(o, "%.1f,", f->owners_per_hour);
        key(o, "bytes_per_hour");
        fprintf(o, "%.1f,", f->bytes_per_hour);
        kv_str(o, "rate", f->rate, ",");
        if (f->native_site >= 0) {
            const struct nra_report_native_site *ns = &rr->native_sites[f->native_site];
            key(o, "native_site");
            fputc('{', o);
            kv_u64(o, "index", (uint64_t)f->native_site, ",");
            kv_u64(o, "owners", ns->owners, ",");
            kv_u64(o, "allocations", ns->allocations, ",");
            kv_u64(o, "bytes", ns->bytes, ",");
            kv_u64(o, "size_each", ns->size_each, ",");
            kv_bool(o, "estimated", ns->estimated, ",");
            kv_u64(o, "sample_rate", ns->sample_rate, ",");
            kv_str(o, "scope", ns->scope, ",");
            kv_str(o, "scope_native", ns->scope_native, "");
            fputs("},", o);
        }
        if (f->known_leak[0]) {
            key(o, "known_leak");
            fputc('{', o);
            kv_str(o, "id", f->known_leak, ",");
            kv_str(o, "version", f->known_version, ",");
            kv_str(o, "fix", f->known_fix, "");
            fputs("},", o);
        }
        kv_str(o, "summary", f->summary, "");
        fputc('}', o);
    }
    fputc(']', o);
}

static void rule(FILE *o, const struct nra_report_rule *rr)
{
    fputc('{', o);
    kv_str(o, "rule", rr->rule, ",");
    kv_str(o, "owner_class", rr->owner_class, ",");
    kv_str(o, "alloc_native", rr->alloc_native, ",");
    kv_str(o, "free_native", rr->free_native, ",");
    kv_bool(o, "audited", rr->audited, ",");
    kv_str(o, "unaudited_reason", rr->unaudited_reason, ",");
    counts(o, &rr->counts);
    kv_bool(o, "zombies_exact", rr->zombies_exact, ",");
    kv_u64(o, "held_bytes", rr->held_bytes, ",");
    kv_u64(o, "held_allocations", rr->held_allocations, ",");
    residue(o, rr);
    groups(o, rr);
    key(o, "recently_freed");
    fputc('[', o);
    for (unsigned i = 0; i < rr->n_recent; i++)
        fprintf(o, "%s{\"handle\":\"0x%" PRIx64 "\",\"alloc_tid\":%u,\"alloc_ms\":%" PRIu64 ",\"free_tid\":%u,"
                   "\"free_ms\":%" PRIu64 "}",
                i ? "," : "", (uint64_t)rr->recent[i].handle, rr->recent[i].alloc_tid, rr->recent[i].alloc_ms,
                rr->recent[i].free_tid, rr->recent[i].free_ms);
    fputs("],", o);
    kv_u64(o, "use_natives_wrapped", rr->wrapped_use, ",");
    key(o, "natives_skipped");
    fputc('[', o);
    for (unsigned i = 0; i < rr->n_skipped; i++) {
        if (i)
            fputc(',', o);
        str(o, rr->skipped[i]);
    }
    fputs("],", o);
    finding_list(o, "retained_findings", rr, rr->retained, rr->n_retained);
    fputc(',', o);
    finding_list(o, "findings", rr, rr->findings, rr->n_findings);
    fputc('}', o);
}

static void finalizer(FILE *o, const struct nra_report_finalizer *f)
{
    key(o, "finalizer");
    if (!f->known) {
        fputs("null", o);
        return;
    }
    fputc('{', o);
    key(o, "enabled");
    fputs(f->enabled ? "true," : "false,", o);
    key(o, "queue_length");
    fprintf(o, "%" PRId64 ",", f->queue_length);
    kv_str(o, "thread_state", f->thread_state, ",");
    key(o, "thread_stack");
    stack_array(o, &f->stack);
    fputc(',', o);
    kv_str(o, "diagnosis", f->diagnosis, "");
    fputc('}', o);
}

static void bounds(FILE *o, const struct nra_report *r)
{
    key(o, "bounds");
    fputc('[', o);
    for (unsigned i = 0; i < r->n_bounds; i++) {
        const struct nra_report_bound *b = &r->bounds[i];
        fprintf(o, "%s{", i ? "," : "");
        kv_str(o, "table", b->table, ",");
        kv_str(o, "option", b->option, ",");
        kv_u64(o, "size", b->size, ",");
        kv_u64(o, "used", b->used, ",");
        kv_u64(o, "dropped", b->dropped, ",");
        kv_u64(o, "degraded", b->degraded, ",");
        kv_str(o, "effect", b->effect, "");
        fputc('}', o);
    }
    fputs("],", o);
    key(o, "sampling");
    fprintf(o, "{\"allocations_shift\":%u,\"allocations_rate\":%u},", r->sample_shift, 1u << r->sample_shift);
}

int nra_report_write_json(const struct nra_report *r, FILE *o)
{
    fputc('{', o);
    kv_str(o, "schema", "nraudit/report-v1", ",");
    kv_str(o, "trigger", r->trigger, ",");
    key(o, "pid");
    fprintf(o, "%ld,", r->pid);
    kv_u64(o, "timestamp_ms", r->timestamp_ms, ",");
    kv_u64(o, "uptime_ms", r->uptime_ms, ",");
    key(o, "agent");
    fputc('{', o);
    kv_str(o, "version", r->version, ",");
    kv_str(o, "options", r->options, ",");
    kv_u64(o, "dropped", r->dropped, ",");
    kv_bool(o, "audited", r->audited, ",");
    kv_str(o, "verdict", r->verdict, ",");
    bounds(o, r);
    key(o, "reachability");
    if (r->reachability_done)
        fprintf(o, "{\"done\":true,\"walk_ms\":%.3f,\"pause_ms\":%.3f,\"follow_references_ms\":%.3f,"
                   "\"iterate_heap_ms\":%.3f,\"owners_in_heap\":%" PRIu64 ",\"zombies_counted\":%s},",
                r->reachability_ms, r->reachability_pause_ms, r->reachability_follow_ms,
                r->reachability_iterate_ms, r->owners_in_heap, r->zombies_counted ? "true" : "false");
    else
        fputs("{\"done\":false},", o);
    key(o, "stats");
    fputc('{', o);
    kv_u64(o, "attributed_allocations", r->stats.attributed, ",");
    kv_u64(o, "attributed_live", r->stats.attributed_live, ",");
    kv_u64(o, "native_stack_captures", r->stats.stack_captures, ",");
    kv_u64(o, "stacks_interned", r->stats.stacks_interned, ",");
    kv_u64(o, "java_stacks_captured", r->stats.java_stacks_captured, ",");
    kv_u64(o, "java_stacks_not_sampled", r->stats.java_stacks_not_sampled, ",");
    kv_u64(o, "owners_claimed", r->stats.owners_claimed, ",");
    kv_u64(o, "classes_instrumented", r->stats.classes_instrumented, "");
    fputs("},", o);
    key(o, "hooked_libraries");
    fputc('[', o);
    for (unsigned i = 0; i < r->n_hooked; i++) {
        if (i)
            fputc(',', o);
        str(o, r->hooked[i]);
    }
    fputs("],", o);
    key(o, "notes");
    fputc('[', o);
    for (unsigned i = 0; i < r->n_notes; i++) {
        if (i)
            fputc(',', o);
        str(o, r->notes[i]);
    }
    fputs("]},", o);
    key(o, "resources");
    fputc('[', o);
    for (int i = 0; i < r->n_rules; i++) {
        if (i)
            fputc(',', o);
        rule(o, &r->rules[i]);
    }
    fputs("],", o);
    finalizer(o, &r->finalizer);
    fputs("}\n", o);
    return ferror(o) ? -EIO : 0;
}
