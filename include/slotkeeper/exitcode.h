/*
 * exitcode: the one table from an operation's result (0 or a negative errno,
 * as sk_err_t carries it) to slotkeeper's documented process exit codes. The
 * command line exits with them, `slotkeeper run` returns them, and the daemon
 * puts them in a control reply's "exit" so that the CLI that asked exits as if
 * it had done the work itself. README.md's exit-code table lists the same.
 *
 * It lives beside error.h because it maps the library's error codes; it knows
 * nothing of processes or of the supervisor.
 */
#ifndef SLOTKEEPER_EXITCODE_H
#define SLOTKEEPER_EXITCODE_H

enum sk_exit {
    SK_EXIT_OK = 0,           /* success */
    SK_EXIT_FAIL = 1,         /* the operation failed (I/O error, missing file, ...) */
    SK_EXIT_USAGE = 2,        /* usage error: unknown command or option, bad value, bad configuration */
    SK_EXIT_DAMAGED = 3,      /* damaged data: a corrupt manifest or a missing/damaged chunk */
    SK_EXIT_LOCKED = 4,       /* the repository is locked by another slotkeeper process */
    SK_EXIT_IN_USE = 5,       /* the data-dir is in use (a live process holds its state lock) */
    SK_EXIT_NOSPACE = 6,      /* out of space (ENOSPC, EDQUOT, EFBIG, or the free-space check) */
    SK_EXIT_NOT_CLEAN = 7,    /* the data-dir is not clean (dirty flag, unfinished restore) */
    SK_EXIT_INCOMPATIBLE = 8, /* the snapshot's environment or chain differs from what was asked */
};

/* The exit code of rc, an operation's result: 0 -> SK_EXIT_OK, -EBADMSG -> DAMAGED,
 * -EWOULDBLOCK -> LOCKED, -EBUSY -> IN_USE, a no-space code (sk_err_is_nospace) -> NOSPACE,
 * -EUCLEAN -> NOT_CLEAN, -EPROTOTYPE -> INCOMPATIBLE, any other negative or positive value
 * -> FAIL. */
int sk_exit_code(int rc);

/* A short name of an exit code ("ok", "failed", "usage", "damaged", "locked", "in use",
 * "out of space", "not clean", "incompatible"), or "unknown". */
const char *sk_exit_name(int code);

#endif
