/*
 * notice: how the library tells its program about things that do not fail an operation.
 *
 * snapshot/ never logs. What fails an operation goes up in an sk_err_t; what does not (a
 * file skipped, a quarantined copy that could not be removed, a wait for the repository
 * lock) is formatted into one line and handed to the notice function the program set once
 * with sk_set_notice. With none set, notices are dropped. The function may be called from
 * worker threads at the same time, so it must be thread-safe (the supervisor's logger is).
 */
#ifndef SLOTKEEPER_NOTICE_H
#define SLOTKEEPER_NOTICE_H

#include "slotkeeper/error.h"

enum sk_notice_level {
    SK_NOTICE_WARN = 1,  /* something was left undone or skipped */
    SK_NOTICE_INFO = 2,  /* worth telling the user (waiting, skipped by design) */
    SK_NOTICE_DEBUG = 3, /* for the curious: housekeeping done */
};

/* msg is one line without a newline; it is valid only during the call. */
typedef void (*sk_notice_fn)(enum sk_notice_level level, const char *msg);

/* Sets the notice function (NULL drops notices). Call once, before any operation. */
void sk_set_notice(sk_notice_fn fn);

/* Formats and passes a notice on. The errno flavour appends ": strerror(-code)". errno is kept. */
void sk_notice(enum sk_notice_level level, const char *fmt, ...) SK_PRINTF(2, 3);
void sk_notice_errno(enum sk_notice_level level, int code, const char *fmt, ...) SK_PRINTF(3, 4);

#endif
