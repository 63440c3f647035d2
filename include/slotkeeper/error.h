/*
 * error: the error record that every snapshot/ operation fills in.
 *
 * Functions return 0 or a negative errno-style code (as libuv does). So that the
 * CLI can print one line naming the path and the reason, an operation also
 * records its first error in an sk_err_t: the code, the path it concerns and a
 * short lowercase reason. The first error wins; later ones are ignored, so a
 * cleanup failure never hides the cause. sk_err_set is safe to call from
 * worker threads.
 *
 * Codes with a meaning of their own:
 *   -EBADMSG   damaged data: a manifest or chunk that fails its checksum or parse
 *   -EBUSY     a live process holds a data-dir's state lock
 *   -EUCLEAN   a data-dir that is not clean: dirty flag set, or an unfinished restore
 *   -EWOULDBLOCK  the repository lock could not be taken in time
 *   -ENOSPC, -EDQUOT, -EFBIG  out of space
 */
#ifndef SLOTKEEPER_ERROR_H
#define SLOTKEEPER_ERROR_H

#include <limits.h>

#ifndef SK_PRINTF
#define SK_PRINTF(a, b) __attribute__((__format__(printf, a, b)))
#endif

typedef struct sk_err {
    int code;            /* 0, or the first negative errno-style code recorded */
    char path[PATH_MAX]; /* the path the error concerns, may be empty */
    char msg[512];       /* the reason, lowercase, no final period */
} sk_err_t;

/* Records code (negative) with path and reason unless an error is already recorded.
 * A NULL fmt uses strerror(-code). Returns code, so callers can `return sk_err_set(...)`. */
int sk_err_set(sk_err_t *err, int code, const char *path, const char *fmt, ...) SK_PRINTF(4, 5);

/* Shorthand for sk_err_set(err, -errno, path, NULL) with the current errno. */
int sk_err_errno(sk_err_t *err, const char *path);

void sk_err_clear(sk_err_t *err);

/* True when code means the storage is full (ENOSPC, EDQUOT, EFBIG). */
int sk_err_is_nospace(int code);

#endif
