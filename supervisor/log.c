/*
 * log: formats and writes slotkeeper's messages to stderr (see log.h).
 * errno is preserved across every call so callers can log and then test it.
 */
#include "slotkeeper/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_prog = "slotkeeper";
static const char *log_command;
static int log_cur_level = SK_LOG_INFO;

void log_init(const char *prog, const char *command, int level)
{
    if (prog)
        log_prog = prog;
    log_command = command;
    log_cur_level = level;
}

void log_set_command(const char *command)
{
    log_command = command;
}

int log_level(void)
{
    return log_cur_level;
}

static void vlog(int level, int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char msg[4096];

    if (level > log_cur_level) {
        errno = saved;
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* One message, one line: control bytes from names in archives, manifests or node output
     * cannot start a line of their own that looks like ours. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (log_command)
        fprintf(stderr, "%s: %s: %s", log_prog, log_command, msg);
    else
        fprintf(stderr, "%s: %s", log_prog, msg);
    if (with_errno)
        fprintf(stderr, ": %s", strerror(saved));
    fputc('\n', stderr);
    fflush(stderr);
    errno = saved;
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_ERROR, 1, fmt, ap);
    va_end(ap);
}

void log_errorx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_ERROR, 0, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_WARN, 1, fmt, ap);
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_WARN, 0, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_INFO, 0, fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_DEBUG, 0, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_ERROR, 1, fmt, ap);
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(SK_LOG_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}
