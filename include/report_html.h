/* report_html — one self-contained HTML file (no network, no scripts from
 * elsewhere): the verdict, counts, residue sites as a tree of native and Java
 * frames, and charts of the time series (outstanding handles, residue bytes,
 * RSS over time).
 *
 * Owns: the HTML/SVG encoding. Must not: call JVMTI/JNI; it reads only the
 * report and the samples (series[i].rule[k] belongs to r->rules[k]).
 */
#ifndef NRA_REPORT_HTML_H
#define NRA_REPORT_HTML_H

#include <stddef.h>
#include <stdio.h>

#include "report.h"
#include "series.h"

int nra_report_write_html(const struct nra_report *r, const struct nra_sample *series, size_t n_series,
                          FILE *out);

#endif
