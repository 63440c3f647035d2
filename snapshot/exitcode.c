/*
 * exitcode: the errno -> exit-code table (see exitcode.h). One switch, so the
 * command line, `run` and the daemon's control replies cannot disagree.
 */
#include "slotkeeper/exitcode.h"

#include <errno.h>

#include "slotkeeper/error.h"

int sk_exit_code(int rc)
{
    if (rc == 0)
        return SK_EXIT_OK;
    if (sk_err_is_nospace(rc))
        return SK_EXIT_NOSPACE;
    switch (rc) {
    case -EBADMSG:
        return SK_EXIT_DAMAGED;
    case -EWOULDBLOCK:
        return SK_EXIT_LOCKED;
    case -EBUSY:
        return SK_EXIT_IN_USE;
    case -EUCLEAN:
        return SK_EXIT_NOT_CLEAN;
    case -EPROTOTYPE:
        return SK_EXIT_INCOMPATIBLE;
    default:
        return SK_EXIT_FAIL;
    }
}

const char *sk_exit_name(int code)
{
    static const char *const names[] = {"ok",     "failed",       "usage",     "damaged",     "locked",
                                        "in use", "out of space", "not clean", "incompatible"};
    if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
        return "unknown";
    return names[code];
}
