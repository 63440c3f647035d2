/*
 * log.c: fakenode's log output, shaped like nodeos's default console appender (fc console_appender.cpp): level
 * padded to 5, UTC timestamp with milliseconds, thread name padded to 9, "file:line" padded to 29, method padded
 * to 20, "] ", message.  Everything goes to stderr, as with nodeos's default logging.json-less configuration.
 */
#include "fakenode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-01-01T00:00:00.000", the fc::time_point ISO form */
void iso_time(char *buf, size_t n, int64_t ms)
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
}

void nlog(enum level lv, const char *file, int line, const char *method, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char when[32], file_line[64], msg[8192];
    iso_time(when, sizeof when, now_ms());
    snprintf(file_line, sizeof file_line, "%.22s:%-6d", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%-5s %s %-9.9s %-29.29s %-20.20s ] %s\n", names[lv], when, "nodeos", file_line, method, msg);
    fflush(stderr);
}

/* A line written straight to std::cerr, as chainbase and appbase do. */
void raw_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}
