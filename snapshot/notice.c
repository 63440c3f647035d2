/*
 * notice: passes the library's non-fatal notices to the program's function (see notice.h).
 */
#include "slotkeeper/notice.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic(sk_notice_fn) notice_fn;

void sk_set_notice(sk_notice_fn fn)
{
    atomic_store(&notice_fn, fn);
}

static void vnotice(enum sk_notice_level level, int code, const char *fmt, va_list ap)
{
    sk_notice_fn fn = atomic_load(&notice_fn);
    if (!fn)
        return;
    int saved = errno;
    char msg[2048];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (code && n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(-code));
    fn(level, msg);
    errno = saved;
}

void sk_notice(enum sk_notice_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnotice(level, 0, fmt, ap);
    va_end(ap);
}

void sk_notice_errno(enum sk_notice_level level, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnotice(level, code ? code : -EIO, fmt, ap);
    va_end(ap);
}
