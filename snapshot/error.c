/*
 * error: records the first error of an operation (see error.h).
 */
#include "slotkeeper/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

int sk_err_set(sk_err_t *err, int code, const char *path, const char *fmt, ...)
{
    if (code >= 0)
        code = -EIO;
    if (!err)
        return code;
    pthread_mutex_lock(&err_lock);
    if (err->code == 0) {
        err->code = code;
        snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->msg, sizeof(err->msg), "%s", strerror(-code));
        }
    }
    pthread_mutex_unlock(&err_lock);
    return code;
}

int sk_err_errno(sk_err_t *err, const char *path)
{
    int code = errno ? -errno : -EIO;
    return sk_err_set(err, code, path, NULL);
}

void sk_err_clear(sk_err_t *err)
{
    err->code = 0;
    err->path[0] = '\0';
    err->msg[0] = '\0';
}

int sk_err_is_nospace(int code)
{
    return code == -ENOSPC || code == -EDQUOT || code == -EFBIG;
}
