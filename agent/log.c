/* log.c — see include/log.h. One write(2) per line so lines from several
 * threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static enum nra_log_level level = NRA_LOG_INFO;

void nra_log_set_level(enum nra_log_level l)
{
    level = l;
}

enum nra_log_level nra_log_level(void)
{
    return level;
}

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s", prefix);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void nra_log(enum nra_log_level l, const char *fmt, ...)
{
    if (l > level || level == NRA_LOG_QUIET)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("nraudit: ", fmt, ap);
    va_end(ap);
}

void nra_log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("nraudit: error: ", fmt, ap);
    va_end(ap);
}
