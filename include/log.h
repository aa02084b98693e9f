/* log — the agent's one-line messages on stderr, all prefixed "nraudit: ".
 *
 * Owns: the log level. Must not: allocate or call JVMTI (it is used from
 * error paths of every module).
 */
#ifndef NRA_LOG_H
#define NRA_LOG_H

#include "options.h"

void nra_log_set_level(enum nra_log_level level);
enum nra_log_level nra_log_level(void);

/* Printed when level <= the configured level. */
void nra_log(enum nra_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Always printed: "nraudit: error: ...". */
void nra_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
