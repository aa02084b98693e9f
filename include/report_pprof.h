/* report_pprof — writes a report's residue and outstanding handles as
 * profiles the seed investigation's users already read with pprof:
 *  - the gperftools heap-profile text format (google-pprof --text/--svg,
 *    --base=<older>), with a "--- symbol" section carrying nraudit's frame
 *    names and a MAPPED_LIBRARIES section;
 *  - a gzip'd profile.proto (.pb.gz) for Go's pprof.
 *
 * Owns: the encodings. Must not: call JVMTI/JNI; it reads only the report.
 */
#ifndef NRA_REPORT_PPROF_H
#define NRA_REPORT_PPROF_H

#include <stdio.h>

#include "report.h"

/* gperftools heap profile (text), ready for google-pprof. Returns 0 or -errno. */
int nra_report_write_pprof_heap(const struct nra_report *r, FILE *out);

/* profile.proto, gzip-compressed. Returns 0 or -errno. */
int nra_report_write_pprof_proto(const struct nra_report *r, FILE *out);

#endif
