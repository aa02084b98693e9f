/* report_flame — the residue of one rule as a flame graph (an icicle: the
 * rule on top, then Java frames from the outermost, then native frames down
 * to the allocator's caller), inline SVG for the HTML report. Frames shared
 * by several sites are merged; widths are bytes.
 *
 * Owns: nothing beyond one call. Must not: decide anything: it draws the
 * model's repeating sites (leaks and retained state), as format=collapsed
 * lists them.
 */
#ifndef NRA_REPORT_FLAME_H
#define NRA_REPORT_FLAME_H

#include <stdio.h>

#include "report.h"

/* Writes <svg class="flame">...</svg>, or nothing when the rule has no
 * repeating residue. Returns the frames drawn. */
unsigned nra_report_write_flame(const struct nra_report_rule *rr, FILE *o);

#endif
