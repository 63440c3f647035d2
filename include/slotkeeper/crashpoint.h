/*
 * crashpoint: a hook before every step that changes the disk (write, fsync, rename,
 * unlink, mkdir, truncate, link, chmod/chown/utimes of the repository, a slot or its
 * quarantine), for the crash-point sweep of tests/crash/.
 *
 * SK_CRASHPOINT(what) expands to nothing unless the build defines SK_CRASHPOINTS (only
 * build/crash/slotkeeper does, see mk/crash.mk). In that build each step is numbered
 * 1, 2, 3... in the order the process reaches it (threads included), and:
 *   SK_CRASH_TRACE=FILE  appends "N what file:line" to FILE for every step (counting);
 *   SK_CRASH_AT=N        kills the process with SIGKILL right before step N.
 * Both are read once at startup and removed from the environment, so that the
 * processes it starts (nodes, log-writers) are not counted nor killed.
 */
#ifndef SLOTKEEPER_CRASHPOINT_H
#define SLOTKEEPER_CRASHPOINT_H

#ifdef SK_CRASHPOINTS
void sk_crashpoint(const char *what, const char *file, int line);
#define SK_CRASHPOINT(what) sk_crashpoint((what), __FILE__, __LINE__)
#else
#define SK_CRASHPOINT(what) ((void)0)
#endif

#endif
